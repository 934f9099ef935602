//! `layercache build --progress auto|plain|tty`, as `docker buildx build` spells it: which
//! of the two build views (plain lines or the live terminal view) a build gets.

use std::fmt;

use crate::action::env::Env;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// The live view when stderr is a terminal outside CI, plain lines otherwise.
    #[default]
    Auto,
    Plain,
    Tty,
}

/// The view a build gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressView {
    /// buildx-plain lines on stdout ([`super::PlainProgress`]); always in the action.
    Plain,
    /// [`super::LiveProgress`] on stderr.
    Live,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProgressError {
    #[error("--progress: {0:?} is not a progress mode; valid: auto, plain, tty")]
    Unknown(String),
    #[error(
        "--progress tty: stderr is not a terminal (or TERM is unset or dumb); use --progress plain or auto"
    )]
    NotATerminal,
}

impl ProgressMode {
    pub const NAMES: [&'static str; 3] = ["auto", "plain", "tty"];

    pub fn parse(value: &str) -> Result<Self, ProgressError> {
        match value.trim() {
            "" | "auto" => Ok(Self::Auto),
            "plain" => Ok(Self::Plain),
            "tty" => Ok(Self::Tty),
            other => Err(ProgressError::Unknown(other.to_owned())),
        }
    }

    /// The view for a build, given whether the live view can draw on stderr (a terminal,
    /// see [`super::LiveProgress::can_draw`]). The live view goes to stderr, as buildx's
    /// does, so stdout stays plain results that pipe cleanly; `auto` therefore asks about
    /// stderr. CI runners (`CI`, `GITHUB_ACTIONS`)
    /// get plain lines, which read well in a stored log.
    pub fn view(self, env: &Env, can_draw: bool) -> Result<ProgressView, ProgressError> {
        match self {
            Self::Plain => Ok(ProgressView::Plain),
            Self::Tty if can_draw => Ok(ProgressView::Live),
            Self::Tty => Err(ProgressError::NotATerminal),
            Self::Auto => {
                let ci = ["CI", "GITHUB_ACTIONS"]
                    .iter()
                    .any(|name| env.get(name).is_some_and(|v| !v.is_empty() && v != "false"));
                Ok(if can_draw && !ci {
                    ProgressView::Live
                } else {
                    ProgressView::Plain
                })
            }
        }
    }
}

impl fmt::Display for ProgressMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Auto => "auto",
            Self::Plain => "plain",
            Self::Tty => "tty",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn auto_is_live_only_on_a_terminal_outside_ci() {
        let auto = ProgressMode::Auto;
        assert_eq!(auto.view(&env(&[]), true), Ok(ProgressView::Live));
        assert_eq!(auto.view(&env(&[]), false), Ok(ProgressView::Plain));
        assert_eq!(
            auto.view(&env(&[("CI", "true")]), true),
            Ok(ProgressView::Plain)
        );
        assert_eq!(
            auto.view(&env(&[("GITHUB_ACTIONS", "true")]), true),
            Ok(ProgressView::Plain)
        );
        assert_eq!(auto.view(&env(&[("CI", "")]), true), Ok(ProgressView::Live));
    }

    #[test]
    fn tty_and_plain_are_forced() {
        let ci = env(&[("CI", "true")]);
        assert_eq!(ProgressMode::Tty.view(&ci, true), Ok(ProgressView::Live));
        assert_eq!(
            ProgressMode::Tty.view(&ci, false),
            Err(ProgressError::NotATerminal)
        );
        assert_eq!(
            ProgressMode::Plain.view(&env(&[]), true),
            Ok(ProgressView::Plain)
        );
    }

    #[test]
    fn unknown_modes_name_the_valid_ones() {
        assert_eq!(ProgressMode::parse("tty"), Ok(ProgressMode::Tty));
        let err = ProgressMode::parse("fancy").unwrap_err().to_string();
        assert_eq!(
            err,
            "--progress: \"fancy\" is not a progress mode; valid: auto, plain, tty"
        );
    }
}
