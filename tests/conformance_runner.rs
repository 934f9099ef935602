//! Docker's documented GitHub Actions recipes that touch the runner's layout, run as the
//! action with only `uses:` changed: each through the runner emulation (the binary with
//! the env a runner gives a container action) and through the action image started as the
//! runner starts it, in a hosted runner's directory layout (docs/runner-contract.md).
//!
//! - Login to a registry, then push (docs "Push to multiple registries"/"Local registry"):
//!   the real `docker login` writes the runner user's `~/.docker/config.json` as
//!   docker/login-action does; the registry is Debian's docker-registry with htpasswd.
//! - Test before push, and `call: check`, with no checkout step: the default context is the
//!   repository's Git context, served by `git http-backend` that answers only with the
//!   job's token (`GIT_AUTH_TOKEN.<host>`).
//! - Named contexts and `{{defaultContext}}:subdir`, with a host path inside a
//!   `build-contexts` entry.
//! - Secrets and ssh with host paths (`${{ runner.temp }}/...` inside entries), and a local
//!   export to `${{ runner.temp }}`.
//!
//! Not here: pushing to `ghcr.io` with `github-token` (no ghcr.io to push to; the rule is
//! unit-tested in `runner_host::credentials`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should panic

#[path = "action_image/runner.rs"]
mod image_runner;
mod support;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use layercache::action::names::INPUTS;

const TOKEN: &str = "ghs_canary_conformance_5e1f";
const SECRET: &str = "canary-build-secret-77d0";

fn required(var: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("{var} is not set: run scripts/test.sh (scripts/setup.d)"))
}

fn base_image() -> String {
    required("LAYERCACHE_TEST_BASE_IMAGE")
}

// ---------------------------------------------------------------- the two ways to run

#[derive(Clone, Copy, Debug)]
enum Via {
    /// The binary on this machine with a runner's environment.
    Emulation,
    /// The action image in a container, mounts and env as the runner gives them.
    Image,
}

enum Harness {
    Emulation(support::runner::Step),
    Image(image_runner::Step),
}

/// One step of a job that uses the action.
struct Job {
    harness: Harness,
    docker_host: String,
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    outputs: BTreeMap<String, String>,
    /// Every runner file, for leak checks.
    files: String,
}

impl Ran {
    fn log(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }

    fn assert_ok(&self, what: &str) {
        assert_eq!(self.code, Some(0), "{what} failed\n{}", self.log());
    }

    /// No canary outside `::add-mask::` lines, in the log or in any runner file.
    fn assert_never_shows(&self, canary: &str) {
        let shown: Vec<&str> = self
            .stdout
            .lines()
            .chain(self.stderr.lines())
            .filter(|l| l.contains(canary) && !l.starts_with("::add-mask::"))
            .collect();
        assert!(shown.is_empty(), "{canary} shown: {shown:?}");
        assert!(!self.files.contains(canary), "{canary} in a runner file");
    }

    fn errors(&self) -> Vec<String> {
        support::runner::commands(&format!("{}\n{}", self.stdout, self.stderr))
            .into_iter()
            .filter(|c| c.name == "error")
            .map(|c| c.data)
            .collect()
    }
}

impl Job {
    fn new(via: Via) -> Self {
        Self::on(via, &required("LAYERCACHE_TEST_DOCKER_HOST"))
    }

    /// On the Docker 28 lane's daemon (BuildKit with named contexts and checks); the
    /// action image is copied there first.
    fn on_docker28(via: Via) -> Self {
        let host = required("LAYERCACHE_TEST_DOCKER28_HOST");
        if matches!(via, Via::Image) {
            copy_action_image(&host);
        }
        Self::on(via, &host)
    }

    fn on(via: Via, docker_host: &str) -> Self {
        let docker_host = docker_host.to_owned();
        let harness = match via {
            Via::Emulation => {
                let declared: Vec<_> = INPUTS.iter().map(|s| (s.name, s.default)).collect();
                let mut s = support::runner::Step::new(&declared);
                s.set("DOCKER_HOST", &docker_host);
                Harness::Emulation(s)
            }
            Via::Image => {
                let mut s = image_runner::Step::hosted();
                s.daemon(&docker_host);
                Harness::Image(s)
            }
        };
        let mut job = Self {
            harness,
            docker_host,
        };
        job.input("expose-runtime", "false")
            .input("cache-advice", "false")
            .input("github-token", TOKEN);
        job
    }

    fn env(&mut self, name: &str, value: &str) -> &mut Self {
        match &mut self.harness {
            Harness::Emulation(s) => {
                s.set(name, value);
            }
            Harness::Image(s) => {
                s.set(name, value);
            }
        }
        self
    }

    fn input(&mut self, name: &str, value: &str) -> &mut Self {
        self.env(&format!("INPUT_{}", name.to_uppercase()), value)
    }

    /// The workspace on the host (`${{ github.workspace }}`).
    fn workspace(&self) -> PathBuf {
        match &self.harness {
            Harness::Emulation(s) => s.workspace(),
            Harness::Image(s) => s.workspace().to_path_buf(),
        }
    }

    /// `${{ runner.temp }}` on the host.
    fn runner_temp(&self) -> PathBuf {
        match &self.harness {
            Harness::Emulation(s) => s.dir.path().join("runner_temp"),
            Harness::Image(s) => s.runner_temp().to_path_buf(),
        }
    }

    /// Where docker/login-action writes: the runner user's `~/.docker`. In the emulation
    /// the action runs as that user (its `HOME`); in the image it is the hosted runner's
    /// `/home/runner`, two levels above `_work/_temp` and not mounted.
    fn login_config_dir(&self) -> PathBuf {
        match &self.harness {
            Harness::Emulation(s) => s.dir.path().join("home/.docker"),
            Harness::Image(s) => s.runner_temp().join("../../.docker"),
        }
    }

    fn run(&self) -> Ran {
        match &self.harness {
            Harness::Emulation(s) => {
                let r = s.run(&["action"]);
                let files = r
                    .runner_files()
                    .iter()
                    .map(|(_, t)| *t)
                    .collect::<Vec<_>>()
                    .join("\n");
                Ran {
                    code: r.output.status.code(),
                    outputs: r.outputs(),
                    files,
                    stdout: r.stdout,
                    stderr: r.stderr,
                }
            }
            Harness::Image(s) => {
                let r = s.run(&required("LAYERCACHE_TEST_ACTION_IMAGE"), &[]);
                let files = [
                    "GITHUB_ENV",
                    "GITHUB_OUTPUT",
                    "GITHUB_STATE",
                    "GITHUB_STEP_SUMMARY",
                ]
                .iter()
                .map(|f| s.file(f))
                .collect::<Vec<_>>()
                .join("\n");
                Ran {
                    code: r.status,
                    outputs: s.pairs("GITHUB_OUTPUT").into_iter().collect(),
                    files,
                    stdout: r.stdout,
                    stderr: r.stderr,
                }
            }
        }
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .env("DOCKER_HOST", &self.docker_host)
            .args(args)
            .output()
            .expect("docker CLI")
    }

    /// The real `docker login`, as docker/login-action runs it, into the runner user's
    /// config directory.
    fn login(&self, registry: &str, user: &str, password: &str) {
        let dir = self.login_config_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = Command::new("docker")
            .env("DOCKER_HOST", &self.docker_host)
            .env("DOCKER_CONFIG", &dir)
            .args(["login", "--username", user, "--password-stdin", registry])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker CLI");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "docker login: {out:?}");
        assert!(dir.join("config.json").is_file());
    }
}

/// `docker save | docker load` of the action image into another daemon, once.
fn copy_action_image(to: &str) {
    static COPIED: std::sync::Once = std::sync::Once::new();
    COPIED.call_once(|| {
        let image = required("LAYERCACHE_TEST_ACTION_IMAGE");
        let from = required("LAYERCACHE_TEST_DOCKER_HOST");
        let script = "docker -H \"$FROM\" save \"$IMAGE\" | docker -H \"$TO\" load -q";
        let out = Command::new("sh")
            .args(["-c", script])
            .env("FROM", from)
            .env("TO", to)
            .env("IMAGE", image)
            .output()
            .expect("sh");
        assert!(out.status.success(), "copying the action image: {out:?}");
    });
}

fn dockerfile(dir: &Path, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), text).unwrap();
}

/// The auth registry: address, user, password.
fn auth_registry() -> (String, String, String) {
    (
        required("LAYERCACHE_TEST_AUTH_REGISTRY"),
        required("LAYERCACHE_TEST_AUTH_REGISTRY_USER"),
        required("LAYERCACHE_TEST_AUTH_REGISTRY_PASSWORD"),
    )
}

/// Whether the registry holds `repo:tag`, asked with the credentials.
fn registry_has(registry: &str, user: &str, password: &str, repo: &str, tag: &str) -> bool {
    let out = Command::new("curl")
        .args(["-fsS", "-o", "/dev/null", "-K", "-"])
        .args([
            "-H",
            "Accept: application/vnd.docker.distribution.manifest.v2+json",
        ])
        .arg(format!("http://{registry}/v2/{repo}/manifests/{tag}"))
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            // The password on stdin, not on a command line.
            c.stdin
                .take()
                .unwrap()
                .write_all(format!("user = \"{user}:{password}\"\n").as_bytes())?;
            c.wait_with_output()
        })
        .expect("curl");
    out.status.success()
}

// ---------------------------------------------------------------- a Git server

/// `git http-backend` (smart HTTP) behind a small server that lets in only requests with
/// the job's token as BuildKit sends it (`x-access-token:<token>`, basic).
#[derive(Clone)]
struct GitServer {
    root: PathBuf,
    authorized: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .expect("git (Debian package git) must be installed");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `<root>/srv/o/r.git` from the files given; returns the commit.
fn repository(root: &Path, files: &[(&str, &str)]) -> String {
    let src = root.join("src");
    for (path, text) in files {
        let p = src.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    git(&src, &["init", "-q", "-b", "main"]);
    git(&src, &["add", "."]);
    git(&src, &["commit", "-qm", "init"]);
    std::fs::create_dir_all(root.join("srv/o")).unwrap();
    git(root, &["clone", "-q", "--bare", "src", "srv/o/r.git"]);
    let bare = root.join("srv/o/r.git");
    git(&bare, &["config", "uploadpack.allowAnySHA1InWant", "true"]);
    git(&src, &["rev-parse", "HEAD"])
}

async fn http_backend(
    State(s): State<GitServer>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
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
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env("GIT_PROJECT_ROOT", &s.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let Ok(mut child) = cmd.spawn() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut stdin = child.stdin.take().unwrap();
    let feed = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        let _ = stdin.write_all(&body).await;
    });
    let out = child.wait_with_output().await.unwrap();
    let _ = feed.await;
    cgi_response(&out.stdout)
}

/// A CGI answer (`Status:` and other headers, a blank line, the body) as a response.
fn cgi_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((at, len)) = split else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let head = String::from_utf8_lossy(&raw[..at]);
    let mut builder = Response::builder();
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if k.eq_ignore_ascii_case("status") {
            let code = v.trim().split(' ').next().unwrap_or("500");
            builder = builder.status(code.parse::<u16>().unwrap_or(500));
        } else {
            builder = builder.header(k.trim(), v.trim());
        }
    }
    builder
        .body(axum::body::Body::from(raw[at + len..].to_vec()))
        .unwrap()
}

/// Serve `root` (holding `o/r.git`); the URL is `GITHUB_SERVER_URL`.
async fn git_server(root: PathBuf) -> (String, GitServer) {
    let server = GitServer {
        root,
        authorized: Arc::default(),
        refused: Arc::default(),
    };
    let app = axum::Router::new()
        .fallback(http_backend)
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, server)
}

/// The job's repository on `url`, at `commit`, with no checkout: `context` left empty.
fn on_repository(job: &mut Job, url: &str, commit: &str) {
    job.env("GITHUB_SERVER_URL", url)
        .env("GITHUB_REPOSITORY", "o/r")
        .env("GITHUB_REPOSITORY_OWNER", "o")
        .env("GITHUB_SHA", commit)
        .input("context", "");
}

async fn run(job: Job) -> (Job, Ran) {
    tokio::task::spawn_blocking(move || {
        let r = job.run();
        (job, r)
    })
    .await
    .unwrap()
}

// ---------------------------------------------------------------- recipes

/// The base image in the registry that wants a login, and not in the daemon: a private
/// base image BuildKit must pull with credentials.
fn private_base(registry: &str, user: &str, password: &str, via: Via) -> String {
    let target = format!("{registry}/conformance/private-base-{via:?}:1").to_lowercase();
    let config = tempfile::tempdir().unwrap();
    let docker = |args: &[&str], stdin: Option<&str>| {
        let mut child = Command::new("docker")
            .env("DOCKER_HOST", required("LAYERCACHE_TEST_DOCKER_HOST"))
            .env("DOCKER_CONFIG", config.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(pipe);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "docker {args:?}: {out:?}");
    };
    docker(
        &["login", "-u", user, "--password-stdin", registry],
        Some(password),
    );
    docker(&["tag", &base_image(), &target], None);
    docker(&["push", &target], None);
    docker(&["rmi", &target], None);
    target
}

/// docs "Push to registries": docker/login-action, then the build pulls a private base
/// image and pushes. Without the login the registry refuses (the pull, here), and one
/// line says what to add.
async fn login_then_push(via: Via) {
    let (registry, user, password) = auth_registry();
    let tag = format!("{registry}/conformance/login-{via:?}:1").to_lowercase();
    let repo = format!("conformance/login-{via:?}").to_lowercase();
    let base = private_base(&registry, &user, &password, via);

    let mut job = Job::new(via);
    dockerfile(
        &job.workspace(),
        &format!("FROM {base}\nRUN echo pushed > /p\n"),
    );
    job.input("context", ".")
        .input("push", "true")
        .input("tags", &tag);
    let (job, refused) = run(job).await;
    assert_ne!(
        refused.code,
        Some(0),
        "pushed with no login\n{}",
        refused.log()
    );
    let hint = refused
        .errors()
        .into_iter()
        .find(|e| e.contains(&format!("`registry: {registry}`")));
    assert!(
        hint.is_some(),
        "no hint naming the registry\n{}",
        refused.log()
    );
    refused.assert_never_shows(&password);

    job.login(&registry, &user, &password);
    let (job, r) = run(job).await;
    r.assert_ok("push after login");
    assert!(r.outputs["digest"].starts_with("sha256:"), "{}", r.log());
    let source = match via {
        Via::Emulation => "from $HOME/.docker/config.json".to_owned(),
        Via::Image => "from the runner's ~/.docker/config.json (".to_owned(),
    };
    let told = format!("registry credentials for {registry}: {source}");
    assert!(r.stdout.contains(&told), "no {told:?}\n{}", r.log());
    r.assert_never_shows(&password);
    assert!(registry_has(&registry, &user, &password, &repo, "1"));
    if matches!(via, Via::Image) {
        assert_no_reading_containers(&job);
    }
}

/// The containers that read host files through the daemon are gone.
fn assert_no_reading_containers(job: &Job) {
    let out = job.docker(&[
        "ps",
        "-aq",
        "--filter",
        "label=layercache.purpose=read-host-file",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "",
        "left behind"
    );
}

/// `env: DOCKER_CONFIG: <a directory on the runner>` (set for the job, so
/// docker/login-action wrote there too), outside every mount: the runner passes the host
/// path through untranslated, and it is read through the daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_config_outside_the_mounts_in_the_action_image() {
    let (registry, user, password) = auth_registry();
    let mut job = Job::new(Via::Image);
    dockerfile(
        &job.workspace(),
        &format!("FROM {}\nRUN echo pushed > /p\n", base_image()),
    );
    let config = job.runner_temp().join("../../docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let config = config.canonicalize().unwrap();
    let mut login = Command::new("docker")
        .env("DOCKER_HOST", &job.docker_host)
        .env("DOCKER_CONFIG", &config)
        .args(["login", "--username", &user, "--password-stdin", &registry])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    login
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    assert!(login.wait().unwrap().success());
    let tag = format!("{registry}/conformance/docker-config:1");
    job.env("DOCKER_CONFIG", &config.display().to_string())
        .input("context", ".")
        .input("push", "true")
        .input("tags", &tag);
    let (job, r) = run(job).await;
    r.assert_ok("push with DOCKER_CONFIG outside the mounts");
    let told = format!(
        "registry credentials for {registry}: from DOCKER_CONFIG ({}/config.json)",
        config.display()
    );
    assert!(r.stdout.contains(&told), "no {told:?}\n{}", r.log());
    r.assert_never_shows(&password);
    assert!(registry_has(
        &registry,
        &user,
        &password,
        "conformance/docker-config",
        "1"
    ));
    assert_no_reading_containers(&job);
}

/// docs "Test before push" with no checkout step: the default Git context, loaded and
/// run, then pushed (with a login) from the same context; the Git server lets BuildKit in
/// only with the job's token.
async fn test_before_push(via: Via) {
    let (registry, user, password) = auth_registry();
    let dir = tempfile::tempdir().unwrap();
    let commit = repository(
        dir.path(),
        &[(
            "Dockerfile",
            &format!("FROM {}\nRUN echo from-git > /g\n", base_image()),
        )],
    );
    let (url, server) = git_server(dir.path().join("srv")).await;
    let test_tag = format!("conformance/tbp-{via:?}:test").to_lowercase();

    let mut job = Job::new(via);
    on_repository(&mut job, &url, &commit);
    job.input("load", "true").input("tags", &test_tag);
    let (mut job, r) = run(job).await;
    r.assert_ok("build and load from the Git context");
    let told = format!("context: {url}/o/r.git#{commit}");
    assert!(r.stdout.contains(&told), "no {told:?}\n{}", r.log());
    assert!(server.authorized.load(Ordering::SeqCst) > 0, "{}", r.log());
    assert_eq!(server.refused.load(Ordering::SeqCst), 0);
    r.assert_never_shows(TOKEN);
    let out = job.docker(&["run", "--rm", &test_tag, "cat", "/g"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "from-git");

    let tag = format!("{registry}/conformance/tbp-{via:?}:latest").to_lowercase();
    job.login(&registry, &user, &password);
    job.input("load", "false")
        .input("push", "true")
        .input("tags", &tag);
    let (_job, r) = run(job).await;
    r.assert_ok("push from the Git context");
    r.assert_never_shows(TOKEN);
    r.assert_never_shows(&password);
    let repo = format!("conformance/tbp-{via:?}").to_lowercase();
    assert!(registry_has(&registry, &user, &password, &repo, "latest"));
}

/// docs "Named contexts" (the Dockerfile frontend of Engine 20.10 has none: Docker 28
/// lane) with `{{defaultContext}}:app` as the context and a local
/// directory given by its host path inside the `build-contexts` entry.
async fn named_contexts(via: Via) {
    let base = required("LAYERCACHE_TEST_DOCKER28_BASE_IMAGE");
    let dir = tempfile::tempdir().unwrap();
    let commit = repository(
        dir.path(),
        &[
            (
                "app/Dockerfile",
                &format!("FROM {base}\nCOPY --from=lib hello /hello\nCOPY greeting /greeting\n"),
            ),
            ("app/greeting", "from-subdir\n"),
        ],
    );
    let (url, _server) = git_server(dir.path().join("srv")).await;
    let tag = format!("conformance/named-{via:?}:1").to_lowercase();

    let mut job = Job::on_docker28(via);
    let lib = job.workspace().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("hello"), "from-named-context\n").unwrap();
    on_repository(&mut job, &url, &commit);
    job.input("context", "{{defaultContext}}:app")
        .input("build-contexts", &format!("lib={}", lib.display()))
        .input("load", "true")
        .input("tags", &tag);
    let (job, r) = run(job).await;
    r.assert_ok("named contexts");
    r.assert_never_shows(TOKEN);
    if matches!(via, Via::Image) {
        assert!(
            r.stdout.contains("build-contexts: ") && r.stdout.contains("/github/workspace/lib"),
            "the host path was not translated\n{}",
            r.log()
        );
    }
    for (file, want) in [
        ("/hello", "from-named-context"),
        ("/greeting", "from-subdir"),
    ] {
        let out = job.docker(&["run", "--rm", &tag, "cat", file]);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want, "{file}");
    }
}

/// A foreground `ssh-agent` on `socket`; killed on drop.
struct Agent(std::process::Child);

impl Agent {
    fn start(socket: &Path) -> Self {
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(socket)
            .stdout(Stdio::null())
            .spawn()
            .expect("ssh-agent (openssh-client) is installed by scripts/test.sh");
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Self(child)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// docs "Secrets" and "SSH": `secret-files` and `ssh` entries holding host paths under
/// `${{ runner.temp }}`, and a local export to `${{ runner.temp }}/out`.
async fn secrets_and_ssh(via: Via) {
    let mut job = Job::new(via);
    let temp = job.runner_temp();
    std::fs::write(temp.join("token"), SECRET).unwrap();
    let agent_socket = temp.join("agent.sock");
    let _agent = Agent::start(&agent_socket);
    dockerfile(
        &job.workspace(),
        &format!(
            "FROM {}\n\
             RUN --mount=type=secret,id=tok,required=true test -s /run/secrets/tok && echo secret-ok > /s\n\
             RUN --mount=type=ssh,required=true test -S \"$SSH_AUTH_SOCK\" && echo ssh-ok > /ssh\n",
            base_image()
        ),
    );
    let out = temp.join("out");
    job.input("context", ".")
        .input(
            "secret-files",
            &format!("tok={}", temp.join("token").display()),
        )
        .input("ssh", &format!("default={}", agent_socket.display()))
        .input("outputs", &format!("type=local,dest={}", out.display()));
    let (job, r) = run(job).await;
    r.assert_ok("secrets and ssh");
    r.assert_never_shows(SECRET);
    for (file, want) in [("s", "secret-ok"), ("ssh", "ssh-ok")] {
        let got = std::fs::read_to_string(out.join(file)).unwrap_or_default();
        assert_eq!(got.trim(), want, "{file} in the local export\n{}", r.log());
    }

    // A host path no mount holds: one line naming the input and the path.
    if matches!(via, Via::Image) {
        let mut job = job;
        job.input("outputs", "type=local,dest=/home/runner/elsewhere");
        let (job, r) = run(job).await;
        assert_ne!(r.code, Some(0), "{}", r.log());
        let errors = r.errors();
        let named = errors.iter().find(|e| {
            e.starts_with("outputs: /home/runner/elsewhere is a path on the runner outside")
        });
        assert!(named.is_some(), "{errors:?}\n{}", r.log());

        // `ssh: default` with an agent the runner cannot mount (webfactory/ssh-agent's
        // socket in /tmp): the same, naming `ssh` and the socket.
        let mut job = job;
        job.input("outputs", "")
            .input("ssh", "default")
            .env("SSH_AUTH_SOCK", "/tmp/ssh-XXXXabcd/agent.1234");
        let (_job, r) = run(job).await;
        assert_ne!(r.code, Some(0), "{}", r.log());
        let errors = r.errors();
        let named = errors
            .iter()
            .find(|e| e.starts_with("ssh: ") && e.contains("/tmp/ssh-XXXXabcd/agent.1234"));
        assert!(named.is_some(), "{errors:?}\n{}", r.log());
    }
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_then_push_through_the_runner_emulation() {
    login_then_push(Via::Emulation).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_then_push_in_the_action_image() {
    login_then_push(Via::Image).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_before_push_without_checkout_through_the_runner_emulation() {
    test_before_push(Via::Emulation).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_before_push_without_checkout_in_the_action_image() {
    test_before_push(Via::Image).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker28_lane_named_contexts_and_default_context_through_the_runner_emulation() {
    named_contexts(Via::Emulation).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker28_lane_named_contexts_and_default_context_in_the_action_image() {
    named_contexts(Via::Image).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_ssh_with_host_paths_through_the_runner_emulation() {
    secrets_and_ssh(Via::Emulation).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_ssh_with_host_paths_in_the_action_image() {
    secrets_and_ssh(Via::Image).await;
}

/// docs "Validating build configuration" (`call: check`) with no checkout step, on the
/// Git context: a finding fails the step like buildx, a clean Dockerfile passes. Needs a
/// BuildKit with checks: the Docker 28 lane's daemon (the action image lives in the other
/// daemon, so this recipe runs through the emulation only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker28_lane_call_check_on_the_git_context_without_checkout() {
    let host = required("LAYERCACHE_TEST_DOCKER28_HOST");
    let base = required("LAYERCACHE_TEST_DOCKER28_BASE_IMAGE");
    for (dockerfile, code) in [
        (format!("FROM {base} as build\nRUN true\n"), 1),
        (format!("FROM {base} AS build\nRUN true\n"), 0),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let commit = repository(dir.path(), &[("Dockerfile", &dockerfile)]);
        let (url, server) = git_server(dir.path().join("srv")).await;
        let mut job = Job::new(Via::Emulation);
        job.docker_host = host.clone();
        job.env("DOCKER_HOST", &host).input("call", "check");
        on_repository(&mut job, &url, &commit);
        let (_job, r) = run(job).await;
        assert_eq!(r.code, Some(code), "{dockerfile}\n{}", r.log());
        assert!(server.authorized.load(Ordering::SeqCst) > 0, "{}", r.log());
        r.assert_never_shows(TOKEN);
        if code == 1 {
            assert!(r.stdout.contains("FromAsCasing"), "{}", r.log());
        }
    }
}
