//! Cache trouble told truthfully, through the whole action on the real daemon as the runner
//! runs it: a cache import that fails is a warning of its own (a workflow command, so not
//! inside the fenced build output), the summary's import row says `failed` with BuildKit's
//! time, the step table is in Dockerfile order, and a GitHub API that cannot be reached is
//! one notice, not `ERROR` lines. (A failing *export* needs a BuildKit that can export to
//! a service; Engine 20.10's exports only inline cache: see engine_remote.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should panic

mod support;

use std::net::TcpListener;

use layercache::action::names::INPUTS;
use support::runner::Step;

fn required(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: run scripts/test.sh (it starts dockerd)"))
}

fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// Two stages BuildKit runs side by side, then a final stage taking from both in the
/// opposite order: BuildKit's report order is not the Dockerfile's.
const DOCKERFILE: &str = "ARG BASE
FROM ${BASE} AS one
ARG RUN_ID
RUN echo one-${RUN_ID} > /one
FROM ${BASE} AS two
ARG RUN_ID
RUN sleep 1 && echo two-${RUN_ID} > /two
FROM ${BASE}
COPY --from=two /two /two
COPY --from=one /one /one
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_import_is_a_warning_and_a_failed_row_and_the_api_one_notice() {
    let declared: Vec<_> = INPUTS.iter().map(|s| (s.name, s.default)).collect();
    let mut s = Step::new(&declared);
    std::fs::write(s.workspace().join("Dockerfile"), DOCKERFILE).unwrap();
    let closed = closed_port();
    let cache_ref = format!("{closed}/nothing:here");
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    s.set("DOCKER_HOST", &required("LAYERCACHE_TEST_DOCKER_HOST"))
        .set("ACTIONS_RUNTIME_TOKEN", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
        .set("ACTIONS_RESULTS_URL", "http://127.0.0.1:9/")
        .set("GITHUB_REPOSITORY", "octo/app")
        // Nothing listens: usage and listing calls fail to connect.
        .set("GITHUB_API_URL", &format!("http://{}", closed_port()))
        .input("github-token", "ghs_canary_notice")
        .input(
            "build-args",
            &format!(
                "BASE={}\nRUN_ID={run_id}",
                required("LAYERCACHE_TEST_BASE_IMAGE")
            ),
        )
        .input("tags", &format!("lc-cache-reports:{run_id}"))
        .input("load", "true")
        .input(
            "cache-from",
            &format!("type=gha\ntype=registry,ref={cache_ref}"),
        )
        .input("cache-to", "type=inline")
        .input("builder-image", "127.0.0.1:9/no/buildkit:v0");
    let r = tokio::task::spawn_blocking(move || s.run(&["action"]))
        .await
        .unwrap();
    let ctx = format!(
        "stdout:\n{}\nstderr:\n{}\nsummary:\n{}",
        r.stdout, r.stderr, r.summary_file
    );
    if std::env::var_os("LAYERCACHE_TEST_SHOW").is_some() {
        eprintln!("{ctx}");
    }
    assert_eq!(r.code(), 0, "{ctx}");

    // The warning is a command the runner acts on: outside every stop-commands fence.
    let warnings = r.named("warning");
    let import = warnings.iter().find(|w| {
        w.data.starts_with(&format!(
            "cache import from registry {cache_ref} failed, building without that cache"
        ))
    });
    assert!(import.is_some(), "{warnings:?}\n{ctx}");
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("::warning::cache import from registry")),
        "{ctx}"
    );

    // One notice for the API, and no ERROR lines from the HTTP client.
    let notices: Vec<_> = r
        .named("notice")
        .into_iter()
        .filter(|n| n.data.contains("GitHub's API did not answer"))
        .collect();
    assert_eq!(notices.len(), 1, "{ctx}");
    assert!(!r.stderr.contains("ERROR"), "{ctx}");

    // The import row: failed, with BuildKit's time for it (never a bare 0.0 s guess).
    let row = r
        .summary_file
        .lines()
        .find(|l| l.starts_with("| Cache import |"))
        .unwrap_or_else(|| panic!("{ctx}"));
    assert!(row.starts_with("| Cache import | ❌ failed · "), "{row}");
    let time: String = row
        .trim_start_matches("| Cache import | ❌ failed · ")
        .chars()
        .take_while(|c| *c != ' ')
        .collect();
    assert!(time.parse::<f64>().is_ok(), "no time from BuildKit: {row}");
    assert!(
        row.contains(&format!("registry {cache_ref} failed")),
        "{row}"
    );
    // type=gha was dropped (this BuildKit cannot use it): failed too, not "not used".
    let gha = row
        .split_once("gha scope lc-cache-reports-")
        .and_then(|(_, rest)| rest.split([';', ')']).next());
    assert!(gha.is_some_and(|g| g.ends_with(" failed")), "{row}");
    let export = r
        .summary_file
        .lines()
        .find(|l| l.starts_with("| Cache export |"));
    assert_eq!(export, Some("| Cache export | done · – |"), "{ctx}");
    eprintln!("measured: {row}");
    eprintln!(
        "measured: {}",
        r.summary_file
            .lines()
            .find(|l| l.starts_with("| Cache export |"))
            .unwrap_or("no export row")
    );

    // Dockerfile order: lines 4, 7, 9, 10, whatever order the stages ran in.
    let steps: Vec<&str> = r
        .summary_file
        .lines()
        .filter(|l| l.starts_with("| `[") && !l.contains("] FROM "))
        .collect();
    let want = [
        "RUN echo one-",
        "RUN sleep 1",
        "COPY --from=two",
        "COPY --from=one",
    ];
    assert_eq!(steps.len(), want.len(), "{steps:?}");
    for (row, w) in steps.iter().zip(want) {
        assert!(row.contains(w), "{steps:?}");
    }
}

/// `layercache build` starts a cache service in-process for `type=gha`; its own lines
/// (index loaded, listening, one per request) are for `LAYERCACHE_LOG`, not the terminal.
#[test]
fn layercache_build_keeps_its_in_process_cache_service_quiet() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "ARG BASE\nFROM ${BASE}\nRUN echo quiet > /q\n",
    )
    .unwrap();
    let run = |log: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_layercache"));
        cmd.args(["build", "--cache-to", "type=gha,mode=max", "--build-args"])
            .arg(format!("BASE={}", required("LAYERCACHE_TEST_BASE_IMAGE")))
            .args(["--builder-image", "127.0.0.1:9/no/buildkit:v0"])
            .arg(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DOCKER_HOST", required("LAYERCACHE_TEST_DOCKER_HOST"))
            .env("LAYERCACHE_CACHE_DIR", dir.path().join("cache"));
        if let Some(l) = log {
            cmd.env("LAYERCACHE_LOG", l);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let quiet = run(None);
    assert!(quiet.contains("started a local cache service"), "{quiet}");
    assert!(!quiet.contains("cache service listening"), "{quiet}");
    assert!(!quiet.contains("cache index loaded"), "{quiet}");
    let asked = run(Some("info"));
    assert!(asked.contains("cache service listening"), "{asked}");
}
