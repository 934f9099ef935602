//! Every name the action shares with the outside world, in one table: the inputs declared
//! in `action.yml` (with their defaults and how they split), the outputs, and the
//! environment variables read from the runner. A test checks this table against
//! `action.yml` and the README.

/// How an input's raw string becomes values (build-push-action's `getInputList` rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A single string, used as given.
    Text,
    /// `true` or `false`, in any case.
    Bool,
    /// One entry per line (commas stay inside an entry).
    List,
    /// One entry per line or per comma (quotes keep commas inside an entry).
    ListCsv,
    /// One entry per line, quotes kept as written for buildx to read (`outputs`).
    ListVerbatim,
    /// One entry per line, not trimmed: a secret keeps its whitespace (`secrets`).
    ListUntrimmed,
}

/// An input declared in `action.yml`.
#[derive(Debug, Clone, Copy)]
pub struct InputSpec {
    pub name: &'static str,
    pub kind: InputKind,
    /// The default as written in `action.yml` (`None`: no default, the runner passes "").
    pub default: Option<&'static str>,
    pub description: &'static str,
}

const fn input(
    name: &'static str,
    kind: InputKind,
    default: Option<&'static str>,
    description: &'static str,
) -> InputSpec {
    InputSpec {
        name,
        kind,
        default,
        description,
    }
}

use InputKind::{Bool, List, ListCsv, ListUntrimmed, ListVerbatim, Text};

pub const ADD_HOSTS: &str = "add-hosts";
pub const ALLOW: &str = "allow";
pub const ANNOTATIONS: &str = "annotations";
pub const ATTESTS: &str = "attests";
pub const BUILD_ARGS: &str = "build-args";
pub const BUILD_CONTEXTS: &str = "build-contexts";
pub const BUILDER: &str = "builder";
pub const CACHE_FROM: &str = "cache-from";
pub const CACHE_TO: &str = "cache-to";
pub const CALL: &str = "call";
pub const CGROUP_PARENT: &str = "cgroup-parent";
pub const CONTEXT: &str = "context";
pub const FILE: &str = "file";
pub const LABELS: &str = "labels";
pub const LOAD: &str = "load";
pub const NETWORK: &str = "network";
pub const NO_CACHE: &str = "no-cache";
pub const NO_CACHE_FILTERS: &str = "no-cache-filters";
pub const OUTPUTS: &str = "outputs";
pub const PLATFORMS: &str = "platforms";
pub const PROVENANCE: &str = "provenance";
pub const PULL: &str = "pull";
pub const PUSH: &str = "push";
pub const SBOM: &str = "sbom";
pub const SECRETS: &str = "secrets";
pub const SECRET_ENVS: &str = "secret-envs";
pub const SECRET_FILES: &str = "secret-files";
pub const SHM_SIZE: &str = "shm-size";
pub const SSH: &str = "ssh";
pub const TAGS: &str = "tags";
pub const TARGET: &str = "target";
pub const ULIMIT: &str = "ulimit";
pub const GITHUB_TOKEN: &str = "github-token";
pub const DRIVER: &str = "driver";
pub const ENDPOINT: &str = "endpoint";
pub const BUILDER_IMAGE: &str = "builder-image";
pub const DRIVER_OPTS: &str = "driver-opts";
pub const BUILDKITD_CONFIG_INLINE: &str = "buildkitd-config-inline";
pub const BUILDKITD_FLAGS: &str = "buildkitd-flags";
pub const SCOPE: &str = "scope";
pub const EXPOSE_RUNTIME: &str = "expose-runtime";
pub const CACHE_SERVICE_URL: &str = "cache-service-url";
pub const CACHE_ADVICE: &str = "cache-advice";
pub const CACHE_PRUNE: &str = "cache-prune";
pub const CACHE_MOUNTS: &str = "cache-mounts";
pub const CACHE_MOUNTS_EXCLUDE: &str = "cache-mounts-exclude";
pub const CACHE_MOUNTS_MAX_SIZE: &str = "cache-mounts-max-size";
pub const CACHE_MOUNTS_TOTAL_SIZE: &str = "cache-mounts-total-size";
pub const CACHE_PRUNE_KEEP: &str = "cache-prune-keep";

/// The BuildKit image the `docker-container` driver starts when `builder-image` is empty:
/// the newest stable BuildKit release (v0.32.2 is the newest tag of moby/buildkit without
/// a pre-release suffix when this was written), pinned so a build is reproducible.
pub const DEFAULT_BUILDER_IMAGE: &str = "moby/buildkit:v0.32.2";

/// Every input of the main action, in `action.yml` order.
pub const INPUTS: &[InputSpec] = &[
    input(
        ADD_HOSTS,
        ListCsv,
        None,
        "List of customs host-to-IP mappings (e.g., docker:10.180.0.1)",
    ),
    input(
        ALLOW,
        ListCsv,
        None,
        "List of extra privileged entitlements (e.g., network.host,security.insecure)",
    ),
    input(
        ANNOTATIONS,
        List,
        None,
        "List of annotations to set to the image",
    ),
    input(
        ATTESTS,
        List,
        None,
        "List of attestation parameters (e.g., type=sbom,generator=image)",
    ),
    input(BUILD_ARGS, List, None, "List of build-time variables"),
    input(
        BUILD_CONTEXTS,
        List,
        None,
        "List of additional build contexts (e.g., name=path)",
    ),
    input(
        BUILDER,
        Text,
        None,
        "Name of the BuildKit container to create or reuse (docker-container driver)",
    ),
    input(
        CACHE_FROM,
        List,
        None,
        "List of external cache sources (e.g., type=gha, type=registry,ref=user/app:cache)",
    ),
    input(
        CACHE_TO,
        List,
        None,
        "List of cache export destinations (e.g., type=gha,mode=max)",
    ),
    input(
        CALL,
        Text,
        None,
        "Set method for evaluating build (e.g., check)",
    ),
    input(
        CGROUP_PARENT,
        Text,
        None,
        "Optional parent cgroup for the container used in the build",
    ),
    input(
        CONTEXT,
        Text,
        None,
        "Build's context is the set of files located in the specified PATH or URL (default: the repository's Git context at the event's commit, as build-push-action)",
    ),
    input(
        FILE,
        Text,
        None,
        "Path to the Dockerfile (default: {context}/Dockerfile)",
    ),
    input(LABELS, List, None, "List of metadata for an image"),
    input(
        LOAD,
        Bool,
        Some("false"),
        "Load is a shorthand for --output=type=docker",
    ),
    input(
        NETWORK,
        Text,
        None,
        "Set the networking mode for the RUN instructions during build",
    ),
    input(
        NO_CACHE,
        Bool,
        Some("false"),
        "Do not use cache when building the image",
    ),
    input(
        NO_CACHE_FILTERS,
        ListCsv,
        None,
        "Do not cache specified stages",
    ),
    input(
        OUTPUTS,
        ListVerbatim,
        None,
        "List of output destinations (format: type=local,dest=path)",
    ),
    input(
        PLATFORMS,
        ListCsv,
        None,
        "List of target platforms for build",
    ),
    input(
        PROVENANCE,
        Text,
        None,
        "Generate provenance attestation for the build (shorthand for --attest=type=provenance)",
    ),
    input(
        PULL,
        Bool,
        Some("false"),
        "Always attempt to pull all referenced images",
    ),
    input(
        PUSH,
        Bool,
        Some("false"),
        "Push is a shorthand for --output=type=registry",
    ),
    input(
        SBOM,
        Text,
        None,
        "Generate SBOM attestation for the build (shorthand for --attest=type=sbom)",
    ),
    input(
        SECRETS,
        ListUntrimmed,
        None,
        "List of secrets to expose to the build (e.g., key=string, GIT_AUTH_TOKEN=mytoken)",
    ),
    input(
        SECRET_ENVS,
        ListCsv,
        None,
        "List of secret env vars to expose to the build (e.g., key=envname, MY_SECRET=MY_ENV_VAR)",
    ),
    input(
        SECRET_FILES,
        List,
        None,
        "List of secret files to expose to the build (e.g., key=filename, MY_SECRET=./secret.txt)",
    ),
    input(SHM_SIZE, Text, None, "Size of /dev/shm (e.g., 2g)"),
    input(
        SSH,
        ListCsv,
        None,
        "List of SSH agent socket or keys to expose to the build",
    ),
    input(TAGS, ListCsv, None, "List of tags"),
    input(TARGET, Text, None, "Sets the target stage to build"),
    input(
        ULIMIT,
        List,
        None,
        "Ulimit options (e.g., nofile=1024:1024)",
    ),
    input(
        GITHUB_TOKEN,
        Text,
        Some("${{ github.token }}"),
        "GitHub Token used to authenticate against the repository for Git context and the cache API",
    ),
    input(
        DRIVER,
        Text,
        Some("auto"),
        "BuildKit to build with: auto, docker, docker-container or remote",
    ),
    input(
        ENDPOINT,
        Text,
        None,
        "Address of the BuildKit daemon for the remote driver (tcp://host:port or unix:///path)",
    ),
    input(
        BUILDER_IMAGE,
        Text,
        None,
        "BuildKit image for the docker-container driver (default: moby/buildkit:v0.32.2, the newest stable release); driver-opts image= wins over it",
    ),
    input(
        DRIVER_OPTS,
        List,
        None,
        "List of additional driver-specific options for the docker-container driver (e.g., image=, network=host, privileged=false, cap-drop=SYS_RESOURCE); image= here wins over builder-image",
    ),
    input(
        BUILDKITD_CONFIG_INLINE,
        Text,
        None,
        "Inline BuildKit daemon config (TOML) for the docker-container driver",
    ),
    input(
        BUILDKITD_FLAGS,
        Text,
        None,
        "BuildKit daemon flags for the docker-container driver (default: --allow-insecure-entitlement security.insecure --allow-insecure-entitlement network.host)",
    ),
    input(
        SCOPE,
        Text,
        None,
        "Cache scope for type=gha entries that set none (default: derived from the image name, Dockerfile, target and platforms; imports also read buildkit, build-push-action's default)",
    ),
    input(
        CACHE_ADVICE,
        Bool,
        Some("true"),
        "Warn, as annotations at the line, about Dockerfile patterns that throw layer cache away",
    ),
    input(
        CACHE_MOUNTS,
        Bool,
        Some("true"),
        "Keep the contents of the Dockerfile's RUN --mount=type=cache mounts in the gha cache (restored before the build, saved after it) whenever a type=gha cache is exported",
    ),
    input(
        CACHE_MOUNTS_EXCLUDE,
        ListCsv,
        None,
        "Ids of cache mounts not to keep (the id option, else the target path)",
    ),
    input(
        CACHE_MOUNTS_MAX_SIZE,
        Text,
        Some("1g"),
        "Largest compressed size of one cache mount to save (e.g., 512m, 2g); a larger one is skipped with a warning",
    ),
    input(
        CACHE_MOUNTS_TOTAL_SIZE,
        Text,
        Some("4g"),
        "Largest compressed size of all cache mounts saved by one build; mounts past it are skipped with a warning",
    ),
    input(
        CACHE_PRUNE,
        Text,
        Some("false"),
        "After the build, delete superseded gha cache indexes of this build's scopes (true), and also unreferenced layer blobs (orphans); needs actions: write",
    ),
    input(
        CACHE_PRUNE_KEEP,
        Text,
        Some("1"),
        "How many of the newest cache indexes to keep per scope and ref when cache-prune is on",
    ),
    input(
        EXPOSE_RUNTIME,
        Bool,
        Some("true"),
        "Export the runner's cache credentials to later steps of the job",
    ),
    input(CACHE_SERVICE_URL, Text, None, CACHE_SERVICE_URL_DESCRIPTION),
];

const CACHE_SERVICE_URL_DESCRIPTION: &str = "URL of a layercache serve to use as the cache instead of the GitHub cache; the job OIDC identity is exchanged for a cache token there (needs id-token: write)";

/// Inputs of `expose-runtime/action.yml` (a drop-in for crazy-max/ghaction-github-runtime).
pub const EXPOSE_INPUTS: &[InputSpec] = &[
    input(
        GITHUB_TOKEN,
        Text,
        Some("${{ github.token }}"),
        "GitHub Token (accepted for compatibility; unused)",
    ),
    input(CACHE_SERVICE_URL, Text, None, CACHE_SERVICE_URL_DESCRIPTION),
];

/// Outputs of the main action.
pub const OUTPUTS_DECLARED: &[(&str, &str)] = &[
    ("imageid", "Image ID"),
    ("digest", "Image digest"),
    ("metadata", "Build result metadata"),
];

/// Runner environment variables read at start-up.
pub mod env {
    pub const ACTIONS_RUNTIME_TOKEN: &str = "ACTIONS_RUNTIME_TOKEN";
    pub const ACTIONS_RUNTIME_URL: &str = "ACTIONS_RUNTIME_URL";
    pub const ACTIONS_CACHE_URL: &str = "ACTIONS_CACHE_URL";
    pub const ACTIONS_RESULTS_URL: &str = "ACTIONS_RESULTS_URL";
    pub const ACTIONS_CACHE_MODE: &str = "ACTIONS_CACHE_MODE";
    pub const ACTIONS_CACHE_SERVICE_V2: &str = "ACTIONS_CACHE_SERVICE_V2";
    pub const ACTIONS_CACHE_API_FORCE_VERSION: &str = "ACTIONS_CACHE_API_FORCE_VERSION";
    pub const ACTIONS_ID_TOKEN_REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
    pub const ACTIONS_ID_TOKEN_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";
    pub const GITHUB_SERVER_URL: &str = "GITHUB_SERVER_URL";
    pub const GITHUB_API_URL: &str = "GITHUB_API_URL";
    pub const GITHUB_REPOSITORY: &str = "GITHUB_REPOSITORY";
    pub const GITHUB_REF: &str = "GITHUB_REF";
    pub const GITHUB_SHA: &str = "GITHUB_SHA";
    pub const GITHUB_WORKSPACE: &str = "GITHUB_WORKSPACE";
    pub const GITHUB_ENV: &str = "GITHUB_ENV";
    pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
    pub const GITHUB_STATE: &str = "GITHUB_STATE";
    pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";
    pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
    pub const RUNNER_DEBUG: &str = "RUNNER_DEBUG";
    /// The ssh-agent socket the `ssh` input's `default` falls back to.
    pub const SSH_AUTH_SOCK: &str = "SSH_AUTH_SOCK";

    /// What the exposure step writes to `GITHUB_ENV`: an explicit allow-list, never a
    /// prefix match (a prefix would also export whatever `ACTIONS_*` a user had set).
    pub const EXPOSED: &[&str] = &[
        ACTIONS_RUNTIME_TOKEN,
        ACTIONS_RUNTIME_URL,
        ACTIONS_CACHE_URL,
        ACTIONS_RESULTS_URL,
        ACTIONS_CACHE_MODE,
        ACTIONS_ID_TOKEN_REQUEST_URL,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN,
    ];
}
