//! Where a mount lives in the cache: its keys, the cache version, and the service and token
//! to use, judged exactly as the layer cache's `gha` entries are (`plan::cache::fill_gha`:
//! `ACTIONS_CACHE_MODE`, read-only tokens, missing service).
//!
//! Key: `layercache-mount-<scope>-<id slug>-<id hash>-<content hash>`. Restoring looks up
//! the prefix without the content hash, which the service answers with the newest entry
//! of that mount (`restore-keys` style); the matched key's suffix is the hash of what was
//! restored, so a save of the same contents is known to be unchanged.

use sha2::{Digest, Sha256};

use crate::action::runtime::Runtime;
use crate::cache_client::CacheClient;
use crate::cache_protocol::Service;
use crate::cache_protocol::keys::MOUNT_PREFIX;
use crate::plan::BuildPlan;
use crate::plan::cache::{CacheOption, CacheType, Direction, fill_gha};

/// One direction's service, or why it is not used.
pub type Access = Result<CacheClient, String>;

/// The cache version of every mount entry: the archive format. Entries of another format
/// are never matched.
pub fn version() -> String {
    hex::encode(Sha256::digest(b"layercache cache mount v1: tar+gzip"))
}

/// The key of `id` in `scope` without the content hash; lookups match it as a prefix.
pub fn key_prefix(scope: &str, id: &str) -> String {
    let slug: String = id
        .trim_matches('/')
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' => c,
            _ => '-',
        })
        .take(48)
        .collect();
    // The slug alone could collide (`/a/b` and `a-b`); the hash of the id cannot.
    let id_hash = &hex::encode(Sha256::digest(id.as_bytes()))[..8];
    format!("{MOUNT_PREFIX}{scope}-{slug}-{id_hash}-")
}

/// The content hash of an entry found under `prefix`.
pub fn content_hash<'a>(prefix: &str, matched_key: &'a str) -> Option<&'a str> {
    matched_key.strip_prefix(prefix).filter(|h| !h.is_empty())
}

/// Whether the user asked for a `gha` export (kept or left out by policy): mounts follow
/// the layer cache.
pub fn wanted(plan: &BuildPlan) -> bool {
    plan.cache_to.iter().any(|e| e.kind == CacheType::Gha)
        || plan
            .cache_skipped
            .iter()
            .any(|s| s.input == Direction::To.input() && s.entry.starts_with("type=gha"))
}

/// The scope mounts are kept under: a `gha` export's own `scope=` (one other than the
/// plan's, which is filled in when none is given), else the mounts' scope of the plan.
pub fn scope(plan: &BuildPlan) -> String {
    plan.cache_to
        .iter()
        .filter(|e| e.kind == CacheType::Gha)
        .filter_map(|e| e.attr("scope"))
        .find(|s| *s != plan.scope)
        .unwrap_or(&plan.cache_mounts.scope)
        .to_owned()
}

/// The service and token for `direction`: the user's own `gha` entry when there is one
/// (its `url`, `token`), else one filled from the runtime under the same rules.
pub fn access(plan: &BuildPlan, runtime: &Runtime, direction: Direction) -> Access {
    let entries = match direction {
        Direction::From => &plan.cache_from,
        Direction::To => &plan.cache_to,
    };
    let service = match entries.iter().find(|e| e.kind == CacheType::Gha) {
        Some(e) => e.service.clone(),
        None => {
            let mut blank = CacheOption {
                kind: CacheType::Gha,
                attrs: Default::default(),
                secrets: Default::default(),
                service: None,
            };
            fill_gha(&mut blank, direction, runtime, &scope(plan)).map_err(|s| s.reason)?;
            blank.service
        }
    };
    let Service { endpoint, token } = service.ok_or("the gha entry names no cache service")?;
    Ok(CacheClient::new(endpoint, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_ids_and_carry_the_content_hash() {
        let a = key_prefix("app", "/root/.cache/pip");
        assert!(
            a.starts_with("layercache-mount-app-root-.cache-pip-"),
            "{a}"
        );
        assert_ne!(a, key_prefix("app", "root-.cache-pip"));
        assert_ne!(a, key_prefix("other", "/root/.cache/pip"));
        let key = format!("{a}0123abcd");
        assert_eq!(content_hash(&a, &key), Some("0123abcd"));
        assert_eq!(content_hash(&a, &a), None);
        assert!(key_prefix("s", &"x".repeat(400)).len() < 120);
    }

    fn plan_with(env: &[(&str, &str)], inputs: &[(&str, &str)]) -> (BuildPlan, Runtime) {
        use crate::action::env::Env;
        use crate::action::inputs::Inputs;
        let env = Env::from_pairs(env.iter().copied());
        let inputs = Inputs::from_pairs(
            crate::action::names::INPUTS,
            inputs.iter().map(|(k, v)| (*k, (*v).to_owned())),
        )
        .unwrap();
        let runtime = Runtime::from_env(&env);
        (
            crate::plan::parse(&inputs, &runtime, &env).unwrap(),
            runtime,
        )
    }

    /// A token whose `ac` claim grants `permission` on refs/heads/main (1 read, 3 write).
    fn token(permission: u8) -> String {
        use base64::Engine as _;
        let ac = format!(r#"[{{"Scope":"refs/heads/main","Permission":{permission}}}]"#);
        let claims = serde_json::json!({ "ac": ac, "exp": 4102444800u64 });
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("eyJhbGciOiJSUzI1NiJ9.{body}.c2ln")
    }

    /// Mounts follow the layer cache's rules: a gha export turns them on, the cache mode
    /// and a read-only token decide what may be read and written.
    #[test]
    fn policy_is_judged_as_for_layers() {
        let rw = token(3);
        let ro = token(1);
        let service = ("ACTIONS_RESULTS_URL", "http://127.0.0.1:9/");
        let gha = [("cache-to", "type=gha")];
        type Pairs<'a> = &'a [(&'a str, &'a str)];
        // env, inputs → wanted, may restore, may save
        let cases: &[(Pairs<'_>, Pairs<'_>, bool, bool, bool)] = &[
            (
                &[service, ("ACTIONS_RUNTIME_TOKEN", &rw)],
                &gha,
                true,
                true,
                true,
            ),
            (
                &[service, ("ACTIONS_RUNTIME_TOKEN", &rw)],
                &[],
                false,
                true,
                true,
            ),
            (
                &[service, ("ACTIONS_RUNTIME_TOKEN", &ro)],
                &gha,
                true,
                true,
                false,
            ),
            (
                &[
                    service,
                    ("ACTIONS_RUNTIME_TOKEN", &rw),
                    ("ACTIONS_CACHE_MODE", "read"),
                ],
                &gha,
                true,
                true,
                false,
            ),
            (
                &[
                    service,
                    ("ACTIONS_RUNTIME_TOKEN", &rw),
                    ("ACTIONS_CACHE_MODE", "write-only"),
                ],
                &gha,
                true,
                false,
                true,
            ),
            (&[("ACTIONS_RUNTIME_TOKEN", &rw)], &gha, true, false, false),
        ];
        for (i, (env, inputs, want, read, write)) in cases.iter().enumerate() {
            let (plan, runtime) = plan_with(env, inputs);
            assert_eq!(wanted(&plan), *want, "case {i}");
            let r = access(&plan, &runtime, Direction::From);
            let w = access(&plan, &runtime, Direction::To);
            assert_eq!(
                (r.is_ok(), w.is_ok()),
                (*read, *write),
                "case {i}: {:?} {:?}",
                r.err(),
                w.err()
            );
        }
    }
}
