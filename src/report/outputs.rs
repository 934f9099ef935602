//! The action's outputs, shaped like build-push-action's: `imageid`, `digest` and
//! `metadata` (buildx's metadata file: the exporter response plus `buildx.build.ref`, with
//! base64 JSON values such as `containerimage.descriptor` decoded).

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::engine::Outcome;

/// Output values by name, as build-push-action sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOutputs {
    pub imageid: String,
    pub digest: String,
    pub metadata: String,
}

impl BuildOutputs {
    pub fn from_outcome(o: &Outcome) -> Self {
        Self {
            imageid: o.image_id.clone().unwrap_or_default(),
            digest: o.digest.clone().unwrap_or_default(),
            metadata: metadata(o).to_string(),
        }
    }

    /// `(name, value)` pairs in a stable order.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            ("imageid", &self.imageid),
            ("digest", &self.digest),
            ("metadata", &self.metadata),
        ]
    }
}

/// buildx's metadata JSON for `o`.
pub fn metadata(o: &Outcome) -> Value {
    let mut map = Map::new();
    for (k, v) in &o.exporter_response {
        map.insert(k.clone(), decode_value(v));
    }
    map.insert(
        "buildx.build.ref".into(),
        Value::String(format!("layercache/{}/{}", o.driver, o.build_ref)),
    );
    // An image id that is the digest itself (a store that knows images by their manifest
    // or index digest) is no config digest: buildx leaves the key out then.
    if let Some(id) = o
        .image_id
        .as_ref()
        .filter(|id| o.digest.as_ref() != Some(id))
    {
        map.insert(
            "containerimage.config.digest".into(),
            Value::String(id.clone()),
        );
    }
    if let Some(d) = &o.digest {
        map.insert("containerimage.digest".into(), Value::String(d.clone()));
    }
    // BuildKit names what its image exporter wrote (a push by digest names the
    // repository, with `name-canonical` in canonical form); the tags only where it did not.
    if !o.tags.is_empty() && !map.contains_key("image.name") {
        map.insert("image.name".into(), Value::String(o.tags.join(",")));
    }
    if let Some(p) = &o.provenance {
        map.insert("buildx.build.provenance".into(), p.clone());
    }
    if !o.build_warnings.is_empty() {
        let list = o.build_warnings.iter().map(warning_json).collect();
        map.insert("buildx.build.warnings".into(), Value::Array(list));
    }
    Value::Object(map)
}

/// One warning as buildx writes it to the metadata file (BuildKit's `VertexWarning` JSON:
/// byte fields base64-encoded).
fn warning_json(w: &crate::engine::BuildWarning) -> Value {
    let b64 = |t: &str| Value::String(base64::engine::general_purpose::STANDARD.encode(t));
    let mut v = serde_json::json!({
        "level": w.level,
        "short": b64(&w.message),
        "detail": w.detail.iter().map(|d| b64(d)).collect::<Vec<_>>(),
        "url": w.url,
    });
    if let Some(file) = &w.file {
        v["sourceInfo"] = serde_json::json!({ "filename": file });
    }
    if let Some(line) = w.line {
        v["range"] = serde_json::json!([{ "start": { "line": line }, "end": { "line": line } }]);
    }
    v
}

/// BuildKit base64-encodes structured values (descriptors, build info); buildx decodes them.
fn decode_value(v: &str) -> Value {
    base64::engine::general_purpose::STANDARD
        .decode(v)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| Value::String(v.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn metadata_is_shaped_like_buildx() {
        let descriptor =
            base64::engine::general_purpose::STANDARD.encode(r#"{"mediaType":"m","size":3}"#);
        let o = Outcome {
            driver: "docker",
            build_ref: "abc".into(),
            image_id: Some("sha256:1".into()),
            digest: Some("sha256:2".into()),
            tags: vec!["r/a:1".into(), "r/a:2".into()],
            exporter_response: [
                ("containerimage.digest".to_owned(), "sha256:1".to_owned()),
                ("containerimage.descriptor".to_owned(), descriptor),
            ]
            .into(),
            ..Default::default()
        };
        let out = BuildOutputs::from_outcome(&o);
        let m: Value = serde_json::from_str(&out.metadata).unwrap();
        assert_eq!(m["buildx.build.ref"], "layercache/docker/abc");
        assert_eq!(m["containerimage.config.digest"], "sha256:1");
        assert_eq!(m["containerimage.digest"], "sha256:2");
        assert_eq!(m["containerimage.descriptor"]["size"], 3);
        assert_eq!(m["image.name"], "r/a:1,r/a:2");
        assert_eq!(
            (out.imageid.as_str(), out.digest.as_str()),
            ("sha256:1", "sha256:2")
        );
    }
}
