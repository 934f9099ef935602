//! `layercache serve` as a process: start-up warning without a secret, `serve token`,
//! secrets kept out of logs, and graceful shutdown on SIGTERM.
#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use layercache::cache_service::TokenVerifier;

const BIN: &str = env!("CARGO_BIN_EXE_layercache");
const VERSION: &str = "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("serve did not listen on {port}");
}

#[test]
fn serve_token_issues_a_verifiable_token_and_needs_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "fleet-secret-0123456789").unwrap();
    let out = Command::new(BIN)
        .args([
            "serve",
            "token",
            "--ref",
            "refs/heads/x",
            "--read",
            "refs/heads/main",
            "--secret-file",
        ])
        .arg(&secret)
        .env_remove("LAYERCACHE_SERVE_SECRET")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let verifier = TokenVerifier::new(Some("fleet-secret-0123456789".into()));
    let access = verifier
        .check(Some(&format!("Bearer {}", token.trim())))
        .unwrap();
    assert_eq!(access.writable(), Some("refs/heads/x"));
    assert_eq!(access.readable(), vec!["refs/heads/x", "refs/heads/main"]);
    let wrong = TokenVerifier::new(Some("another-secret-0123456789".into()));
    assert!(
        wrong
            .check(Some(&format!("Bearer {}", token.trim())))
            .is_err()
    );

    let out = Command::new(BIN)
        .args(["serve", "token", "--ref", "refs/heads/x"])
        .env_remove("LAYERCACHE_SERVE_SECRET")
        .env_remove("LAYERCACHE_SERVE_SECRET_FILE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: serve token: no secret: pass --secret-file or set LAYERCACHE_SERVE_SECRET\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_warns_without_secret_keeps_secrets_out_of_logs_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--store"])
        .arg(dir.path().join("store"))
        .env("LAYERCACHE_LOG", "debug")
        .env_remove("LAYERCACHE_SERVE_SECRET")
        .env_remove("LAYERCACHE_SERVE_SECRET_FILE")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port);
    // An unverified (RS256-looking) token, as GitHub's runner would hand out.
    use base64::Engine;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let ac = serde_json::json!([{"Scope": "refs/heads/main", "Permission": 3}]).to_string();
    let token = format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(serde_json::json!({"alg": "RS256"})),
        b64(serde_json::json!({"ac": ac}))
    );
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/twirp/github.actions.results.api.v1.CacheService");
    let r: serde_json::Value = http
        .post(format!("{base}/CreateCacheEntry"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"key": "k", "version": VERSION}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = r["signed_upload_url"].as_str().unwrap().to_owned();
    let sig = url.split("sig=").nth(1).unwrap().to_owned();
    let put = http
        .put(&url)
        .header("x-ms-blob-type", "BlockBlob")
        .body("data")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let fin = http
        .post(format!("{base}/FinalizeCacheEntryUpload"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"key": "k", "version": VERSION, "size_bytes": "4"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fin.status(), 200);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || {
        let s = child.wait().unwrap();
        let mut log = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        (s, log)
    })
    .await
    .unwrap();
    let (status, log) = exit;
    assert!(status.success(), "serve exited with {status}: {log}");
    assert!(
        log.contains("WITHOUT verification"),
        "no start-up warning:\n{log}"
    );
    assert!(
        log.contains("cache service stopped"),
        "no graceful stop:\n{log}"
    );
    assert!(!log.contains(&sig), "a URL signature reached the log");
    assert!(!log.contains(&token), "the token reached the log");
    assert!(
        !log.contains("c2lnbmF0dXJl"),
        "part of the token reached the log"
    );
}

/// No open door: without a secret, a non-loopback address is refused before anything is
/// opened, with one line naming what to configure; with a secret it listens.
#[test]
fn serve_refuses_non_loopback_without_verification() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = Command::new(BIN)
        .args(["serve", "--listen", &format!("0.0.0.0:{port}"), "--store"])
        .arg(dir.path().join("store"))
        .env_remove("LAYERCACHE_SERVE_SECRET")
        .env_remove("LAYERCACHE_SERVE_SECRET_FILE")
        .env_remove("LAYERCACHE_SERVE_OIDC_ALLOW")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "not one line: {stderr}");
    assert!(
        stderr.contains("loopback") && stderr.contains("--secret-file"),
        "{stderr}"
    );
    assert!(!dir.path().join("store").exists(), "the store was opened");

    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &format!("0.0.0.0:{port}"), "--store"])
        .arg(dir.path().join("store"))
        .env("LAYERCACHE_SERVE_SECRET", "fleet-secret-0123456789")
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `layercache-bench serve` end to end on a small entry: the service as a child process, the blob
/// client's uploads (Put Blob; blocks + block list; several at once) and downloads (checked
/// byte for byte against the source), the small
/// entries, and the table it prints; once with one instance and once with two on the
/// store (calls to one, blob bytes through the other).
#[test]
fn bench_serve_runs_every_measure_and_prints_ratios() {
    for instances in ["1", "2"] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_layercache-bench"))
            .args(["serve", "--size-mib", "8", "--small", "20"])
            .args(["--rounds", "1", "--instances", instances, "--parallel", "3"])
            .arg("--dir")
            .arg(dir.path().join("bench"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "bench-serve --instances {instances} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for row in [
            "plain file copy",
            "upload via service",
            "blocks + block list",
            "download via service",
            "3 block uploads of 8 MiB at once",
            "3 downloads of 8 MiB at once",
            "entries/s",
            "service peak RSS",
        ] {
            assert!(stdout.contains(row), "no {row:?} row in:\n{stdout}");
        }
        assert_eq!(
            stdout.contains("two instances"),
            instances == "2",
            "{stdout}"
        );
        // Everything it wrote is cleaned up.
        let left: Vec<_> = std::fs::read_dir(dir.path().join("bench"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "bench-serve left {left:?}");
    }
}
