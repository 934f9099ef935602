//! The in-memory index of finalized cache entries: matching and housekeeping order.
//!
//! It holds no I/O and is a copy: the store is the truth ([`super::shared`]), and
//! [`super::cache::Cache`] refreshes the index from it, so every instance on one store
//! answers alike.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A finalized entry, also the JSON stored as its metadata object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEntry {
    pub id: u64,
    pub key: String,
    pub version: String,
    pub scope: String,
    pub size: u64,
    pub created_at: DateTime<Utc>,
    pub last_accessed_at: DateTime<Utc>,
}

/// Finalized entries by id: this instance's copy of what `meta/` holds.
#[derive(Debug, Default)]
pub struct Index {
    entries: HashMap<u64, StoredEntry>,
}

/// How long an unfinished reservation blocks its key.
pub fn reservation_ttl() -> chrono::Duration {
    chrono::Duration::hours(1)
}

/// A fresh id: time-based with random low bits, so a reservation's age can be read from
/// its id; stays below 2^53 for JS clients. Unique within this process; another instance
/// may draw the same id, which is why reservations claim theirs atomically.
pub fn next_id() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = Utc::now().timestamp_millis().max(0) as u64;
    let drawn = now * 1024 + rand::random_range(0..1024u64);
    // Never the same id twice here; between instances the store's atomic create decides.
    let previous = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(drawn.max(last + 1))
        })
        .unwrap_or(drawn);
    drawn.max(previous + 1)
}

impl Index {
    /// Add (or replace) a finalized entry, keeping the later of two last-access times.
    pub fn insert_ready(&mut self, mut entry: StoredEntry) {
        if let Some(old) = self.entries.get(&entry.id) {
            entry.last_accessed_at = entry.last_accessed_at.max(old.last_accessed_at);
        }
        self.entries.insert(entry.id, entry);
    }

    /// Ids of every finalized entry known here.
    pub fn ids(&self) -> Vec<u64> {
        self.entries.keys().copied().collect()
    }

    /// Record a use seen elsewhere (another instance's access marker).
    pub fn accessed(&mut self, id: u64, at: DateTime<Utc>) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.last_accessed_at = e.last_accessed_at.max(at);
        }
    }

    fn ready(&self) -> impl Iterator<Item = &StoredEntry> {
        self.entries.values()
    }

    /// GitHub's restore order: per scope, per key, exact match then newest prefix match.
    pub fn lookup(&self, keys: &[String], version: &str, scopes: &[&str]) -> Option<StoredEntry> {
        for scope in scopes {
            for key in keys {
                let mut candidates = self
                    .ready()
                    .filter(|e| e.version == version && e.scope == *scope)
                    .filter(|e| e.key.starts_with(key.as_str()));
                let mut best: Option<&StoredEntry> = None;
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
    pub fn touch(&mut self, id: u64) -> Option<StoredEntry> {
        let e = self.entries.get_mut(&id)?;
        e.last_accessed_at = Utc::now();
        Some(e.clone())
    }

    pub fn get(&self, id: u64) -> Option<StoredEntry> {
        self.entries.get(&id).cloned()
    }

    /// Every finalized entry.
    pub fn entries(&self) -> Vec<StoredEntry> {
        self.ready().cloned().collect()
    }

    /// Forget `id`; returns the entry if it was known.
    pub fn remove(&mut self, id: u64) -> Option<StoredEntry> {
        self.entries.remove(&id)
    }

    /// Entries to evict: older than `max_age`, then least recently used until the total
    /// is within `budget`. `keep` is never chosen (the entry just saved, as GitHub keeps it).
    pub fn eviction_candidates(
        &self,
        budget: Option<u64>,
        max_age: Option<chrono::Duration>,
        keep: Option<u64>,
    ) -> Vec<u64> {
        let mut total: u64 = self.ready().map(|e| e.size).sum();
        let cutoff = max_age.map(|a| Utc::now() - a);
        // Every save asks: answer "nothing" without sorting when nothing is over a limit.
        let oldest = self.ready().map(|e| e.last_accessed_at).min();
        if budget.is_none_or(|b| total <= b) && cutoff.is_none_or(|c| oldest.is_none_or(|o| o >= c))
        {
            return Vec::new();
        }
        let mut entries: Vec<&StoredEntry> = self.ready().filter(|e| Some(e.id) != keep).collect();
        entries.sort_by_key(|e| (e.last_accessed_at, e.id));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Thousands of reservations a second are normal (BuildKit creates one per layer); ids
    /// drawn in one millisecond must still differ.
    #[test]
    fn ids_drawn_at_once_differ() {
        let ids: std::collections::HashSet<u64> = (0..50_000).map(|_| next_id()).collect();
        assert_eq!(ids.len(), 50_000);
        let now = Utc::now().timestamp_millis() as u64;
        assert!(ids.iter().all(|id| id / 1024 <= now + 100 && *id < 1 << 53));
    }
}
