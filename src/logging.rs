//! Tracing set-up: human-readable lines on stderr, `RUST_LOG`/`LAYERCACHE_LOG` filters.
//!
//! bollard logs through the `log` crate (and at debug level prints whole solve requests,
//! cache tokens included), so `log` records are bridged into tracing and bollard is capped
//! at `info` unless the filter names it explicitly. octocrab logs every failed GitHub API
//! call as an `ERROR` line; the callers report those failures themselves (one notice), so
//! it is off. The cache service logs each request at `info`, which is right for
//! `layercache serve`; in the other commands (`build` runs one in-process) those lines are
//! shown only when `LAYERCACHE_LOG` asks for them.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The filter without `LAYERCACHE_LOG`.
fn default_filter(serving: bool) -> String {
    let mut filter = "info,bollard=warn,h2=warn,hyper=warn,tower=warn,octocrab=off".to_owned();
    if !serving {
        filter.push_str(",layercache::cache_service=warn");
    }
    filter
}

/// The command line names `serve` (read here because tracing starts before clap runs).
fn serving() -> bool {
    std::env::args_os().nth(1).is_some_and(|a| a == "serve")
}

/// Install the global subscriber. Safe to call more than once (later calls are no-ops).
pub fn init() {
    let _ = tracing_log::LogTracer::init();
    let filter = std::env::var("LAYERCACHE_LOG")
        .ok()
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(default_filter(serving())));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .try_init();
}
