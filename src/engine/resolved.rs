//! What a build needs from outside its plan, read once before it runs: the bytes of the
//! build secrets (from values, environment variables and files), registry credentials
//! (`DOCKER_CONFIG`), and the Docker daemon to talk to. Everything else the engine reads
//! from the typed [`BuildPlan`] itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::error::EngineError;
use super::transport::DockerHost;
use crate::action::env::Env;
use crate::plan::{BuildPlan, SecretSource};
use crate::secret::{Secret, SecretBytes};

/// The I/O side of a build.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub host: DockerHost,
    /// Build secrets by id, served to BuildKit through the session, never on disk.
    pub secrets: BTreeMap<String, SecretBytes>,
    /// Registry credentials by host (`127.0.0.1:5000`, `ghcr.io`).
    pub registry_auth: BTreeMap<String, RegistryAuth>,
    /// The address the daemon's BuildKit is told to reach the relay at, instead of the
    /// guess from the networks (`LAYERCACHE_RELAY_ADDRESS`); the live probe checks it.
    pub relay_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryAuth {
    pub username: String,
    pub password: Secret,
}

impl Resolved {
    /// A build with no secrets and no registry credentials.
    pub fn new(host: DockerHost) -> Self {
        Self {
            host,
            secrets: BTreeMap::new(),
            registry_auth: BTreeMap::new(),
            relay_address: None,
        }
    }

    /// `env` is the process environment read once at start-up (secret-envs, DOCKER_CONFIG,
    /// DOCKER_HOST).
    pub fn from_env(plan: &BuildPlan, env: &Env) -> Result<Self, EngineError> {
        Ok(Self {
            secrets: secrets(plan, env)?,
            ..Self::without_secrets(env)?
        })
    }

    /// The Docker host and registry credentials alone: for builds of layercache's own (the
    /// cache mount transfers), which take none of the user's build secrets.
    pub fn without_secrets(env: &Env) -> Result<Self, EngineError> {
        Ok(Self {
            host: DockerHost::from_env(env)?,
            secrets: BTreeMap::new(),
            registry_auth: match env.docker_config() {
                // Gathered by runner_host::credentials (DOCKER_CONFIG among its sources).
                Some(config) => parse_docker_config(config.expose()),
                None => docker_config_auth(&docker_config_dir(env)),
            },
            relay_address: env
                .get("LAYERCACHE_RELAY_ADDRESS")
                .filter(|a| !a.is_empty())
                .map(str::to_owned),
        })
    }
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
    match std::fs::read_to_string(dir.join("config.json")) {
        Ok(text) => parse_docker_config(&text),
        Err(_) => BTreeMap::new(),
    }
}

/// The `auths` of a `config.json` text.
pub fn parse_docker_config(text: &str) -> BTreeMap<String, RegistryAuth> {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
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
#[allow(clippy::unwrap_used)] // tests may unwrap
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
