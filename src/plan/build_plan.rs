//! The validated, typed build. Nothing after this point parses strings.

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use super::builder::BuilderOptions;
use super::cache::{CacheOption, SkippedEntry};
use super::image::{ImageRef, Platform};
use crate::secret::Secret;

/// Where the build context comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildContext {
    /// A directory on this machine (the workspace by default).
    Local(PathBuf),
    /// A URL BuildKit fetches itself (Git repository or tarball).
    Remote(String),
}

/// Which BuildKit builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverChoice {
    /// Probe the daemon; take `docker` when it can honour every cache entry.
    Auto {
        builder_image: String,
        builder_name: Option<String>,
    },
    /// The daemon's own BuildKit.
    Docker,
    /// A BuildKit container created from `builder-image`, reused by name.
    DockerContainer {
        builder_image: String,
        builder_name: Option<String>,
    },
    /// A BuildKit daemon at `tcp://` or `unix://`.
    Remote { endpoint: String },
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
}

impl OutputType {
    pub const ALL: &[OutputType] = &[
        Self::Docker,
        Self::Oci,
        Self::Local,
        Self::Tar,
        Self::Image,
        Self::Registry,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Oci => "oci",
            Self::Local => "local",
            Self::Tar => "tar",
            Self::Image => "image",
            Self::Registry => "registry",
        }
    }
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
    pub annotations: Vec<String>,
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
    /// `attests` entries plus `provenance`/`sbom` shorthands, as `type=...` entries.
    pub attests: Vec<String>,
    /// buildx's default provenance attributes (`mode=min`, ...) when the user chose none;
    /// used where the BuildKit can attach attestations.
    pub provenance_default: Option<String>,
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
    pub builder: BuilderOptions,
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
