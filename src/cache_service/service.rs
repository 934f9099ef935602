//! Wiring: the router, and running the service (from the `serve` command or in-process
//! from `layercache build`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use tokio::sync::oneshot;
use tracing::info;

use super::auth::TokenIssuer;
use super::error::ServiceError;
use super::exchange;
use super::faults::inject;
use super::hooks::Hooks;
use super::state::{AppState, ServiceConfig};
use super::{blob, rest, twirp, v1};
use crate::secret::Secret;

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
