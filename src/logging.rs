//! Tracing set-up: human-readable lines on stderr, filtered by `LAYERCACHE_LOG` or, when
//! that is unset or empty, `RUST_LOG`: comma-separated `target=level` directives and a bare
//! default level, e.g. `debug` or `info,layercache::cache_service=debug` (tracing's
//! `Targets` filter, which needs no regex engine in the action binary; span and field
//! filters are not supported).
//!
//! bollard logs through the `log` crate (and at debug level prints whole solve requests,
//! cache tokens included), so `log` records are bridged into tracing. bollard and the
//! transport crates under it (hyper, h2, tonic, tower) log warnings only by default, and
//! at most `info` under a user's filter unless that filter names them explicitly.
//!
//! By default octocrab is off: it logs every failed GitHub API call as an `ERROR` line,
//! and its callers report those failures themselves (one notice). The cache service logs
//! each request at `info`, which is right for `layercache serve`; in the other commands
//! (`build` runs one in-process) those lines show only under a user's filter.

use std::io::IsTerminal;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer as _, fmt};

fn parse(directives: &str) -> Result<Targets, tracing_subscriber::filter::ParseError> {
    directives.parse()
}

/// The default filter; it is a constant, so failing to parse is a bug caught by the tests.
fn default_targets() -> Targets {
    parse(&default_filter(serving())).unwrap_or_default()
}

/// The filter when neither variable is set.
const DEFAULT_FILTER: &str =
    "info,bollard=warn,h2=warn,hyper=warn,tonic=warn,tower=warn,octocrab=off";

/// [`DEFAULT_FILTER`], with the cache service's request lines held back unless `serving`.
fn default_filter(serving: bool) -> String {
    let mut filter = DEFAULT_FILTER.to_owned();
    if !serving {
        filter.push_str(",layercache::cache_service=warn");
    }
    filter
}

/// The command line names `serve` (read here because tracing starts before clap runs).
fn serving() -> bool {
    std::env::args_os().nth(1).is_some_and(|a| a == "serve")
}

/// Targets a user's filter raises to `info` at most unless it names them. Targets match by
/// prefix, so `hyper` also covers `hyper_util` and `tower` covers `tower_http`.
const CAPPED: &[&str] = &["bollard", "hyper", "h2", "tonic", "tower"];

/// Install the global subscriber. Safe to call more than once (later calls are no-ops).
pub fn init() {
    let _ = tracing_log::LogTracer::init();
    let user = ["LAYERCACHE_LOG", "RUST_LOG"].into_iter().find_map(|name| {
        let value = std::env::var(name).ok()?;
        (!value.trim().is_empty()).then_some((name, value))
    });
    let (filter, rejected) = match &user {
        Some((name, value)) => match parse(&directives(value)) {
            Ok(filter) => (filter, None),
            Err(e) => (default_targets(), Some((*name, value, e))),
        },
        None => (default_targets(), None),
    };
    let lines = fmt::layer()
        // stderr, printed above the live build view while one is drawn.
        .with_writer(crate::report::LogWriter::default)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .with_filter(filter);
    let installed = tracing_subscriber::registry()
        .with(lines)
        .try_init()
        .is_ok();
    if let (true, Some((name, value, e))) = (installed, rejected) {
        tracing::warn!("ignoring {name}={value:?} ({e}); logging at the default level");
    }
}

/// The user's directives plus `<target>=info` for every capped target they do not name.
fn directives(user: &str) -> String {
    let names = |target: &str| {
        user.split(',').any(|d| {
            let t = d.split(['=', '[']).next().unwrap_or("").trim();
            t == target || t.starts_with(&format!("{target}::"))
        })
    };
    let mut out = user.trim().to_owned();
    for target in CAPPED.iter().filter(|t| !names(t)) {
        out.push_str(&format!(",{target}=info"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_filter_caps_bollard_and_transports_at_info() {
        assert_eq!(
            directives("debug"),
            "debug,bollard=info,hyper=info,h2=info,tonic=info,tower=info"
        );
    }

    #[test]
    fn naming_a_target_lifts_its_cap() {
        let d = directives("trace,bollard=debug,hyper::proto=trace");
        assert!(d.starts_with("trace,bollard=debug,hyper::proto=trace,"));
        assert!(
            !d.contains("bollard=info") && !d.contains("hyper=info"),
            "{d}"
        );
        assert!(d.contains("h2=info") && d.contains("tonic=info"), "{d}");
    }

    #[test]
    fn a_similar_name_is_not_the_target() {
        // `hyper_util=debug` names hyper_util, not hyper: hyper stays capped.
        assert!(directives("hyper_util=debug").contains(",hyper=info"));
    }

    #[test]
    fn every_filter_we_build_parses() {
        for user in [
            "debug",
            "info,layercache=trace",
            "bollard",
            "warn,h2::proto=debug",
        ] {
            assert!(parse(&directives(user)).is_ok(), "{user}");
        }
        assert!(parse(&default_filter(true)).is_ok());
        assert!(parse(&default_filter(false)).is_ok());
        assert!(parse(&directives("=nonsense=")).is_err());
    }
}
