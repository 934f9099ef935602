//! The one writer of the runner's file commands: `GITHUB_ENV`, `GITHUB_OUTPUT`,
//! `GITHUB_STATE` and `GITHUB_STEP_SUMMARY` (docs/runner-contract.md § File commands).
//!
//! Key/value records always use the heredoc form with a fresh random delimiter, as the
//! toolkit does, so no value (newlines, a fake delimiter) can add a record of its own.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use super::env::Env;
use super::names::env as names;

/// Which key/value file a record goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileCommand {
    Env,
    Output,
    State,
}

impl FileCommand {
    fn variable(self) -> &'static str {
        match self {
            Self::Env => names::GITHUB_ENV,
            Self::Output => names::GITHUB_OUTPUT,
            Self::State => names::GITHUB_STATE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(
        "failed to write {variable}: {variable} is not set (not running in a GitHub Actions runner?)"
    )]
    NotSet { variable: &'static str },
    #[error("failed to write {variable}: invalid name {name:?}")]
    BadName {
        variable: &'static str,
        name: String,
    },
    #[error("failed to write {variable} record {name}: the value contains the delimiter")]
    DelimiterInValue {
        variable: &'static str,
        name: String,
    },
    #[error("failed to write {variable}: {name} may not be set through GITHUB_ENV")]
    Forbidden {
        variable: &'static str,
        name: String,
    },
    #[error("failed to write {variable} ({path}): {source}")]
    Io {
        variable: &'static str,
        path: String,
        source: std::io::Error,
    },
}

/// Paths of the step's file commands, taken from the environment at start-up.
#[derive(Debug, Clone, Default)]
pub struct RunnerFiles {
    env: Option<PathBuf>,
    output: Option<PathBuf>,
    state: Option<PathBuf>,
    summary: Option<PathBuf>,
}

impl RunnerFiles {
    pub fn from_env(env: &Env) -> Self {
        let path = |n| env.get(n).map(PathBuf::from);
        Self {
            env: path(names::GITHUB_ENV),
            output: path(names::GITHUB_OUTPUT),
            state: path(names::GITHUB_STATE),
            summary: path(names::GITHUB_STEP_SUMMARY),
        }
    }

    pub fn has_summary(&self) -> bool {
        self.summary.is_some()
    }

    pub fn has(&self, cmd: FileCommand) -> bool {
        self.path(cmd).is_some()
    }

    fn path(&self, cmd: FileCommand) -> Option<&PathBuf> {
        match cmd {
            FileCommand::Env => self.env.as_ref(),
            FileCommand::Output => self.output.as_ref(),
            FileCommand::State => self.state.as_ref(),
        }
    }

    /// Append one `name<<delimiter` record.
    pub fn append(&self, cmd: FileCommand, name: &str, value: &str) -> Result<(), FileError> {
        let variable = cmd.variable();
        let path = self.path(cmd).ok_or(FileError::NotSet { variable })?;
        let record = heredoc_record(variable, name, value)?;
        if cmd == FileCommand::Env && name == "NODE_OPTIONS" {
            return Err(FileError::Forbidden {
                variable,
                name: name.to_owned(),
            });
        }
        append_bytes(variable, path, record.as_bytes())
    }

    /// Append markdown to the job summary.
    pub fn append_summary(&self, markdown: &str) -> Result<(), FileError> {
        let variable = names::GITHUB_STEP_SUMMARY;
        let path = self
            .summary
            .as_ref()
            .ok_or(FileError::NotSet { variable })?;
        append_bytes(variable, path, markdown.as_bytes())
    }
}

/// `name<<ghadelimiter_<uuid>\nvalue\nghadelimiter_<uuid>\n`, refusing anything the
/// runner would misread.
pub fn heredoc_record(
    variable: &'static str,
    name: &str,
    value: &str,
) -> Result<String, FileError> {
    let bad_name = name.is_empty() || name.contains(['\n', '\r', '=']) || name.contains("<<");
    if bad_name {
        return Err(FileError::BadName {
            variable,
            name: name.to_owned(),
        });
    }
    let delimiter = format!("ghadelimiter_{}", uuid::Uuid::new_v4());
    if value.contains(&delimiter) || name.contains(&delimiter) {
        return Err(FileError::DelimiterInValue {
            variable,
            name: name.to_owned(),
        });
    }
    Ok(format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"))
}

fn append_bytes(variable: &'static str, path: &PathBuf, bytes: &[u8]) -> Result<(), FileError> {
    let io = |source| FileError::Io {
        variable,
        path: path.display().to_string(),
        source,
    };
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_use_a_fresh_delimiter() {
        let a = heredoc_record("GITHUB_OUTPUT", "x", "1").unwrap();
        let b = heredoc_record("GITHUB_OUTPUT", "x", "1").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("x<<ghadelimiter_") && a.ends_with('\n'));
    }

    #[test]
    fn bad_names_are_refused() {
        for name in ["", "A=B", "A<<B", "A\nB"] {
            assert!(heredoc_record("GITHUB_ENV", name, "v").is_err(), "{name:?}");
        }
    }

    #[test]
    fn writes_append_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let env = Env::from_pairs([("GITHUB_OUTPUT", out.to_str().unwrap())]);
        let files = RunnerFiles::from_env(&env);
        files.append(FileCommand::Output, "a", "1").unwrap();
        files
            .append(FileCommand::Output, "b", "two\nlines")
            .unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.matches("<<ghadelimiter_").count(), 2);
        assert!(matches!(
            files.append(FileCommand::Env, "X", "1"),
            Err(FileError::NotSet { .. })
        ));
    }
}
