//! `github-token` for a Git context of the workflow's own repository, as build-push-action
//! v7 passes it: a build secret `GIT_AUTH_TOKEN.<host>` (host of `GITHUB_SERVER_URL`),
//! which BuildKit's Git source reads when it clones from that host. Scoping the name to the
//! host keeps the token from being offered to any other Git host the build fetches from.
//! A `GIT_AUTH_TOKEN` the user passes in `secrets` wins, as it does there.

use super::build_plan::{BuildContext, BuildSecret, SecretSource};
use crate::action::env::Env;
use crate::action::names::env::{GITHUB_REPOSITORY, GITHUB_SERVER_URL};
use crate::secret::Secret;

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
