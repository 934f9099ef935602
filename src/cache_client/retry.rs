//! Retrying one cache-service call (through [`crate::retry`]): 5xx answers, `408`,
//! timeouts and broken connections back off exponentially with jitter; `429` waits what
//! `Retry-After` says (GitHub's service rate-limits new entries this way,
//! docs/cache-protocol.md § Limits and rate limits). Other answers are final.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::time::Instant;

use super::error::ClientError;
use crate::retry::{Backoff, Failed, Failure};

/// How long and how often to keep trying.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// The first back-off; it doubles per attempt up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Longest wait a `Retry-After` may ask for before the call gives up instead.
    pub max_retry_after: Duration,
    /// No attempt starts after this instant.
    pub deadline: Option<Instant>,
    /// Timeout of one API request (uploads and downloads get it per MiB on top).
    pub request_timeout: Duration,
    /// Shared by the calls of one job: when the service has refused every attempt so far,
    /// calls stop retrying (see [`Outage`]).
    pub outage: Option<Arc<Outage>>,
}

/// A service that refuses everything: once `threshold` attempts have failed (without a
/// `Retry-After`) over at least `window`, and not one among the calls sharing it has
/// succeeded, every call gives up at once instead of retrying for a minute. One success
/// proves the service works, and patient retries pay off for partial trouble: it then
/// never trips.
#[derive(Debug)]
pub struct Outage {
    threshold: u32,
    window: Duration,
    failed: AtomicU32,
    succeeded: AtomicBool,
    /// When the first attempt failed, and how.
    first: Mutex<Option<(Instant, String)>>,
}

impl Outage {
    pub fn new(threshold: u32, window: Duration) -> Arc<Self> {
        Arc::new(Self {
            threshold,
            window,
            failed: AtomicU32::new(0),
            succeeded: AtomicBool::new(false),
            first: Mutex::new(None),
        })
    }

    fn success(&self) {
        self.succeeded.store(true, Ordering::Relaxed);
    }

    fn failure(&self, what: &str) {
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert_with(|| (Instant::now(), what.to_owned()));
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Why calls stop retrying, once the service has refused everything.
    pub fn tripped(&self) -> Option<String> {
        if self.succeeded.load(Ordering::Relaxed)
            || self.failed.load(Ordering::Relaxed) < self.threshold
        {
            return None;
        }
        let first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        let (since, how) = first.as_ref()?;
        (since.elapsed() >= self.window).then(|| {
            format!(
                "the cache service refused all {} attempts in {:.0} s and took none (first: {how})",
                self.failed.load(Ordering::Relaxed),
                since.elapsed().as_secs_f64()
            )
        })
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(120),
            deadline: None,
            request_timeout: Duration::from_secs(60),
            outage: None,
        }
    }
}

/// One failed attempt of a cache-service call.
pub(super) type Attempt = crate::retry::Attempt<ClientError>;

impl From<ClientError> for Attempt {
    fn from(e: ClientError) -> Self {
        Attempt::Stop(e)
    }
}

impl Attempt {
    pub(super) fn transport(what: &'static str, e: &reqwest::Error) -> Self {
        Attempt::Again {
            after: None,
            last: ClientError::transport(what, e).to_string(),
        }
    }

    /// An error status: another attempt when [`retryable`] said so (`again`), else the
    /// end, naming what failed.
    pub(super) fn failed(
        what: &'static str,
        status: StatusCode,
        again: Option<Option<Duration>>,
        message: String,
    ) -> Self {
        match again {
            Some(after) => Attempt::Again {
                after,
                last: format!("HTTP {}: {message}", status.as_u16()),
            },
            None => Attempt::Stop(ClientError::Status {
                what,
                status: status.as_u16(),
                message,
            }),
        }
    }
}

/// Whether an error status is worth another attempt, and how long the service asked to
/// wait (`Retry-After` in seconds; an HTTP date is treated as "soon").
pub(super) fn retryable(status: StatusCode, headers: &HeaderMap) -> Option<Option<Duration>> {
    let again = status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT;
    if !again {
        return None;
    }
    let after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    Some(after)
}

impl RetryPolicy {
    /// Run `attempt` until it succeeds, stops, or the policy is spent. Returns the value and
    /// how many retries it took.
    pub(super) async fn run<T, F, Fut>(
        &self,
        what: &'static str,
        attempt: F,
    ) -> Result<(T, u32), ClientError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        let outage = self.outage.as_deref();
        if let Some(why) = outage.and_then(Outage::tripped) {
            return Err(ClientError::Outage { what, why });
        }
        let failed = |r: &Failed<'_>| {
            // A `Retry-After` is the service saying when to come back (a rate limit), not
            // an outage.
            if let Some(outage) = outage.filter(|_| !r.asked) {
                outage.failure(r.last);
                if let Some(why) = outage.tripped() {
                    return Err(why);
                }
            }
            if let Some(wait) = r.wait {
                tracing::debug!(what, attempt = r.attempt, wait_ms = wait.as_millis() as u64, last = %r.last, "cache service: retrying");
            }
            Ok(())
        };
        match self.backoff().run(attempt, failed).await {
            Ok(done) => {
                outage.map(Outage::success);
                Ok(done)
            }
            Err(Failure::Stopped(e)) => Err(e),
            Err(Failure::GaveUp { attempts, last }) => Err(ClientError::GaveUp {
                what,
                attempts,
                last,
            }),
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            max_attempts: self.max_attempts,
            base_delay: self.base_delay,
            max_delay: self.max_delay,
            max_retry_after: self.max_retry_after,
            deadline: self.deadline,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_retry_after() {
        let mut h = HeaderMap::new();
        assert!(retryable(StatusCode::CONFLICT, &h).is_none());
        assert!(retryable(StatusCode::FORBIDDEN, &h).is_none());
        assert_eq!(retryable(StatusCode::SERVICE_UNAVAILABLE, &h), Some(None));
        h.insert(RETRY_AFTER, "3".parse().unwrap_or_else(|_| unreachable!()));
        assert_eq!(
            retryable(StatusCode::TOO_MANY_REQUESTS, &h),
            Some(Some(Duration::from_secs(3)))
        );
    }

    fn failing(after: Option<Duration>) -> Result<(), Attempt> {
        Err(Attempt::Again {
            after,
            last: "HTTP 503: down".into(),
        })
    }

    #[tokio::test]
    async fn an_outage_stops_every_call_and_one_success_prevents_it() {
        let fast = |outage: &Arc<Outage>| RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            outage: Some(outage.clone()),
            ..Default::default()
        };
        let outage = Outage::new(6, Duration::ZERO);
        let first = fast(&outage).run("save", || async { failing(None) }).await;
        assert!(matches!(
            first,
            Err(ClientError::GaveUp { attempts: 4, .. })
        ));
        let second = fast(&outage).run("save", || async { failing(None) }).await;
        assert!(
            matches!(&second, Err(ClientError::GaveUp { attempts: 2, last, .. }) if last.contains("refused all 6")),
            "{second:?}"
        );
        let third = fast(&outage).run("save", || async { Ok(()) }).await;
        assert!(
            matches!(third, Err(ClientError::Outage { .. })),
            "{third:?}"
        );

        let healthy = Outage::new(6, Duration::ZERO);
        fast(&healthy)
            .run("save", || async { Ok(()) })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..3 {
            let r = fast(&healthy).run("save", || async { failing(None) }).await;
            assert!(
                matches!(r, Err(ClientError::GaveUp { attempts: 4, .. })),
                "{r:?}"
            );
        }
        // A `Retry-After` is a rate limit, not an outage.
        let limited = Outage::new(1, Duration::ZERO);
        let r = fast(&limited)
            .run("save", || async { failing(Some(Duration::from_millis(1))) })
            .await;
        assert!(
            matches!(r, Err(ClientError::GaveUp { attempts: 4, .. })),
            "{r:?}"
        );
        assert!(limited.tripped().is_none());
    }
}
