//! Shared helpers for the cache service tests: a service on the memory backend driven
//! through `tower::ServiceExt::oneshot`, and tokens.
#![allow(dead_code, reason = "each test crate uses a different subset")]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use layercache::cache_protocol::{self, AccessScope};
use layercache::cache_service::{self, AppState, ServiceConfig, TokenIssuer};
use layercache::secret::Secret;
use layercache::storage::StorageConfig;
use tower::ServiceExt;

pub const SECRET: &str = "test-secret-0123456789abcdef";
pub const VERSION: &str = "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2";
pub const TWIRP: &str = "/twirp/github.actions.results.api.v1.CacheService";

pub struct Svc {
    pub app: Router,
    pub state: Arc<AppState>,
    pub issuer: TokenIssuer,
}

pub fn config() -> ServiceConfig {
    let mut c = ServiceConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), StorageConfig::Memory);
    c.secret = Some(Secret::new(SECRET));
    c
}

pub async fn service_with(config: ServiceConfig) -> Svc {
    let state = AppState::new(&config).await.unwrap();
    Svc {
        app: cache_service::router(state.clone()),
        state,
        issuer: TokenIssuer::new(Secret::new(SECRET)),
    }
}

pub async fn service() -> Svc {
    service_with(config()).await
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Svc {
    /// A token with read+write on `write` and read on `read`.
    pub fn token(&self, write: &str, read: &[&str]) -> String {
        let read: Vec<String> = read.iter().map(|s| s.to_string()).collect();
        self.issuer
            .for_ref(write, &read, chrono::Duration::hours(1))
            .expose()
            .to_owned()
    }

    pub fn read_only_token(&self, refs: &[&str]) -> String {
        let scopes: Vec<AccessScope> = refs
            .iter()
            .map(|r| AccessScope {
                scope: r.to_string(),
                permission: cache_protocol::READ,
            })
            .collect();
        self.issuer
            .issue(&scopes, chrono::Duration::hours(1))
            .expose()
            .to_owned()
    }

    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Resp {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "cache.test");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self
            .app
            .clone()
            .oneshot(req.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn twirp(&self, method: &str, token: &str, body: serde_json::Value) -> Resp {
        let auth = format!("Bearer {token}");
        self.call(
            "POST",
            &format!("{TWIRP}/{method}"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
        .await
    }

    /// Path and query of a signed URL, for `call`.
    pub fn path_of(url: &str) -> String {
        let u = url::Url::parse(url).unwrap();
        format!("{}?{}", u.path(), u.query().unwrap_or(""))
    }

    /// Create, Put Blob and finalize an entry through v2; returns the entry id.
    /// `CreateCacheEntry` for `key`; the path (and query) of its signed upload URL.
    pub async fn create(&self, token: &str, key: &str) -> String {
        let r = self
            .twirp(
                "CreateCacheEntry",
                token,
                serde_json::json!({"key": key, "version": VERSION}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        Self::path_of(r.json()["signed_upload_url"].as_str().unwrap())
    }

    pub async fn save(&self, token: &str, key: &str, data: &[u8]) -> u64 {
        let upload = self.create(token, key).await;
        let put = self
            .call(
                "PUT",
                &upload,
                &[("x-ms-blob-type", "BlockBlob")],
                data.to_vec(),
            )
            .await;
        assert_eq!(put.status, StatusCode::CREATED, "{}", put.text());
        let r = self
            .twirp(
                "FinalizeCacheEntryUpload",
                token,
                serde_json::json!({"key": key, "version": VERSION, "size_bytes": data.len().to_string()}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()["entry_id"].as_str().unwrap().parse().unwrap()
    }

    /// Look up through v2; returns (matched key, bytes) on a hit.
    pub async fn restore(
        &self,
        token: &str,
        key: &str,
        restore: &[&str],
    ) -> Option<(String, Vec<u8>)> {
        let r = self
            .twirp(
                "GetCacheEntryDownloadURL",
                token,
                serde_json::json!({"key": key, "restore_keys": restore, "version": VERSION}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let j = r.json();
        if j["ok"] != true {
            return None;
        }
        let url = j["signed_download_url"].as_str().unwrap();
        let got = self
            .call("GET", &Self::path_of(url), &[], Body::empty())
            .await;
        assert_eq!(got.status, StatusCode::OK);
        Some((
            j["matched_key"].as_str().unwrap().to_owned(),
            got.body.to_vec(),
        ))
    }

    /// (id, key, ref, size) of every finalized entry, sorted, via the REST listing.
    pub async fn stored(&self) -> Vec<(u64, String, String, u64)> {
        let mut v: Vec<_> = self
            .state
            .cache
            .entries()
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.id, e.key, e.scope, e.size))
            .collect();
        v.sort();
        v
    }
}

/// [`Svc::call`] with owned header values, as most tests build them.
pub async fn call(
    s: &Svc,
    method: &str,
    uri: &str,
    headers: &[(&'static str, String)],
    body: impl Into<Body>,
) -> Resp {
    let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    s.call(method, uri, &hs, body).await
}
