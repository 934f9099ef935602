//! From the validated `BuildPlan` to the engine's request: the I/O the plan leaves for
//! later happens here, once (secret values from env and files, registry credentials from
//! `DOCKER_CONFIG`), and the outputs are split into load, push and the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::error::EngineError;
use super::outcome::Outcome;
use super::progress::EventSink;
use super::request::{BuildRequest, BuilderSpec, DriverChoice, Output, RegistryAuth};
use super::transport::DockerHost;
use crate::action::env::Env;
use crate::plan::{self, BuildContext, BuildPlan, NetworkMode, OutputType, SecretSource};
use crate::secret::{Secret, SecretBytes};

impl BuildRequest {
    /// `env` is the process environment read once at start-up (secret-envs, DOCKER_CONFIG).
    pub fn from_plan(p: &BuildPlan, env: &Env) -> Result<Self, EngineError> {
        let (context, remote_context) = match &p.context {
            BuildContext::Local(dir) => (dir.clone(), None),
            BuildContext::Remote(url) => (PathBuf::new(), Some(url.clone())),
        };
        let (load, push, outputs) = split_outputs(p);
        Ok(Self {
            context,
            remote_context,
            dockerfile: Some(p.dockerfile.clone()),
            target: p.target.clone(),
            tags: p.tags.iter().map(ToString::to_string).collect(),
            platforms: p.platforms.iter().map(ToString::to_string).collect(),
            build_args: p.build_args.clone(),
            labels: p.labels.clone(),
            secrets: secrets(p, env)?,
            network: match p.network {
                NetworkMode::Default => None,
                NetworkMode::None => Some("none".to_owned()),
                NetworkMode::Host => Some("host".to_owned()),
            },
            add_hosts: p
                .add_hosts
                .iter()
                .map(|(h, ip)| format!("{h}:{ip}"))
                .collect(),
            no_cache: p.no_cache,
            no_cache_filters: p.no_cache_filters.clone(),
            pull: p.pull,
            shm_size: p.shm_size,
            ulimits: p
                .ulimits
                .iter()
                .map(|u| format!("{}={}:{}", u.name, u.soft, u.hard))
                .collect(),
            build_contexts: p.build_contexts.clone(),
            cgroup_parent: p.cgroup_parent.clone(),
            load,
            push,
            outputs,
            annotations: p.annotations.clone(),
            attests: p.attests.clone(),
            ssh: p.ssh.clone(),
            allow: p.allow.clone(),
            call: p.call.clone(),
            cache_from: p.cache_from.clone(),
            cache_to: p.cache_to.clone(),
            registry_auth: docker_config_auth(&docker_config_dir(env)),
            driver: match &p.driver {
                plan::DriverChoice::Auto { .. } => DriverChoice::Auto,
                plan::DriverChoice::Docker => DriverChoice::Docker,
                plan::DriverChoice::DockerContainer { .. } => DriverChoice::DockerContainer,
                plan::DriverChoice::Remote { endpoint } => DriverChoice::Remote {
                    endpoint: endpoint.clone(),
                },
            },
            builder: builder_spec(&p.driver),
        })
    }
}

/// Build `plan` against the daemon `DOCKER_HOST` names (the socket the runner mounts by
/// default): the entry point for the action and `layercache build`.
pub async fn run_plan(
    plan: &BuildPlan,
    env: &Env,
    sink: &mut dyn EventSink,
) -> Result<Outcome, EngineError> {
    let req = BuildRequest::from_plan(plan, env)?;
    let host = DockerHost::from_env(env)?;
    super::run::run(&req, &host, sink).await
}

fn builder_spec(driver: &plan::DriverChoice) -> BuilderSpec {
    let mut spec = BuilderSpec::default();
    if let plan::DriverChoice::Auto {
        builder_image,
        builder_name,
    }
    | plan::DriverChoice::DockerContainer {
        builder_image,
        builder_name,
    } = driver
    {
        spec.image.clone_from(builder_image);
        if let Some(name) = builder_name {
            spec.name.clone_from(name);
        }
    }
    spec
}

/// `type=docker` without a destination is a load; `type=image|registry` with push is a
/// push; everything else is an exporter of its own.
fn split_outputs(p: &BuildPlan) -> (bool, bool, Vec<Output>) {
    let (mut load, mut push, mut rest) = (p.load, p.push, Vec::new());
    for o in &p.outputs {
        let pushes = o.attrs.get("push").is_some_and(|v| v == "true");
        match o.kind {
            OutputType::Docker if !o.attrs.contains_key("dest") => load = true,
            OutputType::Registry => push = true,
            OutputType::Image if pushes => push = true,
            _ => rest.push(Output {
                kind: o.kind.as_str().to_owned(),
                attrs: o.attrs.clone(),
            }),
        }
    }
    (load, push, rest)
}

/// Build secrets as bytes: a secret file may be binary (a keystore, a key).
fn secrets(p: &BuildPlan, env: &Env) -> Result<BTreeMap<String, SecretBytes>, EngineError> {
    let mut out = BTreeMap::new();
    for s in &p.secrets {
        let value = match &s.source {
            SecretSource::Value(v) => SecretBytes::from(v),
            SecretSource::Env(name) => env
                .get(name)
                .map(|v| SecretBytes::new(v.as_bytes()))
                .ok_or_else(|| {
                    EngineError::Internal(format!(
                        "secret {:?}: environment variable {name} is not set",
                        s.id
                    ))
                })?,
            SecretSource::File(path) => std::fs::read(path).map(SecretBytes::new).map_err(|e| {
                EngineError::Internal(format!("secret {:?}: {}: {e}", s.id, path.display()))
            })?,
        };
        out.insert(s.id.clone(), value);
    }
    Ok(out)
}

fn docker_config_dir(env: &Env) -> PathBuf {
    match env.get("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env.get("HOME").unwrap_or("/root")).join(".docker"),
    }
}

/// Credentials a `docker login` (or docker/login-action) left in `config.json`. Credential
/// helpers are not run; their entries are skipped.
pub fn docker_config_auth(dir: &Path) -> BTreeMap<String, RegistryAuth> {
    let Ok(text) = std::fs::read_to_string(dir.join("config.json")) else {
        return BTreeMap::new();
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for (host, entry) in json["auths"].as_object().into_iter().flatten() {
        let decoded = entry["auth"]
            .as_str()
            .and_then(|a| base64::engine::general_purpose::STANDARD.decode(a).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let pair = match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((u, p)) => Some((u.to_owned(), p.to_owned())),
            None => entry["username"]
                .as_str()
                .zip(entry["password"].as_str())
                .map(|(u, p)| (u.to_owned(), p.to_owned())),
        };
        if let Some((username, password)) = pair {
            let key = host
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/');
            let key = if key.starts_with("index.docker.io") {
                "docker.io"
            } else {
                key
            };
            out.insert(
                key.to_owned(),
                RegistryAuth {
                    username,
                    password: Secret::new(password),
                },
            );
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (HELPERS.md)
mod tests {
    use super::*;

    #[test]
    fn docker_config_auths_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        let json = format!(
            r#"{{"auths":{{"127.0.0.1:5000":{{"auth":"{auth}"}},"https://index.docker.io/v1/":{{"username":"bob","password":"pw"}},"helper.io":{{}}}}}}"#
        );
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        let auths = docker_config_auth(dir.path());
        assert_eq!(auths["127.0.0.1:5000"].username, "alice");
        assert_eq!(auths["127.0.0.1:5000"].password.expose(), "s3cret");
        assert_eq!(auths["docker.io"].username, "bob");
        assert!(!auths.contains_key("helper.io"));
    }
}
