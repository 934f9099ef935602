//! Telling what went wrong in a solve: which step failed (with its Dockerfile line), and
//! whether it was only a cache export, which must not fail a build unless the user asked
//! for strictness (the cache reports then say what each export lost).

use super::context::ContextSource;
use crate::engine::error::EngineError;
use crate::engine::records::cache_report;
use crate::engine::records::cache_traffic::is_cache_export;
use crate::engine::records::progress::Tracker;
use crate::plan::BuildPlan;

/// A failed solve, and whether only a cache export failed.
pub struct Failure {
    pub error: EngineError,
    pub cache_export: bool,
    /// The exports as the failed solve left them.
    pub exports: Vec<crate::engine::CacheReport>,
}

/// Turn a solve error into a message naming the failing step and its Dockerfile line.
pub fn failure(
    message: String,
    tracker: &Tracker,
    source: &ContextSource,
    req: &BuildPlan,
) -> Failure {
    let failed = tracker.failed_step();
    let exports = cache_report::exports(&req.cache_to, &tracker.steps(), &tracker.traffic(), false);
    let cache_export = failed
        .as_ref()
        .is_some_and(|s| is_cache_export(&s.name))
        || message.contains("exporting cache")
        || message.contains("failed to export cache")
        // BuildKit 0.2x refuses a gha exporter it cannot configure (a malformed token)
        // before building, whatever ignore-error says.
        || message.contains("cache exporter");
    let error = match failed {
        Some(step) if step.dockerfile_step => {
            let text = std::fs::read_to_string(&source.dockerfile_path).unwrap_or_default();
            let line = crate::dockerfile::locate_step(&text, &step.name);
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
        exports,
    }
}
