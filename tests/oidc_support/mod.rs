//! A made-up OIDC issuer for tests: RSA key pairs made with the `openssl` CLI, a JWKS
//! document served on loopback (counting fetches, and held back on request), and
//! GitHub-shaped tokens signed with those keys; [`serve::Serve`] runs `layercache serve`
//! against it.
#![allow(dead_code, clippy::unwrap_used)]

pub mod serve;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// One RSA key pair: the private key for signing, the public one as a JWK.
pub struct TestKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub jwk: serde_json::Value,
}

impl TestKey {
    /// A fresh 2048-bit key made by `openssl` in `dir`.
    pub fn generate(dir: &Path, kid: &str) -> Self {
        let pem = dir.join(format!("{kid}.pem"));
        let der = dir.join(format!("{kid}.der"));
        let run = |args: &[&str]| {
            let out = Command::new("openssl").args(args).output().unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        let pem_s = pem.to_str().unwrap();
        run(&["genrsa", "-out", pem_s, "2048"]);
        // PKCS#1 DER, the form jsonwebtoken's `from_rsa_der` takes.
        run(&[
            "rsa",
            "-in",
            pem_s,
            "-traditional",
            "-outform",
            "DER",
            "-out",
            der.to_str().unwrap(),
        ]);
        let modulus = run(&["rsa", "-in", pem_s, "-noout", "-modulus"]);
        let hex_n = modulus.trim().strip_prefix("Modulus=").unwrap();
        let n = hex::decode(hex_n).unwrap();
        Self {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_rsa_der(&std::fs::read(&der).unwrap()),
            jwk: serde_json::json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                "n": URL_SAFE_NO_PAD.encode(n), "e": "AQAB",
            }),
        }
    }

    /// `claims` signed with this key, its `kid` in the header.
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// GitHub-shaped claims for `repository` at `git_ref`, valid now for ten minutes.
pub fn claims(issuer: &str, repository: &str, git_ref: &str, event: &str) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    let owner = repository.split('/').next().unwrap();
    serde_json::json!({
        "iss": issuer, "aud": "layercache", "iat": now, "nbf": now - 5, "exp": now + 600,
        "sub": format!("repo:{repository}:ref:{git_ref}"),
        "repository": repository, "repository_owner": owner,
        "ref": git_ref, "event_name": event,
    })
}

/// The issuer's JWKS endpoint on loopback; `fetches` counts requests.
pub struct Issuer {
    pub url: String,
    pub jwks_url: String,
    pub fetches: Arc<AtomicUsize>,
    /// The most fetches that were answered at once.
    pub most_at_once: Arc<AtomicUsize>,
    /// Every answer waits for a read lock: [`Issuer::hold`] takes the write lock.
    gate: Arc<tokio::sync::RwLock<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Issuer {
    pub async fn serve(keys: Vec<serde_json::Value>) -> Self {
        let fetches = Arc::new(AtomicUsize::new(0));
        let most_at_once = Arc::new(AtomicUsize::new(0));
        let at_once = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::RwLock::new(()));
        let doc = serde_json::json!({ "keys": keys });
        let (counter, most, held) = (fetches.clone(), most_at_once.clone(), gate.clone());
        let app = axum::Router::new().route(
            "/.well-known/jwks",
            axum::routing::get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let now = at_once.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let (doc, held, at_once) = (doc.clone(), held.clone(), at_once.clone());
                async move {
                    let _open = held.read().await;
                    at_once.fetch_sub(1, Ordering::SeqCst);
                    axum::Json(doc)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            jwks_url: format!("{url}/.well-known/jwks"),
            url,
            fetches,
            most_at_once,
            gate,
            task,
        }
    }

    pub fn fetch_count(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Hold every key fetch (they are counted, then wait) until the guard is dropped: an
    /// issuer as slow as the test wants.
    pub async fn hold(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.gate.clone().write_owned().await
    }

    /// Wait until `n` fetches have arrived (a fetch held by [`Issuer::hold`] counts).
    pub async fn wait_for_fetches(&self, n: usize) {
        for _ in 0..1000 {
            if self.fetch_count() >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the issuer saw {} key fetches, not {n}", self.fetch_count());
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
