//! Pruning end to end: list, plan, delete (or only print, with `dry_run`).
//!
//! Deciding that a blob is an orphan needs the bodies of the live indexes, which only the
//! cache service can give (the REST API lists keys, never contents). The caller passes
//! either the referenced digests or an [`IndexBodies`] that downloads indexes; when any
//! needed index cannot be read, no blob is deleted and the report says why.

use std::collections::BTreeSet;

use futures::future::BoxFuture;

use super::client::{GithubCaches, ListedCache};
use super::error::HousekeepingError;
use super::plan::{self, Deletion, PrunePolicy};
use crate::cache_protocol::keys;

/// Downloads index bodies (through the cache service, with the runtime token).
pub trait IndexBodies: Send + Sync {
    /// The body of `entry`; `Ok(None)` when this reader cannot see it (another ref's index).
    fn fetch<'a>(
        &'a self,
        entry: &'a ListedCache,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, String>>;
}

/// How the orphan check learns which blobs are referenced.
pub enum Referenced<'a> {
    /// The caller vouches that these are all digests of every live index that can read
    /// the blobs in question.
    Digests(BTreeSet<String>),
    /// Download each live index and read its layers.
    Bodies(&'a dyn IndexBodies),
}

/// What pruning did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    pub dry_run: bool,
    /// Entries deleted (or to delete), superseded indexes first.
    pub deleted: Vec<Deletion>,
    /// Entries that were already gone when deleted (404).
    pub already_gone: usize,
    /// Index entries seen in the owned scopes.
    pub indexes_seen: usize,
    /// Why the orphan step did not run, when it was asked for but could not.
    pub orphans_skipped: Option<String>,
}

impl PruneReport {
    pub fn bytes(&self) -> u64 {
        self.deleted.iter().map(|d| d.entry.size_in_bytes).sum()
    }
}

/// Prune the repository's caches as `policy` says.
pub async fn prune(
    caches: &GithubCaches,
    policy: &PrunePolicy,
    referenced: Option<Referenced<'_>>,
    dry_run: bool,
) -> Result<PruneReport, HousekeepingError> {
    let mut report = PruneReport {
        dry_run,
        ..Default::default()
    };
    // For orphans every ref's indexes matter (a PR build reads the default branch's
    // blobs), so list them all; otherwise only the owned scopes in the chosen ref.
    let indexes = if policy.orphans {
        caches.list(keys::INDEX_PREFIX, None).await?
    } else {
        let mut all = Vec::new();
        for scope in &policy.scopes {
            all.extend(
                caches
                    .list(&keys::index_prefix(scope), policy.git_ref.as_deref())
                    .await?,
            );
        }
        all
    };
    report.indexes_seen = indexes
        .iter()
        .filter(|e| keys::IndexKey::parse(&e.key).is_some_and(|k| policy.scopes.contains(&k.scope)))
        .count();
    report.deleted = plan::superseded_indexes(&indexes, policy);
    if policy.orphans {
        let gone: BTreeSet<i64> = report.deleted.iter().map(|d| d.entry.id).collect();
        let live: Vec<ListedCache> = indexes
            .into_iter()
            .filter(|e| !gone.contains(&e.id))
            .collect();
        match orphans(caches, policy, &live, referenced).await? {
            Ok(found) => report.deleted.extend(found),
            Err(why) => {
                tracing::warn!("cache prune: no layer blob deleted: {why}");
                report.orphans_skipped = Some(why);
            }
        }
    }
    if !dry_run {
        for d in &report.deleted {
            if !caches.delete(d.entry.id).await? {
                report.already_gone += 1;
            }
        }
    }
    Ok(report)
}

/// The orphan blobs, or why they cannot be decided safely.
async fn orphans(
    caches: &GithubCaches,
    policy: &PrunePolicy,
    live: &[ListedCache],
    referenced: Option<Referenced<'_>>,
) -> Result<Result<Vec<Deletion>, String>, HousekeepingError> {
    let blobs = caches
        .list(keys::BLOB_PREFIX, policy.git_ref.as_deref())
        .await?;
    let digests = match referenced {
        None => {
            return Ok(Err(
                "nothing says which blobs the live indexes reference".into()
            ));
        }
        Some(Referenced::Digests(set)) => set,
        Some(Referenced::Bodies(source)) => {
            match fetch_referenced(source, policy, &blobs, live).await {
                Ok(set) => set,
                Err(why) => return Ok(Err(why)),
            }
        }
    };
    Ok(Ok(plan::orphan_blobs(&blobs, &digests, policy)))
}

async fn fetch_referenced(
    source: &dyn IndexBodies,
    policy: &PrunePolicy,
    blobs: &[ListedCache],
    live: &[ListedCache],
) -> Result<BTreeSet<String>, String> {
    let blob_refs: BTreeSet<Option<&str>> = blobs.iter().map(|b| b.git_ref.as_deref()).collect();
    let mut needed: Vec<&ListedCache> = Vec::new();
    for r in blob_refs {
        for idx in plan::readers(live, r, policy.default_ref.as_deref()) {
            if !needed.iter().any(|n| n.id == idx.id) {
                needed.push(idx);
            }
        }
    }
    let mut out = BTreeSet::new();
    for idx in needed {
        let r = idx.git_ref.as_deref().unwrap_or("?");
        let body = match source.fetch(idx).await {
            Ok(Some(body)) => body,
            Ok(None) => {
                return Err(format!(
                    "index {} of {r} is not readable from this job",
                    idx.key
                ));
            }
            Err(e) => return Err(format!("failed to download index {} of {r}: {e}", idx.key)),
        };
        out.extend(
            plan::layer_digests(&body).map_err(|e| format!("index {} of {r}: {e}", idx.key))?,
        );
    }
    Ok(out)
}
