//! `layercache serve` as a process with the OIDC exchange on, against an [`Issuer`]: its
//! stderr goes to a file the test reads back; helpers exchange tokens, save and look up
//! entries through v2, and call the REST endpoints.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Issuer, TestKey};

const BIN: &str = env!("CARGO_BIN_EXE_layercache");
pub const VERSION: &str = "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2";
const TWIRP: &str = "twirp/github.actions.results.api.v1.CacheService";
/// The shared secret the service is started with (so `serve token` tokens work too).
pub const SECRET: &str = "fleet-secret-0123456789";

pub struct Serve {
    child: Child,
    pub base: String,
    log: std::path::PathBuf,
}

/// `POST /_layercache/oidc/exchange` at `base`: (status, body).
pub async fn exchange_at(base: &str, oidc_token: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/_layercache/oidc/exchange"))
        .bearer_auth(oidc_token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

impl Serve {
    /// Allows `acme/web` and `tools/*`; `extra` goes on the command line.
    pub fn start(dir: &std::path::Path, issuer: &Issuer, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join("serve.log");
        let child = Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--store")
            .arg(dir.join("store"))
            .args(["--oidc-allow", "acme/web,tools/*"])
            .args(["--oidc-issuer", &issuer.url])
            .args(["--oidc-jwks-url", &issuer.jwks_url])
            .args(extra)
            .env("LAYERCACHE_LOG", "debug")
            .env("LAYERCACHE_SERVE_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        for _ in 0..400 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self {
                    child,
                    base: format!("http://127.0.0.1:{port}"),
                    log,
                };
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
        panic!("serve did not listen on {port}");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    pub async fn exchange(&self, oidc_token: &str) -> (u16, Value) {
        exchange_at(&self.base, oidc_token).await
    }

    /// The cache token minted for `claims` signed with `key`; the exchange must succeed.
    pub async fn mint(&self, key: &TestKey, claims: &Value) -> String {
        let (status, body) = self.exchange(&key.sign(claims)).await;
        assert_eq!(status, 200, "{claims}: {body}");
        body["token"].as_str().unwrap().to_owned()
    }

    async fn twirp(&self, token: &str, method: &str, body: Value) -> Value {
        let r = reqwest::Client::new()
            .post(format!("{}/{TWIRP}/{method}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }

    /// Save `key` with `token`: create, upload, finalize. Returns the create answer.
    pub async fn save(&self, token: &str, key: &str) -> Value {
        let created = self
            .twirp(
                token,
                "CreateCacheEntry",
                json!({"key": key, "version": VERSION}),
            )
            .await;
        if created["ok"] != true {
            return created;
        }
        let url = created["signed_upload_url"].as_str().unwrap();
        let put = reqwest::Client::new()
            .put(url)
            .header("x-ms-blob-type", "BlockBlob")
            .body("data")
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201);
        let fin = self
            .twirp(
                token,
                "FinalizeCacheEntryUpload",
                json!({"key": key, "version": VERSION, "size_bytes": "4"}),
            )
            .await;
        assert_eq!(fin["ok"], true, "{fin}");
        created
    }

    pub async fn found(&self, token: &str, key: &str) -> bool {
        let r = self
            .twirp(
                token,
                "GetCacheEntryDownloadURL",
                json!({"key": key, "restore_keys": [], "version": VERSION}),
            )
            .await;
        r["ok"] == true
    }

    /// A REST call (`path` from `/repos/...`) with `token`: (status, body).
    pub async fn rest(&self, method: reqwest::Method, path: &str, token: &str) -> (u16, Value) {
        let r = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("accept", "application/vnd.github+json")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
