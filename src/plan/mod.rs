//! Input parsing: raw inputs → a validated [`BuildPlan`]. No I/O here (except
//! [`preflight`], kept apart), so tests call it directly; every error names its input.

mod build_plan;
pub mod cache;
pub mod csv;
mod endpoint;
mod error;
pub mod git_auth;
pub mod image;
mod options;
mod outputs;
mod parse;
mod platform;
mod preflight;
pub mod redact;
pub mod scope;
mod secrets;
mod ssh;

pub use build_plan::*;
pub use error::PlanError;
pub use parse::parse;
pub use preflight::preflight;
