//! `github-token` reaches a Git context of the workflow's own repository, for real: a Git
//! server over HTTP that answers only with the token (as `x-access-token`, the way
//! BuildKit's Git source sends `GIT_AUTH_TOKEN.<host>`), the action run as the runner runs
//! it with `GITHUB_SERVER_URL` pointing there, and the daemon's BuildKit cloning through
//! the host's git. Another repository's context gets no token.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should panic

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use layercache::action::names::INPUTS;
use support::runner::Step;

const TOKEN: &str = "ghs_canary_git_ctx_93b2";

fn required(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: run scripts/test.sh (it starts dockerd)"))
}

fn git(dir: &Path, args: &[&str]) {
    let st = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .status()
        .expect("git (Debian package git) must be installed");
    assert!(st.success(), "git {args:?}");
}

/// `<root>/o/r.git`, a bare repository served the "dumb" HTTP way, with a Dockerfile.
fn repository(root: &Path) {
    let src = root.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let dockerfile = format!(
        "FROM {}\nRUN echo from-git > /g\n",
        required("LAYERCACHE_TEST_BASE_IMAGE")
    );
    std::fs::write(src.join("Dockerfile"), dockerfile).unwrap();
    git(&src, &["init", "-q", "-b", "main"]);
    git(&src, &["add", "."]);
    git(&src, &["commit", "-qm", "init"]);
    std::fs::create_dir_all(root.join("srv/o")).unwrap();
    git(root, &["clone", "-q", "--bare", "src", "srv/o/r.git"]);
    git(&root.join("srv/o/r.git"), &["update-server-info"]);
}

#[derive(Clone)]
struct Server {
    root: PathBuf,
    authorized: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

async fn serve_file(State(s): State<Server>, headers: HeaderMap, uri: Uri) -> Response {
    let want = format!(
        "basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{TOKEN}"))
    );
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !auth.eq_ignore_ascii_case(&want) {
        s.refused.fetch_add(1, Ordering::SeqCst);
        let challenge = [("www-authenticate", "Basic realm=\"git\"")];
        return (StatusCode::UNAUTHORIZED, challenge).into_response();
    }
    s.authorized.fetch_add(1, Ordering::SeqCst);
    let rel = uri.path().trim_start_matches('/');
    if rel.split('/').any(|p| p == "..") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    match tokio::fs::read(s.root.join(rel)).await {
        Ok(bytes) => bytes.into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn start(root: PathBuf) -> (String, Server) {
    let server = Server {
        root,
        authorized: Arc::default(),
        refused: Arc::default(),
    };
    let app = axum::Router::new()
        .fallback(serve_file)
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, server)
}

fn step(server_url: &str, repository: &str) -> Step {
    let declared: Vec<_> = INPUTS.iter().map(|s| (s.name, s.default)).collect();
    let mut s = Step::new(&declared);
    s.set("DOCKER_HOST", &required("LAYERCACHE_TEST_DOCKER_HOST"))
        .set("GITHUB_SERVER_URL", server_url)
        .set("GITHUB_REPOSITORY", repository)
        .input("github-token", TOKEN)
        .input("context", &format!("{server_url}/o/r.git#main"));
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repositorys_git_context_is_cloned_with_github_token() {
    let dir = tempfile::tempdir().unwrap();
    repository(dir.path());
    let (url, server) = start(dir.path().join("srv")).await;

    let s = step(&url, "o/r");
    let r = tokio::task::spawn_blocking(move || s.run(&["action"]))
        .await
        .unwrap();
    let ctx = format!("stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert_eq!(r.code(), 0, "{ctx}");
    assert!(r.outputs()["imageid"].starts_with("sha256:"), "{ctx}");
    assert!(server.authorized.load(Ordering::SeqCst) > 0, "{ctx}");
    for (what, text) in [
        ("summary", &r.summary_file),
        ("outputs", &r.output_file),
        ("stderr", &r.stderr),
    ] {
        assert!(!text.contains(TOKEN), "github-token leaked into {what}");
    }
    let shown: Vec<_> = r.stdout.lines().filter(|l| l.contains(TOKEN)).collect();
    assert!(
        shown.iter().all(|l| l.starts_with("::add-mask::")),
        "{shown:?}"
    );

    // The same URL as another repository's context: no token, so the clone is refused.
    let before = server.authorized.load(Ordering::SeqCst);
    let s = step(&url, "o/other");
    let r = tokio::task::spawn_blocking(move || s.run(&["action"]))
        .await
        .unwrap();
    assert_eq!(r.code(), 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(server.authorized.load(Ordering::SeqCst), before);
    assert!(server.refused.load(Ordering::SeqCst) > 0);
}
