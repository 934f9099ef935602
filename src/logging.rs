//! Tracing set-up: human-readable lines on stderr, `RUST_LOG`/`LAYERCACHE_LOG` filters.
//!
//! bollard logs through the `log` crate (and at debug level prints whole solve requests,
//! cache tokens included), so `log` records are bridged into tracing and bollard is capped
//! at `info` unless the filter names it explicitly.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Install the global subscriber. Safe to call more than once (later calls are no-ops).
pub fn init() {
    let _ = tracing_log::LogTracer::init();
    let filter = std::env::var("LAYERCACHE_LOG")
        .ok()
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new("info,bollard=warn,h2=warn,hyper=warn,tower=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .try_init();
}
