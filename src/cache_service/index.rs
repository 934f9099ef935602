//! The in-memory index of cache entries: reservations, matching, housekeeping order.
//!
//! It holds no I/O; [`super::cache::Cache`] persists finalized entries and rebuilds the
//! index from storage at start-up.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::ServiceError;

/// A finalized entry, also the JSON stored as its metadata object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    pub id: u64,
    pub key: String,
    pub version: String,
    pub scope: String,
    pub size: u64,
    pub created_at: DateTime<Utc>,
    pub last_accessed_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
enum State {
    /// Created, bytes may be uploading; invisible to readers.
    Reserved {
        since: DateTime<Utc>,
    },
    /// One request is finalizing it; others get `aborted`.
    Finalizing,
    Ready(CacheEntry),
}

#[derive(Debug, Clone)]
struct Record {
    key: String,
    version: String,
    scope: String,
    state: State,
}

type Tuple = (String, String, String);

/// Entries by id plus the (key, version, scope) uniqueness map.
#[derive(Debug, Default)]
pub struct Index {
    records: HashMap<u64, Record>,
    by_tuple: HashMap<Tuple, u64>,
    last_id: u64,
}

/// How long an unfinished reservation blocks its key.
pub fn reservation_ttl() -> chrono::Duration {
    chrono::Duration::hours(1)
}

impl Index {
    /// A fresh id: time-based with random low bits, so ids from earlier runs (or another
    /// instance on the same storage) do not collide; stays below 2^53 for JS clients.
    fn next_id(&mut self) -> u64 {
        let now = Utc::now().timestamp_millis().max(0) as u64;
        let candidate = now * 1024 + rand::random_range(0..1024u64);
        self.last_id = candidate.max(self.last_id + 1);
        self.last_id
    }

    /// Load a finalized entry found in storage.
    pub fn insert_ready(&mut self, entry: CacheEntry) {
        let tuple = (
            entry.key.clone(),
            entry.version.clone(),
            entry.scope.clone(),
        );
        self.last_id = self.last_id.max(entry.id);
        self.by_tuple.insert(tuple, entry.id);
        self.records.insert(
            entry.id,
            Record {
                key: entry.key.clone(),
                version: entry.version.clone(),
                scope: entry.scope.clone(),
                state: State::Ready(entry),
            },
        );
    }

    /// Reserve (key, version, scope); a second reservation is `already_exists` unless the
    /// first was abandoned longer than [`reservation_ttl`] ago.
    pub fn reserve(&mut self, key: &str, version: &str, scope: &str) -> Result<u64, ServiceError> {
        let tuple = (key.to_owned(), version.to_owned(), scope.to_owned());
        if let Some(id) = self.by_tuple.get(&tuple).copied() {
            let stale = matches!(
                self.records.get(&id).map(|r| &r.state),
                Some(State::Reserved { since }) if Utc::now() - *since > reservation_ttl()
            );
            if !stale {
                return Err(ServiceError::AlreadyExists(format!(
                    "cache entry with the same key, version, and scope already exists (scope: {scope}, key: {key}, version: {version})"
                )));
            }
            self.records.remove(&id);
        }
        let id = self.next_id();
        self.by_tuple.insert(tuple, id);
        let state = State::Reserved { since: Utc::now() };
        let (key, version, scope) = (key.to_owned(), version.to_owned(), scope.to_owned());
        self.records.insert(
            id,
            Record {
                key,
                version,
                scope,
                state,
            },
        );
        Ok(id)
    }

    /// The id of the reservation for this tuple.
    pub fn reservation(&self, key: &str, version: &str, scope: &str) -> Option<u64> {
        let tuple = (key.to_owned(), version.to_owned(), scope.to_owned());
        self.by_tuple.get(&tuple).copied()
    }

    /// The ref an unfinished upload belongs to (v1 uploads are addressed by id alone).
    pub fn reserved_scope(&self, id: u64) -> Option<String> {
        match self.records.get(&id) {
            Some(r) if matches!(r.state, State::Reserved { .. }) => Some(r.scope.clone()),
            _ => None,
        }
    }

    /// Check that `id` may still receive bytes.
    pub fn check_writable(&self, id: u64) -> Result<(), ServiceError> {
        match self.records.get(&id).map(|r| &r.state) {
            Some(State::Reserved { .. }) => Ok(()),
            Some(_) => Err(ServiceError::AlreadyExists(
                "the entry is finalized (or being finalized) and cannot change".to_owned(),
            )),
            None => Err(ServiceError::NotFound("no such upload".to_owned())),
        }
    }

    /// Move `id` from reserved to finalizing; exactly one concurrent caller wins.
    pub fn begin_finalize(&mut self, id: u64) -> Result<(String, String, String), ServiceError> {
        let record = self.records.get_mut(&id).ok_or_else(|| {
            ServiceError::NotFound("no reservation for this cache entry".to_owned())
        })?;
        match record.state {
            State::Reserved { .. } => {
                record.state = State::Finalizing;
                Ok((
                    record.key.clone(),
                    record.version.clone(),
                    record.scope.clone(),
                ))
            }
            State::Finalizing => Err(ServiceError::Aborted(
                "another request is finalizing this cache entry".to_owned(),
            )),
            State::Ready(_) => Err(ServiceError::AlreadyExists(
                "cache entry with the same key, version, and scope already exists".to_owned(),
            )),
        }
    }

    /// Finish a finalize: `Some(entry)` makes it visible, `None` returns it to reserved.
    pub fn end_finalize(&mut self, id: u64, entry: Option<CacheEntry>) {
        if let Some(record) = self.records.get_mut(&id) {
            record.state = match entry {
                Some(e) => State::Ready(e),
                None => State::Reserved { since: Utc::now() },
            };
        }
    }

    fn ready(&self) -> impl Iterator<Item = &CacheEntry> {
        self.records.values().filter_map(|r| match &r.state {
            State::Ready(e) => Some(e),
            _ => None,
        })
    }

    /// GitHub's restore order: per scope, per key, exact match then newest prefix match.
    pub fn lookup(&self, keys: &[String], version: &str, scopes: &[&str]) -> Option<CacheEntry> {
        for scope in scopes {
            for key in keys {
                let mut candidates = self
                    .ready()
                    .filter(|e| e.version == version && e.scope == *scope)
                    .filter(|e| e.key.starts_with(key.as_str()));
                let mut best: Option<&CacheEntry> = None;
                for e in candidates.by_ref() {
                    if e.key == *key {
                        return Some(e.clone());
                    }
                    if best.is_none_or(|b| (e.created_at, e.id) > (b.created_at, b.id)) {
                        best = Some(e);
                    }
                }
                if let Some(b) = best {
                    return Some(b.clone());
                }
            }
        }
        None
    }

    /// A finalized entry by id, marking it used.
    pub fn touch(&mut self, id: u64) -> Option<CacheEntry> {
        match self.records.get_mut(&id).map(|r| &mut r.state) {
            Some(State::Ready(e)) => {
                e.last_accessed_at = Utc::now();
                Some(e.clone())
            }
            _ => None,
        }
    }

    pub fn get(&self, id: u64) -> Option<CacheEntry> {
        match self.records.get(&id).map(|r| &r.state) {
            Some(State::Ready(e)) => Some(e.clone()),
            _ => None,
        }
    }

    /// Every finalized entry.
    pub fn entries(&self) -> Vec<CacheEntry> {
        self.ready().cloned().collect()
    }

    /// Forget `id` (finalized or not); returns the entry if it was finalized.
    pub fn remove(&mut self, id: u64) -> Option<CacheEntry> {
        let record = self.records.remove(&id)?;
        let tuple = (record.key, record.version, record.scope);
        if self.by_tuple.get(&tuple) == Some(&id) {
            self.by_tuple.remove(&tuple);
        }
        match record.state {
            State::Ready(e) => Some(e),
            _ => None,
        }
    }

    /// Reservations abandoned longer than [`reservation_ttl`].
    pub fn stale_reservations(&self) -> Vec<u64> {
        let cutoff = Utc::now() - reservation_ttl();
        self.records
            .iter()
            .filter(|(_, r)| matches!(r.state, State::Reserved { since } if since < cutoff))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Entries to evict: older than `max_age`, then least recently used until the total
    /// is within `budget`. `keep` is never chosen (the entry just saved, as GitHub keeps it).
    pub fn eviction_candidates(
        &self,
        budget: Option<u64>,
        max_age: Option<chrono::Duration>,
        keep: Option<u64>,
    ) -> Vec<u64> {
        let mut entries: Vec<&CacheEntry> = self.ready().filter(|e| Some(e.id) != keep).collect();
        entries.sort_by_key(|e| (e.last_accessed_at, e.id));
        let mut total: u64 = self.ready().map(|e| e.size).sum();
        let cutoff = max_age.map(|a| Utc::now() - a);
        let mut out = Vec::new();
        for e in entries {
            let too_old = cutoff.is_some_and(|c| e.last_accessed_at < c);
            let over = budget.is_some_and(|b| total > b);
            if too_old || over {
                total -= e.size;
                out.push(e.id);
            }
        }
        out
    }
}
