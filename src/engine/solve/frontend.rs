//! The solve request, built once for every driver: Dockerfile frontend attributes
//! (names as buildx sends them, `build/opt.go`), the exporter and the cache entries.
//! The single-exporter fields are the deprecated ones on purpose: BuildKit 0.8 (Engine
//! 20.10) knows only those, and newer BuildKit still honours them.

use std::collections::HashMap;

use std::path::PathBuf;

use bollard::moby::buildkit::v1::{CacheOptions, CacheOptionsEntry, Exporter, SolveRequest};

use super::context::{is_local_build_context, local_context_dir};
use crate::engine::builder::driver::Capabilities;
use crate::plan::{
    Annotation, Attest, AttestKind, BUILDX_DEFAULT_PROVENANCE, BuildPlan, CacheOption, NetworkMode,
    Output, OutputType, pushes, pushes_by_digest,
};

/// Inputs that are not part of the request itself.
pub struct SolveInputs<'a> {
    pub build_ref: &'a str,
    pub session_id: &'a str,
    /// A Git or HTTP context; `None` means the local `context` directory of the session.
    pub remote_context: Option<&'a str>,
    pub dockerfile_name: &'a str,
}

pub fn solve_request(
    req: &BuildPlan,
    caps: &Capabilities,
    inputs: &SolveInputs<'_>,
) -> SolveRequest {
    let mut entitlements = req.allow.clone();
    if req.network == NetworkMode::Host && !entitlements.iter().any(|e| e == "network.host") {
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
    let mut frontend_attrs = frontend_attrs(req, inputs);
    if let Some(value) = default_provenance(req, caps) {
        frontend_attrs.insert("attest:provenance".to_owned(), value);
    }
    SolveRequest {
        r#ref: inputs.build_ref.to_owned(),
        session: inputs.session_id.to_owned(),
        frontend: "dockerfile.v0".to_owned(),
        frontend_attrs,
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

/// The default provenance (see `plan::attest`): build-push-action's request where the
/// result is not loaded into the daemon, buildx's own `mode=min,inline-only=true` where it
/// is; only where the BuildKit can attach attestations, and not for `call` other than build.
fn default_provenance(req: &BuildPlan, caps: &Capabilities) -> Option<String> {
    let docker_exporter = req.load || req.outputs.iter().any(|o| o.kind == OutputType::Docker);
    let asked = req.attests.iter().any(|a| a.kind == AttestKind::Provenance);
    if !caps.attestations || asked || req.call.is_some() {
        return None;
    }
    let action_default = req.provenance_default.as_ref()?;
    match docker_exporter {
        true => Some(BUILDX_DEFAULT_PROVENANCE.to_owned()),
        false => action_default.frontend_value(),
    }
}

/// `type=provenance,mode=max` → `attest:provenance` = `type=provenance,mode=max`, as buildx
/// sends it; a disabled one sends nothing.
fn insert_attest(attrs: &mut HashMap<String, String>, attest: &Attest) {
    if let Some(value) = attest.frontend_value() {
        attrs.insert(format!("attest:{}", attest.kind.as_str()), value);
    }
}

/// The frontend attributes for `req`.
pub fn frontend_attrs(req: &BuildPlan, inputs: &SolveInputs<'_>) -> HashMap<String, String> {
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
        a.insert("platform".to_owned(), comma_list(&req.platforms));
    }
    a.extend(run_options(req));
    for attest in &req.attests {
        insert_attest(&mut a, attest);
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
fn run_options(req: &BuildPlan) -> HashMap<String, String> {
    let mut a = HashMap::new();
    if req.no_cache {
        a.insert("no-cache".to_owned(), String::new());
    } else if !req.no_cache_filters.is_empty() {
        a.insert("no-cache".to_owned(), req.no_cache_filters.join(","));
    }
    if req.pull {
        a.insert("image-resolve-mode".to_owned(), "pull".to_owned());
    }
    match req.network {
        NetworkMode::Default => {}
        NetworkMode::None => {
            a.insert("force-network-mode".to_owned(), "none".to_owned());
        }
        NetworkMode::Host => {
            a.insert("force-network-mode".to_owned(), "host".to_owned());
        }
    }
    if !req.add_hosts.is_empty() {
        let hosts: Vec<String> = req
            .add_hosts
            .iter()
            .map(|(host, ip)| format!("{host}={ip}"))
            .collect();
        a.insert("add-hosts".to_owned(), hosts.join(","));
    }
    if let Some(s) = req.shm_size {
        a.insert("shm-size".to_owned(), s.to_string());
    }
    if !req.ulimits.is_empty() {
        let limits: Vec<String> = req
            .ulimits
            .iter()
            .map(|u| format!("{}={}:{}", u.name, u.soft, u.hard))
            .collect();
        a.insert("ulimit".to_owned(), limits.join(","));
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
pub const TAR_EXPORTERS: &[OutputType] = &[OutputType::Tar, OutputType::Oci, OutputType::Docker];

/// Where the first exporter that sends its result here delivers it.
pub fn output_destination(req: &BuildPlan, caps: &Capabilities) -> Option<OutputDestination> {
    output_destinations(req, caps)
        .into_iter()
        .next()
        .map(|(_, d)| d)
}

/// Every exporter that sends its result here, by its index in the solve's exporter list
/// (the index BuildKit names when it opens the FileSend stream).
pub fn output_destinations(
    req: &BuildPlan,
    caps: &Capabilities,
) -> Vec<(usize, OutputDestination)> {
    if req.call.is_some() {
        return Vec::new(); // a question to the frontend exports nothing
    }
    exporter_plan(req, caps)
        .into_iter()
        .enumerate()
        .filter_map(|(i, (_, d))| d.map(|d| (i, d)))
        .collect()
}

fn exporters(req: &BuildPlan, caps: &Capabilities) -> Vec<Exporter> {
    exporter_plan(req, caps)
        .into_iter()
        .map(|(e, _)| e)
        .collect()
}

/// The exporters and where each delivers, as buildx sets them up (`toSolveOpt`): every
/// `outputs` entry with all its attributes (`image` becomes the daemon's `moby` exporter on
/// driver docker; `cacheonly` exports nothing); an image exporter that pushes when `push`
/// is set and none does; for `load`, the daemon's store itself (driver docker) or a
/// `docker` tar loaded afterwards; with nothing asked (and no `cacheonly`), the result is
/// kept in the daemon's store or BuildKit's. Driver checks keep the daemon's old BuildKit
/// to one exporter.
fn exporter_plan(
    req: &BuildPlan,
    caps: &Capabilities,
) -> Vec<(Exporter, Option<OutputDestination>)> {
    let mut named = HashMap::new();
    if !req.tags.is_empty() {
        named.insert("name".to_owned(), comma_list(&req.tags));
    }
    let image_type = if caps.daemon_store { "moby" } else { "image" };
    let mut out: Vec<_> = req
        .outputs
        .iter()
        .filter(|o| o.kind != OutputType::CacheOnly)
        .map(|o| {
            let mut e = output_exporter(o);
            if matches!(
                o.kind,
                OutputType::Image | OutputType::Oci | OutputType::Docker
            ) {
                annotate(&mut e.attrs, &req.annotations);
            }
            if o.kind == OutputType::Image && !needs_own_image_exporter(o, caps) {
                e.r#type = image_type.to_owned();
            }
            (e, output_target(o))
        })
        .collect();
    let mut image = named.clone();
    annotate(&mut image, &req.annotations);
    if req.push && !req.outputs.iter().any(pushes) {
        let mut attrs = image.clone();
        attrs.insert("push".to_owned(), "true".to_owned());
        out.push((exporter(image_type, attrs), None));
    }
    let cache_only = req.outputs.iter().any(|o| o.kind == OutputType::CacheOnly);
    let in_store = out.iter().any(|(e, _)| e.r#type == "moby");
    if req.load && caps.daemon_store && !in_store {
        out.push((exporter("moby", image.clone()), None));
    } else if req.load && !caps.daemon_store {
        out.push((
            exporter("docker", named),
            Some(OutputDestination::DaemonLoad),
        ));
    }
    if out.is_empty() && !cache_only {
        out.push((exporter(image_type, image), None));
    }
    if prefers_image_digest(caps) {
        for (e, _) in out.iter_mut().filter(|(e, _)| e.r#type == "moby") {
            e.attrs
                .insert("prefer-image-digest".to_owned(), "true".to_owned());
        }
    }
    out
}

/// The daemon's `moby` exporter tags and unpacks what it stores, so it can neither push by
/// digest nor rewrite timestamps (buildx fails both on driver docker); a daemon whose
/// BuildKit pushes itself (containerd image store) has BuildKit's own `image` exporter,
/// which can, for what is pushed.
fn needs_own_image_exporter(o: &Output, caps: &Capabilities) -> bool {
    let set = |k: &str| o.attrs.get(k).is_some_and(|v| v == "true");
    caps.daemon_store
        && caps.direct_push()
        && pushes(o)
        && (pushes_by_digest(o) || set("rewrite-timestamp"))
}

/// buildx's docker driver feature `PreferImageDigest` (the containerd image store): the
/// image is known by its manifest or index digest, not its config digest.
fn prefers_image_digest(caps: &Capabilities) -> bool {
    caps.daemon_store && caps.direct_push()
}

fn exporter(kind: &str, attrs: HashMap<String, String>) -> Exporter {
    Exporter {
        r#type: kind.to_owned(),
        attrs,
    }
}

/// Values joined with commas, as BuildKit's list attributes take them.
fn comma_list<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// An `outputs` entry as an exporter: every attribute but `dest`, which stays here (the
/// plan already named image exporters after the tags).
fn output_exporter(o: &Output) -> Exporter {
    let attrs: HashMap<String, String> = o
        .attrs
        .iter()
        .filter(|(k, _)| *k != "dest")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    exporter(o.kind.as_str(), attrs)
}

fn output_target(o: &Output) -> Option<OutputDestination> {
    let dest = o.attrs.get("dest")?;
    let tar = o.attrs.get("tar").is_none_or(|t| t != "false");
    match o.kind {
        OutputType::Local => Some(OutputDestination::Directory(dest.into())),
        OutputType::Oci | OutputType::Docker if !tar => {
            Some(OutputDestination::Directory(dest.into()))
        }
        k if TAR_EXPORTERS.contains(&k) => Some(OutputDestination::File(dest.into())),
        _ => None,
    }
}

/// `key=value` → `annotation.key`; `manifest:key=value` → `annotation-manifest.key`.
fn annotate(attrs: &mut HashMap<String, String>, annotations: &[Annotation]) {
    for a in annotations {
        let name = match &a.level {
            Some(level) => format!("annotation-{level}.{}", a.key),
            None => format!("annotation.{}", a.key),
        };
        attrs.insert(name, a.value.clone());
    }
}

/// The Dockerfile frontend runs the cache import itself and reads the entries from this
/// attribute (BuildKit `client/solve.go` sets it; `SolveRequest.cache.imports` alone is not
/// enough for frontend solves).
fn cache_imports_json(entries: &[CacheOption]) -> String {
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
pub fn entry(e: &CacheOption) -> CacheOptionsEntry {
    let mut attrs: HashMap<String, String> = e
        .attrs
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in &e.secrets {
        attrs.insert(k.clone(), v.expose().to_owned());
    }
    for (k, v) in e.service_attrs() {
        attrs.insert(k.to_owned(), v);
    }
    if let Some(service) = &e.service {
        attrs.insert("token".to_owned(), service.token.expose().to_owned());
    }
    CacheOptionsEntry {
        r#type: e.kind.as_str().to_owned(),
        attrs,
    }
}
