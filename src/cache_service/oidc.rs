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
use super::jwks::KeySet;
use super::validate::quote_short;

/// github.com's issuer; GHES uses `https://HOST/_services/token`.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The audience the layercache action asks the runner for (`docs/serve.md` § OIDC).
pub const DEFAULT_AUDIENCE: &str = "layercache";

/// Which tokens the exchange accepts and what it grants.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub issuer: String,
    pub jwks_url: String,
    pub audience: String,
    /// `owner/repo` entries match `repository`; `owner/*` entries match `repository_owner`.
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

    /// Whether `repository` (owned by `owner`) is on the allow-list.
    pub fn allows(&self, repository: &str, owner: &str) -> bool {
        self.allow.iter().any(|rule| match rule.strip_suffix("/*") {
            Some(o) => o.eq_ignore_ascii_case(owner),
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

/// The claims of a GitHub Actions OIDC token the exchange reads.
#[derive(Debug, Clone, Deserialize)]
pub struct GithubClaims {
    pub repository: String,
    pub repository_owner: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub event_name: String,
    /// The pull request's target branch (a branch name) for `pull_request*` events.
    #[serde(default)]
    pub base_ref: Option<String>,
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
        let key = self.keys.key(&kid).await?;
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
        if !self
            .config
            .allows(&claims.repository, &claims.repository_owner)
        {
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
        assert!(c.allows("acme/web", "acme"));
        assert!(c.allows("Acme/Web", "Acme"));
        assert!(!c.allows("acme/api", "acme"));
        assert!(c.allows("tools/anything", "tools"));
        assert!(!c.allows("toolsx/a", "toolsx"));
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
