//! [`CacheClient`]: lookup, read, save, over whichever protocol the endpoint speaks.

use std::path::Path;

use bytes::Bytes;
use reqwest::{Method, StatusCode};

use super::blob::{self, Sink, Source};
use super::error::ClientError;
use super::retry::RetryPolicy;
use super::v1::{self, Call, Reply};
use super::v2::{self, Answer};
use crate::cache_protocol::{Endpoint, wire};
use crate::secret::Secret;

/// A lookup hit: the full key that matched and where to read it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub matched_key: String,
    /// The signed download URL (a credential).
    pub url: Secret,
}

/// What a save came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// This call created the entry.
    Saved,
    /// The service already has (or another writer is writing) the entry.
    AlreadyExists,
}

/// A finished save: its outcome, the bytes sent, and the retries all its calls took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    pub outcome: SaveOutcome,
    pub bytes: u64,
    pub retries: u32,
}

/// One cache service, one token.
#[derive(Debug, Clone)]
pub struct CacheClient {
    http: reqwest::Client,
    endpoint: Endpoint,
    token: Secret,
    policy: RetryPolicy,
}

impl CacheClient {
    pub fn new(endpoint: Endpoint, token: Secret) -> Self {
        Self {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(32)
                .build()
                .unwrap_or_default(),
            endpoint,
            token,
            policy: RetryPolicy::default(),
        }
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn auth(&self) -> (&str, &Secret) {
        (self.endpoint.url(), &self.token)
    }

    /// Find `key` (exact, else the newest entry it prefixes), then `restore_keys`, in the
    /// refs the token may read. `Ok(None)` is a miss.
    pub async fn lookup(
        &self,
        key: &str,
        restore_keys: &[String],
        version: &str,
    ) -> Result<Option<Hit>, ClientError> {
        match &self.endpoint {
            Endpoint::V2(_) => {
                let req = wire::GetCacheEntryDownloadUrlRequest {
                    key: key.to_owned(),
                    restore_keys: restore_keys.to_vec(),
                    version: version.to_owned(),
                };
                let what = ("look up a cache entry", "GetCacheEntryDownloadURL");
                let (answer, _) = v2::call::<_, wire::GetCacheEntryDownloadUrlResponse>(
                    &self.http,
                    &self.policy,
                    self.auth(),
                    what,
                    &req,
                )
                .await?;
                Ok(match answer {
                    Answer::Ok(r) if r.ok && !r.signed_download_url.is_empty() => Some(Hit {
                        matched_key: r.matched_key,
                        url: Secret::new(r.signed_download_url),
                    }),
                    _ => None,
                })
            }
            Endpoint::V1(_) => self.lookup_v1(key, restore_keys, version).await,
        }
    }

    async fn lookup_v1(
        &self,
        key: &str,
        restore_keys: &[String],
        version: &str,
    ) -> Result<Option<Hit>, ClientError> {
        let mut keys = vec![key.to_owned()];
        keys.extend(restore_keys.iter().filter(|k| *k != key).cloned());
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("keys", &keys.join(","))
            .append_pair("version", version)
            .finish();
        let call = Call {
            what: "look up a cache entry",
            method: Method::GET,
            path: format!("cache?{query}"),
            json: None,
            chunk: None,
        };
        let (reply, _) = v1::call(&self.http, &self.policy, self.auth(), call).await?;
        let Reply::Ok(status, body) = reply else {
            return Ok(None);
        };
        if status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let entry: wire::ArtifactCacheEntry =
            serde_json::from_slice(&body).map_err(|e| ClientError::Protocol {
                what: "look up a cache entry",
                detail: format!("unreadable entry: {e}"),
            })?;
        let location = entry.archive_location.filter(|l| !l.is_empty());
        Ok(location.map(|l| Hit {
            matched_key: entry.cache_key,
            url: Secret::new(l),
        }))
    }

    /// Read a hit into memory (an index, a small archive); at most `max` bytes.
    pub async fn read(&self, hit: &Hit, max: usize) -> Result<Bytes, ClientError> {
        let (bytes, _) =
            blob::download(&self.http, &self.policy, &hit.url, Sink::Memory { max }).await?;
        Ok(bytes)
    }

    /// Download a hit to `path` (replaced); returns its size.
    pub async fn download_to(&self, hit: &Hit, path: &Path) -> Result<u64, ClientError> {
        let (_, n) = blob::download(&self.http, &self.policy, &hit.url, Sink::File(path)).await?;
        Ok(n)
    }

    /// Save the file at `path` as (`key`, `version`).
    pub async fn save_file(
        &self,
        key: &str,
        version: &str,
        path: &Path,
    ) -> Result<Saved, ClientError> {
        self.save(key, version, Source::File(path.to_owned())).await
    }

    /// Save `bytes` as (`key`, `version`).
    pub async fn save_bytes(
        &self,
        key: &str,
        version: &str,
        bytes: Bytes,
    ) -> Result<Saved, ClientError> {
        self.save(key, version, Source::Bytes(bytes)).await
    }

    async fn save(&self, key: &str, version: &str, source: Source) -> Result<Saved, ClientError> {
        let size = source.len().await?;
        match &self.endpoint {
            Endpoint::V2(_) => self.save_v2(key, version, &source, size).await,
            Endpoint::V1(_) => self.save_v1(key, version, &source, size).await,
        }
    }

    async fn save_v2(
        &self,
        key: &str,
        version: &str,
        source: &Source,
        size: u64,
    ) -> Result<Saved, ClientError> {
        let exists = |retries| Saved {
            outcome: SaveOutcome::AlreadyExists,
            bytes: 0,
            retries,
        };
        let what = ("reserve a cache entry", "CreateCacheEntry");
        let req = wire::CreateCacheEntryRequest {
            key: key.to_owned(),
            version: version.to_owned(),
        };
        let (answer, mut retries) = v2::call::<_, wire::CreateCacheEntryResponse>(
            &self.http,
            &self.policy,
            self.auth(),
            what,
            &req,
        )
        .await?;
        let created = match answer {
            Answer::Conflict => return Ok(exists(retries)),
            Answer::Ok(c) => c,
        };
        if !created.ok || created.signed_upload_url.is_empty() {
            return Err(ClientError::Denied {
                what: "reserve a cache entry",
                message: created.message,
            });
        }
        let url = Secret::new(created.signed_upload_url);
        retries += blob::upload(&self.http, &self.policy, &url, source, size).await?;
        let what = ("finalize a cache entry", "FinalizeCacheEntryUpload");
        let req = wire::FinalizeCacheEntryUploadRequest {
            key: key.to_owned(),
            version: version.to_owned(),
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
        };
        let (answer, r) = v2::call::<_, wire::FinalizeCacheEntryUploadResponse>(
            &self.http,
            &self.policy,
            self.auth(),
            what,
            &req,
        )
        .await?;
        retries += r;
        match answer {
            Answer::Conflict => Ok(exists(retries)),
            Answer::Ok(f) if f.ok => Ok(Saved {
                outcome: SaveOutcome::Saved,
                bytes: size,
                retries,
            }),
            Answer::Ok(f) => Err(ClientError::Denied {
                what: "finalize a cache entry",
                message: f.message,
            }),
        }
    }

    async fn save_v1(
        &self,
        key: &str,
        version: &str,
        source: &Source,
        size: u64,
    ) -> Result<Saved, ClientError> {
        let reserve = Call {
            what: "reserve a cache entry",
            method: Method::POST,
            path: "caches".to_owned(),
            json: Some(json(&wire::ReserveCacheRequest {
                key: key.to_owned(),
                version: version.to_owned(),
                cache_size: i64::try_from(size).ok(),
            })),
            chunk: None,
        };
        let (reply, mut retries) = v1::call(&self.http, &self.policy, self.auth(), reserve).await?;
        let id = match reply {
            Reply::Conflict => {
                return Ok(Saved {
                    outcome: SaveOutcome::AlreadyExists,
                    bytes: 0,
                    retries,
                });
            }
            Reply::Ok(_, body) => {
                serde_json::from_slice::<wire::ReserveCacheResponse>(&body)
                    .map_err(|_| ClientError::Protocol {
                        what: "reserve a cache entry",
                        detail: "the answer has no cacheId".to_owned(),
                    })?
                    .cache_id
            }
        };
        retries += v1::upload(&self.http, &self.policy, self.auth(), id, source, size).await?;
        let commit = Call {
            what: "commit a cache entry",
            method: Method::POST,
            path: format!("caches/{id}"),
            json: Some(json(&wire::CommitCacheRequest {
                size: i64::try_from(size).unwrap_or(i64::MAX),
            })),
            chunk: None,
        };
        let (reply, r) = v1::call(&self.http, &self.policy, self.auth(), commit).await?;
        retries += r;
        let outcome = match reply {
            Reply::Conflict => SaveOutcome::AlreadyExists,
            Reply::Ok(..) => SaveOutcome::Saved,
        };
        Ok(Saved {
            outcome,
            bytes: if outcome == SaveOutcome::Saved {
                size
            } else {
                0
            },
            retries,
        })
    }
}

/// A v1 request body as JSON (our own types always serialize).
fn json<T: serde::Serialize>(body: &T) -> serde_json::Value {
    serde_json::to_value(body).unwrap_or_default()
}
