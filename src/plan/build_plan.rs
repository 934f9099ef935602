//! The validated, typed build. Nothing after this point parses strings.

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use super::attest::{Attest, AttestKind};
pub use super::builder::BuilderOptions;
use super::cache::{CacheOption, SkippedEntry};
use super::image::{ImageRef, Platform};
use crate::secret::Secret;

/// Where the build context comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildContext {
    /// A directory on this machine.
    Local(PathBuf),
    /// A URL BuildKit fetches itself (Git repository or tarball; the repository's Git
    /// context by default in the action, `plan::git_auth::default_context`).
    Remote(String),
}

/// Which BuildKit builds (the `driver` input).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DriverChoice {
    /// Probe the daemon; take `docker` when it can honour every cache entry, else the
    /// builder container.
    #[default]
    Auto,
    /// The daemon's own BuildKit.
    Docker,
    /// A BuildKit container made from [`BuilderSpec`], reused by name.
    DockerContainer,
    /// A BuildKit daemon at `tcp://` or `unix://`.
    Remote { endpoint: String },
}

/// The BuildKit container of the `docker-container` driver (also what `auto` falls back to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderSpec {
    /// `builder-image`, or `driver-opts: image=`.
    pub image: String,
    /// Later steps of the job find the container again under this name (`builder`).
    pub name: String,
    /// `driver-opts`, `buildkitd-config-inline`, `buildkitd-flags`.
    pub options: BuilderOptions,
}

/// The builder container's name when the `builder` input names none.
pub const DEFAULT_BUILDER_NAME: &str = "layercache-builder";

impl Default for BuilderSpec {
    fn default() -> Self {
        Self {
            image: crate::action::names::DEFAULT_BUILDER_IMAGE.to_owned(),
            name: DEFAULT_BUILDER_NAME.to_owned(),
            options: BuilderOptions::default(),
        }
    }
}

/// Where a build secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Value(Secret),
    Env(String),
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSecret {
    pub id: String,
    pub source: SecretSource,
}

/// An exporter: `type=docker|oci|local|tar|image|registry` with its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub kind: OutputType,
    pub attrs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputType {
    Docker,
    Oci,
    Local,
    Tar,
    Image,
    Registry,
    /// No exporter: opts out of the default one (buildx's `type=cacheonly`).
    CacheOnly,
}

impl OutputType {
    pub const ALL: &[OutputType] = &[
        Self::Docker,
        Self::Oci,
        Self::Local,
        Self::Tar,
        Self::Image,
        Self::Registry,
        Self::CacheOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Oci => "oci",
            Self::Local => "local",
            Self::Tar => "tar",
            Self::Image => "image",
            Self::Registry => "registry",
            Self::CacheOnly => "cacheonly",
        }
    }
}

/// An image annotation: `key=value`, or `level:key=value` for another level
/// (`manifest`, `index`, `manifest[linux/amd64]`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub level: Option<String>,
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// `network` for RUN instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    Default,
    None,
    Host,
}

/// The whole build, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPlan {
    pub context: BuildContext,
    /// The Dockerfile, as a path (relative paths are relative to the working directory).
    pub dockerfile: PathBuf,
    pub target: Option<String>,
    pub tags: Vec<ImageRef>,
    pub platforms: Vec<Platform>,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: Vec<Annotation>,
    pub secrets: Vec<BuildSecret>,
    /// Inputs that were left out with a reason, shown as warnings (a secret whose
    /// variable is unset, as build-push-action does).
    pub warnings: Vec<String>,
    /// ssh-agent sockets by id.
    pub ssh: BTreeMap<String, std::path::PathBuf>,
    pub network: NetworkMode,
    pub add_hosts: Vec<(String, String)>,
    pub no_cache: bool,
    pub no_cache_filters: Vec<String>,
    pub pull: bool,
    pub shm_size: Option<u64>,
    pub ulimits: Vec<Ulimit>,
    pub cgroup_parent: Option<String>,
    pub build_contexts: BTreeMap<String, String>,
    pub allow: Vec<String>,
    pub call: Option<String>,
    /// `call: check,format=json`: show the frontend's JSON answer instead of its text.
    pub call_json: bool,
    /// `call: check,ignorestatus=true`: a check that flags something does not fail the step.
    pub call_ignore_status: bool,
    /// `attests` entries plus the `provenance`/`sbom` shorthands.
    pub attests: Vec<Attest>,
    /// buildx's default provenance request (`mode=min`, ...) when the user chose none;
    /// used where the BuildKit can attach attestations.
    pub provenance_default: Option<Attest>,
    pub outputs: Vec<Output>,
    /// Convenience flags the outputs were derived from.
    pub load: bool,
    pub push: bool,
    pub cache_from: Vec<CacheOption>,
    pub cache_to: Vec<CacheOption>,
    /// `gha` entries left out, and why (shown as warnings or notices).
    pub cache_skipped: Vec<SkippedEntry>,
    /// The scope `gha` entries use when they name none.
    pub scope: String,
    pub driver: DriverChoice,
    /// How the `docker-container` driver creates its BuildKit container.
    pub builder: BuilderSpec,
    /// Token for the GitHub API (cache housekeeping, `ghtoken`), if given.
    pub github_token: Option<Secret>,
    pub expose_runtime: bool,
    /// Warn about Dockerfile patterns that throw cache away.
    pub cache_advice: bool,
    /// Housekeeping after the build.
    pub cache_prune: CachePrune,
    /// `RUN --mount=type=cache` contents kept in the gha cache.
    pub cache_mounts: CacheMounts,
}

/// `cache-mounts*` inputs. Whether mounts are kept also needs a `gha` export: see
/// `cache_mounts::wanted`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheMounts {
    pub enabled: bool,
    /// The `scope` input, else the derived scope without build-args. A `gha` export's own
    /// `scope=` wins over both.
    pub scope: String,
    /// Mount ids not to keep.
    pub exclude: Vec<String>,
    /// Compressed bytes, per mount and for all mounts of one build.
    pub max_size: u64,
    pub total_size: u64,
}

/// `cache-prune`: what housekeeping runs after a build that exported `gha` cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePrune {
    Off,
    /// Delete superseded index entries of this build's scopes, keeping the newest `keep`.
    Indexes {
        keep: u16,
    },
    /// Also delete layer blobs no live index references.
    Orphans {
        keep: u16,
    },
}

impl BuildPlan {
    /// A plan with nothing but a local context: `<dir>/Dockerfile`, driver `auto`, no
    /// tags, outputs, cache entries or attestations. A start for builds that have no action
    /// inputs (benchmarks, tests), which then set what they need.
    pub fn local(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            dockerfile: dir.join("Dockerfile"),
            context: BuildContext::Local(dir),
            target: None,
            tags: Vec::new(),
            platforms: Vec::new(),
            build_args: BTreeMap::new(),
            labels: BTreeMap::new(),
            annotations: Vec::new(),
            secrets: Vec::new(),
            warnings: Vec::new(),
            ssh: BTreeMap::new(),
            network: NetworkMode::Default,
            add_hosts: Vec::new(),
            no_cache: false,
            no_cache_filters: Vec::new(),
            pull: false,
            shm_size: None,
            ulimits: Vec::new(),
            cgroup_parent: None,
            build_contexts: BTreeMap::new(),
            allow: Vec::new(),
            call: None,
            call_json: false,
            call_ignore_status: false,
            attests: Vec::new(),
            provenance_default: None,
            outputs: Vec::new(),
            load: false,
            push: false,
            cache_from: Vec::new(),
            cache_to: Vec::new(),
            cache_skipped: Vec::new(),
            scope: "buildkit".to_owned(),
            driver: DriverChoice::Auto,
            builder: BuilderSpec::default(),
            github_token: None,
            expose_runtime: false,
            cache_advice: false,
            cache_prune: CachePrune::Off,
            cache_mounts: CacheMounts {
                enabled: false,
                scope: "buildkit".to_owned(),
                exclude: Vec::new(),
                max_size: 0,
                total_size: 0,
            },
        }
    }
}
