//! A cache service that refuses every write: a proxy in front of a real one (`layercache
//! serve`) that passes reads through and answers each write (v2 `CreateCacheEntry` and
//! `FinalizeCacheEntryUpload`, v1 reserve and upload, blob `PUT`s) with 403, counting them.
//! It is how a cache export fails for real without touching the service's code.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Clone)]
struct Upstream {
    base: String,
    client: reqwest::Client,
    refused: Arc<AtomicUsize>,
}

pub struct RefusingProxy {
    pub url: String,
    refused: Arc<AtomicUsize>,
}

impl RefusingProxy {
    /// Listen on `ip` (where the BuildKit under test can reach it) in front of `upstream`.
    pub async fn start(ip: std::net::IpAddr, upstream: &str) -> Self {
        let refused = Arc::new(AtomicUsize::new(0));
        let state = Upstream {
            base: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            refused: refused.clone(),
        };
        let app = axum::Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}/"),
            refused,
        }
    }

    /// Writes refused so far.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

fn is_write(method: &Method, path: &str) -> bool {
    path.contains("CreateCacheEntry")
        || path.contains("FinalizeCacheEntryUpload")
        || matches!(*method, Method::PUT | Method::PATCH)
        || (*method == Method::POST && path.trim_end_matches('/').ends_with("/caches"))
}

async fn handle(State(up): State<Upstream>, req: Request<Body>) -> Response {
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    if is_write(&method, &path) {
        up.refused.fetch_add(1, Ordering::SeqCst);
        let body = r#"{"code":"permission_denied","msg":"the test proxy refuses every write"}"#;
        return (StatusCode::FORBIDDEN, body).into_response();
    }
    let headers = req.headers().clone();
    let body: Bytes = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let mut forward = up
        .client
        .request(method, format!("{}{path}", up.base))
        .body(body);
    for (k, v) in headers.iter().filter(|(k, _)| *k != "host") {
        forward = forward.header(k, v);
    }
    match forward.send().await {
        Ok(resp) => {
            let status = resp.status();
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await.unwrap_or_default();
            let mut out = Response::new(Body::from(bytes));
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            out
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
