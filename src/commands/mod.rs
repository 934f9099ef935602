//! One module per subcommand, each with its clap `Args` and an async `run`.

use crate::action::workflow::Location;

pub mod action;
pub mod advise;
pub mod build;
pub mod expose;
mod mount_phases;
mod phases;
pub mod post;
pub mod prune;
pub mod serve;

/// Exit code for a build or command that failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for bad input (an input, flag or environment value that cannot be used).
pub const EXIT_USAGE: u8 = 2;
/// Exit code for a bug or an unusable environment (no async runtime, ...).
pub const EXIT_INTERNAL: u8 = 70;

/// How a command failed; decides the exit code and carries the one message the user is
/// shown. Commands never print their own failure: `app::run` hands it to
/// [`crate::report::show_failure`] in the form that fits the command.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Bad input: an input, flag or environment value that cannot be used.
    #[error("{0}")]
    Usage(String),
    /// The work itself failed (a build step, a daemon error, ...).
    #[error("{0}")]
    Failed(String),
    /// The work failed at a place in the user's files (a Dockerfile instruction), which a
    /// workflow annotation points at.
    #[error("{message}")]
    FailedAt { message: String, at: Location },
}

impl CommandError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => EXIT_USAGE,
            Self::Failed(_) | Self::FailedAt { .. } => EXIT_FAILURE,
        }
    }
}
