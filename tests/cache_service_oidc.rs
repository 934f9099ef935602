//! `layercache serve` with the OIDC exchange, as a process: tokens signed with a key pair
//! and JWKS the test makes (served on loopback) are verified; every kind of bad token is a
//! 401 with a log line saying why; the minted cache token writes the job's ref, reads the
//! default branch, and a pull request can never write the branch it targets.
#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod oidc_support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oidc_support::{Issuer, TestKey, claims};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_layercache");
const VERSION: &str = "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2";
const TWIRP: &str = "twirp/github.actions.results.api.v1.CacheService";

struct Serve {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Serve {
    fn start(dir: &std::path::Path, issuer: &Issuer, extra: &[&str]) -> Self {
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
            .env("LAYERCACHE_SERVE_SECRET", "fleet-secret-0123456789")
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

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    async fn exchange(&self, oidc_token: &str) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/_layercache/oidc/exchange", self.base))
            .bearer_auth(oidc_token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
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
    async fn save(&self, token: &str, key: &str) -> Value {
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

    async fn found(&self, token: &str, key: &str) -> bool {
        let r = self
            .twirp(
                token,
                "GetCacheEntryDownloadURL",
                json!({"key": key, "restore_keys": [], "version": VERSION}),
            )
            .await;
        r["ok"] == true
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_oidc_tokens_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let key = TestKey::generate(dir.path(), "k1");
    let stranger = TestKey::generate(dir.path(), "k2");
    let issuer = Issuer::serve(vec![key.jwk.clone()]).await;
    let serve = Serve::start(dir.path(), &issuer, &[]);
    let good = claims(&issuer.url, "acme/web", "refs/heads/main", "push");
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let now = chrono::Utc::now().timestamp();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            key.sign(&with("exp", json!(now - 3600))),
            "expired",
        ),
        (
            "wrong audience",
            key.sign(&with("aud", json!("sts.amazonaws.com"))),
            "wrong audience",
        ),
        (
            "wrong issuer",
            key.sign(&with(
                "iss",
                json!("https://token.actions.githubusercontent.com"),
            )),
            "wrong issuer",
        ),
        ("unknown key", stranger.sign(&good), "unknown key id \"k2\""),
        (
            "disallowed repository",
            key.sign(&with("repository", json!("evil/web"))),
            "is not allowed",
        ),
        (
            "not yet valid",
            key.sign(&with("nbf", json!(now + 3600))),
            "not valid yet",
        ),
    ];
    for (name, token, why) in &cases {
        let (status, body) = serve.exchange(token).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert!(
            body["message"].as_str().unwrap_or("").contains(why),
            "{name}: {body}"
        );
    }
    // A token signed by another key under the known kid: the signature does not verify.
    let forged = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(&header, &good, &stranger.encoding).unwrap()
    };
    let (status, body) = serve.exchange(&forged).await;
    assert_eq!(status, 401, "{body}");
    // The owner of an `owner/*` entry is allowed while its stranger is not.
    let (status, _) = serve
        .exchange(&key.sign(&claims(&issuer.url, "tools/x", "refs/heads/a", "push")))
        .await;
    assert_eq!(status, 200);

    let log = serve.log();
    for why in [
        "expired",
        "wrong audience",
        "wrong issuer",
        "unknown key id",
        "evil/web",
        "not valid yet",
        "signature does not verify",
    ] {
        let line = log
            .lines()
            .find(|l| l.contains("OIDC token refused") && l.contains(why));
        assert!(line.is_some(), "no refusal log line for {why:?}:\n{log}");
    }
    for (_, token, _) in &cases {
        let sig = token.rsplit('.').next().unwrap();
        assert!(!log.contains(sig), "a token reached the log");
    }
    // One fetch at start-up of verification, and the unknown kid may not force another
    // within the refresh floor.
    assert_eq!(issuer.fetch_count(), 1, "JWKS fetched more than once");
}

#[tokio::test(flavor = "multi_thread")]
async fn minted_tokens_write_their_ref_read_main_and_prs_never_write_main() {
    let dir = tempfile::tempdir().unwrap();
    let key = TestKey::generate(dir.path(), "k1");
    let issuer = Issuer::serve(vec![key.jwk.clone()]).await;
    let serve = Serve::start(dir.path(), &issuer, &[]);
    let exchange = |c: Value| {
        let token = key.sign(&c);
        let serve = &serve;
        async move {
            let (status, body) = serve.exchange(&token).await;
            assert_eq!(status, 200, "{body}");
            body["token"].as_str().unwrap().to_owned()
        }
    };
    let main = exchange(claims(&issuer.url, "acme/web", "refs/heads/main", "push")).await;
    assert_eq!(serve.save(&main, "from-main").await["ok"], true);

    let feature = exchange(claims(
        &issuer.url,
        "acme/web",
        "refs/heads/feature",
        "push",
    ))
    .await;
    assert!(
        serve.found(&feature, "from-main").await,
        "feature cannot read main"
    );
    assert_eq!(serve.save(&feature, "from-feature").await["ok"], true);
    assert!(serve.found(&feature, "from-feature").await);
    assert!(
        !serve.found(&main, "from-feature").await,
        "main sees feature's entry"
    );

    let mut pr = claims(&issuer.url, "acme/web", "refs/pull/7/merge", "pull_request");
    pr["base_ref"] = json!("main");
    let pr = exchange(pr).await;
    assert!(
        serve.found(&pr, "from-main").await,
        "a PR cannot read its base"
    );
    assert_eq!(serve.save(&pr, "from-pr").await["ok"], true);
    assert!(!serve.found(&main, "from-pr").await, "a PR wrote main");

    // `pull_request_target` runs carry the base branch as their ref: read-only.
    let mut target = claims(
        &issuer.url,
        "acme/web",
        "refs/heads/main",
        "pull_request_target",
    );
    target["base_ref"] = json!("main");
    let target = exchange(target).await;
    let denied = serve.save(&target, "from-target").await;
    assert_eq!(denied["ok"], false, "{denied}");
    assert!(serve.found(&target, "from-main").await);

    // Another allowed repository shares nothing with this one.
    let other = exchange(claims(&issuer.url, "tools/x", "refs/heads/main", "push")).await;
    assert!(
        !serve.found(&other, "from-main").await,
        "repositories share a scope"
    );

    let log = serve.log();
    for t in [&main, &feature, &pr, &target, &other] {
        let sig = t.rsplit('.').next().unwrap();
        assert!(!log.contains(sig), "a minted token reached the log");
    }
    assert!(log.contains("OIDC token exchanged"), "{log}");
}
