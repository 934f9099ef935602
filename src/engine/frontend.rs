//! The solve request, built once for every driver: Dockerfile frontend attributes
//! (names as buildx sends them, `build/opt.go`), the exporter and the cache entries.
//! The single-exporter fields are the deprecated ones on purpose: BuildKit 0.8 (Engine
//! 20.10) knows only those, and newer BuildKit still honours them.

use std::collections::HashMap;

use std::path::PathBuf;

use bollard::moby::buildkit::v1::{CacheOptions, CacheOptionsEntry, Exporter, SolveRequest};

use super::context::{is_local_build_context, local_context_dir};
use super::driver::Capabilities;
use super::request::{BuildRequest, CacheEntry};

/// Inputs that are not part of the request itself.
pub struct SolveInputs<'a> {
    pub build_ref: &'a str,
    pub session_id: &'a str,
    /// A Git or HTTP context; `None` means the local `context` directory of the session.
    pub remote_context: Option<&'a str>,
    pub dockerfile_name: &'a str,
}

pub fn solve_request(
    req: &BuildRequest,
    caps: &Capabilities,
    inputs: &SolveInputs<'_>,
) -> SolveRequest {
    let mut entitlements = req.allow.clone();
    if req.network.as_deref() == Some("host") && !entitlements.iter().any(|e| e == "network.host") {
        entitlements.push("network.host".to_owned());
    }
    let mut exporters = exporters(req, caps);
    // One exporter goes in the fields every BuildKit knows (0.8 has only those); several
    // need the list (BuildKit 0.13+, only used with standalone drivers).
    let (single, exporters) = match exporters.len() {
        1 => (exporters.pop(), Vec::new()),
        _ => (None, exporters),
    };
    let (exporter, exporter_attrs) = single.map(|e| (e.r#type, e.attrs)).unwrap_or_default();
    SolveRequest {
        r#ref: inputs.build_ref.to_owned(),
        session: inputs.session_id.to_owned(),
        frontend: "dockerfile.v0".to_owned(),
        frontend_attrs: frontend_attrs(req, inputs),
        exporter_deprecated: exporter,
        exporter_attrs_deprecated: exporter_attrs,
        cache: Some(CacheOptions {
            imports: req.cache_from.iter().map(entry).collect(),
            exports: req.cache_to.iter().map(entry).collect(),
            ..Default::default()
        }),
        entitlements,
        exporters,
        ..Default::default()
    }
}

/// The frontend attributes for `req`.
pub fn frontend_attrs(req: &BuildRequest, inputs: &SolveInputs<'_>) -> HashMap<String, String> {
    let mut a = HashMap::new();
    if let Some(url) = inputs.remote_context {
        a.insert("context".to_owned(), url.to_owned());
    }
    a.insert("filename".to_owned(), inputs.dockerfile_name.to_owned());
    if let Some(t) = &req.target {
        a.insert("target".to_owned(), t.clone());
    }
    for (k, v) in &req.build_args {
        a.insert(format!("build-arg:{k}"), v.clone());
    }
    for (k, v) in &req.labels {
        a.insert(format!("label:{k}"), v.clone());
    }
    if !req.platforms.is_empty() {
        a.insert("platform".to_owned(), req.platforms.join(","));
    }
    a.extend(run_options(req));
    for attest in &req.attests {
        // `type=provenance,mode=max` → `attest:provenance` = `mode=max` (buildx build/opt.go).
        let mut fields = attest.split(',');
        if let Some(kind) = fields.next().and_then(|f| f.strip_prefix("type=")) {
            a.insert(
                format!("attest:{kind}"),
                fields.collect::<Vec<_>>().join(","),
            );
        }
    }
    if !req.cache_from.is_empty() {
        a.insert(
            "cache-imports".to_owned(),
            cache_imports_json(&req.cache_from),
        );
    }
    for (name, value) in &req.build_contexts {
        // A directory here goes through the session under its own name (buildx does so),
        // as ContextSource::add_build_contexts shares it.
        let value = if is_local_build_context(value) {
            format!("local:{}", local_context_dir(name))
        } else {
            value.clone()
        };
        a.insert(format!("context:{name}"), value);
    }
    a
}

/// Attributes for how RUN steps execute and what they may reuse.
fn run_options(req: &BuildRequest) -> HashMap<String, String> {
    let mut a = HashMap::new();
    if req.no_cache {
        a.insert("no-cache".to_owned(), String::new());
    } else if !req.no_cache_filters.is_empty() {
        a.insert("no-cache".to_owned(), req.no_cache_filters.join(","));
    }
    if req.pull {
        a.insert("image-resolve-mode".to_owned(), "pull".to_owned());
    }
    if let Some(n) = req.network.as_deref().filter(|n| *n != "default") {
        a.insert("force-network-mode".to_owned(), n.to_owned());
    }
    if !req.add_hosts.is_empty() {
        let hosts: Vec<String> = req
            .add_hosts
            .iter()
            .map(|h| h.replacen(':', "=", 1))
            .collect();
        a.insert("add-hosts".to_owned(), hosts.join(","));
    }
    if let Some(s) = req.shm_size {
        a.insert("shm-size".to_owned(), s.to_string());
    }
    if !req.ulimits.is_empty() {
        a.insert("ulimit".to_owned(), req.ulimits.join(","));
    }
    if let Some(c) = &req.cgroup_parent {
        a.insert("cgroup-parent".to_owned(), c.clone());
    }
    a
}

/// Where an exporter's result lands on this side of the session (BuildKit sends it
/// through the session's FileSend service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputDestination {
    /// `outputs: type=tar|oci|docker,dest=PATH`: one tar file.
    File(PathBuf),
    /// `outputs: type=local,dest=DIR`: a directory tree.
    Directory(PathBuf),
    /// A `docker` tar for `load` with a BuildKit outside the daemon: loaded, then deleted.
    DaemonLoad,
}

/// Exporter types whose result is one tar stream.
pub const TAR_EXPORTERS: &[&str] = &["tar", "oci", "docker"];

pub fn output_destination(req: &BuildRequest, caps: &Capabilities) -> Option<OutputDestination> {
    match req.outputs.first() {
        Some(o) if TAR_EXPORTERS.contains(&o.kind.as_str()) => o
            .attrs
            .get("dest")
            .map(|d| OutputDestination::File(d.into())),
        Some(o) if o.kind == "local" => o
            .attrs
            .get("dest")
            .map(|d| OutputDestination::Directory(d.into())),
        Some(_) => None,
        None => (req.load && !caps.daemon_store).then_some(OutputDestination::DaemonLoad),
    }
}

/// The exporters: an explicit output; else the daemon's `moby` exporter for driver docker
/// (the image lands in the daemon's store, tagged); else `image` (pushing when asked) and
/// `docker` (for load). Driver checks keep outputs apart from load and push.
fn exporters(req: &BuildRequest, caps: &Capabilities) -> Vec<Exporter> {
    let mut named = HashMap::new();
    if !req.tags.is_empty() {
        named.insert("name".to_owned(), req.tags.join(","));
    }
    if let Some(o) = req.outputs.first() {
        let mut attrs: HashMap<String, String> = o
            .attrs
            .iter()
            .filter(|(k, _)| *k != "dest")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if o.kind != "tar" && o.kind != "local" {
            attrs.extend(named);
        }
        return vec![Exporter {
            r#type: o.kind.clone(),
            attrs,
        }];
    }
    if caps.daemon_store {
        return vec![Exporter {
            r#type: "moby".to_owned(),
            attrs: named,
        }];
    }
    let mut image = named.clone();
    annotate(&mut image, &req.annotations);
    let mut out = Vec::new();
    if req.push {
        image.insert("push".to_owned(), "true".to_owned());
        out.push(Exporter {
            r#type: "image".to_owned(),
            attrs: image.clone(),
        });
    }
    if req.load {
        out.push(Exporter {
            r#type: "docker".to_owned(),
            attrs: named,
        });
    }
    if out.is_empty() {
        out.push(Exporter {
            r#type: "image".to_owned(),
            attrs: image,
        });
    }
    out
}

/// `key=value` → `annotation.key`; `manifest:key=value` → `annotation-manifest.key`.
fn annotate(attrs: &mut HashMap<String, String>, annotations: &[String]) {
    for annotation in annotations {
        if let Some((key, value)) = annotation.split_once('=') {
            let name = match key.split_once(':') {
                Some((level, k)) => format!("annotation-{level}.{k}"),
                None => format!("annotation.{key}"),
            };
            attrs.insert(name, value.to_owned());
        }
    }
}

/// The Dockerfile frontend runs the cache import itself and reads the entries from this
/// attribute (BuildKit `client/solve.go` sets it; `SolveRequest.cache.imports` alone is not
/// enough for frontend solves).
fn cache_imports_json(entries: &[CacheEntry]) -> String {
    let list: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            let be = entry(e);
            serde_json::json!({ "Type": be.r#type, "Attrs": be.attrs })
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// One cache entry as BuildKit takes it; secret attributes are exposed only here.
pub fn entry(e: &CacheEntry) -> CacheOptionsEntry {
    let mut attrs: HashMap<String, String> = e
        .attrs
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in &e.secrets {
        attrs.insert(k.clone(), v.expose().to_owned());
    }
    CacheOptionsEntry {
        r#type: e.kind.as_str().to_owned(),
        attrs,
    }
}
