//! The OIDC exchange: `POST /_layercache/oidc/exchange` with a GitHub Actions OIDC token as
//! bearer returns a short-lived cache token of the kind [`super::auth`] verifies.
//!
//! What a token grants mirrors GitHub's own cache service: a job writes its own ref and
//! reads the default branch; a pull request also reads its base branch and never writes
//! it. Scopes are namespaced by repository (`owner/repo:refs/heads/main`), so one service
//! can hold the caches of every repository on its allow-list without one repository
//! reading, or poisoning, another's. The minted token also names the job it was made for
//! ([`Subject`]: repository and, when the OIDC token has them, its numeric ids, the
//! workflow and actor), which the REST endpoints check and log.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use serde::Serialize;
use tracing::{info, warn};

use super::auth::Subject;
use super::error::{Rest, ServiceError};
use super::oidc::{GithubClaims, OidcConfig};
use super::state::AppState;
use crate::cache_protocol::{AccessScope, READ, WRITE};

/// The exchange's answer. `token` is a secret: clients mask it and never log it.
#[derive(Debug, Serialize)]
pub struct ExchangeResponse {
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The scope the token writes, if any.
    pub write: Option<String>,
    /// The scopes it reads, in lookup order.
    pub read: Vec<String>,
}

/// A full ref from a claim that may be a bare branch name (`base_ref` is).
fn branch_ref(name: &str) -> String {
    if name.starts_with("refs/") {
        name.to_owned()
    } else {
        format!("refs/heads/{name}")
    }
}

/// The scopes a verified token's job gets (see the module docs).
pub fn grant(claims: &GithubClaims, config: &OidcConfig) -> Vec<AccessScope> {
    let repo = &claims.repository;
    let scoped = |r: &str| format!("{repo}:{r}");
    let default = branch_ref(config.default_branch_of(repo));
    let own = claims.git_ref.as_str();
    let is_pr = claims.event_name.starts_with("pull_request");
    let base = claims
        .base_ref
        .as_deref()
        .filter(|b| is_pr && !b.is_empty())
        .map(branch_ref);
    // A pull-request job never writes a branch it targets or the default branch
    // (`pull_request_target` runs carry the base branch as their own ref).
    let protected = is_pr && (own == default || base.as_deref() == Some(own));
    let mut scopes = Vec::new();
    if !own.is_empty() {
        scopes.push(AccessScope {
            scope: scoped(own),
            permission: if protected { READ } else { READ | WRITE },
        });
    }
    for read in base.into_iter().chain([default]) {
        let scope = scoped(&read);
        if !scopes.iter().any(|s| s.scope == scope) {
            scopes.push(AccessScope {
                scope,
                permission: READ,
            });
        }
    }
    scopes
}

/// Who the minted token is for, copied from the verified claims.
pub fn subject(claims: &GithubClaims) -> Subject {
    Subject {
        repository: Some(claims.repository.clone()),
        repository_id: claims.repository_id.clone(),
        repository_owner_id: claims.repository_owner_id.clone(),
        git_ref: Some(claims.git_ref.clone()).filter(|r| !r.is_empty()),
        workflow: claims.workflow.clone(),
        actor: claims.actor.clone(),
        run_id: claims.run_id.clone(),
    }
}

/// The exchange handler: 401 with the reason for any refused token.
pub async fn exchange(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<ExchangeResponse>, Rest> {
    let Some(oidc) = state.oidc.as_ref() else {
        return Err(Rest(ServiceError::NotFound(
            "this service has no OIDC configuration (start it with --oidc-allow)".to_owned(),
        )));
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| {
            Rest(ServiceError::Unauthenticated(
                "OIDC token refused: send it as Authorization: Bearer <token>".to_owned(),
            ))
        })?;
    let claims = oidc.verifier.verify(token).await.map_err(|why| {
        warn!(reason = %why, "OIDC token refused");
        Rest(ServiceError::Unauthenticated(format!(
            "OIDC token refused: {why}"
        )))
    })?;
    let config = oidc.verifier.config();
    let scopes = grant(&claims, config);
    let secret = oidc
        .issuer
        .issue_for(&subject(&claims), &scopes, config.token_ttl);
    let write = scopes
        .iter()
        .find(|s| s.permission & WRITE != 0)
        .map(|s| s.scope.clone());
    let read: Vec<String> = scopes.iter().map(|s| s.scope.clone()).collect();
    info!(
        repository = %claims.repository,
        repository_id = claims.repository_id.as_deref().unwrap_or("-"),
        repository_owner_id = claims.repository_owner_id.as_deref().unwrap_or("-"),
        workflow = claims.workflow.as_deref().unwrap_or("-"),
        event = %claims.event_name,
        write = write.as_deref().unwrap_or("-"),
        read = %read.join(","),
        "OIDC token exchanged for a cache token"
    );
    Ok(Json(ExchangeResponse {
        token: secret.expose().to_owned(),
        expires_at: chrono::Utc::now() + config.token_ttl,
        write,
        read,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(git_ref: &str, event: &str, base: Option<&str>) -> GithubClaims {
        GithubClaims {
            repository: "acme/web".into(),
            repository_owner: "acme".into(),
            git_ref: git_ref.into(),
            event_name: event.into(),
            base_ref: base.map(str::to_owned),
            ..GithubClaims::default()
        }
    }

    fn table(scopes: &[AccessScope]) -> Vec<(&str, u8)> {
        scopes
            .iter()
            .map(|s| (s.scope.as_str(), s.permission))
            .collect()
    }

    #[test]
    fn grants_follow_githubs_rules() {
        let c = OidcConfig::github(vec!["acme/*".into()]);
        let cases: &[(GithubClaims, Vec<(&str, u8)>)] = &[
            (
                claims("refs/heads/feature", "push", None),
                vec![
                    ("acme/web:refs/heads/feature", 3),
                    ("acme/web:refs/heads/main", 1),
                ],
            ),
            (
                claims("refs/heads/main", "push", None),
                vec![("acme/web:refs/heads/main", 3)],
            ),
            (
                claims("refs/pull/7/merge", "pull_request", Some("release")),
                vec![
                    ("acme/web:refs/pull/7/merge", 3),
                    ("acme/web:refs/heads/release", 1),
                    ("acme/web:refs/heads/main", 1),
                ],
            ),
            (
                claims("refs/heads/main", "pull_request_target", Some("main")),
                vec![("acme/web:refs/heads/main", 1)],
            ),
            (
                claims("refs/heads/release", "pull_request", Some("release")),
                vec![
                    ("acme/web:refs/heads/release", 1),
                    ("acme/web:refs/heads/main", 1),
                ],
            ),
        ];
        for (claims, want) in cases {
            assert_eq!(&table(&grant(claims, &c)), want, "{claims:?}");
        }
    }
}
