//! v1: the five `_apis/artifactcache` endpoints (docs/cache-protocol.md § v1 REST
//! endpoints), for GHES-style clients, `act`, and BuildKit's v1 backend.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use tracing::instrument;

use super::error::{ServiceError, V1};
use super::index::StoredEntry;
use super::signing::Permission;
use super::state::AppState;
use super::validate;
use crate::cache_protocol::wire::{
    ArtifactCacheEntry, ArtifactCacheList, CommitCacheRequest, ReserveCacheRequest,
    ReserveCacheResponse,
};

fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ServiceError> {
    serde_json::from_slice(body).map_err(|e| {
        ServiceError::Malformed(format!("failed to parse the request body as JSON: {e}"))
    })
}

fn wire(entry: StoredEntry, location: Option<String>) -> ArtifactCacheEntry {
    ArtifactCacheEntry {
        cache_key: entry.key,
        scope: entry.scope,
        cache_version: entry.version,
        creation_time: entry.created_at.to_rfc3339(),
        archive_location: location,
    }
}

/// `GET cache?keys=a,b&version=v`: the entry a restore gets, or 204.
#[instrument(skip_all)]
pub async fn lookup(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, V1> {
    let access = state.access(&headers)?;
    let keys: Vec<String> = q
        .get("keys")
        .map(|k| k.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let version = q.get("version").map(String::as_str).unwrap_or("");
    if keys.is_empty() {
        return Err(ServiceError::InvalidArgument("keys is required".to_owned()).into());
    }
    for k in &keys {
        validate::key(k)?;
    }
    validate::key_count(keys.len())?;
    validate::version(version)?;
    let Some(entry) = state
        .cache
        .lookup(&keys, version, &access.readable())
        .await?
    else {
        let Some(hit) = state.hooks.lookup_miss(&keys, version).await else {
            return Ok(StatusCode::NO_CONTENT.into_response());
        };
        return Ok(Json(ArtifactCacheEntry {
            cache_key: hit.matched_key,
            scope: access.writable().unwrap_or_default().to_owned(),
            cache_version: version.to_owned(),
            creation_time: chrono::Utc::now().to_rfc3339(),
            archive_location: Some(hit.url.expose().to_owned()),
        })
        .into_response());
    };
    let url = state
        .signer
        .url(&state.base_url(&headers), entry.id, Permission::Read);
    Ok(Json(wire(entry, Some(url.expose().to_owned()))).into_response())
}

/// `GET caches?key=k`: finalized entries with this key in readable refs (diagnostics).
#[instrument(skip_all)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, V1> {
    let access = state.access(&headers)?;
    let key = q.get("key").cloned().unwrap_or_default();
    let scopes = access.readable();
    let caches: Vec<ArtifactCacheEntry> = state
        .cache
        .entries()
        .await?
        .into_iter()
        .filter(|e| e.key == key && scopes.contains(&e.scope.as_str()))
        .map(|e| wire(e, None))
        .collect();
    Ok(Json(ArtifactCacheList {
        total_count: caches.len(),
        artifact_caches: caches,
    })
    .into_response())
}

/// `POST caches`: reserve (key, version) in the token's writable ref.
#[instrument(skip_all)]
pub async fn reserve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, V1> {
    let access = state.access(&headers)?;
    let req: ReserveCacheRequest = json(&body)?;
    validate::v1_key(&req.key)?;
    validate::version(&req.version)?;
    if let (Some(size), Some(limit)) = (req.cache_size, state.limits.max_total_bytes)
        && size > 0
        && size as u64 > limit
    {
        return Err(ServiceError::InvalidArgument(format!(
            "cache size of {size} bytes is over the {limit}-byte limit"
        ))
        .into());
    }
    let scope = access.writable().ok_or_else(|| {
        ServiceError::PermissionDenied(
            "cache write denied: token has no writable scopes".to_owned(),
        )
    })?;
    let id = state.cache.reserve(&req.key, &req.version, scope).await?;
    Ok((
        StatusCode::CREATED,
        Json(ReserveCacheResponse { cache_id: id }),
    )
        .into_response())
}

async fn check_owner(state: &AppState, headers: &HeaderMap, id: u64) -> Result<(), ServiceError> {
    let access = state.access(headers)?;
    match state.cache.reserved_scope(id).await? {
        Some(scope) if access.writable() == Some(scope.as_str()) => Ok(()),
        Some(_) => Err(ServiceError::PermissionDenied(
            "cache write denied: the reservation belongs to another ref".to_owned(),
        )),
        None if state.cache.is_finalized(id).await? => Err(ServiceError::AlreadyExists(
            "the cache entry is already committed".to_owned(),
        )),
        None => Err(ServiceError::NotFound(format!(
            "no reservation with cacheId {id}"
        ))),
    }
}

/// `bytes a-b/*` (the total may be `*` or a number).
fn content_range(headers: &HeaderMap) -> Result<Range<u64>, ServiceError> {
    let v = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ServiceError::InvalidArgument("Content-Range is required".to_owned()))?;
    let bad = || {
        ServiceError::InvalidArgument(format!("invalid Content-Range {v:?}: expected bytes a-b/*"))
    };
    let spec = v.trim().strip_prefix("bytes ").ok_or_else(bad)?;
    let (range, _total) = spec.split_once('/').ok_or_else(bad)?;
    let (a, b) = range.split_once('-').ok_or_else(bad)?;
    let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if b < a {
        return Err(bad());
    }
    Ok(a..b + 1)
}

/// `PATCH caches/{id}`: one chunk, any order, body possibly chunked without a length.
#[instrument(skip_all, fields(entry = id))]
pub async fn upload(
    State(state): State<Arc<AppState>>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, V1> {
    check_owner(&state, &headers, id).await?;
    let range = content_range(&headers)?;
    let stream = body
        .into_data_stream()
        .map_err(std::io::Error::other)
        .boxed();
    state.cache.put_chunk(id, range, stream).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST caches/{id}`: commit with the total size.
#[instrument(skip_all, fields(entry = id))]
pub async fn commit(
    State(state): State<Arc<AppState>>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, V1> {
    check_owner(&state, &headers, id).await?;
    let req: CommitCacheRequest = json(&body)?;
    let size = u64::try_from(req.size)
        .map_err(|_| ServiceError::InvalidArgument(format!("size {} is negative", req.size)))?;
    let entry = state.cache.commit_chunks(id, size).await?;
    tracing::info!(entry = entry.id, size = entry.size, "cache entry committed");
    state.hooks.finalized(&entry);
    state.cache.housekeep(Some(entry.id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
