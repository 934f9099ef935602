//! BuildKit's cache config (`application/vnd.buildkit.cacheconfig.v0`), the body of a gha
//! index entry (docs/gha-cache-layout.md § Index body), as typed values.
//!
//! The types mirror BuildKit's `cache/remotecache/v1/types` field for field, with Go's
//! JSON rules written out once here: BuildKit marshals with `omitempty`, so a zero is
//! absent on the wire and absent means zero. A layer's `parent` is the one that bites: a
//! layer on layer 0 carries no `parent` key at all, and "no parent" is an explicit `-1`.
//! Fields a newer BuildKit adds are kept as they came (`extra`), so a merged index loses
//! nothing BuildKit wrote.
//!
//! [`chains`] checks what BuildKit's importer needs of a config: every index resolves and
//! every layer chain is the one it was exported with.

pub mod chains;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A cache config BuildKit could not have written or could not read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("not a BuildKit cache config: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Invalid(String),
}

/// `CacheConfig`: the layers (blobs and their parents) and the records (cache keys).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<CacheLayer>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<CacheRecord>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `CacheLayer`: one layer blob on top of its parent's chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheLayer {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub blob: String,
    /// The layer below this one (an index into `layers`); `None` for a bottom layer, which
    /// BuildKit writes as `-1`. Absent on the wire is layer 0.
    #[serde(
        default = "first_layer",
        skip_serializing_if = "is_first_layer",
        serialize_with = "write_parent",
        deserialize_with = "read_parent"
    )]
    pub parent: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<LayerAnnotations>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `LayerAnnotations`: what BuildKit needs to describe the blob without fetching it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerAnnotations {
    #[serde(
        rename = "mediaType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
    #[serde(rename = "diffID", default, skip_serializing_if = "String::is_empty")]
    pub diff_id: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size: i64,
    #[serde(rename = "createdAt", default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `CacheRecord`: one cache key (a step), its results and the keys it was computed from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheRecord {
    #[serde(rename = "layers", default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<CacheResult>,
    #[serde(rename = "chains", default, skip_serializing_if = "Vec::is_empty")]
    pub chained_results: Vec<ChainedResult>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
    /// One group per input of the step; each group lists the records that can stand for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Vec<CacheInput>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `CacheResult`: a result whose layer chain ends at `layer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheResult {
    #[serde(default)]
    pub layer: usize,
    #[serde(rename = "createdAt", default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `ChainedResult`: a result made of the listed layers, bottom first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainedResult {
    #[serde(default)]
    pub layers: Vec<usize>,
    #[serde(rename = "createdAt", default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `CacheInput`: the record an input links to, and the selector within it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CacheInput {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    #[serde(default)]
    pub link: usize,
}

fn first_layer() -> Option<usize> {
    Some(0)
}

fn is_first_layer(parent: &Option<usize>) -> bool {
    *parent == Some(0)
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn write_parent<S: Serializer>(parent: &Option<usize>, s: S) -> Result<S::Ok, S::Error> {
    match parent {
        Some(p) => s.serialize_u64(*p as u64),
        None => s.serialize_i64(-1),
    }
}

fn read_parent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    match i64::deserialize(d)? {
        -1 => Ok(None),
        p => usize::try_from(p)
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("invalid parent layer index {p}"))),
    }
}

impl CacheConfig {
    /// Decode a config as BuildKit's importer would.
    pub fn from_slice(body: &[u8]) -> Result<Self, ConfigError> {
        Ok(serde_json::from_slice(body)?)
    }

    /// Encode as BuildKit would (zeros left out).
    pub fn to_vec(&self) -> Result<Vec<u8>, ConfigError> {
        Ok(serde_json::to_vec(self)?)
    }

    /// The layer blob digests the config names (what must be upstream before it is).
    pub fn blobs(&self) -> impl Iterator<Item = &str> {
        self.layers.iter().map(|l| l.blob.as_str())
    }
}

impl CacheRecord {
    /// Newest `createdAt` among the record's results.
    pub fn newest_result(&self) -> Option<DateTime<Utc>> {
        self.results
            .iter()
            .filter_map(|r| r.created_at)
            .chain(self.chained_results.iter().filter_map(|c| c.created_at))
            .max()
    }
}

#[cfg(test)]
mod tests;
