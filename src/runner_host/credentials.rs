//! Registry credentials where a user expects them to be found. `docker/login-action`
//! writes `$DOCKER_CONFIG/config.json`, else the runner user's `~/.docker/config.json` on
//! the host; a container action sees neither (its `HOME` is `/github/home`, the runner's
//! `_work/_temp/_github_home`). So, in order, like docker itself plus the runner's home:
//!
//! 1. `DOCKER_CONFIG` when the step sets it (a container path, or a host path the runner
//!    left untranslated because no mount holds it, read through the daemon); when it is
//!    set, nothing else is read, as docker reads nothing else.
//! 2. `$HOME/.docker/config.json`.
//! 3. In the action's container: the runner user's home on the host, which the runner's
//!    layout does not name. The work directory's parent and grandparent are searched
//!    (hosted: `/home/runner/work` → `/home/runner`; self-hosted
//!    `~/actions-runner/_work` → `~`), read through the daemon.
//!
//! Per registry the first source wins. Where each registry's credentials came from is
//! logged, never what they are. Credential helpers (`credsStore`, `credHelpers`) are not
//! run: a container action has none of the host's helper programs.
//!
//! Pushing to the repository's own `ghcr.io` package needs no login step: with nothing
//! configured for `ghcr.io`, `github-token` is used (with `packages: write`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::discover::RunnerHost;
use crate::action::env::Env;
use crate::secret::Secret;

const GHCR: &str = "ghcr.io";

/// Registry credentials gathered from every source, merged.
#[derive(Debug, Default)]
pub struct RegistryCredentials {
    /// `{"auths": {...}}` as docker's `config.json` has it.
    config: Secret,
    /// Registry → where its credentials came from.
    pub sources: BTreeMap<String, String>,
    /// What could not be used (a helper not run, a file not readable): one line each.
    pub notes: Vec<String>,
}

/// `github-token` for the workflow's own `ghcr.io/<owner>/<repo>` package.
#[derive(Debug)]
pub struct OwnPackage {
    /// `owner/repo` (`GITHUB_REPOSITORY`).
    pub repository: String,
    /// `GITHUB_ACTOR`, the user name docker/login-action's ghcr example logs in as.
    pub actor: Option<String>,
    pub token: Secret,
    /// The image names the build pushes or pulls (tags, `outputs` names).
    pub images: Vec<String>,
}

impl OwnPackage {
    /// Whether one of the images is the repository's own package (or under it).
    fn wanted(&self) -> bool {
        let own = format!("{GHCR}/{}", self.repository.to_ascii_lowercase());
        self.images.iter().any(|i| {
            let name = i.to_ascii_lowercase();
            name == own
                || name
                    .strip_prefix(&own)
                    .is_some_and(|rest| rest.starts_with([':', '@', '/']))
        })
    }
}

impl RegistryCredentials {
    /// The merged `config.json` text, to hand the engine.
    pub fn config_json(&self) -> &Secret {
        &self.config
    }

    /// Log lines: one per registry, naming its source only.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .sources
            .iter()
            .map(|(registry, from)| format!("registry credentials for {registry}: {from}"))
            .collect();
        out.extend(self.notes.iter().cloned());
        out
    }

    /// Gather from every source (see the module docs).
    pub async fn find(env: &Env, host: Option<&RunnerHost>, own: Option<OwnPackage>) -> Self {
        let mut merged = Merge::default();
        if let Some(dir) = env.get("DOCKER_CONFIG") {
            let file = Path::new(dir).join("config.json");
            let text = match (std::fs::read(&file), host) {
                (Ok(b), _) => Ok(Some(b)),
                (Err(e), Some(h)) if e.kind() == std::io::ErrorKind::NotFound => {
                    h.read_host_file(&file).await
                }
                (Err(e), _) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                (Err(e), _) => Err(format!("{}: {e}", file.display())),
            };
            if matches!(text, Ok(None)) {
                // Docker would go on without credentials, silently; say why there are none.
                merged.notes.push(format!(
                    "DOCKER_CONFIG is {dir}, which holds no config.json: no registry credentials from it"
                ));
            }
            merged.add(text, &format!("DOCKER_CONFIG ({})", file.display()));
        } else {
            let home = env.get("HOME").unwrap_or("/root");
            let file = Path::new(home).join(".docker/config.json");
            merged.add(
                read_local(&file),
                &format!("$HOME/.docker/config.json ({})", file.display()),
            );
            if let Some(h) = host {
                for file in runner_home_candidates(h) {
                    let what = format!(
                        "the runner's ~/.docker/config.json ({} on the runner)",
                        file.display()
                    );
                    merged.add(h.read_host_file(&file).await, &what);
                }
            }
        }
        if let Some(own) = own
            && own.wanted()
            && !merged.auths.contains_key(GHCR)
            && !own.token.is_empty()
        {
            let user = own.actor.as_deref().unwrap_or("x-access-token");
            let entry = serde_json::json!({ "username": user, "password": own.token.expose() });
            merged.auths.insert(GHCR.to_owned(), entry);
            merged.sources.insert(
                GHCR.to_owned(),
                format!(
                    "github-token, for the repository's own package {GHCR}/{} (the job needs `permissions: packages: write` to push)",
                    own.repository.to_ascii_lowercase()
                ),
            );
        }
        let config = serde_json::json!({ "auths": Value::Object(merged.auths) }).to_string();
        Self {
            config: Secret::new(config),
            sources: merged.sources,
            notes: merged.notes,
        }
    }
}

fn read_local(file: &Path) -> Result<Option<Vec<u8>>, String> {
    match std::fs::read(file) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", file.display())),
    }
}

/// `~/.docker/config.json` of the runner's user, by the work directory's ancestors.
fn runner_home_candidates(host: &RunnerHost) -> Vec<PathBuf> {
    let Some(work) = host.mounts.work_dir_on_host() else {
        return Vec::new();
    };
    work.ancestors()
        .skip(1)
        .take(2)
        .filter(|d| d.parent().is_some()) // never `/.docker`
        .map(|d| d.join(".docker/config.json"))
        .collect()
}

#[derive(Default)]
struct Merge {
    auths: Map<String, Value>,
    sources: BTreeMap<String, String>,
    notes: Vec<String>,
}

impl Merge {
    fn add(&mut self, read: Result<Option<Vec<u8>>, String>, what: &str) {
        let bytes = match read {
            Ok(Some(b)) => b,
            Ok(None) => {
                tracing::debug!("no registry credentials at {what}");
                return;
            }
            Err(e) => {
                self.notes
                    .push(format!("registry credentials at {what} not read: {e}"));
                return;
            }
        };
        // Never quote the text: it holds passwords.
        let Ok(Value::Object(json)) = serde_json::from_slice::<Value>(&bytes) else {
            self.notes.push(format!(
                "registry credentials at {what} not read: not a JSON object"
            ));
            return;
        };
        let helpers: Vec<String> = json
            .get("credHelpers")
            .and_then(Value::as_object)
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default();
        if json.get("credsStore").is_some() || !helpers.is_empty() {
            self.notes.push(format!(
                "{what} names credential helpers, which a container action cannot run; their registries get no credentials from it"
            ));
        }
        for (registry, entry) in json
            .get("auths")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let usable = entry
                .get("auth")
                .and_then(Value::as_str)
                .is_some_and(|a| !a.is_empty())
                || entry.get("password").is_some()
                || entry.get("identitytoken").is_some();
            let key = normalize(registry);
            if !usable || self.auths.contains_key(&key) {
                continue;
            }
            self.auths.insert(key.clone(), entry.clone());
            self.sources.insert(key, format!("from {what}"));
        }
    }
}

/// `https://index.docker.io/v1/` → `docker.io`, `https://r.example/` → `r.example`.
pub fn normalize(registry: &str) -> String {
    let key = registry
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let key = key.split('/').next().unwrap_or(key);
    if key == "index.docker.io" || key == "registry-1.docker.io" {
        "docker.io".to_owned()
    } else {
        key.to_owned()
    }
}

/// Errors a registry gives for missing or wrong credentials, in the daemon's and
/// BuildKit's words.
fn is_auth_refusal(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    [
        "401 unauthorized",
        "unauthorized",
        "no basic auth credentials",
        "authentication required",
        "denied: ",
        "403 forbidden",
    ]
    .iter()
    .any(|p| e.contains(p))
}

/// When a build failed because a registry refused it and no credentials for that registry
/// were found: one line saying exactly what to add.
pub fn push_refused_hint(error: &str, images: &[String], credentials: &[String]) -> Option<String> {
    if !is_auth_refusal(error) {
        return None;
    }
    let mut hosts: Vec<&str> = images
        .iter()
        .map(|i| crate::engine::registry_host(crate::engine::split_tag(i).0))
        .filter(|h| !credentials.iter().any(|c| c == h))
        .collect();
    hosts.sort_unstable();
    hosts.dedup();
    // Only the registry the error names: a refused pull of a base image from elsewhere is
    // not this push's missing login.
    let host = hosts.iter().find(|h| error.contains(**h))?;
    Some(if *host == GHCR {
        format!(
            "{GHCR} refused the build and no credentials for it were found: give the job `permissions: packages: write` to push to the repository's own package with github-token, or add a `docker/login-action` step with `registry: {GHCR}` before this one"
        )
    } else {
        format!(
            "{host} refused the build and no credentials for it were found: add a `docker/login-action` step with `registry: {host}` before this one (layercache reads the runner's ~/.docker/config.json it writes), or set `env: DOCKER_CONFIG: <directory holding config.json>` on this step"
        )
    })
}

/// [`push_refused_hint`] for a failed build: the images it names (tags, `outputs` names)
/// against the registries that have credentials.
pub fn hint_for_plan(error: &str, plan: &crate::plan::BuildPlan, env: &Env) -> Option<String> {
    let configured: Vec<String> = crate::engine::Resolved::without_secrets(env)
        .ok()?
        .registry_auth
        .into_keys()
        .collect();
    let mut images: Vec<String> = plan.tags.iter().map(|t| t.original.clone()).collect();
    for o in &plan.outputs {
        if let Some(names) = o.attrs.get("name") {
            images.extend(names.split(',').map(|n| n.trim().to_owned()));
        }
    }
    push_refused_hint(error, &images, &configured)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(images: &[&str]) -> OwnPackage {
        OwnPackage {
            repository: "Octo-Org/App".into(),
            actor: Some("octocat".into()),
            token: Secret::new("ghs_canary_cred"),
            images: images.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn github_token_is_for_the_repositorys_own_package_only() {
        for yes in [
            "ghcr.io/octo-org/app:1",
            "ghcr.io/octo-org/app",
            "ghcr.io/octo-org/app/tool:x",
        ] {
            assert!(own(&[yes]).wanted(), "{yes}");
        }
        for no in [
            "ghcr.io/octo-org/app2:1",
            "ghcr.io/other/app:1",
            "docker.io/octo-org/app",
        ] {
            assert!(!own(&[no]).wanted(), "{no}");
        }
    }

    #[tokio::test]
    async fn sources_merge_first_wins_and_only_their_names_are_told() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".docker")).unwrap();
        std::fs::write(
            home.path().join(".docker/config.json"),
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpwd19jYW5hcnk="},"ghcr.io":{"auth":"dTpnaGNyX2NhbmFyeQ=="},"empty.io":{}},"credsStore":"desktop"}"#,
        )
        .unwrap();
        let env = Env::from_pairs([("HOME", home.path().to_str().unwrap())]);
        let found =
            RegistryCredentials::find(&env, None, Some(own(&["ghcr.io/octo-org/app:1"]))).await;
        assert_eq!(
            found.sources.keys().collect::<Vec<_>>(),
            ["docker.io", "ghcr.io"]
        );
        let lines = found.lines().join("\n");
        assert!(lines.contains("$HOME/.docker/config.json"), "{lines}");
        assert!(lines.contains("credential helpers"), "{lines}");
        assert!(
            !lines.contains("canary") && !lines.contains("dTp"),
            "{lines}"
        );
        // ghcr.io was configured: github-token is not used over it.
        assert!(!found.config_json().expose().contains("ghs_canary_cred"));
        let none = Env::from_pairs([("HOME", "/nonexistent")]);
        let found =
            RegistryCredentials::find(&none, None, Some(own(&["ghcr.io/octo-org/app:1"]))).await;
        assert!(found.config_json().expose().contains("ghs_canary_cred"));
        assert!(
            found.lines()[0].contains("github-token"),
            "{:?}",
            found.lines()
        );
        assert!(!found.lines().join("").contains("ghs_canary_cred"));
        assert!(!format!("{found:?}").contains("ghs_canary_cred"));
    }

    #[test]
    fn a_refused_push_says_what_to_add() {
        let images = ["127.0.0.1:5000/app:1".to_owned()];
        let e = "failed to push 127.0.0.1:5000/app:1: 401 Unauthorized";
        let hint = push_refused_hint(e, &images, &[]).unwrap();
        assert!(
            hint.contains("`registry: 127.0.0.1:5000`") && hint.contains("DOCKER_CONFIG"),
            "{hint}"
        );
        assert!(!hint.contains('\n'));
        assert_eq!(
            push_refused_hint(e, &images, &["127.0.0.1:5000".into()]),
            None
        );
        assert_eq!(
            push_refused_hint("no space left on device", &images, &[]),
            None
        );
        let ghcr = push_refused_hint(
            "push ghcr.io/o/r:1: denied: permission_denied",
            &["ghcr.io/o/r:1".into()],
            &[],
        )
        .unwrap();
        let elsewhere = "pull r.example/base:1: 401 Unauthorized";
        assert_eq!(push_refused_hint(elsewhere, &images, &[]), None);
        assert!(ghcr.contains("packages: write"), "{ghcr}");
    }
}
