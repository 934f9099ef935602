//! Runtime exposure: hand the runner's cache credentials to later steps of the job through
//! `GITHUB_ENV`, so an inline `docker buildx build --cache-to type=gha` works after us.
//!
//! Only an explicit allow-list is exported (never every `ACTIONS_*`), plus
//! `ACTIONS_CACHE_SERVICE_V2=true` when v2 was chosen, which the runner gives Node actions
//! but never container actions (docs/cache-protocol.md § Choosing a protocol version).

use super::env::Env;
use super::files::{FileCommand, FileError, RunnerFiles};
use super::names::env as names;
use super::runtime::Runtime;
use crate::cache_protocol::Endpoint;

/// Write the allow-listed variables that are set. Returns the names written, in order.
pub fn expose(
    env: &Env,
    runtime: &Runtime,
    files: &RunnerFiles,
) -> Result<Vec<&'static str>, FileError> {
    let mut written = Vec::new();
    for &name in names::EXPOSED {
        if let Some(value) = env.get(name) {
            files.append(FileCommand::Env, name, value)?;
            written.push(name);
        }
    }
    if matches!(runtime.protocol, Some(Endpoint::V2(_))) {
        files.append(FileCommand::Env, names::ACTIONS_CACHE_SERVICE_V2, "true")?;
        written.push(names::ACTIONS_CACHE_SERVICE_V2);
    }
    Ok(written)
}
