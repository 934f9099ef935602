//! GitHub's REST cache-management endpoints, in api.github.com's JSON shapes, so tools that
//! manage caches (octocrab, `gh cache`) work here too.
//! <https://docs.github.com/rest/actions/cache>
//!
//! A request answers for the repository in its path, and only with a token of that
//! repository: [`RestGrant`] decides what it sees and may delete ([`super::tenant`] has
//! the rules). Every deletion is logged with who asked and what went.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tracing::{info, instrument};

use super::error::{Rest, ServiceError};
use super::index::StoredEntry;
use super::state::AppState;
use super::tenant::RestGrant;
use super::validate::quote_short;
use crate::cache_protocol::wire::{RestCache, RestCacheList, RestCacheUsage};

fn wire(e: StoredEntry) -> RestCache {
    RestCache {
        id: e.id,
        git_ref: e.scope,
        key: e.key,
        version: e.version,
        last_accessed_at: e.last_accessed_at.to_rfc3339(),
        created_at: e.created_at.to_rfc3339(),
        size_in_bytes: e.size,
    }
}

fn param<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    q.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

fn number(q: &HashMap<String, String>, name: &str, default: usize) -> Result<usize, ServiceError> {
    match param(q, name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            ServiceError::InvalidArgument(format!("{name}={v:?} is not a positive number"))
        }),
    }
}

/// `GET /repos/{owner}/{repo}/actions/caches`
#[instrument(skip_all)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Rest> {
    let grant = state.rest_access(&headers, &owner, &repo)?;
    let per_page = number(&q, "per_page", 30)?.clamp(1, 100);
    let page = number(&q, "page", 1)?.max(1);
    let mut entries: Vec<StoredEntry> = state
        .cache
        .entries()
        .await?
        .into_iter()
        .filter(|e| grant.sees(e))
        .filter(|e| param(&q, "key").is_none_or(|k| e.key.starts_with(k)))
        .filter(|e| param(&q, "ref").is_none_or(|r| grant.ref_matches(&e.scope, r)))
        .collect();
    match param(&q, "sort").unwrap_or("last_accessed_at") {
        "created_at" => entries.sort_by_key(|e| (e.created_at, e.id)),
        "last_accessed_at" => entries.sort_by_key(|e| (e.last_accessed_at, e.id)),
        "size_in_bytes" => entries.sort_by_key(|e| (e.size, e.id)),
        other => {
            return Err(ServiceError::InvalidArgument(format!(
                "sort={other:?}: valid values are created_at, last_accessed_at, size_in_bytes"
            ))
            .into());
        }
    }
    match param(&q, "direction").unwrap_or("desc") {
        "desc" => entries.reverse(),
        "asc" => {}
        other => {
            return Err(ServiceError::InvalidArgument(format!(
                "direction={other:?}: valid values are asc, desc"
            ))
            .into());
        }
    }
    let total_count = entries.len();
    let actions_caches = entries
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(wire)
        .collect();
    Ok(Json(RestCacheList {
        total_count,
        actions_caches,
    })
    .into_response())
}

/// `DELETE /repos/{owner}/{repo}/actions/caches?key=K[&ref=R]`: exact key match. When
/// the token may not delete one of the matches, nothing is deleted (403).
#[instrument(skip_all)]
pub async fn delete_by_key(
    State(state): State<Arc<AppState>>,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Rest> {
    let grant = state.rest_access(&headers, &owner, &repo)?;
    let key = param(&q, "key")
        .ok_or_else(|| ServiceError::InvalidArgument("key is required".to_owned()))?;
    let matched: Vec<StoredEntry> = state
        .cache
        .entries()
        .await?
        .into_iter()
        .filter(|e| grant.sees(e) && e.key == key)
        .filter(|e| param(&q, "ref").is_none_or(|r| grant.ref_matches(&e.scope, r)))
        .collect();
    if matched.is_empty() {
        return Err(ServiceError::NotFound("Not Found".to_owned()).into());
    }
    let denied: Vec<&StoredEntry> = matched.iter().filter(|e| !grant.may_delete(e)).collect();
    if let Some(first) = denied.first() {
        let more = match denied.len() - 1 {
            0 => String::new(),
            n => format!(" (and {n} more of refs it does not write)"),
        };
        return Err(ServiceError::PermissionDenied(format!(
            "this token may not delete the cache of {}{more}: deleting needs a token that writes \
             the entry's ref; add ref= to delete only the caches of a ref it writes",
            quote_short(&first.scope)
        ))
        .into());
    }
    let (mut deleted, mut failed) = (Vec::new(), None);
    for e in matched {
        match state.cache.delete(e.id).await {
            Ok(Some(e)) => deleted.push(e),
            Ok(None) => {}
            Err(err) => {
                failed = Some(err);
                break;
            }
        }
    }
    // What went before a storage error went all the same.
    log_deleted(&grant, &deleted);
    if let Some(err) = failed {
        return Err(err.into());
    }
    Ok(Json(RestCacheList {
        total_count: deleted.len(),
        actions_caches: deleted.into_iter().map(wire).collect(),
    })
    .into_response())
}

/// `DELETE /repos/{owner}/{repo}/actions/caches/{cache_id}`: 404 for an entry of another
/// repository (whether or not it exists), 403 for one of a ref the token does not write.
#[instrument(skip_all, fields(entry = id))]
pub async fn delete_by_id(
    State(state): State<Arc<AppState>>,
    Path((owner, repo, id)): Path<(String, String, u64)>,
    headers: HeaderMap,
) -> Result<Response, Rest> {
    let grant = state.rest_access(&headers, &owner, &repo)?;
    let not_found = || Rest(ServiceError::NotFound("Not Found".to_owned()));
    let entry = state
        .cache
        .get(id)
        .await?
        .filter(|e| grant.sees(e))
        .ok_or_else(not_found)?;
    if !grant.may_delete(&entry) {
        return Err(ServiceError::PermissionDenied(format!(
            "this token may not delete the cache of {}: deleting needs a token that writes \
             the entry's ref",
            quote_short(&entry.scope)
        ))
        .into());
    }
    let deleted = state.cache.delete(id).await?.ok_or_else(not_found)?;
    log_deleted(&grant, std::slice::from_ref(&deleted));
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Log deletions: a line per entry (what went) and one with how many, each saying who
/// asked.
fn log_deleted(grant: &RestGrant, deleted: &[StoredEntry]) {
    let (repository, job_ref, workflow) = grant.who();
    for e in deleted {
        info!(
            repository,
            job_ref,
            workflow,
            entry = e.id,
            key = ?e.key,
            entry_ref = ?e.scope,
            size = e.size,
            "cache entry deleted through the REST API"
        );
    }
    info!(
        repository,
        job_ref,
        workflow,
        count = deleted.len(),
        bytes = deleted.iter().map(|e| e.size).sum::<u64>(),
        "cache entries deleted through the REST API"
    );
}

/// `GET /repos/{owner}/{repo}/actions/cache/usage`
#[instrument(skip_all)]
pub async fn usage(
    State(state): State<Arc<AppState>>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Rest> {
    let grant = state.rest_access(&headers, &owner, &repo)?;
    let entries: Vec<StoredEntry> = state
        .cache
        .entries()
        .await?
        .into_iter()
        .filter(|e| grant.sees(e))
        .collect();
    Ok(Json(RestCacheUsage {
        full_name: format!("{owner}/{repo}"),
        active_caches_size_in_bytes: entries.iter().map(|e| e.size).sum(),
        active_caches_count: entries.len(),
    })
    .into_response())
}
