//! Index bodies through the cache service, for the orphan check: a lookup of the exact key
//! and a read of its signed URL through [`CacheClient`] (v2 Twirp or v1 REST, with the
//! client's retries) with the job's runtime token. The token can read only its own ref and
//! the base/default branch, so another ref's index comes back as `Ok(None)` and `prune`
//! then deletes no blob.

use futures::future::BoxFuture;

use super::client::ListedCache;
use super::prune::IndexBodies;
use crate::cache_client::{CacheClient, ClientError};
use crate::cache_protocol::Endpoint;
use crate::secret::Secret;

/// An index is a few KiB to a few MiB of JSON; anything far larger is not one.
const MAX_INDEX_BYTES: usize = 64 * 1024 * 1024;

/// Reads index entries from the job's cache service.
#[derive(Debug, Clone)]
pub struct CacheServiceBodies {
    client: CacheClient,
}

impl CacheServiceBodies {
    /// The service at `endpoint` (`ACTIONS_RESULTS_URL` for v2, `ACTIONS_CACHE_URL` for v1)
    /// with the runtime `token`.
    pub fn new(endpoint: Endpoint, token: Secret) -> Self {
        Self {
            client: CacheClient::new(endpoint, token),
        }
    }

    async fn fetch_body(&self, entry: &ListedCache) -> Result<Option<Vec<u8>>, String> {
        let hit = match self.client.lookup(&entry.key, &[], &entry.version).await {
            Ok(hit) => hit,
            // The token cannot read that ref: an index this job cannot vouch for.
            Err(ClientError::Status {
                status: 403,
                message,
                ..
            }) if message.contains("cache read denied") => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        // The lookup also prefix-matches (`#1` finds `#12`): only the exact entry will do.
        let Some(hit) = hit.filter(|h| h.matched_key == entry.key) else {
            return Ok(None);
        };
        let body = self
            .client
            .read(&hit, MAX_INDEX_BYTES)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Some(body.to_vec()))
    }
}

impl IndexBodies for CacheServiceBodies {
    fn fetch<'a>(
        &'a self,
        entry: &'a ListedCache,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, String>> {
        Box::pin(self.fetch_body(entry))
    }
}
