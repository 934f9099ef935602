//! Injected latency and failures, for benchmarks and tests of clients that must survive a
//! slow or flaky service (`layercache serve --latency-ms/--fail-share/--throttle-share`;
//! docs/serve.md § Fault injection). Off unless configured; a fault answers before the
//! handler runs, so it changes nothing in the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// What to inject into every request.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Delay before every answer.
    pub latency: Duration,
    /// Share of requests (0..=1) answered `503`.
    pub fail_share: f64,
    /// Share of requests (0..=1) answered `429` with `Retry-After: retry_after_secs`.
    pub throttle_share: f64,
    pub retry_after_secs: u64,
    /// How many of each were injected.
    pub counts: Arc<FaultCounts>,
}

/// Injected so far.
#[derive(Debug, Default)]
pub struct FaultCounts {
    pub failed: AtomicU64,
    pub throttled: AtomicU64,
}

impl Faults {
    pub fn active(&self) -> bool {
        !self.latency.is_zero() || self.fail_share > 0.0 || self.throttle_share > 0.0
    }

    /// (503s, 429s) injected so far.
    pub fn injected(&self) -> (u64, u64) {
        (
            self.counts.failed.load(Ordering::Relaxed),
            self.counts.throttled.load(Ordering::Relaxed),
        )
    }
}

/// The middleware: wait, then maybe answer with a fault instead of the handler.
pub async fn inject(State(f): State<Faults>, req: Request, next: Next) -> Response {
    if !f.latency.is_zero() {
        tokio::time::sleep(f.latency).await;
    }
    let roll = rand::random::<f64>();
    if roll < f.fail_share {
        f.counts.failed.fetch_add(1, Ordering::Relaxed);
        let body = r#"{"code":"unavailable","msg":"injected fault: service unavailable"}"#;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
    }
    if roll < f.fail_share + f.throttle_share {
        f.counts.throttled.fetch_add(1, Ordering::Relaxed);
        let body = r#"{"code":"resource_exhausted","msg":"injected fault: rate limited"}"#;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::CONTENT_TYPE, "application/json".to_owned()),
                (header::RETRY_AFTER, f.retry_after_secs.to_string()),
            ],
            body,
        )
            .into_response();
    }
    next.run(req).await
}
