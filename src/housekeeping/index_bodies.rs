//! Index bodies through the cache service, for the orphan check: v2's Twirp
//! `GetCacheEntryDownloadURL` (docs/cache-protocol.md § v2 Twirp service, § Signed download
//! URLs) or v1's `GET cache?keys=&version=` (§ v1 REST endpoints, GitHub Enterprise Server)
//! with the job's runtime token, then a plain GET of the signed URL. The token can read
//! only its own ref and the base/default branch, so another ref's index comes back as
//! `Ok(None)` and `prune` then deletes no blob.

use futures::future::BoxFuture;
use serde::Deserialize;

use super::client::ListedCache;
use super::prune::IndexBodies;
use crate::secret::Secret;

/// Twirp route of the v2 lookup.
const DOWNLOAD_URL_METHOD: &str =
    "/twirp/github.actions.results.api.v1.CacheService/GetCacheEntryDownloadURL";
/// An index is a few KiB to a few MiB of JSON; anything far larger is not one.
const MAX_INDEX_BYTES: usize = 64 * 1024 * 1024;

/// Which cache protocol to read through, and its base URL.
#[derive(Debug, Clone)]
enum Protocol {
    /// `ACTIONS_RESULTS_URL`.
    V2(String),
    /// `ACTIONS_CACHE_URL`.
    V1(String),
}

/// Reads index entries from the job's cache service.
#[derive(Debug, Clone)]
pub struct CacheServiceBodies {
    protocol: Protocol,
    token: Secret,
    http: reqwest::Client,
}

/// v1's `ArtifactCacheEntry`; field names are matched case-insensitively by clients, and
/// camelCase is what GitHub sends.
#[derive(Deserialize)]
struct V1Entry {
    #[serde(default, alias = "CacheKey", alias = "cachekey")]
    #[serde(rename = "cacheKey")]
    cache_key: String,
    #[serde(default, alias = "ArchiveLocation", alias = "archivelocation")]
    #[serde(rename = "archiveLocation")]
    archive_location: String,
}

#[derive(Deserialize)]
struct DownloadUrl {
    #[serde(default)]
    ok: bool,
    /// Wrapped in a `Secret` as soon as it is read: a signed URL is a credential.
    #[serde(default)]
    signed_download_url: String,
    #[serde(default)]
    matched_key: String,
}

impl CacheServiceBodies {
    /// The v2 service: `results_url` is `ACTIONS_RESULTS_URL`; `token` the runtime token.
    pub fn v2(results_url: &str, token: Secret) -> Self {
        Self::with(
            Protocol::V2(results_url.trim_end_matches('/').to_owned()),
            token,
        )
    }

    /// The v1 service (GitHub Enterprise Server): `cache_url` is `ACTIONS_CACHE_URL`.
    pub fn v1(cache_url: &str, token: Secret) -> Self {
        Self::with(
            Protocol::V1(cache_url.trim_end_matches('/').to_owned()),
            token,
        )
    }

    fn with(protocol: Protocol, token: Secret) -> Self {
        Self {
            protocol,
            token,
            http: reqwest::Client::new(),
        }
    }

    async fn fetch_body(&self, entry: &ListedCache) -> Result<Option<Vec<u8>>, String> {
        match &self.protocol {
            Protocol::V2(url) => self.fetch_v2(url, entry).await,
            Protocol::V1(url) => self.fetch_v1(url, entry).await,
        }
    }

    async fn fetch_v1(&self, base: &str, entry: &ListedCache) -> Result<Option<Vec<u8>>, String> {
        let resp = self
            .http
            .get(format!("{base}/_apis/artifactcache/cache"))
            .query(&[
                ("keys", entry.key.as_str()),
                ("version", entry.version.as_str()),
            ])
            .bearer_auth(self.token.expose())
            .header(
                reqwest::header::ACCEPT,
                "application/json;api-version=6.0-preview.1",
            )
            .send()
            .await
            .map_err(|e| format!("failed to ask the cache service: {}", e.without_url()))?;
        match resp.status() {
            reqwest::StatusCode::NO_CONTENT => return Ok(None),
            s if !s.is_success() => return Err(format!("the cache service answered {s}")),
            _ => {}
        }
        let found: V1Entry = resp.json().await.map_err(|e| {
            format!(
                "the cache service's answer is not an entry: {}",
                e.without_url()
            )
        })?;
        // Keys are prefix-matched too (`#1` finds `#12`): only the exact entry will do.
        if found.cache_key != entry.key || found.archive_location.is_empty() {
            return Ok(None);
        }
        self.download(&Secret::new(found.archive_location))
            .await
            .map(Some)
    }

    async fn fetch_v2(&self, base: &str, entry: &ListedCache) -> Result<Option<Vec<u8>>, String> {
        let body =
            serde_json::json!({ "key": entry.key, "restore_keys": [], "version": entry.version });
        let resp = self
            .http
            .post(format!("{base}{DOWNLOAD_URL_METHOD}"))
            .bearer_auth(self.token.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("failed to ask the cache service: {}", e.without_url()))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| {
            format!(
                "failed to read the cache service's answer: {}",
                e.without_url()
            )
        })?;
        if status == reqwest::StatusCode::FORBIDDEN && text.contains("cache read denied") {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(format!("the cache service answered {status}"));
        }
        let answer: DownloadUrl = serde_json::from_str(&text)
            .map_err(|e| format!("the cache service's answer is not JSON: {e}"))?;
        // The lookup also prefix-matches (`#1` finds `#12`): only the exact entry will do.
        if !answer.ok || answer.matched_key != entry.key {
            return Ok(None);
        }
        self.download(&Secret::new(answer.signed_download_url))
            .await
            .map(Some)
    }

    /// GET the signed URL. Its text never reaches an error: it is a credential.
    async fn download(&self, url: &Secret) -> Result<Vec<u8>, String> {
        let resp = self
            .http
            .get(url.expose())
            .send()
            .await
            .map_err(|e| format!("failed to download: {}", e.without_url()))?;
        if !resp.status().is_success() {
            return Err(format!(
                "failed to download: the blob store answered {}",
                resp.status()
            ));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_INDEX_BYTES as u64)
        {
            return Err("failed to download: larger than any cache index".to_owned());
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| format!("failed to download: {}", e.without_url()))?;
        if bytes.len() > MAX_INDEX_BYTES {
            return Err("failed to download: larger than any cache index".to_owned());
        }
        Ok(bytes.to_vec())
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
