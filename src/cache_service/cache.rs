//! Cache entries over a [`BlobStore`]: uploads land in `staging/`, finalize moves them to
//! `data/` and creates `meta/`, the object whose presence makes an entry exist. A crash at
//! any point leaves either a complete entry or nothing visible.
//!
//! Reservations, ids, the right to publish and last-access times live in the store too
//! ([`super::shared`] has the layout), decided by its atomic create, so several instances
//! on one store answer as one would. The in-memory [`Index`] is a copy, refreshed from
//! `meta/` before each lookup and by the periodic housekeeping.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::error::ServiceError;
use super::index::{Index, StoredEntry, next_id, reservation_ttl};
use super::shared::{
    Reservation, Shared, access_key, access_of, access_prefix, data_key, id_of, meta_key,
    pending_key, reserved_at, staged_id, tuple_key,
};
use crate::storage::{BlobStore, ByteStream, StorageError};

/// Size budget and age limit, as GitHub applies per repository.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub max_total_bytes: Option<u64>,
    pub max_age: Option<chrono::Duration>,
}

/// How often one instance writes an entry's access marker at most.
const ACCESS_MARK_EVERY: chrono::Duration = chrono::Duration::minutes(1);

/// The service's cache: index plus storage.
pub struct Cache {
    index: Mutex<Index>,
    pub(super) shared: Shared,
    pub(super) store: Arc<dyn BlobStore>,
    limits: Limits,
    /// The access marker this instance last wrote per entry, to throttle and replace it.
    marks: Mutex<HashMap<u64, (DateTime<Utc>, String)>>,
    /// When the last completed lookup listing of `meta/` started; held while one runs.
    listed: tokio::sync::Mutex<Option<Instant>>,
}

fn already_exists(key: &str, version: &str, scope: &str) -> ServiceError {
    ServiceError::AlreadyExists(format!(
        "cache entry with the same key, version, and scope already exists (scope: {scope}, key: {key}, version: {version})"
    ))
}

impl Cache {
    /// Load the index from `meta/` and drop what neither an entry nor a reservation owns.
    pub async fn load(store: Arc<dyn BlobStore>, limits: Limits) -> Result<Self, StorageError> {
        let cache = Self {
            index: Mutex::new(Index::default()),
            shared: Shared {
                store: store.clone(),
            },
            store,
            limits,
            marks: Mutex::new(HashMap::new()),
            listed: tokio::sync::Mutex::new(None),
        };
        cache.refresh(true).await?;
        cache.sweep_at_start().await?;
        info!(
            entries = cache.index().entries().len(),
            "cache index loaded"
        );
        Ok(cache)
    }

    pub(super) fn index(&self) -> MutexGuard<'_, Index> {
        // Index updates are single calls that cannot panic halfway; a poisoned lock is safe.
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bring the index in line with `meta/` (and, with `access`, the access markers).
    async fn refresh(&self, access: bool) -> Result<(), StorageError> {
        let listed: HashSet<u64> = self
            .store
            .list("meta/")
            .await?
            .iter()
            .filter_map(|k| id_of(k))
            .collect();
        let known: HashSet<u64> = self.index().ids().into_iter().collect();
        for id in known.difference(&listed) {
            self.index().remove(*id);
        }
        for id in listed.difference(&known) {
            match self.shared.read_json::<StoredEntry>(&meta_key(*id)).await? {
                Some(entry) => self.index().insert_ready(entry),
                None => warn!(entry = id, "skipping unreadable entry metadata"),
            }
        }
        if access {
            let mut newest: HashMap<u64, (DateTime<Utc>, String)> = HashMap::new();
            for key in self.store.list("access/").await? {
                let Some((id, at)) = access_of(&key) else {
                    continue;
                };
                match newest.get(&id) {
                    Some((t, _)) if *t >= at => {
                        self.store.delete(&key).await?;
                    }
                    Some((_, older)) => {
                        self.store.delete(older).await?;
                        newest.insert(id, (at, key));
                    }
                    None => {
                        newest.insert(id, (at, key));
                    }
                }
            }
            let mut index = self.index();
            for (id, (at, _)) in newest {
                index.accessed(id, at);
            }
        }
        Ok(())
    }

    /// Bring the index up to date for a lookup that arrived at `arrived`: it must see every
    /// entry finalized before then, which a listing started after then shows. Lookups that
    /// arrive while one lists wait and share the next listing, so a burst of lookups lists
    /// `meta/` about twice instead of once each.
    async fn refresh_for(&self, arrived: Instant) -> Result<(), StorageError> {
        let mut listed = self.listed.lock().await;
        if listed.is_some_and(|started| started >= arrived) {
            return Ok(());
        }
        let started = Instant::now();
        self.refresh(false).await?;
        *listed = Some(started);
        Ok(())
    }

    /// Start-up: remove bytes no entry or live reservation owns, and give entries stored
    /// before claims existed (`resv/`) their claim.
    async fn sweep_at_start(&self) -> Result<(), StorageError> {
        let pending: HashSet<u64> = self
            .store
            .list("pending/")
            .await?
            .iter()
            .filter_map(|k| id_of(k))
            .collect();
        let entries = self.index().entries();
        let ready: HashSet<u64> = entries.iter().map(|e| e.id).collect();
        // The listings are a snapshot: a peer may have reserved or finalized since, so a
        // leftover is checked once more on its own before it goes.
        for key in self.store.list("staging/").await? {
            let id = staged_id(&key);
            if id.is_none_or(|id| !pending.contains(&id)) && !self.owned(id).await? {
                self.store.delete(&key).await?;
            }
        }
        for key in self.store.list("data/").await? {
            let id = id_of(&key);
            let listed = id.is_some_and(|id| ready.contains(&id) || pending.contains(&id));
            if !listed && !self.owned(id).await? {
                self.store.delete(&key).await?;
            }
        }
        let claimed: HashSet<String> = self.store.list("resv/").await?.into_iter().collect();
        for e in entries {
            let tuple = tuple_key(&e.key, &e.version, &e.scope);
            if !claimed.contains(&tuple) {
                let r = Reservation {
                    id: e.id,
                    key: e.key,
                    version: e.version,
                    scope: e.scope,
                };
                self.shared.create_json(&tuple, &r).await?;
            }
        }
        Ok(())
    }

    /// Whether an entry or a live reservation owns `id`'s objects now.
    async fn owned(&self, id: Option<u64>) -> Result<bool, StorageError> {
        let Some(id) = id else { return Ok(false) };
        Ok(
            self.shared.exists(&pending_key(id)).await?
                || self.shared.exists(&meta_key(id)).await?,
        )
    }

    /// Claim (key, version, scope); a second claim is `already_exists` (from any instance)
    /// unless the first was abandoned longer than [`reservation_ttl`] ago.
    pub async fn reserve(
        &self,
        key: &str,
        version: &str,
        scope: &str,
    ) -> Result<u64, ServiceError> {
        let tuple = tuple_key(key, version, scope);
        for _ in 0..3 {
            // Most creates of a layer already cached end here, on one read and no write.
            if let Some(held) = self.shared.read_json::<Reservation>(&tuple).await? {
                if !self.abandoned(&held).await? {
                    break;
                }
                self.shared.drop_reservation(&held).await?;
                continue;
            }
            if let Some(id) = self.claim(&tuple, key, version, scope, next_id).await? {
                return Ok(id);
            }
        }
        Err(already_exists(key, version, scope))
    }

    /// Create the reservation under a fresh id, then under `tuple`; `None` when another
    /// request took `tuple` first. Both creates are atomic: ids are random in their low bits,
    /// and another instance may draw the same one in the same millisecond.
    async fn claim(
        &self,
        tuple: &str,
        key: &str,
        version: &str,
        scope: &str,
        mut draw: impl FnMut() -> u64,
    ) -> Result<Option<u64>, StorageError> {
        for _ in 0..8 {
            let r = Reservation {
                id: draw(),
                key: key.to_owned(),
                version: version.to_owned(),
                scope: scope.to_owned(),
            };
            let names = vec![pending_key(r.id), tuple.to_owned()];
            match self.shared.create_json_each(names, &r).await? {
                0 => continue,
                1 => {
                    self.store.delete(&pending_key(r.id)).await?;
                    return Ok(None);
                }
                _ => return Ok(Some(r.id)),
            }
        }
        Err(StorageError::Backend(
            "failed to reserve: eight fresh ids in a row were taken".to_owned(),
        ))
    }

    /// Unfinished and older than [`reservation_ttl`].
    async fn abandoned(&self, r: &Reservation) -> Result<bool, StorageError> {
        Ok(Utc::now() - reserved_at(r.id) > reservation_ttl()
            && !self.shared.exists(&meta_key(r.id)).await?)
    }

    /// The id holding (key, version, scope), reserved or finalized.
    pub async fn reservation(
        &self,
        key: &str,
        version: &str,
        scope: &str,
    ) -> Result<Option<u64>, ServiceError> {
        let tuple = tuple_key(key, version, scope);
        Ok(self
            .shared
            .read_json::<Reservation>(&tuple)
            .await?
            .map(|r| r.id))
    }

    /// The ref an unfinished upload belongs to (v1 uploads are addressed by id alone).
    pub async fn reserved_scope(&self, id: u64) -> Result<Option<String>, ServiceError> {
        if self.is_finalized(id).await? {
            return Ok(None);
        }
        let r = self
            .shared
            .read_json::<Reservation>(&pending_key(id))
            .await?;
        Ok(r.map(|r| r.scope))
    }

    /// Whether `id` is a finalized entry (here or on another instance).
    pub async fn is_finalized(&self, id: u64) -> Result<bool, ServiceError> {
        Ok(self.index().get(id).is_some() || self.shared.exists(&meta_key(id)).await?)
    }

    /// Find the entry a restore gets, marking it used. Reads `meta/`'s listing first, so
    /// entries another instance finalized are seen.
    pub async fn lookup(
        &self,
        keys: &[String],
        version: &str,
        scopes: &[&str],
    ) -> Result<Option<StoredEntry>, ServiceError> {
        self.refresh_for(Instant::now()).await?;
        let found = {
            let mut index = self.index();
            let Some(found) = index.lookup(keys, version, scopes) else {
                return Ok(None);
            };
            index.touch(found.id)
        };
        if let Some(e) = &found {
            // A lost marker only makes LRU order a little less exact: never fail a restore.
            if let Err(err) = self.mark_access(e.id, e.last_accessed_at).await {
                warn!(entry = e.id, error = %err, "failed to record the cache entry's use");
            }
        }
        Ok(found)
    }

    /// Write this use as an access marker (at most every [`ACCESS_MARK_EVERY`]).
    async fn mark_access(&self, id: u64, at: DateTime<Utc>) -> Result<(), StorageError> {
        let previous = {
            let marks = self.marks.lock().unwrap_or_else(|e| e.into_inner());
            match marks.get(&id) {
                Some((t, _)) if at - *t < ACCESS_MARK_EVERY => return Ok(()),
                other => other.map(|(_, k)| k.clone()),
            }
        };
        let key = access_key(id, at);
        self.shared.put_bytes(&key, Vec::new()).await?;
        if let Some(old) = previous.filter(|o| *o != key) {
            self.store.delete(&old).await?;
        }
        self.marks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, (at, key));
        Ok(())
    }

    /// A finalized entry, loading it from the store if another instance made it.
    pub async fn get(&self, id: u64) -> Result<Option<StoredEntry>, ServiceError> {
        if let Some(e) = self.index().get(id) {
            return Ok(Some(e));
        }
        let entry = self.shared.read_json::<StoredEntry>(&meta_key(id)).await?;
        if let Some(e) = &entry {
            self.index().insert_ready(e.clone());
        }
        Ok(entry)
    }

    /// Every finalized entry, as the store has them now.
    pub async fn entries(&self) -> Result<Vec<StoredEntry>, ServiceError> {
        self.refresh(true).await?;
        Ok(self.index().entries())
    }

    /// Stream `range` (or all) of a finalized entry.
    pub async fn read(
        &self,
        id: u64,
        range: Option<Range<u64>>,
    ) -> Result<Option<ByteStream>, ServiceError> {
        if self.get(id).await?.is_none() {
            return Ok(None);
        }
        Ok(self.store.get(&data_key(id), range).await?)
    }

    /// Delete an entry: metadata first, so it is never visible half-deleted; its claim
    /// last, so the key can be saved again only once the entry is gone.
    pub async fn delete(&self, id: u64) -> Result<Option<StoredEntry>, ServiceError> {
        let Some(entry) = self.get(id).await? else {
            return Ok(None);
        };
        self.index().remove(id);
        let existed = self.store.delete(&meta_key(id)).await?;
        self.shared.delete_all(&access_prefix(id)).await?;
        self.marks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        let r = Reservation {
            id,
            key: entry.key.clone(),
            version: entry.version.clone(),
            scope: entry.scope.clone(),
        };
        self.shared.drop_reservation(&r).await?;
        Ok(existed.then_some(entry))
    }

    /// Apply the limits: evict by age and LRU. The periodic run (`keep` is `None`) first
    /// reads the store's entries and access times and drops abandoned reservations; the run
    /// after a save keeps that entry and uses what this instance knows.
    pub async fn housekeep(&self, keep: Option<u64>) -> Result<usize, ServiceError> {
        if keep.is_none() {
            self.refresh(true).await?;
            self.drop_abandoned().await?;
        }
        let evict = self.index().eviction_candidates(
            self.limits.max_total_bytes,
            self.limits.max_age,
            keep,
        );
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

    /// Reservations (from any instance) unfinished for longer than [`reservation_ttl`].
    async fn drop_abandoned(&self) -> Result<(), StorageError> {
        let cutoff = Utc::now() - reservation_ttl();
        for key in self.store.list("pending/").await? {
            if id_of(&key).is_none_or(|id| reserved_at(id) >= cutoff) {
                continue;
            }
            match self.shared.read_json::<Reservation>(&key).await? {
                // Finalized, but the finalize stopped before removing its records.
                Some(r) if self.shared.exists(&meta_key(r.id)).await? => {
                    self.store.delete(&key).await?;
                }
                Some(r) => self.shared.drop_reservation(&r).await?,
                None => {
                    self.store.delete(&key).await?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_id_another_instance_holds_is_drawn_again() {
        let store: Arc<dyn BlobStore> = Arc::new(crate::storage::MemoryStore::default());
        let cache = Cache::load(store, Limits::default()).await.unwrap();
        let (t1, t2) = (tuple_key("k", "v", "s"), tuple_key("k2", "v", "s"));
        let theirs = cache.claim(&t1, "k", "v", "s", || 5).await.unwrap();
        let mut draws = [5, 6].into_iter();
        let ours = cache
            .claim(&t2, "k2", "v", "s", || draws.next().unwrap_or(7))
            .await
            .unwrap();
        assert_eq!((theirs, ours), (Some(5), Some(6)));
        let held: Option<Reservation> = cache.shared.read_json(&pending_key(5)).await.unwrap();
        assert_eq!(
            held.map(|r| r.key),
            Some("k".to_owned()),
            "the first holder's record was replaced"
        );
        // A tuple taken first is not taken again, and the losing id is released.
        assert_eq!(cache.claim(&t1, "k", "v", "s", || 9).await.unwrap(), None);
        assert!(!cache.shared.exists(&pending_key(9)).await.unwrap());
    }

    /// A memory store whose listings take a while and are counted.
    #[derive(Default)]
    struct SlowListing {
        inner: crate::storage::MemoryStore,
        lists: std::sync::atomic::AtomicUsize,
    }

    impl BlobStore for SlowListing {
        fn put(
            &self,
            key: &str,
            body: ByteStream,
        ) -> futures::future::BoxFuture<'_, Result<u64, StorageError>> {
            self.inner.put(key, body)
        }
        fn put_if_absent(
            &self,
            key: &str,
            body: bytes::Bytes,
        ) -> futures::future::BoxFuture<'_, Result<bool, StorageError>> {
            self.inner.put_if_absent(key, body)
        }
        fn get(
            &self,
            key: &str,
            range: Option<Range<u64>>,
        ) -> futures::future::BoxFuture<'_, Result<Option<ByteStream>, StorageError>> {
            self.inner.get(key, range)
        }
        fn size(
            &self,
            key: &str,
        ) -> futures::future::BoxFuture<'_, Result<Option<u64>, StorageError>> {
            self.inner.size(key)
        }
        fn delete(&self, key: &str) -> futures::future::BoxFuture<'_, Result<bool, StorageError>> {
            self.inner.delete(key)
        }
        fn list(
            &self,
            prefix: &str,
        ) -> futures::future::BoxFuture<'_, Result<Vec<String>, StorageError>> {
            let prefix = prefix.to_owned();
            Box::pin(async move {
                if prefix == "meta/" {
                    self.lists
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                self.inner.list(&prefix).await
            })
        }
    }

    #[tokio::test]
    async fn a_burst_of_lookups_shares_listings_and_sees_every_earlier_save() {
        let store = Arc::new(SlowListing::default());
        let cache = Cache::load(store.clone(), Limits::default()).await.unwrap();
        // Saved through another instance: only a listing shows it here.
        let peer = Cache::load(store.clone(), Limits::default()).await.unwrap();
        let id = peer.reserve("k", "v", "s").await.unwrap();
        let body: ByteStream = Box::pin(futures::stream::once(async { Ok("12".into()) }));
        peer.put_blob(id, body).await.unwrap();
        peer.finalize(id, 2).await.unwrap();

        let before = store.lists.load(std::sync::atomic::Ordering::Relaxed);
        let keys = ["k".to_owned()];
        let found =
            futures::future::join_all((0..16).map(|_| cache.lookup(&keys, "v", &["s"]))).await;
        assert!(found.iter().all(|f| {
            f.as_ref()
                .is_ok_and(|e| e.as_ref().is_some_and(|e| e.id == id))
        }));
        let lists = store.lists.load(std::sync::atomic::Ordering::Relaxed) - before;
        assert_eq!(lists, 2, "16 lookups at once listed meta/ {lists} times");
    }
}
