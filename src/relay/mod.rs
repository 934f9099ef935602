//! The cache relay: BuildKit's `gha` cache talks to a cache service in this process, and
//! this process talks to the real one (GitHub's, or any compatible one).
//!
//! BuildKit uploads to local disk at disk speed and is answered at once; [`uploader`]
//! sends each entry upstream with bounded parallelism and retries (through
//! [`crate::cache_client`]), and writes a scope's index only after every layer it names is
//! committed, merged with the index already upstream ([`index_merge`]). Lookups that miss
//! locally are answered from upstream, so imports read upstream's signed URLs directly.
//! BuildKit gets a token of the relay's own; the runtime token stays here.
//!
//! docs/relay.md describes the behaviour; [`engage`] is the one call the engine makes.

mod engage;
pub mod index_merge;
mod report;
mod server;
mod uploader;

pub use engage::{Engaged, Reach, engage};
pub use report::{IndexOutcome, RelayReport};
pub use server::{Relay, RelayConfig};
