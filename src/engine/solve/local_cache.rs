//! `type=local` cache on this machine, as buildx's client does it: each directory is an
//! OCI layout served to BuildKit through the session's content store
//! ([`crate::engine::session::content_store`]); an import names the cache manifest by the digest its
//! `index.json` tags (`latest` unless `tag=`/`digest=` say otherwise); after an export,
//! the manifest BuildKit reports (`cache.manifest`) is tagged in `index.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::plan::{BuildPlan, CacheType};

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// What the session serves and what to tag after the solve.
#[derive(Debug, Default)]
pub struct LocalCache {
    /// Content stores by BuildKit's id, `local:<dir>`.
    pub stores: BTreeMap<String, PathBuf>,
    /// Export directories and the tag their index gets.
    exports: Vec<(PathBuf, String)>,
}

impl LocalCache {
    /// Resolve `req`'s local imports to digests (dropping those with no cache yet, with a
    /// warning each) and register every local directory.
    pub fn prepare(req: &mut BuildPlan) -> (Self, Vec<String>) {
        let mut cache = Self::default();
        let mut warnings = Vec::new();
        for e in req.cache_to.iter().filter(|e| e.kind == CacheType::Local) {
            if let Some(dest) = e.attr("dest") {
                let dir = PathBuf::from(dest);
                if let Err(err) = std::fs::create_dir_all(&dir) {
                    warnings.push(format!("cache-to type=local,dest={dest}: {err}"));
                    continue;
                }
                cache.stores.insert(format!("local:{dest}"), dir.clone());
                let tag = e.attr("tag").unwrap_or("latest").to_owned();
                cache.exports.push((dir, tag));
            }
        }
        req.cache_from.retain_mut(|e| {
            if e.kind != CacheType::Local {
                return true;
            }
            let Some(src) = e.attr("src").map(str::to_owned) else {
                return false;
            };
            let digest = e
                .attr("digest")
                .map(str::to_owned)
                .or_else(|| tagged(Path::new(&src), e.attr("tag").unwrap_or("latest")));
            match digest {
                Some(d) => {
                    e.attrs.insert("digest".to_owned(), d);
                    cache
                        .stores
                        .insert(format!("local:{src}"), PathBuf::from(&src));
                    true
                }
                None => {
                    warnings.push(format!(
                        "cache-from type=local,src={src}: no cache there yet, building without it"
                    ));
                    false
                }
            }
        });
        (cache, warnings)
    }

    /// Tag the exported cache manifest in each export directory's `index.json`.
    pub fn tag_exports(&self, exporter_response: &BTreeMap<String, String>) -> Result<(), String> {
        if self.exports.is_empty() {
            return Ok(());
        }
        let desc: Value = exporter_response
            .get("cache.manifest")
            .and_then(|d| serde_json::from_str(d).ok())
            .ok_or("BuildKit reported no cache manifest for the local cache export")?;
        for (dir, tag) in &self.exports {
            tag_in_index(dir, tag, &desc).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        Ok(())
    }
}

/// The digest `index.json` in `dir` tags `tag`.
fn tagged(dir: &Path, tag: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("index.json")).ok()?;
    let index: Value = serde_json::from_str(&text).ok()?;
    index["manifests"]
        .as_array()?
        .iter()
        .find(|m| m["annotations"][REF_NAME] == tag)
        .and_then(|m| m["digest"].as_str())
        .map(str::to_owned)
}

fn tag_in_index(dir: &Path, tag: &str, desc: &Value) -> std::io::Result<()> {
    let path = dir.join("index.json");
    let mut index: Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| {
            json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": []
            })
        });
    let mut manifests: Vec<Value> = index["manifests"].as_array().cloned().unwrap_or_default();
    manifests.retain(|m| m["annotations"][REF_NAME] != tag);
    let mut entry = desc.clone();
    entry["annotations"][REF_NAME] = Value::String(tag.to_owned());
    manifests.push(entry);
    index["manifests"] = Value::Array(manifests);
    let layout = dir.join("oci-layout");
    if !layout.exists() {
        std::fs::write(&layout, r#"{"imageLayoutVersion":"1.0.0"}"#)?;
    }
    // Written aside and renamed: a reader never sees half an index.
    let temp = dir.join(".index.json.tmp");
    std::fs::write(&temp, index.to_string())?;
    std::fs::rename(temp, path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn an_export_is_tagged_and_found_again_by_its_tag() {
        let dir = tempfile::tempdir().unwrap();
        let desc = json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:aa", "size": 3});
        tag_in_index(dir.path(), "latest", &desc).unwrap();
        let newer = json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:bb", "size": 3});
        tag_in_index(dir.path(), "latest", &newer).unwrap();
        assert_eq!(tagged(dir.path(), "latest").as_deref(), Some("sha256:bb"));
        assert_eq!(tagged(dir.path(), "other"), None);
        assert!(dir.path().join("oci-layout").is_file());
    }
}
