//! Where a cache service is and which protocol it speaks.

use std::fmt;

use crate::secret::Secret;

/// The cache protocol and the URL to speak it to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Legacy `_apis/artifactcache` REST at `ACTIONS_CACHE_URL` (GHES, act, self-hosted
    /// servers).
    V1(String),
    /// Twirp `CacheService` at `ACTIONS_RESULTS_URL` (github.com since 2025).
    V2(String),
}

impl Endpoint {
    pub fn url(&self) -> &str {
        match self {
            Self::V1(u) | Self::V2(u) => u,
        }
    }

    pub fn version(&self) -> u8 {
        match self {
            Self::V1(_) => 1,
            Self::V2(_) => 2,
        }
    }
}

impl fmt::Display for Endpoint {
    /// `v1` or `v2`: the URL is left out, logs name the protocol only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.version())
    }
}

/// A cache service and the token to call it with: what a `gha` cache entry points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub endpoint: Endpoint,
    pub token: Secret,
}
