//! Wire types of the cache protocols, exactly as clients send and expect them: one
//! definition per message, written and read by both `cache_service` and `cache_client`.
//!
//! v2 is Twirp JSON (proto3 JSON with `useProtoFieldName`): snake_case names, int64 as a
//! string or a number, unknown fields ignored. v1 is the `artifactcache`
//! REST shape in camelCase. The REST listing mirrors GitHub's
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
//
// One definition per message for both encodings: serde for Twirp JSON, prost for Twirp
// protobuf (field numbers of `github.actions.results.api.v1`; `metadata`, field 1 of the
// requests, is not read and so is skipped like any unknown field). prost derives `Debug`
// and `Default` itself; responses that carry a signed URL print it redacted.

#[derive(Clone, PartialEq, Serialize, Deserialize, prost::Message)]
#[serde(default)]
pub struct CreateCacheEntryRequest {
    #[prost(string, tag = "2")]
    pub key: String,
    #[prost(string, tag = "3")]
    pub version: String,
}

#[derive(Clone, PartialEq, Serialize, Deserialize, prost::Message)]
#[serde(default)]
#[prost(skip_debug)]
pub struct CreateCacheEntryResponse {
    #[prost(bool, tag = "1")]
    pub ok: bool,
    #[prost(string, tag = "2")]
    pub signed_upload_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    #[prost(string, tag = "3")]
    pub message: String,
}

#[derive(Clone, PartialEq, Serialize, Deserialize, prost::Message)]
#[serde(default)]
pub struct FinalizeCacheEntryUploadRequest {
    #[prost(string, tag = "2")]
    pub key: String,
    #[serde(deserialize_with = "int64", serialize_with = "int64_string")]
    #[prost(int64, tag = "3")]
    pub size_bytes: i64,
    #[prost(string, tag = "4")]
    pub version: String,
}

#[derive(Clone, PartialEq, Serialize, Deserialize, prost::Message)]
#[serde(default)]
pub struct FinalizeCacheEntryUploadResponse {
    #[prost(bool, tag = "1")]
    pub ok: bool,
    /// int64 goes out as a string in JSON, as proto3 JSON does.
    #[serde(serialize_with = "int64_string", deserialize_with = "int64")]
    #[prost(int64, tag = "2")]
    pub entry_id: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    #[prost(string, tag = "3")]
    pub message: String,
}

#[derive(Clone, PartialEq, Serialize, Deserialize, prost::Message)]
#[serde(default)]
pub struct GetCacheEntryDownloadUrlRequest {
    #[prost(string, tag = "2")]
    pub key: String,
    #[prost(string, repeated, tag = "3")]
    pub restore_keys: Vec<String>,
    #[prost(string, tag = "4")]
    pub version: String,
}

#[derive(Clone, PartialEq, Serialize, Deserialize, prost::Message)]
#[serde(default)]
#[prost(skip_debug)]
pub struct GetCacheEntryDownloadUrlResponse {
    #[prost(bool, tag = "1")]
    pub ok: bool,
    #[prost(string, tag = "2")]
    pub signed_download_url: String,
    #[prost(string, tag = "3")]
    pub matched_key: String,
}

/// Write an int64 as a decimal string (proto3 JSON's form for 64-bit integers).
fn int64_string<S: serde::Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl std::fmt::Debug for CreateCacheEntryResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateCacheEntryResponse")
            .field("ok", &self.ok)
            .field("signed_upload_url", &crate::secret::REDACTED)
            .field("message", &self.message)
            .finish()
    }
}

impl std::fmt::Debug for ArtifactCacheEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactCacheEntry")
            .field("cache_key", &self.cache_key)
            .field("scope", &self.scope)
            .field("cache_version", &self.cache_version)
            .field("creation_time", &self.creation_time)
            .field("archive_location", &crate::secret::REDACTED)
            .finish()
    }
}

impl std::fmt::Debug for GetCacheEntryDownloadUrlResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetCacheEntryDownloadUrlResponse")
            .field("ok", &self.ok)
            .field("signed_download_url", &crate::secret::REDACTED)
            .field("matched_key", &self.matched_key)
            .finish()
    }
}

/// A Twirp error body (twitchtv/twirp `docs/errors.md`).
#[derive(Debug, Serialize)]
pub struct TwirpErrorBody<'a> {
    pub code: &'a str,
    pub msg: &'a str,
}

// --- v1 (artifactcache) -----------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReserveCacheRequest {
    pub key: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_size: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReserveCacheResponse {
    /// go-actions-cache's servers spell it `cacheID`.
    #[serde(alias = "cacheID", alias = "CacheId")]
    pub cache_id: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CommitCacheRequest {
    pub size: i64,
}

/// A v1 lookup hit. Read leniently: GitHub writes camelCase, older servers PascalCase.
#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArtifactCacheEntry {
    #[serde(alias = "CacheKey")]
    pub cache_key: String,
    pub scope: String,
    pub cache_version: String,
    pub creation_time: String,
    /// The signed download URL (a credential).
    #[serde(alias = "ArchiveLocation", skip_serializing_if = "Option::is_none")]
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
