//! The service's state as objects in the store, so any number of instances sharing a store
//! give the answers one instance gives. The store's atomic create
//! ([`BlobStore::put_if_absent`]) decides every race.
//!
//! Layout (keys under the store's root):
//! - `pending/<id>.json`: the [`Reservation`] by id, while bytes may be uploaded. Created
//!   atomically first, so two instances never hand out one id.
//! - `resv/<sha256(scope, key, version)>.json`: the claim on a (key, version, ref), the
//!   same record (on disk, the same file). Created atomically by the reservation that wins;
//!   it stays while the entry lives, so a second create gets "already exists" from any
//!   instance.
//! - `staging/<id>.blob` (and `.b-…` blocks, `.c-…` v1 chunks): uploaded bytes, flat, so an
//!   upload creates no directory; `data/<shard>/<id>`: an entry's bytes.
//! - `meta/<shard>/<id>.json`: the [`super::StoredEntry`] whose presence makes the entry
//!   exist. Created atomically, so of racing finalizes exactly one publishes.
//! - `access/<shard>/<id>-<unix seconds>`: empty markers of last use, read by listing alone
//!   (no object bodies), so LRU order is shared without a read per entry.
//!
//! Ids are time-based (milliseconds × 1024 plus random bits), so a reservation's age is
//! read from its id and a listing of `pending/` is enough to find abandoned ones.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::storage::{BlobStore, ByteStream, StorageError};

fn shard(id: u64) -> String {
    format!("{:02x}", id & 0xff)
}
pub fn meta_key(id: u64) -> String {
    format!("meta/{}/{id}.json", shard(id))
}
pub fn data_key(id: u64) -> String {
    format!("data/{}/{id}", shard(id))
}
/// Every staged object of `id` starts with this.
pub fn staging_prefix(id: u64) -> String {
    format!("staging/{id}.")
}
pub fn staging_blob(id: u64) -> String {
    format!("{}blob", staging_prefix(id))
}
pub fn block_key(id: u64, block_id: &str) -> String {
    format!("{}b-{}", staging_prefix(id), hex::encode(block_id))
}
/// v1 chunks of `id` start with this.
pub fn chunk_prefix(id: u64) -> String {
    format!("{}c-", staging_prefix(id))
}
pub fn chunk_key(id: u64, range: &Range<u64>) -> String {
    format!("{}{:020}-{:020}", chunk_prefix(id), range.start, range.end)
}
pub fn pending_key(id: u64) -> String {
    format!("pending/{id}.json")
}
pub fn access_key(id: u64, at: DateTime<Utc>) -> String {
    format!("{}{}", access_prefix(id), at.timestamp())
}
/// Every access marker of `id` starts with this (the `-` keeps id 1 from matching 12).
pub fn access_prefix(id: u64) -> String {
    format!("access/{}/{id}-", shard(id))
}
pub fn tuple_key(key: &str, version: &str, scope: &str) -> String {
    let mut h = Sha256::new();
    for part in [scope, key, version] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    format!("resv/{}.json", hex::encode(h.finalize()))
}

/// The id in a `meta/`, `data/` or `pending/` key.
pub fn id_of(object: &str) -> Option<u64> {
    let name = object.rsplit('/').next()?;
    name.strip_suffix(".json").unwrap_or(name).parse().ok()
}

/// The id a `staging/` object belongs to (also in the older `staging/<id>/…` layout).
pub fn staged_id(object: &str) -> Option<u64> {
    let rest = object.strip_prefix("staging/")?;
    let end = rest.find(['.', '/']).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The (id, time) of an `access/` marker.
pub fn access_of(object: &str) -> Option<(u64, DateTime<Utc>)> {
    let (id, secs) = object.rsplit('/').next()?.split_once('-')?;
    Some((
        id.parse().ok()?,
        DateTime::from_timestamp(secs.parse().ok()?, 0)?,
    ))
}

/// When the reservation behind `id` was made (ids are time-based).
pub fn reserved_at(id: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis((id / 1024) as i64).unwrap_or_default()
}

/// A claim on (key, version, scope), stored at its tuple key and by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: u64,
    pub key: String,
    pub version: String,
    pub scope: String,
}

/// The store, with the typed reads and writes the shared state needs.
#[derive(Clone)]
pub struct Shared {
    pub store: Arc<dyn BlobStore>,
}

impl Shared {
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        Ok(self.store.size(key).await?.is_some())
    }

    pub async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StorageError> {
        let Some(stream) = self.store.get(key, None).await? else {
            return Ok(None);
        };
        let bytes: Vec<u8> = stream
            .map_ok(|b| b.to_vec())
            .try_concat()
            .await
            .map_err(StorageError::Body)?;
        Ok(serde_json::from_slice(&bytes).ok())
    }

    pub async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        let body: ByteStream = Box::pin(futures::stream::once(async move { Ok(bytes.into()) }));
        self.store.put(key, body).await.map(|_| ())
    }

    /// Create `key` with `value` unless it exists; `true` when this call created it.
    pub async fn create_json<T: Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<bool, StorageError> {
        Ok(self.create_json_each(vec![key.to_owned()], value).await? == 1)
    }

    /// Create `value` under each of `keys` in turn unless it exists (stopping at the first
    /// that does); how many this call created.
    pub async fn create_json_each<T: Serialize>(
        &self,
        keys: Vec<String>,
        value: &T,
    ) -> Result<usize, StorageError> {
        let bytes = Bytes::from(serde_json::to_vec(value).unwrap_or_default());
        self.store.put_if_absent_each(keys, bytes).await
    }

    /// Delete every object under `prefix`.
    pub async fn delete_all(&self, prefix: &str) -> Result<(), StorageError> {
        for key in self.store.list(prefix).await? {
            self.store.delete(&key).await?;
        }
        Ok(())
    }

    /// Remove a reservation's objects but its metadata: bytes staged or moved to `data/`
    /// (an unpublished finalize moves them too), its record and its claim (if still its).
    pub async fn drop_reservation(&self, r: &Reservation) -> Result<(), StorageError> {
        self.delete_all(&staging_prefix(r.id)).await?;
        self.store.delete(&data_key(r.id)).await?;
        let tuple = tuple_key(&r.key, &r.version, &r.scope);
        if self
            .read_json::<Reservation>(&tuple)
            .await?
            .is_some_and(|held| held.id == r.id)
        {
            self.store.delete(&tuple).await?;
        }
        self.store.delete(&pending_key(r.id)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        assert_eq!(id_of(&meta_key(4097)), Some(4097));
        assert_eq!(id_of(&data_key(4097)), Some(4097));
        assert_eq!(id_of(&pending_key(12)), Some(12));
        assert_eq!(staged_id(&staging_blob(12)), Some(12));
        assert_eq!(staged_id(&chunk_key(12, &(0..4))), Some(12));
        assert_eq!(staged_id("staging/12/blob"), Some(12));
        // The prefix of id 1 does not take id 12's objects.
        assert!(!block_key(12, "a").starts_with(&staging_prefix(1)));
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        assert_eq!(access_of(&access_key(77, at)), Some((77, at)));
        // Length-prefixed parts: ("ab", "c") and ("a", "bc") are different tuples.
        assert_ne!(tuple_key("ab", "c", "s"), tuple_key("a", "bc", "s"));
        let now = Utc::now();
        let id = now.timestamp_millis() as u64 * 1024 + 5;
        assert!((reserved_at(id) - now).num_milliseconds().abs() < 2);
    }
}
