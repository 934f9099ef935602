//! Driver choice: which BuildKit runs the solve and what it can honour. `auto` asks the
//! daemon (`/info`, `/version`) and keeps `docker` only when every requested cache entry and
//! output works there; an explicit choice that cannot do what was asked is an error naming
//! the driver that could.

use bollard::Docker;

use crate::engine::error::EngineError;
use crate::plan::{BuildPlan, CacheType, DriverChoice, OutputType};

/// What a daemon told us about its builder.
#[derive(Debug, Clone, Default)]
pub struct DaemonFacts {
    /// The daemon stores images in containerd (`driver-type io.containerd.snapshotter.v1`).
    pub containerd_store: bool,
    /// Engine major version (20 for Debian's 20.10).
    pub engine_major: u32,
    pub engine_version: String,
    /// A rootless daemon: its BuildKit runs in a network namespace of its own.
    pub rootless: bool,
}

impl DaemonFacts {
    pub async fn probe(docker: &Docker) -> Result<Self, bollard::errors::Error> {
        let info = docker.info().await?;
        let containerd_store = info.driver_status.unwrap_or_default().iter().any(|pair| {
            pair.first().is_some_and(|k| k == "driver-type")
                && pair
                    .get(1)
                    .is_some_and(|v| v == "io.containerd.snapshotter.v1")
        });
        let rootless = info
            .security_options
            .unwrap_or_default()
            .iter()
            .any(|o| o.contains("name=rootless"));
        let engine_version = info.server_version.unwrap_or_default();
        let engine_major = engine_version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        Ok(Self {
            containerd_store,
            engine_major,
            engine_version,
            rootless,
        })
    }
}

/// What the chosen BuildKit can do, as far as layercache uses it.
#[derive(Debug, Clone)]
pub struct Capabilities {
    pub driver: &'static str,
    pub cache_import: Vec<CacheType>,
    pub cache_export: Vec<CacheType>,
    /// Old BuildKit (Engine < 23) accepts a single cache export.
    pub max_cache_exports: usize,
    /// Results land in the daemon's image store (moby exporter) and are pushed by it.
    pub daemon_store: bool,
    /// BuildKit runs in a network namespace of its own (a rootless daemon's), where this
    /// machine's loopback and bridges are out of reach.
    pub own_network: bool,
    pub multi_platform: bool,
    pub named_contexts: bool,
    pub attestations: bool,
    /// `call` methods besides build (frontend subrequests) this BuildKit's frontend answers.
    pub call_methods: &'static [&'static str],
}

/// Every `call` method: `outline`/`targets` came with BuildKit 0.11 (Engine 23), `check`
/// with the Dockerfile frontend 1.8 in BuildKit 0.15 (Engine 27).
const CALLS_ALL: &[&str] = &["check", "outline", "targets"];
const CALLS_011: &[&str] = &["outline", "targets"];

fn call_methods(engine_major: u32) -> &'static [&'static str] {
    match engine_major {
        27.. => CALLS_ALL,
        23.. => CALLS_011,
        _ => &[],
    }
}

/// The BuildKit a `call` method needs, for the error.
fn call_needs(call: &str) -> &'static str {
    match call {
        "check" => "BuildKit 0.15 (Docker Engine 27)",
        _ => "BuildKit 0.11 (Docker Engine 23)",
    }
}

const ALL_CACHES: &[CacheType] = &[
    CacheType::Registry,
    CacheType::Inline,
    CacheType::Local,
    CacheType::Gha,
    CacheType::S3,
    CacheType::Azblob,
];

impl Capabilities {
    pub fn docker(facts: &DaemonFacts) -> Self {
        let modern = facts.engine_major >= 23;
        if facts.containerd_store {
            // moby daemon/internal/builder-next/controller.go, newSnapshotterController.
            Self {
                driver: "docker",
                cache_import: vec![CacheType::Registry, CacheType::Local, CacheType::Gha],
                cache_export: vec![
                    CacheType::Inline,
                    CacheType::Registry,
                    CacheType::Local,
                    CacheType::Gha,
                ],
                max_cache_exports: if modern { usize::MAX } else { 1 },
                daemon_store: true,
                own_network: facts.rootless,
                multi_platform: true,
                named_contexts: modern,
                attestations: modern,
                call_methods: call_methods(facts.engine_major),
            }
        } else {
            // newGraphDriverController: registry/local import, inline export only.
            Self {
                driver: "docker",
                cache_import: vec![CacheType::Registry, CacheType::Local],
                cache_export: vec![CacheType::Inline],
                max_cache_exports: if modern { usize::MAX } else { 1 },
                daemon_store: true,
                own_network: facts.rootless,
                multi_platform: false,
                named_contexts: modern,
                attestations: false,
                call_methods: call_methods(facts.engine_major),
            }
        }
    }

    /// A standalone BuildKit (`remote`, `docker-container`).
    pub fn standalone(driver: &'static str) -> Self {
        Self {
            driver,
            cache_import: ALL_CACHES.to_vec(),
            cache_export: ALL_CACHES.to_vec(),
            max_cache_exports: usize::MAX,
            daemon_store: false,
            own_network: false,
            multi_platform: true,
            named_contexts: true,
            attestations: true,
            call_methods: CALLS_ALL,
        }
    }

    /// Every reason this BuildKit cannot run `req` as asked (empty: it can).
    pub fn gaps(&self, req: &BuildPlan) -> Vec<String> {
        let mut gaps = self.cache_gaps(req);
        gaps.extend(self.feature_gaps(req));
        gaps.extend(self.output_gaps(req));
        gaps
    }

    fn cache_gaps(&self, req: &BuildPlan) -> Vec<String> {
        let mut gaps = Vec::new();
        for e in &req.cache_from {
            if !self.cache_import.contains(&e.kind) {
                gaps.push(format!(
                    "cache-from type={} is not supported{}",
                    e.kind.as_str(),
                    cache_needs(e.kind)
                ));
            }
        }
        for e in &req.cache_to {
            if !self.cache_export.contains(&e.kind) {
                gaps.push(format!(
                    "cache-to type={} is not supported{}",
                    e.kind.as_str(),
                    cache_needs(e.kind)
                ));
            }
        }
        if req.cache_to.len() > self.max_cache_exports {
            gaps.push(format!(
                "{} cache-to entries given, this BuildKit takes one",
                req.cache_to.len()
            ));
        }
        gaps
    }

    fn feature_gaps(&self, req: &BuildPlan) -> Vec<String> {
        let mut gaps = Vec::new();
        if req.platforms.len() > 1 && !self.multi_platform {
            gaps.push("several platforms need the containerd image store".to_owned());
        }
        if !req.build_contexts.is_empty() && !self.named_contexts {
            gaps.push("build-contexts need BuildKit 0.10 or newer".to_owned());
        }
        if let Some(call) = req.call.as_deref().filter(|c| *c != "build")
            && !self.call_methods.contains(&call)
        {
            gaps.push(format!("call {call} needs {} or newer", call_needs(call)));
        }
        if !req.attests.is_empty() && !self.attestations {
            gaps.push(
                "attestations (provenance, sbom) need BuildKit 0.11 and an OCI-capable store"
                    .to_owned(),
            );
        }
        if !req.annotations.is_empty() && self.daemon_store {
            gaps.push(
                "annotations need an exporter that writes manifests (not the daemon's image store)"
                    .to_owned(),
            );
        }
        gaps
    }
}

impl Capabilities {
    /// Which exporters this BuildKit has besides the image one: Engine 20.10's graphdriver
    /// store knows only `moby`, `local` and `tar` (moby `builder-next/worker`).
    fn exporters(&self) -> &'static [OutputType] {
        use OutputType::{Docker, Local, Oci, Tar};
        match (self.daemon_store, self.multi_platform) {
            (true, false) => &[Tar, Local],
            _ => &[Tar, Local, Oci, Docker],
        }
    }

    /// Whether the image exporter pushes by itself: any BuildKit but the daemon's on a
    /// graphdriver store, whose images the daemon pushes after the build (buildx's docker
    /// driver feature `DirectPush` is the containerd image store).
    pub fn direct_push(&self) -> bool {
        !self.daemon_store || self.multi_platform
    }

    fn output_gaps(&self, req: &BuildPlan) -> Vec<String> {
        let mut gaps = Vec::new();
        let files: Vec<_> = req
            .outputs
            .iter()
            .filter(|o| !matches!(o.kind, OutputType::Image | OutputType::CacheOnly))
            .collect();
        let images = req.outputs.iter().any(|o| o.kind == OutputType::Image);
        if files.len() > 1 && self.daemon_store {
            gaps.push(
                "one entry in outputs at a time (several need BuildKit 0.13 or newer)".to_owned(),
            );
        }
        for o in &files {
            if !self.exporters().contains(&o.kind) {
                gaps.push(format!("outputs type={} is not supported", o.kind.as_str()));
            } else if !o.attrs.contains_key("dest") {
                gaps.push(format!("outputs type={} needs dest=PATH", o.kind.as_str()));
            }
        }
        if !files.is_empty() && (req.load || req.push || images) && self.daemon_store {
            gaps.push("outputs combined with load or push need BuildKit 0.13 or newer".to_owned());
        }
        if !self.direct_push() && req.outputs.iter().any(crate::plan::pushes_by_digest) {
            gaps.push(
                "push-by-digest (the daemon pushes a graphdriver store's images by tag)".to_owned(),
            );
        }
        gaps
    }
}

/// The BuildKit a cache backend needs, for the error (the daemon's graphdriver store has
/// none of these backends whatever its version).
fn cache_needs(kind: CacheType) -> &'static str {
    match kind {
        // GitHub's cache service v2 arrived in BuildKit 0.20.
        CacheType::Gha => " (needs BuildKit 0.20 or newer outside the daemon's image store)",
        CacheType::Local => " (needs a BuildKit outside the daemon's graphdriver store)",
        CacheType::S3 | CacheType::Azblob => {
            " (needs BuildKit 0.11 or newer outside the daemon's image store)"
        }
        _ => "",
    }
}

/// Pick the driver for `req` (see the module doc).
pub fn choose(req: &BuildPlan, facts: &DaemonFacts) -> Result<Capabilities, EngineError> {
    let docker = Capabilities::docker(facts);
    match &req.driver {
        DriverChoice::Auto => {
            if docker.gaps(req).is_empty() {
                return Ok(docker);
            }
            // The daemon's BuildKit cannot do it: a BuildKit container can, if it can do
            // everything else that was asked.
            let container = Capabilities::standalone("docker-container");
            match container.gaps(req).is_empty() {
                true => Ok(container),
                false => Err(container_unavailable(&docker, req)),
            }
        }
        DriverChoice::Docker => match unsupported("docker", &docker, req) {
            Some(err) => Err(err),
            None => Ok(docker),
        },
        DriverChoice::Remote { .. } => {
            let caps = Capabilities::standalone("remote");
            unsupported("remote", &caps, req).map_or(Ok(caps), Err)
        }
        DriverChoice::DockerContainer => {
            let caps = Capabilities::standalone("docker-container");
            unsupported("docker-container", &caps, req).map_or(Ok(caps), Err)
        }
    }
}

fn unsupported(driver: &'static str, caps: &Capabilities, req: &BuildPlan) -> Option<EngineError> {
    let gaps = caps.gaps(req);
    if gaps.is_empty() {
        return None;
    }
    let hint = if caps.daemon_store {
        "driver docker-container or remote can (or a daemon with the containerd image store)"
    } else {
        "driver docker can load into the daemon; push or use outputs with this driver"
    };
    Some(EngineError::Unsupported {
        driver,
        what: gaps.join(", "),
        hint: hint.to_owned(),
    })
}

/// `auto` needed more than the daemon's BuildKit offers; the container driver is the
/// answer, which needs a BuildKit image this machine can start.
fn container_unavailable(docker: &Capabilities, req: &BuildPlan) -> EngineError {
    EngineError::Unsupported {
        driver: "docker",
        what: docker.gaps(req).join(", "),
        hint: "driver docker-container (a BuildKit container) or remote (a buildkitd address) can"
            .to_owned(),
    }
}
