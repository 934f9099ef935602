//! Verifying GitHub Actions OIDC tokens: RS256 JWTs checked against the issuer's published
//! keys (a JWKS document), then the claims the exchange needs.
//!
//! Keys are cached by `kid`. A token naming a key not in the cache triggers one refetch,
//! but at most one per [`OidcConfig::min_jwks_refresh`] (a flood of made-up `kid`s must not
//! turn the service into a load generator for the issuer); the whole set is also refetched
//! once it is older than [`JWKS_MAX_AGE`], so rotated-out keys stop being accepted.
//! The signature, `exp`, `nbf`, `iss` and `aud` checks are `jsonwebtoken`'s.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tracing::{debug, warn};

/// github.com's issuer; GHES uses `https://HOST/_services/token`.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The audience the layercache action asks the runner for (`docs/serve.md` § OIDC).
pub const DEFAULT_AUDIENCE: &str = "layercache";
/// How long a fetched key set is trusted before it is fetched again.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);

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
            Self::UnknownKey(kid) => write!(f, "signed with unknown key id {kid:?}"),
            Self::Expired => f.write_str("expired"),
            Self::NotYetValid => f.write_str("not valid yet (nbf)"),
            Self::WrongAudience => f.write_str("wrong audience (aud)"),
            Self::WrongIssuer => f.write_str("wrong issuer (iss)"),
            Self::BadSignature => f.write_str("signature does not verify"),
            Self::KeysUnavailable => f.write_str("the issuer's keys could not be fetched"),
            Self::RepositoryNotAllowed(r) => write!(f, "repository {r:?} is not allowed"),
        }
    }
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

/// Verifies OIDC tokens for one issuer.
pub struct OidcVerifier {
    config: OidcConfig,
    http: reqwest::Client,
    cache: tokio::sync::Mutex<KeyCache>,
}

impl OidcVerifier {
    pub fn new(config: OidcConfig) -> Self {
        Self {
            config,
            http: reqwest::Client::new(),
            cache: tokio::sync::Mutex::new(KeyCache::default()),
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
        let key = self.key(&kid).await?;
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

    /// The key `kid`, refetching the set when it is unknown or old (rate-limited).
    async fn key(&self, kid: &str) -> Result<DecodingKey, Refusal> {
        let mut cache = self.cache.lock().await;
        let age = cache.fetched_at.map(|t| t.elapsed());
        let stale = age.is_none_or(|a| a > JWKS_MAX_AGE);
        let missing = !cache.keys.contains_key(kid);
        let may_fetch = age.is_none_or(|a| a >= self.config.min_jwks_refresh);
        if (stale || missing) && may_fetch {
            cache.fetched_at = Some(Instant::now());
            match self.fetch().await {
                Ok(keys) => cache.keys = keys,
                // Keep the keys we had: an issuer hiccup must not lock every job out.
                Err(why) => {
                    warn!(url = %self.config.jwks_url, error = %why, "failed to fetch the OIDC issuer's keys")
                }
            }
        }
        if cache.keys.is_empty() {
            return Err(Refusal::KeysUnavailable);
        }
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| Refusal::UnknownKey(kid.to_owned()))
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let resp = self
            .http
            .get(&self.config.jwks_url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?;
        let doc: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
        let entries = doc
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or("the document has no \"keys\" array")?;
        let mut keys = HashMap::new();
        // One key this crate cannot use (another type, say) must not hide the others.
        for entry in entries {
            let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
                continue;
            };
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(&jwk))
            else {
                continue;
            };
            keys.insert(kid, key);
        }
        debug!(keys = keys.len(), url = %self.config.jwks_url, "fetched the OIDC issuer's keys");
        Ok(keys)
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
