//! What the engine is asked to build: a plain, already validated description. The
//! `plan::BuildPlan` converts into this; nothing here parses user strings.

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use crate::plan::cache::{CacheOption, CacheType};
use crate::secret::{Secret, SecretBytes};

/// One build, fully decided.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// The context directory on this machine.
    pub context: PathBuf,
    /// A Git or HTTP context BuildKit fetches itself (then `context` is unused).
    pub remote_context: Option<String>,
    /// The Dockerfile; `None` means `<context>/Dockerfile`.
    pub dockerfile: Option<PathBuf>,
    pub target: Option<String>,
    /// Image names; the first is the primary one (pushed and reported).
    pub tags: Vec<String>,
    pub platforms: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Build secrets by id, served to BuildKit through the session, never on disk.
    pub secrets: BTreeMap<String, SecretBytes>,
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
    /// `key=value` or `manifest:key=value` image annotations.
    pub annotations: Vec<String>,
    /// `type=provenance,mode=max` style attestation requests.
    pub attests: Vec<String>,
    /// Provenance attributes to request when the BuildKit can attach attestations and the
    /// result is not loaded into the daemon (build-push-action's default).
    pub default_provenance: Option<String>,
    /// ssh-agent sockets by id (`default`, `git`), for `RUN --mount=type=ssh`.
    pub ssh: BTreeMap<String, PathBuf>,
    /// Entitlements (`network.host`, `security.insecure`).
    pub allow: Vec<String>,
    /// A frontend method other than `build` (`check`, `outline`, ...).
    pub call: Option<String>,
    pub cache_from: Vec<CacheOption>,
    pub cache_to: Vec<CacheOption>,
    /// Registry credentials by host (`127.0.0.1:5000`, `ghcr.io`).
    pub registry_auth: BTreeMap<String, RegistryAuth>,
    pub driver: DriverChoice,
    pub builder: BuilderSpec,
}

/// An exporter besides load/push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub kind: String,
    pub attrs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryAuth {
    pub username: String,
    pub password: Secret,
}

/// Which BuildKit to use (the `driver` input; README, Inputs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DriverChoice {
    #[default]
    Auto,
    Docker,
    DockerContainer,
    Remote {
        endpoint: String,
    },
}

/// The BuildKit container of the `docker-container` driver (also what `auto` falls back to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderSpec {
    pub image: String,
    /// Later steps of the job find the container again under this name.
    pub name: String,
    /// `driver-opts`, `buildkitd-config-inline`, `buildkitd-flags`.
    pub options: crate::plan::BuilderOptions,
}

impl Default for BuilderSpec {
    fn default() -> Self {
        Self {
            image: crate::action::names::DEFAULT_BUILDER_IMAGE.to_owned(),
            name: "layercache-builder".to_owned(),
            options: Default::default(),
        }
    }
}
