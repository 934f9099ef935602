//! Wire types of the cache protocols, exactly as clients send and expect them.
//!
//! v2 is Twirp JSON (proto3 JSON with `useProtoFieldName`): snake_case names, int64 as a
//! string or a number, unknown fields ignored (protocol.md §B). v1 is the `artifactcache`
//! REST shape in camelCase (§A). The REST listing mirrors GitHub's
//! `GET /repos/{owner}/{repo}/actions/caches`.

use serde::{Deserialize, Deserializer, Serialize};

/// Accept an int64 as a JSON number or a decimal string (proto3 JSON allows both).
pub fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        Num(i64),
        Str(String),
    }
    match Option::<Int>::deserialize(d)? {
        None => Ok(0),
        Some(Int::Num(n)) => Ok(n),
        Some(Int::Str(s)) => s.parse().map_err(serde::de::Error::custom),
    }
}

// --- v2 (Twirp) -------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateCacheEntryRequest {
    pub key: String,
    pub version: String,
}

#[derive(Debug, Serialize)]
pub struct CreateCacheEntryResponse {
    pub ok: bool,
    pub signed_upload_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FinalizeCacheEntryUploadRequest {
    pub key: String,
    #[serde(deserialize_with = "int64")]
    pub size_bytes: i64,
    pub version: String,
}

#[derive(Debug, Serialize)]
pub struct FinalizeCacheEntryUploadResponse {
    pub ok: bool,
    /// int64 goes out as a string, as proto3 JSON does.
    pub entry_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetCacheEntryDownloadUrlRequest {
    pub key: String,
    pub restore_keys: Vec<String>,
    pub version: String,
}

#[derive(Debug, Serialize)]
pub struct GetCacheEntryDownloadUrlResponse {
    pub ok: bool,
    pub signed_download_url: String,
    pub matched_key: String,
}

/// A Twirp error body (twitchtv/twirp `docs/errors.md`).
#[derive(Debug, Serialize)]
pub struct TwirpErrorBody<'a> {
    pub code: &'a str,
    pub msg: &'a str,
}

// --- v1 (artifactcache) -----------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReserveCacheRequest {
    pub key: String,
    pub version: String,
    #[serde(default)]
    pub cache_size: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReserveCacheResponse {
    pub cache_id: u64,
}

#[derive(Debug, Deserialize)]
pub struct CommitCacheRequest {
    pub size: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactCacheEntry {
    pub cache_key: String,
    pub scope: String,
    pub cache_version: String,
    pub creation_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_location: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactCacheList {
    pub total_count: usize,
    pub artifact_caches: Vec<ArtifactCacheEntry>,
}

/// A VSS-style error, as GitHub's v1 service sends (go-actions-cache matches `typeKey`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VssError<'a> {
    pub message: &'a str,
    pub type_name: &'a str,
    pub type_key: &'a str,
    pub error_code: i32,
}

// --- REST (api.github.com shapes) -------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct RestCache {
    pub id: u64,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub key: String,
    pub version: String,
    pub last_accessed_at: String,
    pub created_at: String,
    pub size_in_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct RestCacheList {
    pub total_count: usize,
    pub actions_caches: Vec<RestCache>,
}

#[derive(Debug, Serialize)]
pub struct RestCacheUsage {
    pub full_name: String,
    pub active_caches_size_in_bytes: u64,
    pub active_caches_count: usize,
}

#[derive(Debug, Serialize)]
pub struct RestError<'a> {
    pub message: &'a str,
    pub documentation_url: &'a str,
}
