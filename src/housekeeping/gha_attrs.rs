//! The `repository` and `ghtoken` attributes of BuildKit's `gha` cache export.
//!
//! With both set, BuildKit lists existing blob keys through the REST API once per token
//! scope instead of one cache lookup per layer (protocol.md §D.3), the fix for throttling
//! with `mode=max` (anchors.md §4 item 6). BuildKit hard-codes `api.github.com` for that
//! call, so on GitHub Enterprise Server the attributes would only cause failures.
//! build-push-action added them in v6.4.0 and reverted in v6.4.1 after blob-write
//! regressions (docker/build-push-action#1181), so the caller decides; this only builds them.

use crate::secret::Secret;

use super::client::{DEFAULT_API_URL, split_repository};

/// `repository=<owner/name>` and `ghtoken=<token>` for a `gha` `cache-to` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GhaRestAttrs {
    pub repository: String,
    pub ghtoken: Secret,
}

/// The attributes when they can work: a token, a valid `GITHUB_REPOSITORY`, and the API
/// at github.com. `None` otherwise (the export then checks blobs one by one, as today).
pub fn gha_rest_attrs(
    token: Option<&Secret>,
    repository: Option<&str>,
    api_url: Option<&str>,
) -> Option<GhaRestAttrs> {
    let token = token.filter(|t| !t.is_empty())?;
    let repository = repository?;
    split_repository(repository).ok()?;
    let api = api_url.unwrap_or(DEFAULT_API_URL).trim_end_matches('/');
    if api != DEFAULT_API_URL {
        tracing::debug!(
            "not passing ghtoken to BuildKit: its REST listing only knows api.github.com"
        );
        return None;
    }
    Some(GhaRestAttrs {
        repository: repository.to_owned(),
        ghtoken: token.clone(),
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn attrs_need_token_repository_and_github_com() {
        let t = Secret::new("ghs_x");
        let a = gha_rest_attrs(Some(&t), Some("o/r"), None).unwrap();
        assert_eq!(a.repository, "o/r");
        assert_eq!(a.ghtoken.expose(), "ghs_x");
        assert!(gha_rest_attrs(Some(&t), Some("o/r"), Some("https://api.github.com/")).is_some());
        assert_eq!(gha_rest_attrs(None, Some("o/r"), None), None);
        assert_eq!(
            gha_rest_attrs(Some(&Secret::new("")), Some("o/r"), None),
            None
        );
        assert_eq!(gha_rest_attrs(Some(&t), Some("not-a-repo"), None), None);
        assert_eq!(
            gha_rest_attrs(Some(&t), Some("o/r"), Some("https://ghes.example/api/v3")),
            None
        );
    }
}
