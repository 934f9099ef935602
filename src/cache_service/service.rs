//! Wiring: configuration, shared state, the router, and running the service (from the
//! `serve` command or in-process from `layercache build`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post, put};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::oneshot;
use tracing::info;

use super::auth::{Access, TokenIssuer, TokenVerifier};
use super::cache::{Cache, Limits};
use super::error::ServiceError;
use super::exchange::{self, OidcExchange};
use super::faults::{Faults, inject};
use super::hooks::Hooks;
use super::oidc::{OidcConfig, OidcVerifier};
use super::signing::UrlSigner;
use super::tenant::RestGrant;
use super::{blob, rest, twirp, v1};
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

/// Shared by every handler.
pub struct AppState {
    pub cache: Cache,
    pub verifier: TokenVerifier,
    pub signer: UrlSigner,
    pub limits: Limits,
    /// The OIDC exchange, when configured.
    pub oidc: Option<OidcExchange>,
    public_url: Option<String>,
    faults: Faults,
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

/// The routes of all three protocols plus the REST API.
pub fn router(state: Arc<AppState>) -> Router {
    let faults = state.faults.clone();
    let app = routes(state);
    match faults.active() {
        true => app.layer(axum::middleware::from_fn_with_state(faults, inject)),
        false => app,
    }
}

fn routes(state: Arc<AppState>) -> Router {
    let v1_routes = Router::new()
        .route("/cache", get(v1::lookup))
        .route("/caches", get(v1::list).post(v1::reserve))
        .route(
            "/caches/{id}",
            axum::routing::patch(v1::upload).post(v1::commit),
        );
    Router::new()
        // The relay's reachability probe: BuildKit fetches it as an HTTP source
        // (engine::relay_probe). It answers anyone and holds nothing.
        .route("/_layercache/probe", get(|| async { "layercache\n" }))
        .route(
            &format!("{}/{{method}}", twirp::PREFIX),
            post(twirp::dispatch),
        )
        .route(
            crate::cache_protocol::oidc::EXCHANGE_PATH,
            post(exchange::exchange),
        )
        .route(
            "/blob/cache/{id}",
            put(blob::put).get(blob::get).head(blob::get),
        )
        .nest("/_apis/artifactcache", v1_routes.clone())
        // act and some runners put an opaque segment before `_apis`.
        .nest("/{prefix}/_apis/artifactcache", v1_routes)
        .route(
            "/repos/{owner}/{repo}/actions/caches",
            get(rest::list).delete(rest::delete_by_key),
        )
        .route(
            "/repos/{owner}/{repo}/actions/caches/{id}",
            axum::routing::delete(rest::delete_by_id),
        )
        .route(
            "/repos/{owner}/{repo}/actions/cache/usage",
            get(rest::usage),
        )
        // Bodies are streamed to storage; the JSON bodies that are collected stay tiny.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// A service running in this process.
pub struct RunningService {
    /// `http://127.0.0.1:PORT`, for `ACTIONS_RESULTS_URL` / `ACTIONS_CACHE_URL`.
    pub base_url: String,
    issuer: TokenIssuer,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningService {
    /// A token that reads and writes `git_ref`, for `ACTIONS_RUNTIME_TOKEN`.
    pub fn token(&self, git_ref: &str) -> Secret {
        self.issuer
            .for_ref(git_ref, &[], chrono::Duration::hours(6))
    }

    pub fn issuer(&self) -> &TokenIssuer {
        &self.issuer
    }

    /// Stop accepting requests, let running ones finish, and wait.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Bind, load storage and serve in a background task. Without a configured secret a random
/// one is made, so tokens from [`RunningService::token`] are verified.
pub async fn spawn(config: ServiceConfig) -> Result<RunningService, ServiceError> {
    spawn_with(config, Hooks::default()).await
}

/// [`spawn`] with hooks (the relay's front).
pub async fn spawn_with(
    mut config: ServiceConfig,
    hooks: Hooks,
) -> Result<RunningService, ServiceError> {
    let secret = config
        .secret
        .get_or_insert_with(|| Secret::new(hex::encode(rand::random::<[u8; 32]>())))
        .clone();
    let mut state = AppState::new(&config).await?;
    if let Some(s) = Arc::get_mut(&mut state) {
        s.hooks = hooks;
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| bind_error(config.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| bind_error(config.listen, e))?;
    let (tx, rx) = oneshot::channel();
    let app = router(state);
    let task = tokio::spawn(async move {
        super::http::serve(listener, app, async move {
            let _ = rx.await;
        })
        .await;
    });
    info!(%addr, "cache service listening");
    Ok(RunningService {
        base_url: config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}")),
        issuer: TokenIssuer::new(secret),
        shutdown: Some(tx),
        task,
    })
}

fn bind_error(addr: SocketAddr, source: std::io::Error) -> ServiceError {
    ServiceError::Listen { addr, source }
}
