//! Inputs + runtime → [`BuildPlan`]: every input read once, validated, and typed.

use std::path::{Path, PathBuf};

use super::attest;
use super::build_plan::{
    BuildContext, BuildPlan, BuilderSpec, CacheMounts, CachePrune, DEFAULT_BUILDER_NAME,
    DriverChoice,
};
use super::builder::BuilderOptions;
use super::cache::{
    CacheOption, CacheType, Direction, SkippedEntry, add_cache_api, fill_gha, parse_cache_entry,
};
use super::git_auth::git_auth_secret;
use super::image::{parse_image_ref, parse_platform};
use super::options;
use super::outputs::{resolve_outputs, split_exports};
use super::scope::{BUILDX_DEFAULT_SCOPE, ScopeSeed, derive_scope};
use crate::action::InputError;
use crate::action::env::Env;
use crate::action::inputs::Inputs;
use crate::action::names::env::{GITHUB_API_URL, GITHUB_REPOSITORY};
use crate::action::names::{self as n, DEFAULT_BUILDER_IMAGE};
use crate::action::redact::excerpt;
use crate::action::runtime::Runtime;
use crate::secret::Secret;

/// The reproducible-build timestamp buildx forwards from its environment.
const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// Validate every input of the main action into a plan.
pub fn parse(inputs: &Inputs, runtime: &Runtime, env: &Env) -> Result<BuildPlan, InputError> {
    inputs.check_utf8()?;
    let context = match inputs.text(n::CONTEXT) {
        None => BuildContext::Local(PathBuf::from(".")),
        Some(c) if is_remote_context(&c) => BuildContext::Remote(c),
        Some(c) => BuildContext::Local(PathBuf::from(c)),
    };
    let dockerfile = match (inputs.text(n::FILE), &context) {
        (Some(f), _) => PathBuf::from(f),
        (None, BuildContext::Local(dir)) if dir.as_os_str() == "." => PathBuf::from("Dockerfile"),
        (None, BuildContext::Local(dir)) => dir.join("Dockerfile"),
        (None, BuildContext::Remote(_)) => PathBuf::from("Dockerfile"),
    };
    let target = inputs.text(n::TARGET);
    let tags = inputs
        .list(n::TAGS)?
        .iter()
        .map(|t| parse_image_ref(t).map_err(|e| InputError::new(n::TAGS, e)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut platforms = Vec::new();
    for p in inputs.list(n::PLATFORMS)? {
        let p = parse_platform(&p).map_err(|e| InputError::new(n::PLATFORMS, e))?;
        // Spellings of one platform (`linux/arm64`, `linux/arm64/v8`) build it once, as
        // buildx dedupes them.
        if !platforms.contains(&p) {
            platforms.push(p);
        }
    }
    let load = inputs.bool(n::LOAD)?;
    let push = inputs.bool(n::PUSH)?;
    let exports = split_exports(resolve_outputs(
        &inputs.list(n::OUTPUTS)?,
        load,
        push,
        &tags,
    )?);
    let mut build_args = options::build_args(&inputs.list(n::BUILD_ARGS)?, env)?;
    // buildx passes SOURCE_DATE_EPOCH from its environment as a build argument, unless
    // build-args name it (buildx commands/build.go).
    if let Some(epoch) = env.get(SOURCE_DATE_EPOCH).filter(|v| !v.is_empty()) {
        build_args
            .entry(SOURCE_DATE_EPOCH.to_owned())
            .or_insert_with(|| epoch.to_owned());
    }

    let seed = ScopeSeed {
        image: tags.first().map(|t| t.name()),
        short: tags
            .first()
            .map_or_else(|| context_name(&context), |t| t.short_name().to_owned()),
        dockerfile: dockerfile.to_string_lossy().into_owned(),
        target: target.clone(),
        platforms: platforms.iter().map(ToString::to_string).collect(),
    };
    let given_scope = inputs
        .text(n::SCOPE)
        .map(|s| validate_scope(&s))
        .transpose()?;
    // A migrating user's cache sits under BuildKit's default scope: a derived scope's
    // imports read that one too.
    let fallback = given_scope.is_none().then_some(BUILDX_DEFAULT_SCOPE);
    let scope = given_scope.unwrap_or_else(|| derive_scope(&seed));
    let mut cache_skipped = Vec::new();
    let cache_from = cache_entries(
        inputs,
        Direction::From,
        runtime,
        (&scope, fallback),
        &mut cache_skipped,
    )?;
    let mut cache_to = cache_entries(
        inputs,
        Direction::To,
        runtime,
        (&scope, None),
        &mut cache_skipped,
    )?;
    let github_token = inputs.text(n::GITHUB_TOKEN).map(Secret::new);
    // BuildKit's bulk blob listing calls api.github.com and nothing else
    // (docs/gha-cache-layout.md § Export flow).
    let on_github_com = env
        .get(GITHUB_API_URL)
        .is_none_or(|u| u.trim_end_matches('/') == "https://api.github.com");
    let repo = env
        .get(GITHUB_REPOSITORY)
        .filter(|r| r.split('/').filter(|p| !p.is_empty()).count() == 2);
    if let (Some(token), Some(repo), true) = (&github_token, repo, on_github_com) {
        cache_to
            .iter_mut()
            .for_each(|e| add_cache_api(e, repo, token));
    }

    let builder = super::builder::builder_options(
        &inputs.list(n::DRIVER_OPTS)?,
        inputs.verbatim(n::BUILDKITD_CONFIG_INLINE),
        inputs.text(n::BUILDKITD_FLAGS).as_deref(),
    )?;
    // buildx: a builder with `default-load=true` loads a build that asks for no output.
    let exports = match builder.default_load && exports.others.is_empty() && !exports.load {
        true => super::outputs::Exports {
            load: true,
            ..exports
        },
        false => exports,
    };

    let call = super::call::call_input(inputs.text(n::CALL))?;
    let provenance = inputs.text(n::PROVENANCE);
    let attests = attest::attests(
        &inputs.list(n::ATTESTS)?,
        provenance.as_deref(),
        inputs.text(n::SBOM).as_deref(),
    )?;
    let mut secrets = super::secrets::secrets(
        &inputs.list(n::SECRETS)?,
        &inputs.list(n::SECRET_ENVS)?,
        &inputs.list(n::SECRET_FILES)?,
        env,
    )?;
    let git_auth = git_auth_secret(&context, github_token.as_ref(), &secrets.secrets, env);
    secrets.secrets.extend(git_auth);

    // The exchange itself runs before the plan (commands/build.rs); a bad URL fails here
    // like any other input.
    crate::action::oidc::parse_url(inputs.text(n::CACHE_SERVICE_URL))?;
    Ok(BuildPlan {
        context,
        dockerfile,
        target,
        tags,
        platforms,
        build_args,
        labels: options::labels(&inputs.list(n::LABELS)?)?,
        annotations: options::annotations(&inputs.list(n::ANNOTATIONS)?)?,
        secrets: secrets.secrets,
        warnings: secrets.warnings,
        ssh: super::ssh::ssh(&inputs.list(n::SSH)?, env)?,
        network: options::network(inputs.text(n::NETWORK).as_deref())?,
        add_hosts: options::add_hosts(&inputs.list(n::ADD_HOSTS)?)?,
        no_cache: inputs.bool(n::NO_CACHE)?,
        no_cache_filters: inputs.list(n::NO_CACHE_FILTERS)?,
        pull: inputs.bool(n::PULL)?,
        shm_size: options::shm_size(inputs.text(n::SHM_SIZE).as_deref())?,
        ulimits: options::ulimits(&inputs.list(n::ULIMIT)?)?,
        cgroup_parent: inputs.text(n::CGROUP_PARENT),
        build_contexts: options::build_contexts(&inputs.list(n::BUILD_CONTEXTS)?)?,
        allow: options::allow(&inputs.list(n::ALLOW)?)?,
        call: options::call(call.name)?,
        call_json: call.json,
        call_ignore_status: call.ignore_status,
        provenance_default: attest::default_provenance(&attests, provenance.as_deref(), env)?,
        attests: attest::with_builder_id(attests, env),
        outputs: exports.others,
        load: exports.load,
        push: exports.push,
        cache_from,
        cache_to,
        cache_skipped,
        scope: scope.clone(),
        driver: driver(inputs, &builder)?,
        builder: builder_spec(inputs, builder)?,
        github_token,
        expose_runtime: inputs.bool(n::EXPOSE_RUNTIME)?,
        cache_advice: inputs.bool(n::CACHE_ADVICE)?,
        cache_prune: cache_prune(inputs)?,
        cache_mounts: CacheMounts {
            enabled: inputs.bool(n::CACHE_MOUNTS)?,
            scope,
            exclude: inputs.list(n::CACHE_MOUNTS_EXCLUDE)?,
            max_size: size_input(inputs, n::CACHE_MOUNTS_MAX_SIZE)?,
            total_size: size_input(inputs, n::CACHE_MOUNTS_TOTAL_SIZE)?,
        },
    })
}

/// A size input; empty means its default in the input table (the CLI passes none).
fn size_input(inputs: &Inputs, name: &'static str) -> Result<u64, InputError> {
    let default = n::INPUTS
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| s.default)
        .unwrap_or("0");
    let value = inputs.text(name).unwrap_or_else(|| default.to_owned());
    Ok(options::size(name, Some(&value))?.unwrap_or(0))
}

/// The entries of `cache-from` or `cache-to`, `gha` ones filled with `scope`; a `gha`
/// entry without a scope of its own is followed by one reading `fallback`, when given.
fn cache_entries(
    inputs: &Inputs,
    direction: Direction,
    runtime: &Runtime,
    (scope, fallback): (&str, Option<&str>),
    skipped: &mut Vec<SkippedEntry>,
) -> Result<Vec<CacheOption>, InputError> {
    let mut out = Vec::new();
    for raw in inputs.list(direction.input())? {
        let mut entry = parse_cache_entry(&raw, direction)?;
        if entry.kind == CacheType::Gha {
            let own_scope = entry.attrs.get("scope").cloned();
            if let Some(s) = &own_scope {
                validate_scope(s).map_err(|e| InputError::new(direction.input(), e.message))?;
            }
            if let Err(skip) = fill_gha(&mut entry, direction, runtime, scope) {
                skipped.push(skip);
                continue;
            }
            if let (None, Some(f)) = (own_scope, fallback) {
                let mut also = entry.clone();
                also.attrs.insert("scope".into(), f.to_owned());
                out.push(entry);
                out.push(also);
                continue;
            }
        }
        out.push(entry);
    }
    Ok(out)
}

/// The longest scope whose index key (`index-<scope>-1-<8 hex>[-sig]#<n>`) stays within
/// GitHub's 512-character key limit (docs/inputs.md).
const SCOPE_MAX: usize = 512 - "index-".len() - "-1-".len() - 8 - "-sig".len() - "#".len() - 10;

/// Scopes end up inside cache keys, which GitHub takes with anything but commas (v1 joins
/// keys with them), up to 512 characters. Control characters are refused too: a key
/// with a newline cannot be shown on one log line.
fn validate_scope(s: &str) -> Result<String, InputError> {
    let ok = !s.is_empty()
        && s.len() <= SCOPE_MAX
        && !s.contains(',')
        && !s.chars().any(char::is_control);
    if ok {
        Ok(s.to_owned())
    } else {
        Err(InputError::new(
            n::SCOPE,
            format!(
                "invalid scope {} (not empty, no commas or control characters, at most {SCOPE_MAX} bytes)",
                excerpt(s)
            ),
        ))
    }
}

fn is_remote_context(c: &str) -> bool {
    ["https://", "http://", "git://", "git@", "ssh://"]
        .iter()
        .any(|p| c.starts_with(p))
}

fn context_name(context: &BuildContext) -> String {
    match context {
        BuildContext::Local(dir) => {
            let abs = if dir.as_os_str() == "." {
                std::env::current_dir().ok()
            } else {
                Some(dir.clone())
            };
            abs.as_deref()
                .and_then(Path::file_name)
                .map(|s| s.to_string_lossy().into_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "image".to_owned())
        }
        // Without `#ref:subdir` or `?query`: the default context pins the commit, and the
        // scope must not move from commit to commit.
        BuildContext::Remote(url) => url
            .split(['#', '?'])
            .next()
            .unwrap_or(url)
            .rsplit('/')
            .next()
            .unwrap_or("image")
            .trim_end_matches(".git")
            .to_owned(),
    }
}

fn cache_prune(inputs: &Inputs) -> Result<CachePrune, InputError> {
    let keep_raw = inputs
        .text(n::CACHE_PRUNE_KEEP)
        .unwrap_or_else(|| "1".into());
    let keep = match keep_raw.parse::<u16>() {
        Ok(k) if k >= 1 => k,
        _ => {
            return Err(InputError::new(
                n::CACHE_PRUNE_KEEP,
                format!(
                    "invalid count {} (a whole number, at least 1)",
                    excerpt(&keep_raw)
                ),
            ));
        }
    };
    let mode = inputs
        .text(n::CACHE_PRUNE)
        .unwrap_or_else(|| "false".into());
    match mode.to_ascii_lowercase().as_str() {
        "false" => Ok(CachePrune::Off),
        "true" => Ok(CachePrune::Indexes { keep }),
        "orphans" => Ok(CachePrune::Orphans { keep }),
        _ => Err(InputError::new(
            n::CACHE_PRUNE,
            format!(
                "invalid value {} (valid: false, true, orphans)",
                excerpt(&mode)
            ),
        )),
    }
}

/// `builder`, `builder-image` (or `driver-opts: image=`) and the builder options.
fn builder_spec(inputs: &Inputs, options: BuilderOptions) -> Result<BuilderSpec, InputError> {
    let name = match inputs.text(n::BUILDER) {
        Some(name) => check_builder_name(name)?,
        None => DEFAULT_BUILDER_NAME.to_owned(),
    };
    // `driver-opts: image=` wins over `builder-image`: a builder configuration copied from
    // setup-buildx must start the image it started there.
    let image_input = match &options.image {
        Some(i) => Some((n::DRIVER_OPTS, i.clone())),
        None => inputs.text(n::BUILDER_IMAGE).map(|i| (n::BUILDER_IMAGE, i)),
    };
    let image = match image_input {
        Some((input, i)) => {
            parse_image_ref(&i)
                .map_err(|e| InputError::new(input, e))?
                .original
        }
        None => DEFAULT_BUILDER_IMAGE.to_owned(),
    };
    Ok(BuilderSpec {
        image,
        name,
        options,
    })
}

fn check_builder_name(name: String) -> Result<String, InputError> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    match ok {
        true => Ok(name),
        false => Err(InputError::new(
            n::BUILDER,
            format!(
                "invalid builder name {} (letters, digits, _ . -)",
                excerpt(&name)
            ),
        )),
    }
}

fn driver(inputs: &Inputs, builder: &BuilderOptions) -> Result<DriverChoice, InputError> {
    let endpoint = inputs.text(n::ENDPOINT);
    let driver = inputs.text(n::DRIVER).unwrap_or_else(|| "auto".into());
    if matches!(driver.as_str(), "docker" | "remote") {
        reject_builder_options(&driver, builder, &inputs.list(n::DRIVER_OPTS)?)?;
    }
    let choice = match (driver.as_str(), endpoint) {
        ("remote", Some(ep)) | ("auto", Some(ep)) => {
            super::endpoint::check_endpoint(&ep).map_err(|e| InputError::new(n::ENDPOINT, e))?;
            DriverChoice::Remote { endpoint: ep }
        }
        ("remote", None) => {
            return Err(InputError::new(
                n::ENDPOINT,
                "driver remote needs an endpoint (tcp://host:port or unix:///path)",
            ));
        }
        (d @ ("docker" | "docker-container"), Some(_)) => {
            return Err(InputError::new(
                n::ENDPOINT,
                format!("endpoint is only used with driver remote, not {d}"),
            ));
        }
        ("auto", None) => DriverChoice::Auto,
        ("docker", None) => DriverChoice::Docker,
        ("docker-container", None) => DriverChoice::DockerContainer,
        (other, _) => {
            return Err(InputError::new(
                n::DRIVER,
                format!(
                    "unknown driver {} (valid: auto, docker, docker-container, remote)",
                    excerpt(other)
                ),
            ));
        }
    };
    Ok(choice)
}

/// Drivers without a container of ours cannot honour the container's settings.
fn reject_builder_options(
    driver: &str,
    builder: &BuilderOptions,
    driver_opts: &[String],
) -> Result<(), InputError> {
    let no_container = format!("driver {driver} has no BuildKit container to configure");
    if let Some(first) = driver_opts.first() {
        let key = first
            .split_once('=')
            .map_or(first.as_str(), |(k, _)| k.trim());
        return Err(InputError::new(
            n::DRIVER_OPTS,
            format!(
                "key {key:?} is not one driver {driver} honours ({no_container}; use driver docker-container)"
            ),
        ));
    }
    let input = if builder.config_toml.is_some() {
        n::BUILDKITD_CONFIG_INLINE
    } else if !builder.flags.is_empty() {
        n::BUILDKITD_FLAGS
    } else {
        return Ok(());
    };
    Err(InputError::new(
        input,
        format!("{no_container} (use driver docker-container)"),
    ))
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
