//! The repository's Actions caches through GitHub's REST API (octocrab): list (paged,
//! filtered by key prefix and ref), delete by id, usage and the storage limit.
//!
//! Every route is relative (`/repos/...`) so octocrab joins it to `base_uri` and attaches
//! the `Authorization` header; with an absolute GHES URL it would leave the header off
//! (octocrab attaches it only to relative routes and api.github.com; docs/cache-protocol.md
//! § REST cache-management API).

use chrono::{DateTime, Utc};
use octocrab::Octocrab;

use super::error::HousekeepingError;
use crate::secret::Secret;

/// github.com's API, used when `GITHUB_API_URL` is unset.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Most entries GitHub returns per page.
const PER_PAGE: u8 = 100;
/// The default repository cache budget when the API does not say (10 GiB).
pub const DEFAULT_BUDGET_BYTES: u64 = 10 * 1024 * 1024 * 1024;

/// Where and as whom to call the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `GITHUB_API_URL`, e.g. `https://ghes.example.com/api/v3`.
    pub api_url: String,
    pub token: Secret,
    /// `owner/name` (`GITHUB_REPOSITORY`).
    pub repository: String,
}

/// One cache entry as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedCache {
    pub id: i64,
    pub key: String,
    /// The cache `version` (for BuildKit's entries, go-actions-cache's fixed hash).
    pub version: String,
    /// The ref that wrote it (`refs/heads/main`, `refs/pull/7/merge`).
    pub git_ref: Option<String>,
    pub size_in_bytes: u64,
    pub created_at: DateTime<Utc>,
    pub last_accessed_at: DateTime<Utc>,
}

/// Cache usage of the repository against its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheUsage {
    pub active_bytes: u64,
    pub active_count: u64,
    pub budget_bytes: u64,
    /// Whether `budget_bytes` came from the repository's storage limit (else the default).
    pub budget_from_api: bool,
}

/// A client for one repository's caches. `Debug` names the repository only.
#[derive(Clone)]
pub struct GithubCaches {
    octo: Octocrab,
    owner: String,
    repo: String,
}

impl std::fmt::Debug for GithubCaches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GithubCaches({}/{})", self.owner, self.repo)
    }
}

impl GithubCaches {
    pub fn new(config: &ApiConfig) -> Result<Self, HousekeepingError> {
        let (owner, repo) = split_repository(&config.repository)?;
        if config.token.is_empty() {
            return Err(HousekeepingError::NoToken {
                action: "call the GitHub API",
            });
        }
        let url = config.api_url.trim_end_matches('/');
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(HousekeepingError::InvalidApiUrl(config.api_url.clone()));
        }
        let octo = Octocrab::builder()
            .base_uri(url)
            .map_err(|_| HousekeepingError::InvalidApiUrl(config.api_url.clone()))?
            .personal_token(config.token.expose().to_owned())
            .build()
            .map_err(|e| HousekeepingError::Transport {
                action: "set up the GitHub API client",
                detail: e.to_string(),
            })?;
        Ok(Self { octo, owner, repo })
    }

    /// Every entry whose key starts with `key_prefix` (and, if given, written by `git_ref`),
    /// following pages until the listing is complete.
    #[tracing::instrument(skip(self), fields(repo = %self.repo))]
    pub async fn list(
        &self,
        key_prefix: &str,
        git_ref: Option<&str>,
    ) -> Result<Vec<ListedCache>, HousekeepingError> {
        let mut out = Vec::new();
        for page in 1u32.. {
            let (entries, total) = self.page(page, Some(key_prefix), git_ref).await?;
            let got = entries.len();
            out.extend(entries);
            // GitHub pages by number; an empty or short page, or reaching total_count, ends it.
            if got < usize::from(PER_PAGE) || out.len() as u64 >= total {
                break;
            }
        }
        Ok(out)
    }

    /// Entries created at or after `since` (written by `git_ref`, if given), newest first:
    /// pages sorted by creation time are read until one reaches back before `since`.
    #[tracing::instrument(skip(self), fields(repo = %self.repo))]
    pub async fn created_since(
        &self,
        since: DateTime<Utc>,
        git_ref: Option<&str>,
    ) -> Result<Vec<ListedCache>, HousekeepingError> {
        let mut out = Vec::new();
        for page in 1u32.. {
            let (entries, _) = self.page(page, None, git_ref).await?;
            let got = entries.len();
            let older = entries.iter().any(|e| e.created_at < since);
            out.extend(entries.into_iter().filter(|e| e.created_at >= since));
            if older || got < usize::from(PER_PAGE) {
                break;
            }
        }
        Ok(out)
    }

    /// One page of the listing, newest first by creation time, and the total count.
    async fn page(
        &self,
        page: u32,
        key_prefix: Option<&str>,
        git_ref: Option<&str>,
    ) -> Result<(Vec<ListedCache>, u64), HousekeepingError> {
        let actions = self.octo.actions();
        let mut req = actions
            .list_repo_caches(&self.owner, &self.repo)
            .sort("created_at")
            .direction("desc")
            .per_page(PER_PAGE)
            .page(page);
        if let Some(k) = key_prefix {
            req = req.key(k);
        }
        if let Some(r) = git_ref {
            req = req.r#ref(r);
        }
        let list = req.send().await.map_err(|e| {
            HousekeepingError::from_octocrab("list the repository's caches", false, e)
        })?;
        let entries: Vec<ListedCache> = list.actions_caches.into_iter().map(entry).collect();
        tracing::debug!(
            page,
            got = entries.len(),
            total = list.total_count,
            "listed caches"
        );
        Ok((entries, u64::try_from(list.total_count).unwrap_or(0)))
    }

    /// Delete one entry. `Ok(false)` when it was already gone (evicted or deleted by a
    /// concurrent job): the outcome the caller wanted either way.
    pub async fn delete(&self, id: i64) -> Result<bool, HousekeepingError> {
        match self
            .octo
            .actions()
            .delete_repo_cache(&self.owner, &self.repo, id)
            .await
        {
            Ok(()) => Ok(true),
            Err(e) => {
                let err = HousekeepingError::from_octocrab("delete a cache entry", true, e);
                if err.is_not_found() {
                    Ok(false)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Active cache bytes and entries, with the repository's budget when the API gives it.
    pub async fn usage(&self) -> Result<CacheUsage, HousekeepingError> {
        let usage = self
            .octo
            .actions()
            .get_repo_cache_usage(&self.owner, &self.repo)
            .await
            .map_err(|e| {
                HousekeepingError::from_octocrab("read the repository's cache usage", false, e)
            })?;
        // The storage-limit endpoint is newer than GHES releases in the field: any error
        // falls back to the default budget rather than failing the summary.
        let limit = self
            .octo
            .actions()
            .repo(&self.owner, &self.repo)
            .cache()
            .get_storage_limit()
            .await;
        let (budget_bytes, budget_from_api) = match limit {
            Ok(l) => (u64::from(l.max_cache_size_gb) * 1024 * 1024 * 1024, true),
            Err(e) => {
                tracing::debug!(error = %e, "no cache storage limit from the API; assuming 10 GiB");
                (DEFAULT_BUDGET_BYTES, false)
            }
        };
        Ok(CacheUsage {
            active_bytes: u64::try_from(usage.active_caches_size_in_bytes).unwrap_or(0),
            active_count: u64::try_from(usage.active_caches_count).unwrap_or(0),
            budget_bytes,
            budget_from_api,
        })
    }
}

fn entry(item: octocrab::models::actions::ActionsCacheItem) -> ListedCache {
    ListedCache {
        id: item.id,
        key: item.key,
        version: item.version,
        git_ref: item.r#ref,
        size_in_bytes: u64::try_from(item.size_in_bytes).unwrap_or(0),
        created_at: item.created_at,
        last_accessed_at: item.last_accessed_at,
    }
}

/// Split `owner/name`, rejecting anything else.
pub fn split_repository(repository: &str) -> Result<(String, String), HousekeepingError> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    match repository.split_once('/') {
        Some((o, r)) if ok(o) && ok(r) => Ok((o.to_owned(), r.to_owned())),
        _ => Err(HousekeepingError::InvalidRepository(repository.to_owned())),
    }
}
