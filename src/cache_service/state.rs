//! The service's configuration and the state every handler shares. Handlers depend on
//! this module and the router (`service`) on them, so no import runs in a circle.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, header};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::auth::{Access, TokenIssuer, TokenVerifier};
use super::cache::{Cache, Limits};
use super::error::ServiceError;
use super::faults::Faults;
use super::hooks::Hooks;
use super::oidc::{OidcConfig, OidcVerifier};
use super::signing::UrlSigner;
use super::tenant::RestGrant;
use crate::secret::Secret;
use crate::storage::{StorageConfig, StorageError};

/// Everything `layercache serve` (or an in-process service) needs.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub listen: SocketAddr,
    pub storage: StorageConfig,
    /// HS256 secret for tokens and URL signatures; `None` accepts unverified tokens.
    pub secret: Option<Secret>,
    /// The URL clients reach the service at; default: the request's `Host`.
    pub public_url: Option<String>,
    pub limits: Limits,
    /// How long a signed blob URL stays valid.
    pub url_ttl: chrono::Duration,
    /// GitHub OIDC tokens exchanged for cache tokens; `None`: no exchange endpoint.
    pub oidc: Option<OidcConfig>,
    /// Injected latency and failures (benchmarks, tests); none by default.
    pub faults: Faults,
}

impl ServiceConfig {
    pub fn new(listen: SocketAddr, storage: StorageConfig) -> Self {
        Self {
            listen,
            storage,
            secret: None,
            public_url: None,
            limits: Limits::default(),
            url_ttl: chrono::Duration::hours(1),
            oidc: None,
            faults: Faults::default(),
        }
    }
}

/// The OIDC side of a service: verifier plus the issuer of cache tokens.
pub struct OidcExchange {
    pub verifier: OidcVerifier,
    pub issuer: TokenIssuer,
}

/// Shared by every handler.
pub struct AppState {
    pub cache: Cache,
    pub verifier: TokenVerifier,
    pub signer: UrlSigner,
    pub limits: Limits,
    /// The OIDC exchange, when configured.
    pub oidc: Option<OidcExchange>,
    public_url: Option<String>,
    pub(super) faults: Faults,
    pub(super) hooks: Hooks,
}

impl AppState {
    /// Build the state: open storage and load the index.
    pub async fn new(config: &ServiceConfig) -> Result<Arc<Self>, StorageError> {
        let store = crate::storage::open(&config.storage).await?;
        Self::with_store(config, store).await
    }

    /// Build the state over an already opened store (`config.storage` is ignored).
    pub async fn with_store(
        config: &ServiceConfig,
        store: Arc<dyn crate::storage::BlobStore>,
    ) -> Result<Arc<Self>, StorageError> {
        let cache = Cache::load(store, config.limits.clone()).await?;
        // The exchange mints HS256 tokens, so it needs a secret: without a configured one
        // a per-process one (then only this instance accepts the tokens it minted).
        let secret = config.secret.clone().or_else(|| {
            config
                .oidc
                .as_ref()
                .map(|_| Secret::new(hex::encode(rand::random::<[u8; 32]>())))
        });
        // URL signatures use a key derived from the shared secret, so every instance of a
        // fleet accepts the others' URLs; without a secret, a per-process random key.
        let url_key = match &secret {
            Some(s) => {
                #[expect(clippy::expect_used)]
                let mut mac = Hmac::<Sha256>::new_from_slice(s.expose().as_bytes())
                    .expect("hmac accepts any key length");
                mac.update(b"layercache signed blob urls v1");
                Secret::new(hex::encode(mac.finalize().into_bytes()))
            }
            None => Secret::new(hex::encode(rand::random::<[u8; 32]>())),
        };
        Ok(Arc::new(Self {
            cache,
            oidc: match (&config.oidc, &secret) {
                (Some(oidc), Some(secret)) => Some(OidcExchange {
                    verifier: OidcVerifier::new(oidc.clone()),
                    issuer: TokenIssuer::new(secret.clone()),
                }),
                _ => None,
            },
            verifier: TokenVerifier::new(secret),
            signer: UrlSigner::new(url_key, config.url_ttl),
            limits: config.limits.clone(),
            public_url: config.public_url.clone(),
            faults: config.faults.clone(),
            hooks: Hooks::default(),
        }))
    }

    pub fn access(&self, headers: &HeaderMap) -> Result<Access, ServiceError> {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        self.verifier.check(auth)
    }

    /// What a REST call at `/repos/{owner}/{repo}` may do: the token is checked as for
    /// the cache protocols (GitHub's `token X` form is accepted too), then
    /// [`RestGrant::new`] decides whose entries it acts on.
    pub fn rest_access(
        &self,
        headers: &HeaderMap,
        owner: &str,
        repo: &str,
    ) -> Result<RestGrant, ServiceError> {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let Some(auth) = auth.filter(|a| a.len() > 7) else {
            return Err(ServiceError::Unauthenticated(
                "Requires authentication".to_owned(),
            ));
        };
        let bearer = auth.strip_prefix("token ").map(|t| format!("Bearer {t}"));
        let access = self
            .verifier
            .check(Some(bearer.as_deref().unwrap_or(auth)))?;
        RestGrant::new(access, &format!("{owner}/{repo}"))
    }

    /// Where signed URLs point: the configured public URL, else the request's host.
    pub fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(u) = &self.public_url {
            return u.trim_end_matches('/').to_owned();
        }
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("127.0.0.1");
        format!("http://{host}")
    }
}
