//! GitHub's REST cache-management endpoints, in api.github.com's JSON shapes, so tools that
//! manage caches (octocrab, `gh cache`) work here too.
//! <https://docs.github.com/rest/actions/cache>
//!
//! One service holds one repository's caches; `{owner}/{repo}` in the path is echoed back
//! but does not select a namespace.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tracing::instrument;

use super::error::{Rest, ServiceError};
use super::index::StoredEntry;
use super::protocol::{RestCache, RestCacheList, RestCacheUsage};
use super::service::AppState;

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
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Rest> {
    state.rest_access(&headers, false)?;
    let per_page = number(&q, "per_page", 30)?.clamp(1, 100);
    let page = number(&q, "page", 1)?.max(1);
    let mut entries: Vec<StoredEntry> = state
        .cache
        .entries()
        .await?
        .into_iter()
        .filter(|e| param(&q, "key").is_none_or(|k| e.key.starts_with(k)))
        .filter(|e| param(&q, "ref").is_none_or(|r| e.scope == r))
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

/// `DELETE /repos/{owner}/{repo}/actions/caches?key=K[&ref=R]`: exact key match.
#[instrument(skip_all)]
pub async fn delete_by_key(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Rest> {
    state.rest_access(&headers, true)?;
    let key = param(&q, "key")
        .ok_or_else(|| ServiceError::InvalidArgument("key is required".to_owned()))?;
    let doomed: Vec<StoredEntry> = state
        .cache
        .entries()
        .await?
        .into_iter()
        .filter(|e| e.key == key && param(&q, "ref").is_none_or(|r| e.scope == r))
        .collect();
    if doomed.is_empty() {
        return Err(ServiceError::NotFound("Not Found".to_owned()).into());
    }
    let mut deleted = Vec::new();
    for e in doomed {
        if let Some(e) = state.cache.delete(e.id).await? {
            deleted.push(wire(e));
        }
    }
    Ok(Json(RestCacheList {
        total_count: deleted.len(),
        actions_caches: deleted,
    })
    .into_response())
}

/// `DELETE /repos/{owner}/{repo}/actions/caches/{cache_id}`
#[instrument(skip_all, fields(entry = id))]
pub async fn delete_by_id(
    State(state): State<Arc<AppState>>,
    Path((_owner, _repo, id)): Path<(String, String, u64)>,
    headers: HeaderMap,
) -> Result<Response, Rest> {
    state.rest_access(&headers, true)?;
    match state.cache.delete(id).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        None => Err(ServiceError::NotFound("Not Found".to_owned()).into()),
    }
}

/// `GET /repos/{owner}/{repo}/actions/cache/usage`
#[instrument(skip_all)]
pub async fn usage(
    State(state): State<Arc<AppState>>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Rest> {
    state.rest_access(&headers, false)?;
    let entries = state.cache.entries().await?;
    Ok(Json(RestCacheUsage {
        full_name: format!("{owner}/{repo}"),
        active_caches_size_in_bytes: entries.iter().map(|e| e.size).sum(),
        active_caches_count: entries.len(),
    })
    .into_response())
}
