//! Telling what went wrong in a solve: which step failed (with its Dockerfile line), and
//! whether it was only a cache import or export, which must not fail a build unless the
//! user asked for strictness.

use super::context::ContextSource;
use super::error::EngineError;
use super::progress::{BuildEvent, EventSink, Tracker};

/// A failed solve, and whether only a cache export failed.
pub struct Failure {
    pub error: EngineError,
    pub cache_export: bool,
}

/// BuildKit carries on when a cache import fails (the build is just slower), and newer
/// BuildKit when an export with `ignore-error=true` fails; say so.
pub fn import_warnings(tracker: &Tracker, sink: &mut dyn EventSink) -> Vec<String> {
    let mut out = Vec::new();
    for step in tracker.steps() {
        let Some(err) = &step.error else { continue };
        let w = if step.name.starts_with("importing cache") {
            format!("{} failed, building without that cache: {err}", step.name)
        } else if is_cache_export_step(&step.name) {
            format!(
                "cache export failed, the build continues without it: {}: {err}",
                step.name
            )
        } else {
            continue;
        };
        sink.event(BuildEvent::Warning(w.clone()));
        out.push(w);
    }
    out
}

/// BuildKit's names for its cache export steps (`exporting cache to registry`, ...; the
/// gha backend says `exporting to GitHub Actions Cache`).
fn is_cache_export_step(name: &str) -> bool {
    name.starts_with("exporting cache") || name.starts_with("exporting to GitHub Actions Cache")
}

/// Turn a solve error into a message naming the failing step and its Dockerfile line.
pub fn failure(message: String, tracker: &Tracker, source: &ContextSource) -> Failure {
    let failed = tracker.failed_step();
    let cache_export = failed
        .as_ref()
        .is_some_and(|s| is_cache_export_step(&s.name))
        || message.contains("exporting cache")
        || message.contains("failed to export cache")
        // BuildKit 0.2x refuses a gha exporter it cannot configure (a malformed token)
        // before building, whatever ignore-error says.
        || message.contains("cache exporter");
    let error = match failed {
        Some(step) if step.dockerfile_step => {
            let text = std::fs::read_to_string(&source.dockerfile_path).unwrap_or_default();
            let line = super::dockerfile::locate_step(&text, &step.name);
            EngineError::StepFailed {
                step: step.name,
                message: step.error.unwrap_or(message),
                dockerfile: source.dockerfile_path.clone(),
                line,
            }
        }
        // BuildKit's message names the cache service's URL, not that the cache export
        // failed: say which step did.
        Some(step) if cache_export => EngineError::Solve(format!("{}: {message}", step.name)),
        _ => EngineError::Solve(message),
    };
    Failure {
        error,
        cache_export,
    }
}
