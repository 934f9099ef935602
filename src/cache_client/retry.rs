//! Retrying one cache-service call: 5xx answers, `408`, timeouts and broken connections
//! back off exponentially with jitter; `429` waits what `Retry-After` says (GitHub's
//! service rate-limits new entries this way, docs/cache-protocol.md § Limits and rate
//! limits). Other answers are final.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::time::Instant;

use super::error::ClientError;

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
/// succeeded, every call gives up at once instead of retrying for a minute. One success proves the service works, and patient retries pay off for
/// partial trouble: it then never trips.
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

/// One failed attempt: try again (after `after`, when the service said), or stop.
pub(super) enum Attempt {
    Again {
        after: Option<Duration>,
        last: String,
    },
    Stop(ClientError),
}

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
        mut attempt: F,
    ) -> Result<(T, u32), ClientError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        let mut n = 0u32;
        if let Some(why) = self.outage.as_deref().and_then(Outage::tripped) {
            return Err(ClientError::Outage { what, why });
        }
        loop {
            n += 1;
            let (after, last) = match attempt().await {
                Ok(v) => {
                    self.outage.as_deref().map(Outage::success);
                    return Ok((v, n - 1));
                }
                Err(Attempt::Stop(e)) => return Err(e),
                Err(Attempt::Again { after, last }) => (after, last),
            };
            // A `Retry-After` is the service saying when to come back (a rate limit), not
            // an outage.
            if let Some(outage) = self.outage.as_ref().filter(|_| after.is_none()) {
                outage.failure(&last);
                if let Some(why) = outage.tripped() {
                    return Err(self.gave_up(what, n, why));
                }
            }
            let wait = match after {
                Some(a) if a > self.max_retry_after => {
                    return Err(self.gave_up(what, n, last));
                }
                Some(a) => a,
                None => self.backoff(n),
            };
            let past_deadline = self.deadline.is_some_and(|d| Instant::now() + wait >= d);
            if n >= self.max_attempts || past_deadline {
                return Err(self.gave_up(what, n, last));
            }
            tracing::debug!(what, attempt = n, wait_ms = wait.as_millis() as u64, %last, "cache service: retrying");
            tokio::time::sleep(wait).await;
        }
    }

    fn gave_up(&self, what: &'static str, attempts: u32, last: String) -> ClientError {
        ClientError::GaveUp {
            what,
            attempts,
            last,
        }
    }

    /// Exponential with full jitter over the upper half, so parallel retries spread out.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let cap = exp.min(self.max_delay);
        let half = cap / 2;
        half + half.mul_f64(rand::random::<f64>())
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

    #[tokio::test]
    async fn retries_until_success_and_counts() {
        let policy = RetryPolicy::default();
        let mut calls = 0;
        let (v, retries) = policy
            .run("test", || {
                calls += 1;
                let c = calls;
                async move {
                    if c < 3 {
                        Err(Attempt::Again {
                            after: Some(Duration::from_millis(1)),
                            last: "503".into(),
                        })
                    } else {
                        Ok(c)
                    }
                }
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((v, retries), (3, 2));
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts() {
        let policy = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            ..Default::default()
        };
        let r: Result<((), u32), _> = policy
            .run("test", || async {
                Err(Attempt::Again {
                    after: None,
                    last: "HTTP 503".into(),
                })
            })
            .await;
        let e = r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("gave up after 3 attempts (HTTP 503)"), "{e}");
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
