//! Who may read and write which refs: the bearer token's `ac` claim.
//!
//! # How tokens are checked
//!
//! Clients send `Authorization: Bearer <JWT>`, the `ACTIONS_RUNTIME_TOKEN` they were given.
//! The JWT's `ac` claim is a JSON **string** holding an array of `{"Scope": "<ref>",
//! "Permission": <bits>}` (1 = read, 2 = write, 3 = both), the shape GitHub's runtime
//! tokens carry (docs/cache-protocol.md § Runtime token and scopes). A request reads from
//! every readable ref (writable refs first, then the others in token order) and writes to
//! the first writable one.
//!
//! - **With a signing secret** (`--secret-file` / `LAYERCACHE_SERVE_SECRET`), the token
//!   must be an HS256 JWT signed with that secret and must carry `exp`; `nbf`, if present,
//!   is honoured. This is how a fleet shares one service: every runner gets a token made by
//!   [`TokenIssuer`] (`layercache serve token --ref refs/heads/main ...`).
//! - **Without a secret**, the token is decoded without verification, as other
//!   GitHub-compatible cache servers do (GitHub's own tokens are RS256 and cannot be checked
//!   here). Anyone who can reach the service can then claim any ref; the service says so
//!   in a startup warning. `exp` is still honoured.
//!
//! Tokens the OIDC exchange mints also name the job they were made for ([`Subject`]:
//! repository, its ids, ref, workflow), which the REST endpoints use to tell which
//! repository a token belongs to ([`super::tenant`]) and to say who deleted what.

use super::error::ServiceError;
pub use crate::cache_protocol::claims::Subject;
use crate::cache_protocol::claims::{self, Claims, TokenError};
use crate::cache_protocol::{AccessScope, READ, WRITE};
use crate::secret::Secret;

/// What a request may do, from its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub scopes: Vec<AccessScope>,
    pub subject: Subject,
}

impl Access {
    /// Refs to read from, in lookup order: writable (the run's own ref) first.
    pub fn readable(&self) -> Vec<&str> {
        let own = self.scopes.iter().filter(|s| s.writable());
        let others = self.scopes.iter().filter(|s| !s.writable());
        own.chain(others)
            .filter(|s| s.readable())
            .map(|s| s.scope.as_str())
            .collect()
    }

    /// The ref new entries go to, if the token may write.
    pub fn writable(&self) -> Option<&str> {
        self.scopes
            .iter()
            .find(|s| s.writable())
            .map(|s| s.scope.as_str())
    }

    /// Whether the token may write (and so delete) entries of `scope`.
    pub fn writes(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s.scope == scope && s.writable())
    }
}

/// Checks bearer tokens; see the module docs for the rules.
#[derive(Clone)]
pub struct TokenVerifier {
    secret: Option<Secret>,
}

impl TokenVerifier {
    pub fn new(secret: Option<Secret>) -> Self {
        Self { secret }
    }

    pub fn verifies_signatures(&self) -> bool {
        self.secret.is_some()
    }

    /// The access an `Authorization` header value grants.
    pub fn check(&self, authorization: Option<&str>) -> Result<Access, ServiceError> {
        let unauth = |why: &str| ServiceError::Unauthenticated(format!("invalid token: {why}"));
        let value = authorization.ok_or_else(|| {
            ServiceError::Unauthenticated("missing Authorization: Bearer token".to_owned())
        })?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| unauth("not a bearer token"))?
            .trim();
        let claims = match &self.secret {
            Some(secret) => claims::verify_hs256(token, secret),
            None => claims::read_unverified(token),
        }
        .map_err(|e| match e {
            TokenError::Payload => unauth("no `ac` claim"),
            e => unauth(&e.to_string()),
        })?;
        if claims.ac.is_null() {
            return Err(unauth("no `ac` claim"));
        }
        let now = chrono::Utc::now().timestamp();
        match claims.exp {
            Some(exp) if exp < now => return Err(unauth("expired")),
            None if self.secret.is_some() => return Err(unauth("no `exp` claim")),
            _ => {}
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + 60) {
            return Err(unauth("not valid yet"));
        }
        let scopes = claims
            .scopes()
            .map_err(|_| unauth("`ac` is not a scope list"))?;
        Ok(Access {
            scopes,
            subject: claims.subject,
        })
    }
}

/// Makes tokens the service accepts: HS256 JWTs with GitHub's `ac` claim shape.
#[derive(Clone)]
pub struct TokenIssuer {
    secret: Secret,
}

impl TokenIssuer {
    pub fn new(secret: Secret) -> Self {
        Self { secret }
    }

    /// A token granting `scopes`, valid for `ttl`.
    pub fn issue(&self, scopes: &[AccessScope], ttl: chrono::Duration) -> Secret {
        self.issue_for(&Subject::default(), scopes, ttl)
    }

    /// A token granting `scopes` to the job `subject` names, valid for `ttl`.
    pub fn issue_for(
        &self,
        subject: &Subject,
        scopes: &[AccessScope],
        ttl: chrono::Duration,
    ) -> Secret {
        let now = chrono::Utc::now().timestamp();
        let ac = serde_json::to_string(scopes).unwrap_or_else(|_| "[]".to_owned());
        let claims = Claims {
            ac: serde_json::Value::String(ac),
            exp: Some(now + ttl.num_seconds()),
            nbf: Some(now - 5),
            iat: Some(now),
            iss: Some("layercache".to_owned()),
            subject: subject.clone(),
        };
        // Signing a claim set of strings and numbers cannot fail; an empty token would
        // only be refused by the service.
        claims::sign_hs256(&claims, &self.secret).unwrap_or_else(|_| Secret::new(String::new()))
    }

    /// A token that can read and write `git_ref` and read `read_refs`.
    pub fn for_ref(&self, git_ref: &str, read_refs: &[String], ttl: chrono::Duration) -> Secret {
        let mut scopes = vec![AccessScope {
            scope: git_ref.to_owned(),
            permission: READ | WRITE,
        }];
        scopes.extend(read_refs.iter().map(|r| AccessScope {
            scope: r.clone(),
            permission: READ,
        }));
        self.issue(&scopes, ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_name_their_job_and_plain_ones_do_not() {
        let issuer = TokenIssuer::new(Secret::new("test-secret-0123456789"));
        let verifier = TokenVerifier::new(Some(Secret::new("test-secret-0123456789")));
        let subject = Subject {
            repository: Some("acme/web".into()),
            repository_id: Some("42".into()),
            git_ref: Some("refs/heads/main".into()),
            workflow: Some("ci".into()),
            ..Subject::default()
        };
        let scopes = [AccessScope {
            scope: "acme/web:refs/heads/main".into(),
            permission: READ | WRITE,
        }];
        let token = issuer.issue_for(&subject, &scopes, chrono::Duration::hours(1));
        let access = verifier
            .check(Some(&format!("Bearer {}", token.expose())))
            .unwrap();
        assert_eq!(access.subject, subject);
        assert!(access.writes("acme/web:refs/heads/main"));
        assert!(!access.writes("acme/web:refs/heads/other"));

        let plain = issuer.for_ref("refs/heads/main", &[], chrono::Duration::hours(1));
        let access = verifier
            .check(Some(&format!("Bearer {}", plain.expose())))
            .unwrap();
        assert_eq!(access.subject, Subject::default());
    }
}
