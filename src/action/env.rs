//! A snapshot of the process environment, read once at start-up and passed down as a
//! plain value, so parsing and decisions stay testable without touching the real env.

use std::collections::{BTreeMap, BTreeSet};

use crate::secret::Secret;

/// `Debug` shows variable names only: the environment holds the runtime token and the
/// values of `secret-envs`.
#[derive(Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
    /// Variables whose value is not UTF-8: unset for [`Env::get`], but an input among
    /// them is an error naming it rather than silently empty.
    not_utf8: BTreeSet<String>,
    /// Registry credentials gathered from wherever a user expects them
    /// (`runner_host::credentials`), as one `config.json` text; read instead of
    /// `DOCKER_CONFIG` when set.
    docker_config: Option<Secret>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .field("not_utf8", &self.not_utf8)
            .finish()
    }
}

impl Env {
    /// Read the process environment. A variable whose name is not UTF-8 is skipped; one
    /// whose value is not is remembered by name ([`Env::is_not_utf8`]).
    pub fn from_process() -> Self {
        let mut env = Self::default();
        for (k, v) in std::env::vars_os() {
            let Ok(k) = k.into_string() else { continue };
            match v.into_string() {
                Ok(v) => {
                    env.vars.insert(k, v);
                }
                Err(_) => {
                    env.not_utf8.insert(k);
                }
            }
        }
        env
    }

    /// Whether `name` is set to a value that is not UTF-8.
    pub fn is_not_utf8(&self, name: &str) -> bool {
        self.not_utf8.contains(name)
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            not_utf8: BTreeSet::new(),
            docker_config: None,
        }
    }

    /// The value of `name` when it is set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The value of `name` when it is set, even if empty.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }

    /// The registry credentials found for this step, as a `config.json` text.
    pub fn docker_config(&self) -> Option<&Secret> {
        self.docker_config.as_ref()
    }

    pub fn set_docker_config(&mut self, config: Secret) {
        self.docker_config = Some(config);
    }
}
