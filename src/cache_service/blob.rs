//! The blob endpoints behind signed URLs, behaving like Azure Blob Storage for the calls
//! cache clients make: Put Blob, Put Block, Put Block List, Get Blob (with `Range` or
//! `x-ms-range`) and Get Blob Properties. Every response carries the headers Azure always
//! sends (`x-ms-request-id`, `x-ms-version`, `Date`); BuildKit's Azure client fails without
//! `x-ms-request-id`.
//! <https://learn.microsoft.com/rest/api/storageservices/blob-service-rest-api>

use std::ops::Range;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, TryStreamExt};
use tracing::instrument;

use super::azure_headers::{add_azure_headers, http_date};
use super::error::{Azure, ServiceError};
use super::index::StoredEntry;
use super::signing::{Permission, SignedQuery};
use super::state::AppState;
use crate::storage::ByteStream;

/// Block lists are small XML documents; refuse anything absurd.
const MAX_BLOCK_LIST_BYTES: usize = 8 * 1024 * 1024;

fn parse_query(raw: Option<&str>) -> SignedQuery {
    let mut q = SignedQuery::default();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let v = Some(v.into_owned());
        match k.as_ref() {
            "se" => q.se = v,
            "sp" => q.sp = v,
            "sig" => q.sig = v,
            "comp" => q.comp = v,
            "blockid" => q.blockid = v,
            _ => {}
        }
    }
    q
}

fn body_stream(body: Body) -> ByteStream {
    body.into_data_stream()
        .map_err(std::io::Error::other)
        .boxed()
}

fn created(etag_seed: u64) -> Response {
    let mut resp = StatusCode::CREATED.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("\"0x{etag_seed:X}\"")) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(chrono::Utc::now())) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(
        "x-ms-request-server-encrypted",
        HeaderValue::from_static("true"),
    );
    add_azure_headers(h);
    resp
}

#[instrument(skip_all, fields(entry = id))]
pub async fn put(
    State(state): State<Arc<AppState>>,
    Path(id): Path<u64>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Azure> {
    let q = parse_query(raw.as_deref());
    state.signer.check(id, Permission::Write, &q)?;
    match q.comp.as_deref() {
        None => {
            let blob_type = headers.get("x-ms-blob-type").and_then(|v| v.to_str().ok());
            if blob_type != Some("BlockBlob") {
                return Err(ServiceError::InvalidArgument(
                    "x-ms-blob-type must be BlockBlob".to_owned(),
                )
                .into());
            }
            let n = state.cache.put_blob(id, body_stream(body)).await?;
            tracing::debug!(bytes = n, "put blob");
        }
        Some("block") => {
            let block_id = q
                .blockid
                .filter(|b| !b.is_empty() && b.len() <= 1024)
                .ok_or_else(|| ServiceError::InvalidArgument("blockid is missing".to_owned()))?;
            state
                .cache
                .put_block(id, &block_id, body_stream(body))
                .await?;
        }
        Some("blocklist") => {
            let bytes = axum::body::to_bytes(body, MAX_BLOCK_LIST_BYTES)
                .await
                .map_err(|_| ServiceError::InvalidArgument("block list is too large".to_owned()))?;
            let ids = parse_block_list(&bytes)?;
            state.cache.put_block_list(id, &ids).await?;
        }
        Some(other) => {
            return Err(ServiceError::BadRoute(format!("comp={other} is not supported")).into());
        }
    }
    Ok(created(id))
}

/// The ids of a `<BlockList>`, in order. Every element kind (`Latest`, `Uncommitted`,
/// `Committed`) names a block uploaded to this blob.
fn parse_block_list(xml: &Bytes) -> Result<Vec<String>, ServiceError> {
    let text = std::str::from_utf8(xml)
        .map_err(|_| ServiceError::InvalidBlockList("block list is not UTF-8 XML".to_owned()))?;
    if !text.contains("<BlockList") {
        return Err(ServiceError::InvalidBlockList(
            "body is not a <BlockList>".to_owned(),
        ));
    }
    let re = regex_lite::Regex::new(
        r"<(Latest|Uncommitted|Committed)>([^<]*)</(?:Latest|Uncommitted|Committed)>",
    )
    .map_err(|e| ServiceError::InvalidBlockList(e.to_string()))?;
    let ids: Vec<String> = re
        .captures_iter(text)
        .map(|c| c[2].trim().to_owned())
        .collect();
    if ids.iter().any(|i| i.is_empty()) {
        return Err(ServiceError::InvalidBlockList(
            "a block id is empty".to_owned(),
        ));
    }
    Ok(ids)
}

/// Parse `bytes=a-b`, `bytes=a-` or `bytes=-n` into a half-open range within `size`.
fn parse_range(value: &str, size: u64) -> Result<Range<u64>, ServiceError> {
    let bad = || ServiceError::InvalidArgument(format!("invalid range header {value:?}"));
    let spec = value.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| bad())?;
            (size.saturating_sub(n), size)
        }
        (a, "") => (a.parse().map_err(|_| bad())?, size),
        (a, b) => {
            let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            if b < a {
                return Err(bad());
            }
            (a, b.saturating_add(1).min(size))
        }
    };
    if start >= size {
        return Err(ServiceError::RangeNotSatisfiable { size });
    }
    Ok(start..end)
}

fn entry_headers(h: &mut HeaderMap, entry: &StoredEntry) {
    let pairs = [
        (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
        (header::ACCEPT_RANGES, "bytes".to_owned()),
        (header::ETAG, format!("\"0x{:X}\"", entry.id)),
        (header::LAST_MODIFIED, http_date(entry.created_at)),
    ];
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    h.insert("x-ms-blob-type", HeaderValue::from_static("BlockBlob"));
    h.insert("x-ms-server-encrypted", HeaderValue::from_static("true"));
    if let Ok(v) = HeaderValue::from_str(&http_date(entry.created_at)) {
        h.insert("x-ms-creation-time", v);
    }
    add_azure_headers(h);
}

/// Get Blob and (for `HEAD`) Get Blob Properties.
#[instrument(skip_all, fields(entry = id))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<u64>,
    RawQuery(raw): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, Azure> {
    let q = parse_query(raw.as_deref());
    state.signer.check(id, Permission::Read, &q)?;
    let entry =
        state.cache.get(id).await?.ok_or_else(|| {
            ServiceError::NotFound("the specified blob does not exist".to_owned())
        })?;
    let range_header = headers
        .get("x-ms-range")
        .or_else(|| headers.get(header::RANGE))
        .and_then(|v| v.to_str().ok());
    let range = match range_header {
        Some(v) => Some(parse_range(v, entry.size)?),
        None => None,
    };
    let len = range.as_ref().map_or(entry.size, |r| r.end - r.start);
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        let stream = state.cache.read(id, range.clone()).await?.ok_or_else(|| {
            ServiceError::NotFound("the specified blob does not exist".to_owned())
        })?;
        Body::from_stream(stream)
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    entry_headers(h, &entry);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Some(r) = &range {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        let cr = format!(
            "bytes {}-{}/{}",
            r.start,
            r.end.saturating_sub(1),
            entry.size
        );
        if let Ok(v) = HeaderValue::from_str(&cr) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let ok = |v: &str| parse_range(v, 100).ok();
        assert_eq!(ok("bytes=0-9"), Some(0..10));
        assert_eq!(ok("bytes=90-"), Some(90..100));
        assert_eq!(ok("bytes=-10"), Some(90..100));
        assert_eq!(ok("bytes=95-200"), Some(95..100));
        assert_eq!(ok("bytes=100-"), None);
        assert_eq!(ok("bytes=5-1"), None);
        assert_eq!(ok("items=0-1"), None);
    }

    #[test]
    fn block_lists() {
        let xml = Bytes::from_static(
            b"<?xml version=\"1.0\"?><BlockList><Latest>YQ==</Latest><Uncommitted>Yg==</Uncommitted></BlockList>",
        );
        assert_eq!(
            parse_block_list(&xml).ok(),
            Some(vec!["YQ==".to_owned(), "Yg==".to_owned()])
        );
        assert!(parse_block_list(&Bytes::from_static(b"{}")).is_err());
    }
}
