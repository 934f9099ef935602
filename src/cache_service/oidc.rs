//! Verifying GitHub Actions OIDC tokens: RS256 JWTs checked against the issuer's published
//! keys (a JWKS document), then the claims the exchange needs.
//!
//! Keys are cached by `kid` ([`super::jwks`]: fetched outside any lock, at most one fetch
//! at a time and one per [`OidcConfig::min_jwks_refresh`] for unknown keys).
//! The signature, `exp`, `nbf`, `iss` and `aud` checks are `jsonwebtoken`'s.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

pub use super::jwks::JWKS_MAX_AGE;
use super::jwks::{KeySet, NoKey};
use super::validate::quote_short;

/// github.com's issuer; GHES uses `https://HOST/_services/token`.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The audience the layercache action asks the runner for (`docs/serve.md` § OIDC).
pub use crate::cache_protocol::oidc::AUDIENCE as DEFAULT_AUDIENCE;

/// Which tokens the exchange accepts and what it grants.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub issuer: String,
    pub jwks_url: String,
    pub audience: String,
    /// `owner/repo` entries match `repository`; `owner/*` entries match its owner part
    /// (which must equal `repository_owner`, or the token is refused).
    pub allow: Vec<String>,
    /// The default branch each repository's jobs may read: `owner/repo` → ref, with
    /// `default_branch` for the others (OIDC claims do not carry it).
    pub default_branch: String,
    pub default_branches: HashMap<String, String>,
    /// Lifetime of the cache tokens minted.
    pub token_ttl: chrono::Duration,
    pub min_jwks_refresh: Duration,
}

impl OidcConfig {
    /// github.com's issuer and key URL, `refs/heads/main` as default branch, 6 h tokens.
    pub fn github(allow: Vec<String>) -> Self {
        Self {
            issuer: GITHUB_ISSUER.to_owned(),
            jwks_url: jwks_url_for(GITHUB_ISSUER),
            audience: DEFAULT_AUDIENCE.to_owned(),
            allow,
            default_branch: "refs/heads/main".to_owned(),
            default_branches: HashMap::new(),
            token_ttl: chrono::Duration::hours(6),
            min_jwks_refresh: Duration::from_secs(60),
        }
    }

    /// Whether `repository` (`owner/name`) is on the allow-list. An `owner/*` rule reads the
    /// owner from `repository` itself, the name scopes are built from.
    pub fn allows(&self, repository: &str) -> bool {
        let owner = repository.split_once('/').map(|(o, _)| o);
        self.allow.iter().any(|rule| match rule.strip_suffix("/*") {
            Some(o) => owner.is_some_and(|owner| o.eq_ignore_ascii_case(owner)),
            None => rule.eq_ignore_ascii_case(repository),
        })
    }

    /// The default-branch ref for `repository`.
    pub fn default_branch_of(&self, repository: &str) -> &str {
        self.default_branches
            .iter()
            .find(|(r, _)| r.eq_ignore_ascii_case(repository))
            .map_or(self.default_branch.as_str(), |(_, b)| b.as_str())
    }
}

/// Where an issuer publishes its keys (GitHub, github.com and GHES alike).
pub fn jwks_url_for(issuer: &str) -> String {
    format!("{}/.well-known/jwks", issuer.trim_end_matches('/'))
}

/// Whether `repository` is `owner/name` in GitHub's alphabet (letters, digits, `-`, `_`,
/// `.`): above all without `:`, which separates the repository from the ref in scopes.
fn well_formed(repository: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 100
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    repository
        .split_once('/')
        .is_some_and(|(owner, name)| part(owner) && part(name))
}

/// The claims of a GitHub Actions OIDC token the exchange reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GithubClaims {
    pub repository: String,
    pub repository_owner: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub event_name: String,
    /// The pull request's target branch (a branch name) for `pull_request*` events.
    #[serde(default)]
    pub base_ref: Option<String>,
    /// Numeric ids, which GitHub never reuses (names can be registered again).
    #[serde(default, deserialize_with = "loose_text")]
    pub repository_id: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub repository_owner_id: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub workflow: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub actor: Option<String>,
    #[serde(default, deserialize_with = "loose_text")]
    pub run_id: Option<String>,
}

/// A claim only carried along (for the minted token and the log): GitHub writes ids as
/// strings, a number is taken too, and anything else is left out rather than refusing
/// the token.
fn loose_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Why a token was refused: logged, and sent in the 401 body (it holds no token text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Malformed(String),
    UnknownKey(String),
    Expired,
    NotYetValid,
    WrongAudience,
    WrongIssuer,
    BadSignature,
    KeysUnavailable,
    RepositoryNotAllowed(String),
    /// `repository` is not `owner/name` of `repository_owner`.
    RepositoryOwnerMismatch {
        repository: String,
        owner: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed token: {why}"),
            Self::UnknownKey(kid) => write!(f, "signed with unknown key id {}", quote_short(kid)),
            Self::Expired => f.write_str("expired"),
            Self::NotYetValid => f.write_str("not valid yet (nbf)"),
            Self::WrongAudience => f.write_str("wrong audience (aud)"),
            Self::WrongIssuer => f.write_str("wrong issuer (iss)"),
            Self::BadSignature => f.write_str("signature does not verify"),
            Self::KeysUnavailable => f.write_str("the issuer's keys could not be fetched"),
            Self::RepositoryNotAllowed(r) => {
                write!(f, "repository {} is not allowed", quote_short(r))
            }
            Self::RepositoryOwnerMismatch { repository, owner } => write!(
                f,
                "repository {} is not a repository of repository_owner {}",
                quote_short(repository),
                quote_short(owner)
            ),
        }
    }
}

/// Verifies OIDC tokens for one issuer.
pub struct OidcVerifier {
    config: OidcConfig,
    keys: KeySet,
}

impl OidcVerifier {
    pub fn new(config: OidcConfig) -> Self {
        Self {
            keys: KeySet::new(&config.jwks_url, config.min_jwks_refresh),
            config,
        }
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Check `token` and return its claims if its repository is allowed.
    pub async fn verify(&self, token: &str) -> Result<GithubClaims, Refusal> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| Refusal::Malformed(format!("bad header: {e}")))?;
        if header.alg != Algorithm::RS256 {
            return Err(Refusal::Malformed(format!(
                "algorithm {:?}, expected RS256",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| Refusal::Malformed("no key id (kid)".to_owned()))?;
        let key = self.keys.key(&kid).await.map_err(|e| match e {
            NoKey::Unavailable => Refusal::KeysUnavailable,
            NoKey::Unknown(kid) => Refusal::UnknownKey(kid),
        })?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.config.audience]);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        let data =
            jsonwebtoken::decode::<GithubClaims>(token, &key, &validation).map_err(|e| match e
                .kind()
            {
                ErrorKind::ExpiredSignature => Refusal::Expired,
                ErrorKind::ImmatureSignature => Refusal::NotYetValid,
                ErrorKind::InvalidAudience => Refusal::WrongAudience,
                ErrorKind::InvalidIssuer => Refusal::WrongIssuer,
                ErrorKind::InvalidSignature => Refusal::BadSignature,
                _ => Refusal::Malformed(e.to_string()),
            })?;
        let claims = data.claims;
        if !well_formed(&claims.repository) {
            return Err(Refusal::Malformed(format!(
                "repository {} is not owner/name",
                quote_short(&claims.repository)
            )));
        }
        // Scopes are named by `repository`, an `owner/*` rule is about an owner: a token
        // whose two claims disagree is not one GitHub makes.
        let owner = claims.repository.split_once('/').map(|(o, _)| o);
        if !owner.is_some_and(|o| o.eq_ignore_ascii_case(&claims.repository_owner)) {
            return Err(Refusal::RepositoryOwnerMismatch {
                repository: claims.repository,
                owner: claims.repository_owner,
            });
        }
        if !self.config.allows(&claims.repository) {
            return Err(Refusal::RepositoryNotAllowed(claims.repository));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_matches_repositories_and_owners() {
        let c = OidcConfig::github(vec!["acme/web".into(), "tools/*".into()]);
        assert!(c.allows("acme/web"));
        assert!(c.allows("Acme/Web"));
        assert!(!c.allows("acme/api"));
        assert!(c.allows("tools/anything"));
        assert!(!c.allows("toolsx/a"));
        assert!(!c.allows("tools"));
    }

    #[test]
    fn repositories_are_owner_slash_name() {
        for good in ["acme/web", "a-b/c_d.e", "Acme/Web"] {
            assert!(well_formed(good), "{good}");
        }
        for bad in [
            "acme",
            "acme/",
            "/web",
            "acme/web/x",
            "acme/web:refs/heads/main",
            "a b/c",
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
    }

    #[test]
    fn carried_claims_take_strings_or_numbers() {
        let c: GithubClaims = serde_json::from_value(serde_json::json!({
            "repository": "acme/web", "repository_owner": "acme", "ref": "refs/heads/main",
            "event_name": "push", "repository_id": "74", "repository_owner_id": 65,
            "workflow": ["not", "text"],
        }))
        .unwrap();
        assert_eq!(c.repository_id.as_deref(), Some("74"));
        assert_eq!(c.repository_owner_id.as_deref(), Some("65"));
        assert_eq!(c.workflow, None);
    }

    #[test]
    fn refusals_quote_long_key_ids_cut_short() {
        let why = Refusal::UnknownKey("k".repeat(700_000)).to_string();
        assert!(why.len() < 200, "{} bytes", why.len());
        assert!(why.contains("(700000 characters)"), "{why}");
    }

    #[test]
    fn default_branch_per_repository() {
        let mut c = OidcConfig::github(vec![]);
        c.default_branches
            .insert("acme/old".into(), "refs/heads/master".into());
        assert_eq!(c.default_branch_of("acme/old"), "refs/heads/master");
        assert_eq!(c.default_branch_of("acme/new"), "refs/heads/main");
        assert_eq!(
            jwks_url_for("https://ghes.example/_services/token/"),
            "https://ghes.example/_services/token/.well-known/jwks"
        );
    }
}
