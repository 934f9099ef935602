//! What the engine is asked to build: a plain, already validated description. The lead's
//! `plan::BuildPlan` converts into this; nothing here parses user strings.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::secret::Secret;

/// One build, fully decided.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// The context directory on this machine.
    pub context: PathBuf,
    /// The Dockerfile; `None` means `<context>/Dockerfile`.
    pub dockerfile: Option<PathBuf>,
    pub target: Option<String>,
    /// Image names; the first is the primary one (pushed and reported).
    pub tags: Vec<String>,
    pub platforms: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Build secrets by id, served to BuildKit through the session, never on disk.
    pub secrets: BTreeMap<String, Secret>,
    /// `default`, `none` or `host`.
    pub network: Option<String>,
    /// `host:ip` entries.
    pub add_hosts: Vec<String>,
    pub no_cache: bool,
    /// Stage names to rebuild without cache.
    pub no_cache_filters: Vec<String>,
    pub pull: bool,
    pub shm_size: Option<u64>,
    /// `name=soft[:hard]` entries.
    pub ulimits: Vec<String>,
    /// Named contexts (`name` → directory or image reference).
    pub build_contexts: BTreeMap<String, String>,
    pub cgroup_parent: Option<String>,
    /// Load the result into the daemon's image store.
    pub load: bool,
    /// Push every tag after the build.
    pub push: bool,
    /// Other exporters (`type=local,dest=...` and friends), as type plus attributes.
    pub outputs: Vec<Output>,
    pub cache_from: Vec<CacheEntry>,
    pub cache_to: Vec<CacheEntry>,
    /// Registry credentials by host (`127.0.0.1:5000`, `ghcr.io`).
    pub registry_auth: BTreeMap<String, RegistryAuth>,
    pub driver: DriverChoice,
}

/// An exporter besides load/push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub kind: String,
    pub attrs: BTreeMap<String, String>,
}

/// A `cache-from` or `cache-to` entry. Secret attributes (`token`, `ghtoken`, S3 keys) are
/// kept apart so a debug print of the entry cannot leak them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CacheEntry {
    pub kind: CacheKind,
    pub attrs: BTreeMap<String, String>,
    pub secret_attrs: BTreeMap<String, Secret>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheKind {
    #[default]
    Registry,
    Inline,
    Local,
    Gha,
    S3,
    Azblob,
}

impl CacheKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registry => "registry",
            Self::Inline => "inline",
            Self::Local => "local",
            Self::Gha => "gha",
            Self::S3 => "s3",
            Self::Azblob => "azblob",
        }
    }
}

impl CacheEntry {
    /// Whether a failed export of this entry must not fail the build.
    pub fn ignore_error(&self) -> bool {
        self.attrs.get("ignore-error").is_some_and(|v| v == "true")
    }

    /// How the entry appears in logs and reports: type and non-secret attributes.
    pub fn describe(&self) -> String {
        let mut s = format!("type={}", self.kind.as_str());
        for (k, v) in &self.attrs {
            s.push_str(&format!(",{k}={v}"));
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryAuth {
    pub username: String,
    pub password: Secret,
}

/// Which BuildKit to use (DESIGN.md, Drivers).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DriverChoice {
    #[default]
    Auto,
    Docker,
    DockerContainer {
        image: String,
        name: String,
        security_opts: Vec<String>,
    },
    Remote {
        endpoint: String,
    },
}
