//! A failing Dockerfile step becomes an error annotation at its line, so the pull request
//! view points at the instruction that failed.

use std::path::Path;

use crate::action::workflow::Location;
use crate::engine::EngineError;

/// Message and location for `err`, when it names a Dockerfile step. Paths are made
/// relative to `workspace` (annotations take repository-relative paths).
pub fn failure_annotation(err: &EngineError, workspace: &Path) -> Option<(String, Location)> {
    let EngineError::StepFailed {
        step,
        message,
        dockerfile,
        line,
    } = err
    else {
        return None;
    };
    let file = dockerfile.strip_prefix(workspace).unwrap_or(dockerfile);
    let location = Location {
        file: Some(file.to_string_lossy().into_owned()),
        line: line.and_then(|l| u32::try_from(l).ok()),
        title: Some(format!("failed: {step}")),
        ..Default::default()
    };
    Some((message.clone(), location))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_failures_point_at_the_line_relative_to_the_workspace() {
        let err = EngineError::StepFailed {
            step: "[2/3] RUN make".into(),
            message: "exit code: 2".into(),
            dockerfile: "/ws/app/Dockerfile".into(),
            line: Some(4),
        };
        let (msg, at) = failure_annotation(&err, Path::new("/ws")).unwrap_or_default();
        assert_eq!(msg, "exit code: 2");
        assert_eq!(at.file.as_deref(), Some("app/Dockerfile"));
        assert_eq!(at.line, Some(4));
        assert_eq!(at.title.as_deref(), Some("failed: [2/3] RUN make"));
        assert!(failure_annotation(&EngineError::Solve("x".into()), Path::new("/ws")).is_none());
    }
}
