//! Uploads into reserved entries (Put Blob, Put Block / Block List, v1 chunks) and the
//! finalize that publishes them. Every check reads the store, not this instance's memory,
//! so an upload or finalize may reach any instance sharing the store.

use std::ops::Range;

use chrono::Utc;

use super::cache::Cache;
use super::error::ServiceError;
use super::index::StoredEntry;
use super::shared::{
    Reservation, block_key, chunk_key, chunk_prefix, data_key, meta_key, pending_key, staging_blob,
};
use crate::storage::ByteStream;

fn entry_exists() -> ServiceError {
    ServiceError::AlreadyExists(
        "cache entry with the same key, version, and scope already exists".to_owned(),
    )
}

fn lost_race() -> ServiceError {
    ServiceError::Aborted("another request is finalizing this cache entry".to_owned())
}

impl Cache {
    /// Check that `id` may still receive bytes.
    async fn check_writable(&self, id: u64) -> Result<(), ServiceError> {
        if self.is_finalized(id).await? {
            return Err(ServiceError::AlreadyExists(
                "the entry is finalized and cannot change".to_owned(),
            ));
        }
        if !self.shared.exists(&pending_key(id)).await? {
            return Err(ServiceError::NotFound("no such upload".to_owned()));
        }
        Ok(())
    }

    /// The reservation a finalize of `id` publishes, if it is still unpublished.
    async fn finalizing(&self, id: u64) -> Result<Reservation, ServiceError> {
        if self.index().get(id).is_some() {
            return Err(entry_exists());
        }
        match self
            .shared
            .read_json::<Reservation>(&pending_key(id))
            .await?
        {
            Some(r) => Ok(r),
            // A racing finalize published it and dropped the record since our first check.
            None if self.shared.exists(&meta_key(id)).await? => Err(entry_exists()),
            None => Err(ServiceError::NotFound(
                "no reservation for this cache entry".to_owned(),
            )),
        }
    }

    /// Put Blob: the whole upload in one body.
    pub async fn put_blob(&self, id: u64, body: ByteStream) -> Result<u64, ServiceError> {
        self.check_writable(id).await?;
        Ok(self.store.put(&staging_blob(id), body).await?)
    }

    /// Put Block: one block, committed later by [`Self::put_block_list`].
    pub async fn put_block(
        &self,
        id: u64,
        block_id: &str,
        body: ByteStream,
    ) -> Result<u64, ServiceError> {
        self.check_writable(id).await?;
        Ok(self.store.put(&block_key(id, block_id), body).await?)
    }

    /// Put Block List: the blob becomes the named blocks in order.
    pub async fn put_block_list(&self, id: u64, block_ids: &[String]) -> Result<u64, ServiceError> {
        self.check_writable(id).await?;
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
        self.check_writable(id).await?;
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
    pub async fn commit_chunks(&self, id: u64, size: u64) -> Result<StoredEntry, ServiceError> {
        let r = self.finalizing(id).await?;
        match self.join_chunks(id, size).await {
            Ok(()) => self.publish(r, size).await,
            Err(e) if self.moved(id).await? => {
                tracing::debug!(entry = id, error = %e, "lost a race to commit");
                Err(lost_race())
            }
            Err(e) => Err(e),
        }
    }

    /// Join the v1 chunks of `id` into its staged blob, checking they tile `0..size`.
    async fn join_chunks(&self, id: u64, size: u64) -> Result<(), ServiceError> {
        let prefix = chunk_prefix(id);
        let mut chunks: Vec<(u64, u64, String)> = Vec::new();
        for k in self.store.list(&prefix).await? {
            let Some((s, e)) = k[prefix.len()..].split_once('-') else {
                continue;
            };
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
        Ok(())
    }

    /// v2 finalize: the uploaded blob must be `size` bytes.
    pub async fn finalize(&self, id: u64, size: u64) -> Result<StoredEntry, ServiceError> {
        let r = self.finalizing(id).await?;
        match self.store.size(&staging_blob(id)).await? {
            Some(n) if n == size => self.publish(r, size).await,
            Some(n) => Err(ServiceError::InvalidArgument(format!(
                "size_bytes {size} does not match the {n} bytes uploaded"
            ))),
            None if self.moved(id).await? => Err(lost_race()),
            None => Err(ServiceError::InvalidArgument(
                "nothing was uploaded for this cache entry".to_owned(),
            )),
        }
    }

    /// Whether a finalize racing this one has moved `id`'s bytes to `data/` already.
    async fn moved(&self, id: u64) -> Result<bool, ServiceError> {
        Ok(self.shared.exists(&data_key(id)).await?)
    }

    /// Move the staged blob into place and create the metadata that makes it visible. The
    /// create is atomic, so of finalizes racing on any instances exactly one publishes; a
    /// loser that moved the same bytes too leaves them to the winner's entry.
    async fn publish(&self, r: Reservation, size: u64) -> Result<StoredEntry, ServiceError> {
        let now = Utc::now();
        let entry = StoredEntry {
            id: r.id,
            key: r.key,
            version: r.version,
            scope: r.scope,
            size,
            created_at: now,
            last_accessed_at: now,
        };
        if !self
            .store
            .rename(&staging_blob(entry.id), &data_key(entry.id))
            .await?
        {
            return Err(lost_race());
        }
        if !self.shared.create_json(&meta_key(entry.id), &entry).await? {
            return Err(entry_exists());
        }
        self.index().insert_ready(entry.clone());
        self.store.delete(&pending_key(entry.id)).await?;
        Ok(entry)
    }
}
