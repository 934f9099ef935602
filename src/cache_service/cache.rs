//! Cache entries over a [`BlobStore`]: uploads land in `staging/`, finalize moves them to
//! `data/` and writes `meta/`, the object whose presence makes an entry exist. A crash at
//! any point leaves either a complete entry or nothing visible; start-up sweeps the rest.

use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;
use futures::TryStreamExt;
use tracing::{info, warn};

use super::error::ServiceError;
use super::index::{CacheEntry, Index};
use crate::storage::{BlobStore, ByteStream, StorageError};

/// Size budget and age limit, as GitHub applies per repository.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub max_total_bytes: Option<u64>,
    pub max_age: Option<chrono::Duration>,
}

/// The service's cache: index plus storage.
pub struct Cache {
    index: Mutex<Index>,
    store: Arc<dyn BlobStore>,
    limits: Limits,
}

fn shard(id: u64) -> String {
    format!("{:02x}", id & 0xff)
}
fn meta_key(id: u64) -> String {
    format!("meta/{}/{id}.json", shard(id))
}
fn data_key(id: u64) -> String {
    format!("data/{}/{id}", shard(id))
}
fn staging_blob(id: u64) -> String {
    format!("staging/{id}/blob")
}
fn block_key(id: u64, block_id: &str) -> String {
    format!("staging/{id}/b-{}", hex::encode(block_id))
}
fn chunk_key(id: u64, range: &Range<u64>) -> String {
    format!("staging/{id}/c-{:020}-{:020}", range.start, range.end)
}

impl Cache {
    /// Rebuild the index from `meta/` and drop what no finalized entry owns.
    pub async fn load(store: Arc<dyn BlobStore>, limits: Limits) -> Result<Self, StorageError> {
        let mut index = Index::default();
        for key in store.list("meta/").await? {
            let Some(stream) = store.get(&key, None).await? else {
                continue;
            };
            let bytes: Vec<u8> = stream
                .map_ok(|b| b.to_vec())
                .try_concat()
                .await
                .map_err(StorageError::Body)?;
            match serde_json::from_slice::<CacheEntry>(&bytes) {
                Ok(entry) => index.insert_ready(entry),
                Err(e) => warn!(object = %key, error = %e, "skipping unreadable entry metadata"),
            }
        }
        for key in store.list("staging/").await? {
            store.delete(&key).await?;
        }
        for key in store.list("data/").await? {
            let owned = key
                .rsplit('/')
                .next()
                .and_then(|id| id.parse::<u64>().ok())
                .is_some_and(|id| index.get(id).is_some());
            if !owned {
                store.delete(&key).await?;
            }
        }
        info!(entries = index.entries().len(), "cache index loaded");
        Ok(Self {
            index: Mutex::new(index),
            store,
            limits,
        })
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        // Index updates are single calls that cannot panic halfway; a poisoned lock is safe.
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn reserve(&self, key: &str, version: &str, scope: &str) -> Result<u64, ServiceError> {
        self.index().reserve(key, version, scope)
    }

    pub fn reservation(&self, key: &str, version: &str, scope: &str) -> Option<u64> {
        self.index().reservation(key, version, scope)
    }

    pub fn reserved_scope(&self, id: u64) -> Option<String> {
        self.index().reserved_scope(id)
    }

    /// Put Blob: the whole upload in one body.
    pub async fn put_blob(&self, id: u64, body: ByteStream) -> Result<u64, ServiceError> {
        self.index().check_writable(id)?;
        Ok(self.store.put(&staging_blob(id), body).await?)
    }

    /// Put Block: one block, committed later by [`Self::put_block_list`].
    pub async fn put_block(
        &self,
        id: u64,
        block_id: &str,
        body: ByteStream,
    ) -> Result<u64, ServiceError> {
        self.index().check_writable(id)?;
        Ok(self.store.put(&block_key(id, block_id), body).await?)
    }

    /// Put Block List: the blob becomes the named blocks in order.
    pub async fn put_block_list(&self, id: u64, block_ids: &[String]) -> Result<u64, ServiceError> {
        self.index().check_writable(id)?;
        let mut parts = Vec::with_capacity(block_ids.len());
        for b in block_ids {
            let key = block_key(id, b);
            if self.store.size(&key).await?.is_none() {
                return Err(ServiceError::InvalidBlockList(
                    "the block list names a block that was not uploaded".to_owned(),
                ));
            }
            parts.push(key);
        }
        let size = self.store.concat(&staging_blob(id), parts.clone()).await?;
        for p in parts {
            self.store.delete(&p).await?;
        }
        Ok(size)
    }

    /// v1 `PATCH`: bytes `range` of the upload, in any order.
    pub async fn put_chunk(
        &self,
        id: u64,
        range: Range<u64>,
        body: ByteStream,
    ) -> Result<(), ServiceError> {
        self.index().check_writable(id)?;
        let written = self.store.put(&chunk_key(id, &range), body).await?;
        if written != range.end - range.start {
            self.store.delete(&chunk_key(id, &range)).await?;
            return Err(ServiceError::InvalidArgument(format!(
                "Content-Range names {} bytes but the body had {written}",
                range.end - range.start
            )));
        }
        Ok(())
    }

    /// v1 commit: join the chunks (they must tile `0..size`) and finalize.
    pub async fn commit_chunks(&self, id: u64, size: u64) -> Result<CacheEntry, ServiceError> {
        let (key, version, scope) = self.index().begin_finalize(id)?;
        let result = async {
            let prefix = format!("staging/{id}/c-");
            let mut chunks: Vec<(u64, u64, String)> = Vec::new();
            for k in self.store.list(&prefix).await? {
                let Some((s, e)) = k[prefix.len()..].split_once('-') else { continue };
                if let (Ok(s), Ok(e)) = (s.parse(), e.parse()) {
                    chunks.push((s, e, k));
                }
            }
            chunks.sort();
            let mut end = 0;
            for (s, e, _) in &chunks {
                if *s != end {
                    return Err(ServiceError::InvalidArgument(format!(
                        "the uploaded chunks do not cover the archive contiguously (gap or overlap at byte {end})"
                    )));
                }
                end = *e;
            }
            if end != size {
                return Err(ServiceError::InvalidArgument(format!(
                    "size {size} does not match the {end} bytes uploaded"
                )));
            }
            let parts: Vec<String> = chunks.into_iter().map(|c| c.2).collect();
            self.store.concat(&staging_blob(id), parts.clone()).await?;
            for p in parts {
                self.store.delete(&p).await?;
            }
            self.publish(id, key, version, scope, size).await
        }
        .await;
        self.settle(id, result)
    }

    /// v2 finalize: the uploaded blob must be `size` bytes.
    pub async fn finalize(&self, id: u64, size: u64) -> Result<CacheEntry, ServiceError> {
        let (key, version, scope) = self.index().begin_finalize(id)?;
        let result = async {
            match self.store.size(&staging_blob(id)).await? {
                Some(n) if n == size => self.publish(id, key, version, scope, size).await,
                Some(n) => Err(ServiceError::InvalidArgument(format!(
                    "size_bytes {size} does not match the {n} bytes uploaded"
                ))),
                None => Err(ServiceError::InvalidArgument(
                    "nothing was uploaded for this cache entry".to_owned(),
                )),
            }
        }
        .await;
        self.settle(id, result)
    }

    fn settle(
        &self,
        id: u64,
        result: Result<CacheEntry, ServiceError>,
    ) -> Result<CacheEntry, ServiceError> {
        self.index().end_finalize(id, result.as_ref().ok().cloned());
        result
    }

    /// Move the staged blob into place and write the metadata that makes it visible.
    async fn publish(
        &self,
        id: u64,
        key: String,
        version: String,
        scope: String,
        size: u64,
    ) -> Result<CacheEntry, ServiceError> {
        let now = Utc::now();
        let entry = CacheEntry {
            id,
            key,
            version,
            scope,
            size,
            created_at: now,
            last_accessed_at: now,
        };
        self.store.rename(&staging_blob(id), &data_key(id)).await?;
        self.write_meta(&entry).await?;
        Ok(entry)
    }

    async fn write_meta(&self, entry: &CacheEntry) -> Result<(), StorageError> {
        let json = serde_json::to_vec(entry).unwrap_or_default();
        let body: ByteStream = Box::pin(futures::stream::once(async move { Ok(json.into()) }));
        self.store.put(&meta_key(entry.id), body).await.map(|_| ())
    }

    /// Find the entry a restore gets, marking it used.
    pub fn lookup(&self, keys: &[String], version: &str, scopes: &[&str]) -> Option<CacheEntry> {
        let mut index = self.index();
        let found = index.lookup(keys, version, scopes)?;
        index.touch(found.id)
    }

    pub fn get(&self, id: u64) -> Option<CacheEntry> {
        self.index().get(id)
    }

    pub fn entries(&self) -> Vec<CacheEntry> {
        self.index().entries()
    }

    /// Stream `range` (or all) of a finalized entry.
    pub async fn read(
        &self,
        id: u64,
        range: Option<Range<u64>>,
    ) -> Result<Option<ByteStream>, ServiceError> {
        if self.get(id).is_none() {
            return Ok(None);
        }
        Ok(self.store.get(&data_key(id), range).await?)
    }

    /// Delete an entry (metadata first, so it is never visible half-deleted).
    pub async fn delete(&self, id: u64) -> Result<Option<CacheEntry>, ServiceError> {
        let removed = self.index().remove(id);
        if removed.is_some() {
            self.store.delete(&meta_key(id)).await?;
            self.store.delete(&data_key(id)).await?;
        }
        Ok(removed)
    }

    /// Apply the limits: evict by age and LRU, drop abandoned reservations.
    pub async fn housekeep(&self, keep: Option<u64>) -> Result<usize, ServiceError> {
        let (evict, stale) = {
            let index = self.index();
            let evict =
                index.eviction_candidates(self.limits.max_total_bytes, self.limits.max_age, keep);
            (evict, index.stale_reservations())
        };
        for id in &stale {
            self.index().remove(*id);
            for key in self.store.list(&format!("staging/{id}/")).await? {
                self.store.delete(&key).await?;
            }
        }
        for id in &evict {
            self.delete(*id).await?;
        }
        if !evict.is_empty() {
            info!(
                evicted = evict.len(),
                "evicted cache entries over the size or age limit"
            );
        }
        Ok(evict.len())
    }
}
