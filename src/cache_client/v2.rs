//! v2: Twirp JSON calls to `github.actions.results.api.v1.CacheService`
//! (docs/cache-protocol.md § v2 Twirp service, § v2 errors).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::blob::error_text;
use super::error::ClientError;
use super::retry::{Attempt, RetryPolicy, retryable};
use crate::secret::Secret;

pub(super) const PREFIX: &str = "/twirp/github.actions.results.api.v1.CacheService/";

/// What a Twirp call came back with, besides transport trouble.
pub(super) enum Answer<T> {
    Ok(T),
    /// `409 already_exists` or `aborted`: someone else has (or is writing) the entry.
    Conflict,
}

#[derive(Deserialize)]
struct TwirpError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    msg: String,
    /// go-actions-cache's spelling.
    #[serde(default)]
    message: String,
}

/// POST one Twirp method, retried; returns the answer and the retries it took.
pub(super) async fn call<Req: Serialize, Resp: DeserializeOwned>(
    http: &reqwest::Client,
    policy: &RetryPolicy,
    (base, token): (&str, &Secret),
    (what, method): (&'static str, &str),
    req: &Req,
) -> Result<(Answer<Resp>, u32), ClientError> {
    let url = format!("{}{PREFIX}{method}", base.trim_end_matches('/'));
    let body = serde_json::to_vec(req).map_err(|e| ClientError::Protocol {
        what,
        detail: e.to_string(),
    })?;
    policy
        .run(what, || async {
            let resp = http
                .post(&url)
                .timeout(policy.request_timeout)
                .bearer_auth(token.expose())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await
                .map_err(|e| Attempt::transport(what, &e))?;
            let status = resp.status();
            if status.is_success() {
                let bytes = resp
                    .bytes()
                    .await
                    .map_err(|e| Attempt::transport(what, &e))?;
                return serde_json::from_slice(&bytes).map(Answer::Ok).map_err(|e| {
                    // An unreadable 200 is what a broken proxy sends: worth another try.
                    Attempt::Again {
                        after: None,
                        last: format!("unreadable answer: {e}"),
                    }
                });
            }
            let again = retryable(status, resp.headers());
            let text = error_text(resp).await;
            let err: Option<TwirpError> = serde_json::from_str(&text).ok();
            let (code, msg) = match err {
                Some(e) if !e.msg.is_empty() => (e.code, e.msg),
                Some(e) => (e.code, e.message),
                None => (String::new(), text),
            };
            if msg.contains("insufficient usage") {
                return Err(Attempt::Stop(ClientError::Denied { what, message: msg }));
            }
            if status.as_u16() == 409 || code == "already_exists" || code == "aborted" {
                return Ok(Answer::Conflict);
            }
            Err(Attempt::failed(what, status, again, msg))
        })
        .await
}
