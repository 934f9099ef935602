//! The one retry loop: exponential back-off with jitter, a wait the other side asked for
//! (`Retry-After`) honoured up to a limit, a cap on attempts and an optional deadline. The
//! cache client (every cache-service call) and the engine (pulling the builder image) both
//! retry through it; each says which failures are worth another attempt.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How long and how often to keep trying.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first back-off; it doubles per attempt up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Longest wait a `Retry-After` may ask for before the call gives up instead.
    pub max_retry_after: Duration,
    /// No attempt starts after this instant.
    pub deadline: Option<Instant>,
}

/// One failed attempt: try again (after `after`, when the other side said), or stop.
#[derive(Debug)]
pub enum Attempt<E> {
    Again {
        after: Option<Duration>,
        /// What went wrong, for the log and the final error.
        last: String,
    },
    Stop(E),
}

/// Why the loop ended without a value.
#[derive(Debug)]
pub enum Failure<E> {
    /// An attempt said stop.
    Stopped(E),
    /// The attempts, the deadline or the caller's patience ran out; `last` says why.
    GaveUp { attempts: u32, last: String },
}

/// A failed attempt, shown to the caller's hook.
#[derive(Debug)]
pub struct Failed<'a> {
    /// The attempt that failed, counted from 1.
    pub attempt: u32,
    /// The wait before the next attempt; none when this one was the last.
    pub wait: Option<Duration>,
    pub last: &'a str,
    /// The other side asked for this wait (`Retry-After`): a rate limit, not a failure.
    pub asked: bool,
}

impl Backoff {
    /// Run `attempt` until it succeeds, stops, or the schedule is spent. `failed_hook` sees
    /// every failure that could be retried and may end the loop with a reason (`Err`).
    /// Returns the value and how many retries it took.
    pub async fn run<T, E, F, Fut, H>(
        &self,
        mut attempt: F,
        mut failed_hook: H,
    ) -> Result<(T, u32), Failure<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Attempt<E>>>,
        H: FnMut(&Failed<'_>) -> Result<(), String>,
    {
        let mut n = 0u32;
        loop {
            n += 1;
            let (after, last) = match attempt().await {
                Ok(v) => return Ok((v, n - 1)),
                Err(Attempt::Stop(e)) => return Err(Failure::Stopped(e)),
                Err(Attempt::Again { after, last }) => (after, last),
            };
            let gave_up = |last| Failure::GaveUp { attempts: n, last };
            // None: this was the last attempt.
            let wait = match after {
                Some(a) if a > self.max_retry_after => None,
                Some(a) => Some(a),
                None => Some(self.delay(n)),
            }
            .filter(|wait| {
                n < self.max_attempts && self.deadline.is_none_or(|d| Instant::now() + *wait < d)
            });
            let failed = Failed {
                attempt: n,
                wait,
                last: &last,
                asked: after.is_some(),
            };
            if let Err(why) = failed_hook(&failed) {
                return Err(gave_up(why));
            }
            let Some(wait) = wait else {
                return Err(gave_up(last));
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Exponential with full jitter over the upper half, so parallel retries spread out.
    fn delay(&self, attempt: u32) -> Duration {
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

    fn fast(max_attempts: u32) -> Backoff {
        Backoff {
            max_attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            max_retry_after: Duration::from_millis(50),
            deadline: None,
        }
    }

    #[tokio::test]
    async fn retries_until_success_and_counts() {
        let mut calls = 0;
        let mut seen = Vec::new();
        let (v, retries) = fast(5)
            .run(
                || {
                    calls += 1;
                    let c = calls;
                    async move {
                        match c {
                            1 => Err(Attempt::<()>::Again {
                                after: Some(Duration::from_millis(1)),
                                last: "429".into(),
                            }),
                            2 => Err(Attempt::Again {
                                after: None,
                                last: "503".into(),
                            }),
                            _ => Ok(c),
                        }
                    }
                },
                |r| {
                    seen.push((r.attempt, r.wait.is_some(), r.asked, r.last.to_owned()));
                    Ok(())
                },
            )
            .await
            .unwrap_or_else(|_| panic!("no value"));
        assert_eq!((v, retries), (3, 2));
        assert_eq!(
            seen,
            [
                (1, true, true, "429".into()),
                (2, true, false, "503".into())
            ]
        );
    }

    #[tokio::test]
    async fn stops_gives_up_and_lets_the_hook_end_it() {
        let stop = fast(5)
            .run(|| async { Err::<(), _>(Attempt::Stop("404")) }, |_| Ok(()))
            .await;
        assert!(matches!(stop, Err(Failure::Stopped("404"))));

        let again = || async {
            Err::<(), Attempt<()>>(Attempt::Again {
                after: None,
                last: "503".into(),
            })
        };
        let mut waits = Vec::new();
        let spent = fast(3)
            .run(again, |r| {
                waits.push(r.wait.is_some());
                Ok(())
            })
            .await;
        // The hook sees the last failure too, with no wait after it.
        assert_eq!(waits, [true, true, false]);
        assert!(matches!(spent, Err(Failure::GaveUp { attempts: 3, ref last }) if last == "503"));

        let ended = fast(9)
            .run(again, |r| match r.attempt {
                2 => Err("enough".into()),
                _ => Ok(()),
            })
            .await;
        assert!(
            matches!(ended, Err(Failure::GaveUp { attempts: 2, ref last }) if last == "enough")
        );

        // A Retry-After longer than the limit ends the loop at once.
        let too_long = fast(9)
            .run(
                || async {
                    Err::<(), Attempt<()>>(Attempt::Again {
                        after: Some(Duration::from_secs(60)),
                        last: "429".into(),
                    })
                },
                |_| Ok(()),
            )
            .await;
        assert!(matches!(too_long, Err(Failure::GaveUp { attempts: 1, .. })));
    }
}
