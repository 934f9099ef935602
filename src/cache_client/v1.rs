//! v1: the `artifactcache` REST API of GitHub Enterprise Server and older runners
//! (docs/cache-protocol.md § v1 REST endpoints, § v1 errors).

use bytes::Bytes;
use reqwest::{Method, StatusCode};

use super::blob::{BLOCK, Source, error_text, transfer_timeout};
use super::error::ClientError;
use super::retry::{Attempt, RetryPolicy, retryable};
use crate::secret::Secret;

const ACCEPT: &str = "application/json;api-version=6.0-preview.1";

/// What a v1 call answered: the status and body of a success, or a conflict.
pub(super) enum Reply {
    Ok(StatusCode, Bytes),
    Conflict,
}

/// One v1 call, retried. `body` is JSON or raw bytes (with its `Content-Range`).
pub(super) struct Call<'a> {
    pub what: &'static str,
    pub method: Method,
    pub path: String,
    pub json: Option<serde_json::Value>,
    pub chunk: Option<(&'a Source, u64, u64)>,
}

pub(super) async fn call(
    http: &reqwest::Client,
    policy: &RetryPolicy,
    (base, token): (&str, &Secret),
    c: Call<'_>,
) -> Result<(Reply, u32), ClientError> {
    let url = format!(
        "{}/_apis/artifactcache/{}",
        base.trim_end_matches('/'),
        c.path
    );
    let what = c.what;
    policy
        .run(what, || async {
            let mut req = http
                .request(c.method.clone(), &url)
                .timeout(policy.request_timeout)
                .bearer_auth(token.expose())
                .header(reqwest::header::ACCEPT, ACCEPT);
            if let Some(j) = &c.json {
                req = req.json(j);
            }
            if let Some((source, offset, len)) = c.chunk {
                req = req
                    .timeout(transfer_timeout(policy, len))
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .header(reqwest::header::CONTENT_LENGTH, len)
                    .header(
                        reqwest::header::CONTENT_RANGE,
                        format!("bytes {offset}-{}/*", offset + len - 1),
                    )
                    .body(source.body(offset, len).await?);
            }
            let resp = req.send().await.map_err(|e| Attempt::transport(what, &e))?;
            let status = resp.status();
            if status.is_success() {
                let bytes = resp
                    .bytes()
                    .await
                    .map_err(|e| Attempt::transport(what, &e))?;
                return Ok(Reply::Ok(status, bytes));
            }
            if status == StatusCode::CONFLICT {
                return Ok(Reply::Conflict);
            }
            let again = retryable(status, resp.headers());
            let message = error_text(resp).await;
            Err(Attempt::failed(what, status, again, message))
        })
        .await
}

/// Upload `source` in chunks of [`BLOCK`]; returns the retries.
pub(super) async fn upload(
    http: &reqwest::Client,
    policy: &RetryPolicy,
    auth: (&str, &Secret),
    id: u64,
    source: &Source,
    size: u64,
) -> Result<u32, ClientError> {
    let mut retries = 0;
    let mut offset = 0;
    while offset < size {
        let len = BLOCK.min(size - offset);
        let call_ = Call {
            what: "upload a chunk",
            method: Method::PATCH,
            path: format!("caches/{id}"),
            json: None,
            chunk: Some((source, offset, len)),
        };
        let (reply, r) = call(http, policy, auth, call_).await?;
        retries += r;
        if let Reply::Conflict = reply {
            return Err(ClientError::Protocol {
                what: "upload a chunk",
                detail: "the service says the entry is already finalized".to_owned(),
            });
        }
        offset += len;
    }
    Ok(retries)
}
