//! The `cache-service-url` input: use a `layercache serve` instead of GitHub's cache. The
//! job's OIDC token (the runner hands it out at `ACTIONS_ID_TOKEN_REQUEST_URL` when the
//! workflow grants `id-token: write`) is exchanged at the service for a cache token scoped
//! to the job's ref, and that URL and token replace the runner's cache variables, so the
//! rest of the run, and the steps it exposes them to, use the service.
//!
//! Both tokens are secrets: masked as soon as they are known and never logged.

use std::time::Duration;

use super::env::Env;
use super::names::env as names;
use super::workflow::Workflow;
use crate::action::InputError;
use crate::cache_protocol::oidc::{AUDIENCE, EXCHANGE_PATH};

/// Why the exchange failed (the run goes on without a cache).
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error(
        "no OIDC token for cache-service-url: ACTIONS_ID_TOKEN_REQUEST_URL is not set (give the job `permissions: id-token: write`)"
    )]
    NoIdToken,
    #[error("failed to get the job's OIDC token from the runner: {0}")]
    IdToken(String),
    #[error("failed to exchange the OIDC token at {url}: {why}")]
    Exchange { url: String, why: String },
}

/// The validated `cache-service-url` input (`http` or `https`, ending in `/`).
pub fn parse_url(raw: Option<String>) -> Result<Option<url::Url>, InputError> {
    let Some(raw) = raw.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let bad = || {
        InputError::new(
            super::names::CACHE_SERVICE_URL,
            format!("{raw:?} is not an http(s) URL, e.g. https://cache.internal:8484/"),
        )
    };
    let mut url = url::Url::parse(&raw).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad());
    }
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(Some(url))
}

/// Exchange the job's OIDC token at `service` and point `env`'s cache variables at it.
pub async fn use_service<W: std::io::Write>(
    env: &mut Env,
    service: &url::Url,
    wf: &mut Workflow<W>,
) -> Result<(), ExchangeError> {
    let request_url = env
        .get(names::ACTIONS_ID_TOKEN_REQUEST_URL)
        .ok_or(ExchangeError::NoIdToken)?
        .to_owned();
    let request_token = env
        .get(names::ACTIONS_ID_TOKEN_REQUEST_TOKEN)
        .ok_or(ExchangeError::NoIdToken)?
        .to_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| ExchangeError::IdToken(e.to_string()))?;
    let mut id_url = url::Url::parse(&request_url)
        .map_err(|_| ExchangeError::IdToken("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL".into()))?;
    id_url.query_pairs_mut().append_pair("audience", AUDIENCE);
    let id_token = json_field(
        http.get(id_url).bearer_auth(&request_token).send().await,
        "value",
    )
    .await
    .map_err(ExchangeError::IdToken)?;
    wf.add_mask(&id_token);
    let exchange_url = service
        // Relative, so a service under a path prefix keeps it.
        .join(EXCHANGE_PATH.trim_start_matches('/'))
        .map_err(|e| ExchangeError::Exchange {
            url: service.to_string(),
            why: e.to_string(),
        })?;
    let token = json_field(
        http.post(exchange_url).bearer_auth(&id_token).send().await,
        "token",
    )
    .await
    .map_err(|why| ExchangeError::Exchange {
        url: service.to_string(),
        why,
    })?;
    wf.add_mask(&token);
    // The service speaks v2 and v1; whichever the runtime picks (v1 on GHES) reaches it.
    env.set(names::ACTIONS_RESULTS_URL, service.as_str());
    env.set(names::ACTIONS_CACHE_URL, service.as_str());
    env.set(names::ACTIONS_RUNTIME_TOKEN, token);
    wf.line(&format!(
        "cache service: {service} (token from the job's OIDC identity)"
    ));
    Ok(())
}

/// A string field of a JSON answer; errors carry the status and the server's message,
/// never a token.
async fn json_field(
    resp: Result<reqwest::Response, reqwest::Error>,
    field: &str,
) -> Result<String, String> {
    let resp = resp.map_err(|e| e.without_url().to_string())?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        let message = body["message"].as_str().unwrap_or("no message");
        return Err(format!("HTTP {status}: {message}"));
    }
    body[field]
        .as_str()
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("the answer has no {field:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_end_in_a_slash() {
        assert_eq!(parse_url(None).ok(), Some(None));
        assert_eq!(parse_url(Some("  ".into())).ok(), Some(None));
        let u = parse_url(Some("http://cache.internal:8484".into()))
            .ok()
            .flatten();
        assert_eq!(
            u.map(|u| u.to_string()),
            Some("http://cache.internal:8484/".into())
        );
        for bad in ["cache.internal", "ftp://x/", "http://"] {
            let e = parse_url(Some(bad.into())).err().map(|e| e.to_string());
            assert!(e.is_some_and(|e| e.contains("cache-service-url")), "{bad}");
        }
    }
}
