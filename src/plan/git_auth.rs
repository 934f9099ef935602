//! The workflow's own repository as a Git context, as build-push-action v7 uses it.
//!
//! - The default context: with no `context`, BuildKit fetches
//!   `${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}.git#${GITHUB_SHA}` itself, so no checkout
//!   step is needed; `{{defaultContext}}` (and `{{defaultContext}}:subdir`) in `context` and
//!   `build-contexts` expand to it (actions-toolkit `Build.gitContext`, build-push-action
//!   `context.ts` `getInputs`).
//! - `github-token` for it: a build secret `GIT_AUTH_TOKEN.<host>` (host of
//!   `GITHUB_SERVER_URL`), which BuildKit's Git source reads when it clones from that host.
//!   Scoping the name to the host keeps the token from being offered to any other Git host
//!   the build fetches from. A `GIT_AUTH_TOKEN` the user passes in `secrets` wins, as it
//!   does there.

use super::build_plan::{BuildContext, BuildSecret, SecretSource};
use crate::action::InputError;
use crate::action::env::Env;
use crate::action::inputs::Inputs;
use crate::action::names::env::{GITHUB_REPOSITORY, GITHUB_SERVER_URL};
use crate::action::names::{BUILD_CONTEXTS, CONTEXT};
use crate::secret::Secret;

/// build-push-action's default context, or `None` outside a workflow run (no repository).
/// The fragment form `<repo>.git#<commit>` pins the event's commit; with
/// `DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF` a pull request builds its head commit (from
/// the event payload) instead of the merge commit. `env` may read `GITHUB_EVENT_PATH`.
pub fn default_context(env: &Env) -> Option<String> {
    let server = env
        .get(GITHUB_SERVER_URL)
        .unwrap_or(DEFAULT_SERVER_URL)
        .trim_end_matches('/');
    let repository = env.get(GITHUB_REPOSITORY)?;
    let mut git_ref = env.get("GITHUB_REF").unwrap_or_default().to_owned();
    if !git_ref.starts_with("refs/") {
        git_ref = format!("refs/heads/{git_ref}");
    } else if git_ref.starts_with("refs/pull/")
        && env
            .get("DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF")
            .is_some_and(is_true)
        && let Some(head) = git_ref.strip_suffix("/merge")
    {
        git_ref = format!("{head}/head");
    }
    let mut pinned = env.get("GITHUB_SHA").map_or(git_ref.clone(), str::to_owned);
    if git_ref.starts_with("refs/pull/") && git_ref.ends_with("/head") {
        pinned = pull_request_head_sha(env).unwrap_or(git_ref);
    }
    Some(format!("{server}/{repository}.git#{pinned}"))
}

/// `Util.parseBoolOrDefault`: what Node's toolkit takes for true.
fn is_true(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "y" | "on"
    )
}

fn pull_request_head_sha(env: &Env) -> Option<String> {
    let text = std::fs::read_to_string(env.get("GITHUB_EVENT_PATH")?).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["pull_request"]["head"]["sha"]
        .as_str()
        .map(str::to_owned)
}

/// `{{defaultContext}}` (spaces inside the braces allowed, as Handlebars takes them)
/// replaced by `default`.
pub fn expand_default_context(value: &str, default: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) if after[..end].trim() == "defaultContext" => {
                out.push_str(&rest[..start]);
                out.push_str(default);
                rest = &after[end + 2..];
            }
            _ => {
                out.push_str(&rest[..start + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// What build-push-action's `getInputs` does before anything reads `context` and
/// `build-contexts`: the default Git context when `context` is empty, and
/// `{{defaultContext}}` expanded in both. Returns the default context, if there is one.
pub fn apply_default_context(inputs: &mut Inputs, env: &Env) -> Result<Option<String>, InputError> {
    let Some(default) = default_context(env) else {
        return Ok(None);
    };
    let context = match inputs.text(CONTEXT) {
        Some(c) => expand_default_context(&c, &default),
        None => default.clone(),
    };
    inputs.set_text(CONTEXT, context);
    let contexts = inputs.list(BUILD_CONTEXTS)?;
    if contexts.iter().any(|c| c.contains("{{")) {
        let expanded = contexts
            .iter()
            .map(|c| expand_default_context(c, &default))
            .collect();
        inputs.set_list(BUILD_CONTEXTS, expanded);
    }
    Ok(Some(default))
}

/// The id build-push-action gives the token (before the `.<host>` suffix).
pub const GIT_AUTH_TOKEN: &str = "GIT_AUTH_TOKEN";

const DEFAULT_SERVER_URL: &str = "https://github.com";

/// The secret to add for `context`, if it is a Git URL of `GITHUB_REPOSITORY` on the
/// workflow's server and the user passed no Git token of their own.
pub fn git_auth_secret(
    context: &BuildContext,
    token: Option<&Secret>,
    secrets: &[BuildSecret],
    env: &Env,
) -> Option<BuildSecret> {
    let (BuildContext::Remote(url), Some(token)) = (context, token) else {
        return None;
    };
    let user_has_one = secrets
        .iter()
        .any(|s| s.id == GIT_AUTH_TOKEN || s.id.starts_with("GIT_AUTH_TOKEN."));
    if user_has_one {
        return None;
    }
    let server = env
        .get(GITHUB_SERVER_URL)
        .unwrap_or(DEFAULT_SERVER_URL)
        .trim_end_matches('/');
    let repository = env.get(GITHUB_REPOSITORY)?;
    let own = format!("{server}/{repository}.git");
    // build-push-action: `context.startsWith(Context.gitContext())`, the repository's URL
    // with `#<ref>`; any ref (and `:subdir`) of the same repository qualifies here.
    let rest = url.strip_prefix(&own)?;
    if !(rest.is_empty() || rest.starts_with('#')) {
        return None;
    }
    let host = server
        .split_once("://")
        .map_or(server, |(_, h)| h)
        .split('/')
        .next()
        .filter(|h| !h.is_empty())?;
    Some(BuildSecret {
        id: format!("{GIT_AUTH_TOKEN}.{host}"),
        source: SecretSource::Value(token.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_context_is_the_events_commit_of_the_repository() {
        let sha = "ffac537e6cbbf934b08745a378932722df287a53";
        let e = env(&[
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_SHA", sha),
        ]);
        let want = format!("https://github.com/o/r.git#{sha}");
        assert_eq!(default_context(&e).as_deref(), Some(want.as_str()));
        let no_sha = env(&[("GITHUB_REPOSITORY", "o/r"), ("GITHUB_REF", "main")]);
        assert_eq!(
            default_context(&no_sha).as_deref(),
            Some("https://github.com/o/r.git#refs/heads/main")
        );
        assert_eq!(default_context(&env(&[])), None);

        let dir = tempfile::tempdir().unwrap();
        let event = dir.path().join("event.json");
        std::fs::write(&event, r#"{"pull_request":{"head":{"sha":"abc123"}}}"#).unwrap();
        let pr = |head_ref: &str| {
            env(&[
                ("GITHUB_REPOSITORY", "o/r"),
                ("GITHUB_SERVER_URL", "http://127.0.0.1:9/"),
                ("GITHUB_REF", "refs/pull/7/merge"),
                ("GITHUB_SHA", sha),
                ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
                ("DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF", head_ref),
            ])
        };
        let merge = format!("http://127.0.0.1:9/o/r.git#{sha}");
        assert_eq!(
            default_context(&pr("false")).as_deref(),
            Some(merge.as_str())
        );
        assert_eq!(
            default_context(&pr("true")).as_deref(),
            Some("http://127.0.0.1:9/o/r.git#abc123")
        );
    }

    #[test]
    fn default_context_placeholders_expand_in_context_and_build_contexts() {
        let d = "https://github.com/o/r.git#abc";
        assert_eq!(expand_default_context("{{defaultContext}}", d), d);
        assert_eq!(
            expand_default_context("{{ defaultContext }}:docker/app", d),
            format!("{d}:docker/app")
        );
        assert_eq!(expand_default_context("{{other}}/x", d), "{{other}}/x");
        assert_eq!(expand_default_context("./app", d), "./app");

        use crate::action::names as n;
        let e = env(&[("GITHUB_REPOSITORY", "o/r"), ("GITHUB_SHA", "abc")]);
        let mut i = Inputs::from_pairs(
            n::INPUTS,
            [(
                n::BUILD_CONTEXTS,
                "src={{defaultContext}}:src\nlib=./lib".to_owned(),
            )],
        )
        .unwrap();
        assert_eq!(
            apply_default_context(&mut i, &e).unwrap().as_deref(),
            Some(d)
        );
        assert_eq!(i.text(n::CONTEXT).as_deref(), Some(d));
        assert_eq!(
            i.list(n::BUILD_CONTEXTS).unwrap(),
            [format!("src={d}:src"), "lib=./lib".to_owned()]
        );
        let mut given = Inputs::from_pairs(
            n::INPUTS,
            [(n::CONTEXT, "{{defaultContext}}:sub".to_owned())],
        )
        .unwrap();
        apply_default_context(&mut given, &e).unwrap();
        assert_eq!(given.text(n::CONTEXT), Some(format!("{d}:sub")));
        let mut local = Inputs::from_pairs(n::INPUTS, [(n::CONTEXT, ".".to_owned())]).unwrap();
        apply_default_context(&mut local, &e).unwrap();
        assert_eq!(local.text(n::CONTEXT).as_deref(), Some("."));
    }

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    fn remote(url: &str) -> BuildContext {
        BuildContext::Remote(url.to_owned())
    }

    #[test]
    fn own_repository_contexts_get_the_token_under_the_hosts_name() {
        let token = Secret::new("ghs_canary".to_owned());
        let e = env(&[("GITHUB_REPOSITORY", "o/r")]);
        for url in [
            "https://github.com/o/r.git#0123abcd",
            "https://github.com/o/r.git#refs/pull/1/merge:sub/dir",
            "https://github.com/o/r.git",
        ] {
            let s = git_auth_secret(&remote(url), Some(&token), &[], &e).expect(url);
            assert_eq!(s.id, "GIT_AUTH_TOKEN.github.com");
            assert_eq!(s.source, SecretSource::Value(token.clone()));
        }
        let ghes = env(&[
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_SERVER_URL", "https://ghes.corp/"),
        ]);
        let s = git_auth_secret(
            &remote("https://ghes.corp/o/r.git#main"),
            Some(&token),
            &[],
            &ghes,
        );
        assert_eq!(s.map(|s| s.id), Some("GIT_AUTH_TOKEN.ghes.corp".to_owned()));
    }

    #[test]
    fn other_contexts_and_user_tokens_get_nothing() {
        let token = Secret::new("ghs_canary".to_owned());
        let e = env(&[("GITHUB_REPOSITORY", "o/r")]);
        for url in [
            "https://github.com/o/other.git#main",
            "https://github.com/o/r.github.io.git#main",
            "https://gitlab.com/o/r.git#main",
            "https://example.com/context.tar.gz",
        ] {
            assert_eq!(
                git_auth_secret(&remote(url), Some(&token), &[], &e),
                None,
                "{url}"
            );
        }
        let own = remote("https://github.com/o/r.git#main");
        assert_eq!(git_auth_secret(&own, None, &[], &e), None);
        assert_eq!(
            git_auth_secret(&BuildContext::Local(".".into()), Some(&token), &[], &e),
            None
        );
        assert_eq!(git_auth_secret(&own, Some(&token), &[], &env(&[])), None);
        let mine = BuildSecret {
            id: "GIT_AUTH_TOKEN".into(),
            source: SecretSource::Env("PAT".into()),
        };
        assert_eq!(git_auth_secret(&own, Some(&token), &[mine], &e), None);
    }

    #[test]
    fn the_plan_carries_the_token_for_the_repositorys_git_context_and_never_shows_it() {
        use crate::action::names as n;
        let canary = "ghs_canary_git_auth_7c1d";
        let inputs = |context: &str| {
            crate::action::inputs::Inputs::from_pairs(
                n::INPUTS,
                [
                    (n::CONTEXT, context.to_owned()),
                    (n::GITHUB_TOKEN, canary.to_owned()),
                ],
            )
            .unwrap()
        };
        let e = env(&[("GITHUB_REPOSITORY", "o/r")]);
        let rt = crate::action::runtime::Runtime::from_env(&e);
        let plan = crate::plan::parse(&inputs("https://github.com/o/r.git#main"), &rt, &e).unwrap();
        let ids: Vec<&str> = plan.secrets.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["GIT_AUTH_TOKEN.github.com"]);
        assert!(!format!("{plan:?}").contains(canary));
        let other =
            crate::plan::parse(&inputs("https://github.com/x/y.git#main"), &rt, &e).unwrap();
        assert!(other.secrets.is_empty());
    }
}
