//! Deciding what goes, without I/O: superseded index entries of the scopes a build owns,
//! and layer blobs no live index can reach.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Duration, Utc};

use super::client::CacheEntry;
use super::keys::{self, IndexKey};

/// What to prune.
#[derive(Debug, Clone)]
pub struct PrunePolicy {
    /// The `scope` attributes this build owns; only their index entries are touched.
    pub scopes: Vec<String>,
    /// How many of the newest index entries to keep per scope and ref (at least 1).
    pub keep: usize,
    /// Only entries written by this ref (`refs/heads/main`); `None`: every ref.
    pub git_ref: Option<String>,
    /// Also delete layer blobs that no live index references.
    pub orphans: bool,
    /// The default branch ref; its blobs are readable from every other ref. `None`: unknown,
    /// so every ref's blobs are treated as readable from everywhere.
    pub default_ref: Option<String>,
    /// Blobs created or used more recently than this are never orphans: an export may be
    /// uploading layers whose index is not committed yet.
    pub min_blob_age: Duration,
    pub now: DateTime<Utc>,
}

/// Why an entry is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// An older index of the same scope and ref; `newest` is the newest kept `#N`.
    Superseded { newest: u64 },
    /// A layer blob that no live index references.
    Orphan,
}

/// One entry to delete and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub entry: CacheEntry,
    pub reason: Reason,
}

impl fmt::Display for Deletion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.entry.git_ref.as_deref().unwrap_or("?");
        write!(
            f,
            "{} ({r}, {} bytes): ",
            self.entry.key, self.entry.size_in_bytes
        )?;
        match self.reason {
            Reason::Superseded { newest } => write!(f, "superseded by #{newest}"),
            Reason::Orphan => f.write_str("no live index references it"),
        }
    }
}

/// Index entries that replace each other: scope, ref hash, signed, writing ref.
type GroupKey = (String, String, bool, Option<String>);

/// Index entries of the owned scopes beyond the newest `keep` per (scope, ref, signed).
pub fn superseded_indexes(entries: &[CacheEntry], policy: &PrunePolicy) -> Vec<Deletion> {
    let mut groups: BTreeMap<GroupKey, Vec<(u64, &CacheEntry)>> = BTreeMap::new();
    for e in entries {
        let Some(k) = IndexKey::parse(&e.key) else {
            continue;
        };
        let ref_ok = policy.git_ref.is_none() || policy.git_ref == e.git_ref;
        if ref_ok && policy.scopes.contains(&k.scope) {
            groups
                .entry((k.scope, k.ref_hash, k.signed, e.git_ref.clone()))
                .or_default()
                .push((k.seq, e));
        }
    }
    let keep = policy.keep.max(1);
    let mut out = Vec::new();
    for mut group in groups.into_values() {
        // Newest first: BuildKit imports the highest #N, so that one must stay.
        group.sort_by_key(|(seq, e)| std::cmp::Reverse((*seq, e.created_at)));
        let newest = group[0].0;
        out.extend(group.into_iter().skip(keep).map(|(_, e)| Deletion {
            entry: e.clone(),
            reason: Reason::Superseded { newest },
        }));
    }
    out
}

/// Live indexes that can read blobs written by `blob_ref`: those of the same ref, and every
/// index when `blob_ref` is (or may be) the default branch, which all refs can read.
pub fn readers<'a>(
    live: &'a [CacheEntry],
    blob_ref: Option<&str>,
    default_ref: Option<&str>,
) -> Vec<&'a CacheEntry> {
    let shared = default_ref.is_none() || blob_ref.is_none() || blob_ref == default_ref;
    live.iter()
        .filter(|i| IndexKey::parse(&i.key).is_some())
        .filter(|i| shared || i.git_ref.as_deref() == blob_ref)
        .collect()
}

/// Blobs old enough to judge whose digest is not in `referenced`.
pub fn orphan_blobs(
    blobs: &[CacheEntry],
    referenced: &BTreeSet<String>,
    policy: &PrunePolicy,
) -> Vec<Deletion> {
    let cutoff = policy.now - policy.min_blob_age;
    blobs
        .iter()
        .filter(|b| policy.git_ref.is_none() || policy.git_ref == b.git_ref)
        .filter(|b| b.created_at <= cutoff && b.last_accessed_at <= cutoff)
        .filter(|b| keys::blob_digest(&b.key).is_some_and(|d| !referenced.contains(d)))
        .map(|b| Deletion {
            entry: b.clone(),
            reason: Reason::Orphan,
        })
        .collect()
}

/// The layer digests a BuildKit cache index (`CacheConfig` JSON, protocol.md §D.2) names.
pub fn layer_digests(body: &[u8]) -> Result<BTreeSet<String>, String> {
    #[derive(serde::Deserialize)]
    struct Layer {
        blob: String,
    }
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default)]
        layers: Vec<Layer>,
    }
    let config: Config =
        serde_json::from_slice(body).map_err(|e| format!("not a BuildKit cache index: {e}"))?;
    Ok(config.layers.into_iter().map(|l| l.blob).collect())
}
