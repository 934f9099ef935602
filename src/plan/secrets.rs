//! The build secrets: `secrets` (values), `secret-envs` (environment variables) and
//! `secret-files` (paths), each `id=...`. No error quotes a `secrets` value.

use std::path::PathBuf;

use super::build_plan::{BuildSecret, SecretSource};
use super::options::key_value;
use crate::action::InputError;
use crate::action::env::Env;
use crate::action::names as n;
use crate::action::redact::excerpt;
use crate::secret::Secret;

/// The build secrets, and a warning for each one left out. A `secrets` value is never
/// quoted back, not even in part: a warning names the entry by its number.
#[derive(Debug, Default)]
pub struct Secrets {
    pub secrets: Vec<BuildSecret>,
    pub warnings: Vec<String>,
}

/// `secrets` (`id=value`), `secret-envs` (`id=ENV`), `secret-files` (`id=path`).
/// A secret whose value is empty or whose variable is unset is left out with a warning,
/// as build-push-action does (a fork's pull request sees no repository secrets).
pub fn secrets(
    values: &[String],
    envs: &[String],
    files: &[String],
    env: &Env,
) -> Result<Secrets, InputError> {
    let mut out = Secrets::default();
    for (i, e) in values.iter().enumerate() {
        match e.split_once('=') {
            Some((id, v)) if !id.trim().is_empty() => {
                let id = id.trim().to_owned();
                if v.is_empty() {
                    out.warnings.push(format!(
                        "{}: secret {} is empty, so the build does not get it",
                        n::SECRETS,
                        excerpt(&id)
                    ));
                    continue;
                }
                out.secrets.push(BuildSecret {
                    id,
                    source: SecretSource::Value(Secret::new(v)),
                });
            }
            _ => {
                // build-push-action warns (`... is not a valid secret`) and builds without
                // it; so do we, naming the entry by number, since it may be the value.
                out.warnings.push(format!(
                    "{}: entry {} is not id=value, so the build does not get it (the entry is not shown; e.g. GIT_AUTH_TOKEN=..., and a value spanning lines is quoted whole: \"ID=line 1<newline>line 2\")",
                    n::SECRETS,
                    i + 1
                ));
            }
        }
    }
    for e in envs {
        let (id, var) = key_value(n::SECRET_ENVS, e, "id=ENV_VAR")?;
        let var = var.trim();
        if var.is_empty() {
            return Err(InputError::new(
                n::SECRET_ENVS,
                format!(
                    "{} names no environment variable (expected id=ENV_VAR)",
                    excerpt(e)
                ),
            ));
        }
        if env.is_not_utf8(var) {
            return Err(InputError::new(
                n::SECRET_ENVS,
                format!(
                    "secret {}: the value of {var} is not UTF-8 text",
                    excerpt(id)
                ),
            ));
        }
        if env.raw(var).is_none() {
            out.warnings.push(format!(
                "{}: secret {} is not passed to the build: environment variable {} is not set",
                n::SECRET_ENVS,
                excerpt(id),
                excerpt(var)
            ));
            continue;
        }
        out.secrets.push(BuildSecret {
            id: id.to_owned(),
            source: SecretSource::Env(var.to_owned()),
        });
    }
    for e in files {
        let (id, path) = key_value(n::SECRET_FILES, e, "id=path")?;
        if path.trim().is_empty() {
            return Err(InputError::new(
                n::SECRET_FILES,
                format!("{} names no file (expected id=path)", excerpt(e)),
            ));
        }
        out.secrets.push(BuildSecret {
            id: id.to_owned(),
            source: SecretSource::File(PathBuf::from(path.trim())),
        });
    }
    let mut ids: Vec<&str> = out.secrets.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(InputError::new(
            n::SECRETS,
            format!(
                "secret id {} is given twice (each id once across secrets, secret-envs and secret-files)",
                excerpt(w[0])
            ),
        ));
    }
    Ok(out)
}
