//! The runner's host as seen from the action's container: which host directories the
//! runner mounted where (learned from this container's own inspect through the daemon's
//! socket), host ↔ container path translation for paths inside input entries, and the
//! registry credentials a user expects to be found (`docker/login-action` writes the
//! runner's `~/.docker/config.json`, which is not mounted).
//!
//! Its own module because it needs both halves: the runner's layout (`action/`, which
//! depends on nothing of ours) and the daemon (`engine/` is about builds). Outside a
//! container (the CLI, the runner emulation) there is nothing to discover: paths are host
//! paths already, and `DOCKER_CONFIG`/`~/.docker` are read as docker does.

pub mod credentials;
mod discover;
mod host_inputs;
mod mounts;

pub use credentials::{RegistryCredentials, push_refused_hint};
pub use discover::RunnerHost;
pub use host_inputs::{translate_agent_socket, translate_inputs};
pub use mounts::{Mount, MountTable, PathError};
