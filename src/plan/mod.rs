//! Input parsing: raw inputs → a validated [`BuildPlan`]. No I/O here (except
//! [`preflight`], kept apart), so tests call it directly; every error names its input.

mod attest;
mod build_plan;
mod builder;
pub mod cache;
mod call;
mod endpoint;
pub mod git_auth;
pub mod image;
mod options;
mod outputs;
mod parse;
mod platform;
mod preflight;
pub mod scope;
mod secrets;
mod ssh;

pub use attest::{BUILDX_DEFAULT_PROVENANCE, REPOSITORY_PRIVATE, repository_private};
pub use build_plan::*;
pub use builder::volume_destination;
pub use cache::{CacheOption, CacheType};
pub use options::parse_bytes;
pub use outputs::{pushed_names, pushes, pushes_by_digest};
pub use parse::parse;
pub use preflight::preflight;
pub use ssh::load_ssh_key;
