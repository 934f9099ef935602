//! Cache housekeeping through GitHub's REST API: list the repository's Actions caches,
//! delete superseded BuildKit indexes of the scopes a build owns and, optionally, layer
//! blobs no live index references; report usage against the budget; build the
//! `repository`/`ghtoken` attributes for BuildKit's `gha` export. See `docs/housekeeping.md`.

mod client;
mod error;
mod index_bodies;

mod plan;
mod prune;

pub use client::{
    ApiConfig, CacheUsage, DEFAULT_API_URL, DEFAULT_BUDGET_BYTES, GithubCaches, ListedCache,
};
pub use error::HousekeepingError;
pub use index_bodies::CacheServiceBodies;

pub use plan::{Deletion, PrunePolicy, Reason, layer_digests};
pub use prune::{IndexBodies, PruneReport, Referenced, prune};
