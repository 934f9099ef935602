//! Dockerfile cache advice: find the patterns that throw layer cache away and say, at the
//! line, what to do instead. See `docs/advice.md` for the rules and how they compare with
//! hadolint.
//!
//! [`analyze`] is pure (text in, findings out) so the action can turn findings into
//! `::warning` annotations and `layercache advise` can print them.

mod analyze;
mod finding;
mod install;
mod rules;
mod shell;

pub use analyze::{BuildFacts, analyze};
pub use finding::{Finding, Rule};
pub use install::ContextFiles;
