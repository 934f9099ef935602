//! A BuildKit `gha` index body (`CacheConfig` JSON) naming layer blobs, for the housekeeping
//! tests that need live indexes.

/// An index whose layers are the blobs `sha256:<d>` for each `d`.
pub fn index_body(digests: &[&str]) -> Vec<u8> {
    let layers: Vec<_> = digests
        .iter()
        .map(|d| serde_json::json!({"blob": format!("sha256:{d}"), "parent": -1}))
        .collect();
    serde_json::json!({"layers": layers, "records": []})
        .to_string()
        .into_bytes()
}
