//! Phases of the action around the build that are not the build itself: Dockerfile cache
//! advice before it, and cache housekeeping after it. Neither can fail a build: trouble is
//! a warning that says what was skipped.

use std::io::Write;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};

use crate::action::env::Env;
use crate::action::names::env as names;
use crate::action::runtime::Runtime;
use crate::action::workflow::Workflow;
use crate::advice;
use crate::cache_protocol;
use crate::housekeeping::{
    self, ApiConfig, CacheServiceBodies, GithubCaches, ListedCache, PrunePolicy, PruneReport,
    Referenced,
};
use crate::plan::cache::CacheType;
use crate::plan::{BuildContext, BuildPlan, CachePrune};
use crate::report::{RepositoryCache, step_log};

/// Warnings at the Dockerfile line for patterns that throw layer cache away.
pub fn advise<W: Write>(plan: &BuildPlan, wf: &mut Workflow<W>) -> usize {
    if !plan.cache_advice {
        return 0;
    }
    let Ok(text) = std::fs::read_to_string(&plan.dockerfile) else {
        return 0; // preflight has checked a local Dockerfile; a remote context has none here
    };
    let mut context = match &plan.context {
        BuildContext::Local(dir) => advice::BuildFacts::from_dir(dir),
        BuildContext::Remote(_) => advice::BuildFacts::default(),
    };
    context.build_args = plan.build_args.clone();
    let file = plan.dockerfile.to_string_lossy();
    let findings = advice::analyze(&text, &file, &context);
    step_log::advice(&findings, wf);
    findings.len()
}

/// The repository's caches through GitHub's REST API, with `github-token`. The client is
/// made on first use: `cache-prune` and the summary share one, and a build that needs
/// neither makes none.
pub struct RepositoryApi<'a> {
    plan: &'a BuildPlan,
    env: &'a Env,
    caches: OnceLock<Result<GithubCaches, String>>,
}

impl<'a> RepositoryApi<'a> {
    pub fn new(plan: &'a BuildPlan, env: &'a Env) -> Self {
        Self {
            plan,
            env,
            caches: OnceLock::new(),
        }
    }

    fn caches(&self) -> Result<&GithubCaches, &str> {
        self.caches
            .get_or_init(|| {
                let (Some(token), Some(repository)) = (
                    &self.plan.github_token,
                    self.env.get(names::GITHUB_REPOSITORY),
                ) else {
                    return Err("needs github-token and GITHUB_REPOSITORY".to_owned());
                };
                let config = ApiConfig {
                    api_url: self
                        .env
                        .get(names::GITHUB_API_URL)
                        .unwrap_or(housekeeping::DEFAULT_API_URL)
                        .to_owned(),
                    token: token.clone(),
                    repository: repository.to_owned(),
                };
                GithubCaches::new(&config).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

/// The repository's cache usage against its budget and what this build exported, for the
/// summary of a build that used the `gha` cache. Not knowing them is no warning: the
/// summary just leaves them out.
pub async fn repository_cache(
    plan: &BuildPlan,
    runtime: &Runtime,
    api: &RepositoryApi<'_>,
    started: DateTime<Utc>,
) -> RepositoryCache {
    let uses_gha = plan
        .cache_from
        .iter()
        .chain(&plan.cache_to)
        .any(|e| e.kind == CacheType::Gha);
    if !uses_gha {
        return RepositoryCache::default();
    }
    let caches = match api.caches() {
        Ok(c) => c,
        Err(why) => {
            // No token or repository: a choice, not trouble.
            tracing::debug!("repository cache usage unavailable: {why}");
            return RepositoryCache::default();
        }
    };
    let mut unavailable = Vec::new();
    let usage = caches
        .usage()
        .await
        .map_err(|e| unavailable.push(format!("cache usage: {e}")))
        .ok();
    let scopes = exported_scopes(plan);
    let git_ref = runtime.writable_scope().map(|s| s.scope.as_str());
    let exported = match (scopes.is_empty(), git_ref) {
        (false, Some(git_ref)) => caches
            .created_since(started, Some(git_ref))
            .await
            .map(|entries| exported_totals(&entries, &scopes))
            .map_err(|e| unavailable.push(format!("cache listing: {e}")))
            .ok(),
        _ => None,
    };
    RepositoryCache {
        usage,
        exported,
        unavailable,
    }
}

/// Layer blobs and the indexes of `scopes` among `entries`: what a `gha` export writes.
/// Index keys are parsed, not prefix-matched: `index-web-1-` also starts the keys of a
/// scope named `web-1-arm64`.
fn exported_totals(entries: &[ListedCache], scopes: &[String]) -> (usize, u64) {
    let ours = entries.iter().filter(|e| {
        e.key.starts_with(cache_protocol::keys::BLOB_PREFIX)
            || cache_protocol::keys::IndexKey::parse(&e.key)
                .is_some_and(|k| scopes.contains(&k.scope))
    });
    ours.fold((0, 0), |(n, bytes), e| (n + 1, bytes + e.size_in_bytes))
}

/// The `gha` scopes this build wrote to.
fn exported_scopes(plan: &BuildPlan) -> Vec<String> {
    let mut scopes: Vec<String> = plan
        .cache_to
        .iter()
        .filter(|e| e.kind == CacheType::Gha)
        .filter_map(|e| e.attr("scope").map(str::to_owned))
        .collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

/// `cache-prune`: delete superseded indexes (and orphan blobs) of the scopes this build
/// exported, through GitHub's REST API with `github-token`.
pub async fn prune<W: Write>(
    plan: &BuildPlan,
    runtime: &Runtime,
    api: &RepositoryApi<'_>,
    wf: &mut Workflow<W>,
) -> Option<PruneReport> {
    let (orphans, keep) = match plan.cache_prune {
        CachePrune::Off => return None,
        CachePrune::Indexes { keep } => (false, keep),
        CachePrune::Orphans { keep } => (true, keep),
    };
    let scopes = exported_scopes(plan);
    let warn = |wf: &mut Workflow<W>, why: &str| step_log::prune_skipped(why, wf);
    if scopes.is_empty() {
        warn(wf, "this build exported no type=gha cache");
        return None;
    }
    let caches = match api.caches() {
        Ok(c) => c,
        Err(why) => {
            warn(wf, why);
            return None;
        }
    };
    let bodies = match (&runtime.protocol, &runtime.token) {
        (Some(endpoint), Some(t)) => Some(CacheServiceBodies::new(endpoint.clone(), t.clone())),
        _ => None,
    };
    let referenced = match (orphans, &bodies) {
        (true, Some(b)) => Some(Referenced::Bodies(b)),
        (true, None) => {
            warn(
                wf,
                "orphan blobs need the cache service to read the live indexes; pruning indexes only",
            );
            None
        }
        (false, _) => None,
    };
    let policy = PrunePolicy {
        scopes,
        keep: usize::from(keep),
        git_ref: runtime.writable_scope().map(|s| s.scope.clone()),
        orphans: referenced.is_some(),
        default_ref: None,
        min_blob_age: chrono::Duration::hours(1),
        now: Utc::now(),
    };
    let result =
        step_log::housekeeping(wf, housekeeping::prune(caches, &policy, referenced, false)).await;
    match result {
        Ok(report) => Some(report),
        Err(e) => {
            warn(wf, &e.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, size: u64) -> ListedCache {
        ListedCache {
            id: 0,
            key: key.to_owned(),
            version: String::new(),
            git_ref: None,
            size_in_bytes: size,
            created_at: chrono::Utc::now(),
            last_accessed_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn exported_totals_count_blobs_and_only_the_named_scopes_indexes() {
        let entries = [
            entry("buildkit-blob-1-sha256:aa", 100),
            entry("index-web-1-0123abcd#1", 10),
            // Starts with index-web-1- but belongs to the scope web-1-arm64.
            entry("index-web-1-arm64-1-0123abcd#1", 1000),
            entry("index-api-1-0123abcd#1", 5000),
            entry("npm-cache-linux", 7),
        ];
        assert_eq!(exported_totals(&entries, &["web".to_owned()]), (2, 110));
    }
}
