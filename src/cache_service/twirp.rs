//! v2: the Twirp service `github.actions.results.api.v1.CacheService`
//! (docs/cache-protocol.md § v2 Twirp service).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::instrument;

use super::error::{ServiceError, Twirp};
use super::signing::Permission;
use super::state::AppState;
use super::{protobuf, validate};
use crate::cache_protocol::wire::{
    CreateCacheEntryRequest, CreateCacheEntryResponse, FinalizeCacheEntryUploadRequest,
    FinalizeCacheEntryUploadResponse, GetCacheEntryDownloadUrlRequest,
    GetCacheEntryDownloadUrlResponse,
};

/// The route prefix the toolkit, BuildKit and opendal all use.
pub const PREFIX: &str = "/twirp/github.actions.results.api.v1.CacheService";

/// The two encodings Twirp defines; errors are JSON either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    Json,
    Protobuf,
}

/// Twirp answers an unsupported Content-Type with `bad_route`.
fn codec(headers: &HeaderMap) -> Result<Codec, ServiceError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(Codec::Json),
        "application/protobuf" => Ok(Codec::Protobuf),
        _ => Err(ServiceError::BadRoute(format!(
            "unexpected Content-Type {ct:?}: use application/json or application/protobuf"
        ))),
    }
}

fn parse<T: DeserializeOwned>(
    codec: Codec,
    body: &[u8],
    pb: fn(&[u8]) -> Result<T, ServiceError>,
) -> Result<T, ServiceError> {
    match codec {
        Codec::Json => serde_json::from_slice(body).map_err(|e| {
            ServiceError::Malformed(format!("failed to parse the request body as JSON: {e}"))
        }),
        Codec::Protobuf => pb(body),
    }
}

fn reply<T: Serialize>(codec: Codec, resp: &T, pb: fn(&T) -> Vec<u8>) -> Response {
    match codec {
        Codec::Json => Json(resp).into_response(),
        Codec::Protobuf => {
            ([(header::CONTENT_TYPE, "application/protobuf")], pb(resp)).into_response()
        }
    }
}

#[instrument(skip_all, fields(method = %method))]
pub async fn dispatch(
    State(state): State<Arc<AppState>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Twirp> {
    match method.as_str() {
        "CreateCacheEntry" => create(&state, &headers, &body).await,
        "FinalizeCacheEntryUpload" => finalize(&state, &headers, &body).await,
        "GetCacheEntryDownloadURL" => download_url(&state, &headers, &body).await,
        _ => Err(ServiceError::BadRoute(format!("no such method {method:?}")).into()),
    }
}

async fn create(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, Twirp> {
    let access = state.access(headers)?;
    let codec = codec(headers)?;
    let req: CreateCacheEntryRequest = parse(codec, body, protobuf::create_request)?;
    validate::key(&req.key)?;
    validate::version(&req.version)?;
    let Some(scope) = access.writable() else {
        return Ok(reply(
            codec,
            &CreateCacheEntryResponse {
                ok: false,
                signed_upload_url: String::new(),
                message: "cache write denied: token has no writable scopes".to_owned(),
            },
            protobuf::encode,
        ));
    };
    let id = state.cache.reserve(&req.key, &req.version, scope).await?;
    tracing::info!(entry = id, scope, "cache entry reserved");
    let url = state
        .signer
        .url(&state.base_url(headers), id, Permission::Write);
    Ok(reply(
        codec,
        &CreateCacheEntryResponse {
            ok: true,
            signed_upload_url: url.expose().to_owned(),
            message: String::new(),
        },
        protobuf::encode,
    ))
}

async fn finalize(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, Twirp> {
    let access = state.access(headers)?;
    let codec = codec(headers)?;
    let req: FinalizeCacheEntryUploadRequest = parse(codec, body, protobuf::finalize_request)?;
    validate::key(&req.key)?;
    validate::version(&req.version)?;
    let size = u64::try_from(req.size_bytes).map_err(|_| {
        ServiceError::InvalidArgument(format!("size_bytes {} is negative", req.size_bytes))
    })?;
    let scope = access.writable().ok_or_else(|| {
        ServiceError::PermissionDenied(
            "cache write denied: token has no writable scopes".to_owned(),
        )
    })?;
    let id = state
        .cache
        .reservation(&req.key, &req.version, scope)
        .await?
        .ok_or_else(|| {
            ServiceError::NotFound("no cache entry was created for this key and version".to_owned())
        })?;
    let entry = state.cache.finalize(id, size).await?;
    tracing::info!(entry = entry.id, size = entry.size, "cache entry finalized");
    state.hooks.finalized(&entry);
    state.cache.housekeep(Some(entry.id)).await?;
    Ok(reply(
        codec,
        &FinalizeCacheEntryUploadResponse {
            ok: true,
            entry_id: i64::try_from(entry.id).unwrap_or(i64::MAX),
            message: String::new(),
        },
        protobuf::encode,
    ))
}

async fn download_url(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Twirp> {
    let access = state.access(headers)?;
    let codec = codec(headers)?;
    let req: GetCacheEntryDownloadUrlRequest = parse(codec, body, protobuf::download_request)?;
    let mut keys = vec![req.key.clone()];
    keys.extend(req.restore_keys.iter().filter(|k| **k != req.key).cloned());
    for k in &keys {
        validate::key(k)?;
    }
    validate::key_count(keys.len())?;
    validate::version(&req.version)?;
    let scopes = access.readable();
    if scopes.is_empty() {
        return Err(ServiceError::PermissionDenied(
            "cache read denied: token has no readable scopes".to_owned(),
        )
        .into());
    }
    let miss = || GetCacheEntryDownloadUrlResponse {
        ok: false,
        signed_download_url: String::new(),
        matched_key: String::new(),
    };
    let Some(entry) = state.cache.lookup(&keys, &req.version, &scopes).await? else {
        let found = state.hooks.lookup_miss(&keys, &req.version).await;
        let Some(hit) = found else {
            return Ok(reply(codec, &miss(), protobuf::encode));
        };
        let answer = GetCacheEntryDownloadUrlResponse {
            ok: true,
            signed_download_url: hit.url.expose().to_owned(),
            matched_key: hit.matched_key,
        };
        return Ok(reply(codec, &answer, protobuf::encode));
    };
    tracing::info!(entry = entry.id, scope = %entry.scope, "cache hit");
    let url = state
        .signer
        .url(&state.base_url(headers), entry.id, Permission::Read);
    Ok(reply(
        codec,
        &GetCacheEntryDownloadUrlResponse {
            ok: true,
            signed_download_url: url.expose().to_owned(),
            matched_key: entry.key,
        },
        protobuf::encode,
    ))
}
