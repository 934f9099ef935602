//! Which protocol a service speaks, asked with one v2 call that only a v2 service answers:
//! a lookup of a key nobody writes. A v2 service answers it in Twirp (a miss, or a Twirp
//! error such as `unauthenticated`); act's and Gitea's artifact servers at the same URL
//! answer with a plain 404. No retries: this is asked once per step, and an answer that
//! does not come is not a "no".

use std::time::Duration;

use super::v2::PREFIX;
use crate::cache_protocol::Endpoint;
use crate::cache_protocol::wire::GetCacheEntryDownloadUrlRequest;
use crate::secret::Secret;

const TIMEOUT: Duration = Duration::from_secs(5);
/// A key and version no cache entry has.
const PROBE_KEY: &str = "layercache-protocol-probe";
const PROBE_VERSION: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Whether the service at `endpoint`'s URL answers the v2 cache protocol. `Err`: it could
/// not be asked (no connection, a timeout), which says nothing either way.
pub async fn speaks_v2(endpoint: &Endpoint, token: &Secret) -> Result<bool, String> {
    let url = format!(
        "{}{PREFIX}GetCacheEntryDownloadURL",
        endpoint.url().trim_end_matches('/')
    );
    let body = GetCacheEntryDownloadUrlRequest {
        key: PROBE_KEY.to_owned(),
        restore_keys: Vec::new(),
        version: PROBE_VERSION.to_owned(),
    };
    let resp = reqwest::Client::new()
        .post(url)
        .timeout(TIMEOUT)
        .bearer_auth(token.expose())
        .json(&body)
        .send()
        .await
        .map_err(|e| {
            super::error::ClientError::transport("ask the cache service", &e).to_string()
        })?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let json: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    let twirp = match &json {
        // A miss (`{"ok": false}`) or a hit: only a v2 service knows the method.
        Some(serde_json::Value::Object(o)) if status.is_success() => {
            o.contains_key("ok") || o.is_empty()
        }
        // A Twirp error (`{"code": "unauthenticated", "msg": ...}`) is still Twirp.
        Some(serde_json::Value::Object(o)) => {
            o.get("code").is_some_and(serde_json::Value::is_string)
        }
        _ => false,
    };
    Ok(twirp)
}
