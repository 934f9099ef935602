//! Deciding what goes, without I/O: superseded index entries of the scopes a build owns,
//! and layer blobs no live index can reach.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Duration, Utc};

use super::client::ListedCache;
use crate::cache_config::CacheConfig;
use crate::cache_protocol::keys::{self, IndexKey};

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
    pub entry: ListedCache,
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
pub fn superseded_indexes(entries: &[ListedCache], policy: &PrunePolicy) -> Vec<Deletion> {
    let mut groups: BTreeMap<GroupKey, Vec<(u64, &ListedCache)>> = BTreeMap::new();
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
    live: &'a [ListedCache],
    blob_ref: Option<&str>,
    default_ref: Option<&str>,
) -> Vec<&'a ListedCache> {
    let shared = default_ref.is_none() || blob_ref.is_none() || blob_ref == default_ref;
    live.iter()
        .filter(|i| IndexKey::parse(&i.key).is_some())
        .filter(|i| shared || i.git_ref.as_deref() == blob_ref)
        .collect()
}

/// Blobs old enough to judge whose digest is not in `referenced`.
pub fn orphan_blobs(
    blobs: &[ListedCache],
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

/// The layer digests a BuildKit cache index (`CacheConfig` JSON, docs/gha-cache-layout.md §
/// Index body) names.
pub fn layer_digests(body: &[u8]) -> Result<BTreeSet<String>, String> {
    let config = CacheConfig::from_slice(body).map_err(|e| e.to_string())?;
    Ok(config.blobs().map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_protocol::keys::ref_hash;

    const MAIN: &str = "refs/heads/main";
    const PR: &str = "refs/pull/1/merge";

    fn entry(id: i64, key: String, git_ref: &str, hours_ago: i64) -> ListedCache {
        let t = Utc::now() - Duration::hours(hours_ago);
        ListedCache {
            id,
            key,
            version: String::new(),
            git_ref: Some(git_ref.to_owned()),
            size_in_bytes: 10,
            created_at: t,
            last_accessed_at: t,
        }
    }

    fn idx(id: i64, scope: &str, r: &str, seq: u64, sig: bool) -> ListedCache {
        let sig = if sig { "-sig" } else { "" };
        entry(
            id,
            format!("index-{scope}-1-{}{sig}#{seq}", ref_hash(r)),
            r,
            1,
        )
    }

    fn policy(keep: usize) -> PrunePolicy {
        PrunePolicy {
            scopes: vec!["s".into()],
            keep,
            git_ref: None,
            orphans: true,
            default_ref: Some(MAIN.into()),
            min_blob_age: Duration::hours(1),
            now: Utc::now(),
        }
    }

    #[test]
    fn signed_and_unsigned_indexes_are_kept_apart_and_keep_zero_keeps_one() {
        let all = vec![
            idx(1, "s", MAIN, 1, false),
            idx(2, "s", MAIN, 2, false),
            idx(3, "s", MAIN, 1, true),
        ];
        let gone: Vec<i64> = superseded_indexes(&all, &policy(0))
            .iter()
            .map(|d| d.entry.id)
            .collect();
        assert_eq!(gone, vec![1]);
        assert!(superseded_indexes(&all, &policy(2)).is_empty());
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        let all = vec![idx(1, "s", MAIN, 9, false), idx(2, "s", MAIN, 10, false)];
        let gone = superseded_indexes(&all, &policy(1));
        assert_eq!(
            (gone[0].entry.id, &gone[0].reason),
            (1, &Reason::Superseded { newest: 10 })
        );
    }

    #[test]
    fn default_branch_blobs_are_read_by_every_ref_others_by_their_own() {
        let live = vec![idx(1, "s", MAIN, 1, false), idx(2, "t", PR, 1, false)];
        let ids = |v: Vec<&ListedCache>| v.iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(readers(&live, Some(MAIN), Some(MAIN))), vec![1, 2]);
        assert_eq!(ids(readers(&live, Some(PR), Some(MAIN))), vec![2]);
        assert_eq!(
            ids(readers(&live, Some(PR), None)),
            vec![1, 2],
            "unknown default: assume shared"
        );
    }

    #[test]
    fn recently_used_blobs_are_never_orphans() {
        let mut used = entry(1, "buildkit-blob-1-sha256:aa".into(), MAIN, 5);
        used.last_accessed_at = Utc::now();
        let old = entry(2, "buildkit-blob-1-sha256:bb".into(), MAIN, 5);
        let sig = entry(3, "buildkit-blob-1-sha256:cc-sig".into(), MAIN, 5);
        let gone = orphan_blobs(&[used, old, sig], &BTreeSet::new(), &policy(1));
        assert_eq!(gone.iter().map(|d| d.entry.id).collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn layer_digests_read_buildkit_cache_config() {
        let body = br#"{"layers":[{"blob":"sha256:aa","parent":-1},{"blob":"sha256:bb","parent":0}],"records":[]}"#;
        assert_eq!(
            layer_digests(body).unwrap(),
            BTreeSet::from(["sha256:aa".to_owned(), "sha256:bb".to_owned()])
        );
        assert!(layer_digests(b"not json").is_err());
    }
}
