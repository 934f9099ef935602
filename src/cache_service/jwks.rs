//! The OIDC issuer's signing keys (its JWKS document), cached by `kid`.
//!
//! A token whose key is known never waits for the issuer: the set is fetched outside the
//! lock that guards it, by one request at a time, and the others go on with the keys
//! already held. A token naming an unknown key waits for a fetch that started after it
//! arrived, shared with every other such token, and at most one starts per
//! `min_refresh`: a flood of made-up `kid`s costs the issuer one fetch and stalls nobody
//! else. A set older than [`JWKS_MAX_AGE`] is refetched by the first request that notices,
//! so rotated-out keys stop being accepted.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::Jwk;
use tracing::{debug, warn};

/// How long a fetched key set is trusted before it is fetched again.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
/// How long one fetch of the key set may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Held {
    keys: HashMap<String, DecodingKey>,
    /// When the keys held were fetched.
    fetched: Option<Instant>,
    /// When the last fetch started, whatever came of it: the rate limit counts from here.
    attempted: Option<Instant>,
}

/// Why no key could be had for a `kid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoKey {
    /// The issuer's key set could not be fetched.
    Unavailable,
    /// The set has no key by this id.
    Unknown(String),
}

/// One issuer's keys.
pub struct KeySet {
    url: String,
    min_refresh: Duration,
    http: reqwest::Client,
    held: Mutex<Held>,
    /// Held while a fetch runs, so only one runs at a time.
    fetching: tokio::sync::Mutex<()>,
}

impl KeySet {
    pub fn new(url: &str, min_refresh: Duration) -> Self {
        Self {
            url: url.to_owned(),
            min_refresh,
            http: reqwest::Client::new(),
            held: Mutex::new(Held::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn held(&self) -> MutexGuard<'_, Held> {
        // Every update is a plain assignment that cannot panic halfway.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key `kid`, fetching the set when it is unknown or old (see the module docs).
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, NoKey> {
        let arrived = Instant::now();
        let (known, stale) = {
            let held = self.held();
            let stale = held.fetched.is_none_or(|t| t.elapsed() > JWKS_MAX_AGE);
            (held.keys.get(kid).cloned(), stale)
        };
        match known {
            Some(key) if !stale => return Ok(key),
            // Old: refresh unless another request is already at it; the key serves meanwhile.
            Some(key) => {
                let Ok(_fetching) = self.fetching.try_lock() else {
                    return Ok(key);
                };
                if self.may_fetch() {
                    self.refresh().await;
                }
            }
            None => {
                let _fetching = self.fetching.lock().await;
                let shared = self.held().attempted.is_some_and(|t| t >= arrived);
                if !shared && self.may_fetch() {
                    self.refresh().await;
                }
            }
        }
        let held = self.held();
        match held.keys.get(kid) {
            Some(key) => Ok(key.clone()),
            None if held.keys.is_empty() => Err(NoKey::Unavailable),
            None => Err(NoKey::Unknown(kid.to_owned())),
        }
    }

    fn may_fetch(&self) -> bool {
        self.held()
            .attempted
            .is_none_or(|t| t.elapsed() >= self.min_refresh)
    }

    /// Fetch the set and replace the keys held; on failure keep them (an issuer's hiccup
    /// must not lock every job out). Callers hold `fetching`.
    async fn refresh(&self) {
        self.held().attempted = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                let mut held = self.held();
                held.keys = keys;
                held.fetched = Some(Instant::now());
            }
            Err(why) => {
                warn!(url = %self.url, error = %why, "failed to fetch the OIDC issuer's keys");
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let resp = self
            .http
            .get(&self.url)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?;
        let doc: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
        let entries = doc
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or("the document has no \"keys\" array")?;
        let mut keys = HashMap::new();
        // One key this crate cannot use (another type, say) must not hide the others.
        for entry in entries {
            let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
                continue;
            };
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(&jwk))
            else {
                continue;
            };
            keys.insert(kid, key);
        }
        debug!(keys = keys.len(), url = %self.url, "fetched the OIDC issuer's keys");
        Ok(keys)
    }
}
