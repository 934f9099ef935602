//! The whole action on the real daemon, run as the runner runs it: inputs as `INPUT_*`, a
//! runtime token, a cache service, GitHub's REST API (the stand-in from the housekeeping
//! tests), then outputs, summary and annotations read back with the runner's rules.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should panic

#[path = "housekeeping/stub.rs"]
mod stub;
mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use layercache::action::names::INPUTS;
use support::runner::Step;

const GH_TOKEN: &str = "ghs_canary_4f1e9a";

fn required(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: run scripts/test.sh (it starts dockerd)"))
}

fn runtime_token() -> String {
    let ac = r#"[{"Scope":"refs/heads/main","Permission":3}]"#;
    let claims = serde_json::json!({ "ac": ac, "exp": 4102444800u64 });
    format!(
        "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

async fn step(dockerfile: &str, api: &str) -> Step {
    let declared: Vec<_> = INPUTS.iter().map(|s| (s.name, s.default)).collect();
    let mut s = Step::new(&declared);
    std::fs::write(s.workspace().join("Dockerfile"), dockerfile).unwrap();
    s.set("DOCKER_HOST", &required("LAYERCACHE_TEST_DOCKER_HOST"))
        .set("ACTIONS_RUNTIME_TOKEN", &runtime_token())
        // Nothing listens there: this BuildKit cannot use gha anyway (see below).
        .set("ACTIONS_RESULTS_URL", "http://127.0.0.1:9/")
        .set("GITHUB_API_URL", api)
        .input("github-token", GH_TOKEN)
        .input(
            "build-args",
            &format!("BASE={}", required("LAYERCACHE_TEST_BASE_IMAGE")),
        )
        .input(
            "tags",
            &format!("lc-action-build:{}", uuid::Uuid::new_v4().simple()),
        )
        .input("load", "true")
        .input("cache-from", "type=gha")
        .input("cache-to", "type=gha,mode=max")
        // No BuildKit image can be pulled here: `auto` falls back to the daemon's BuildKit.
        .input("builder-image", "127.0.0.1:9/no/buildkit:v0");
    s
}

/// One old blob of 3 GiB, and what a gha export during the build leaves: a new 1 MiB blob
/// of this ref (stamped an hour ahead so it is newer than the build's start whatever the
/// timing), plus a new blob of another ref and a new index of another scope, which are not
/// this build's.
async fn api() -> String {
    let later = Utc::now() + chrono::Duration::hours(1);
    let entry = |id, key: &str, git_ref: &str, size, created_at| stub::Entry {
        id,
        key: key.into(),
        git_ref: git_ref.into(),
        size,
        created_at,
        last_accessed_at: created_at,
    };
    let main = "refs/heads/main";
    let entries = vec![
        entry(1, "buildkit-blob-1-sha256:00", main, 3 << 30, Utc::now()),
        entry(2, "buildkit-blob-1-sha256:11", main, 1 << 20, later),
        entry(
            3,
            "buildkit-blob-1-sha256:22",
            "refs/heads/dev",
            1 << 20,
            later,
        ),
        entry(4, "index-other-1-00000000#1", main, 1 << 10, later),
    ];
    let state = stub::State {
        repository: "octo/app".into(),
        token: GH_TOKEN.into(),
        can_write: true,
        entries,
        storage_limit_gb: Some(10),
        ..Default::default()
    };
    stub::start(state).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_builds_sets_outputs_and_writes_the_summary() {
    let dockerfile =
        "ARG BASE\nFROM ${BASE}\nRUN echo '::warning::from-the-build' && echo built > /built\n";
    let s = step(dockerfile, &api().await).await;
    let r = tokio::task::spawn_blocking(move || s.run(&["action"]))
        .await
        .unwrap();
    let ctx = format!("stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    if std::env::var_os("LAYERCACHE_TEST_SHOW").is_some() {
        eprintln!("{ctx}\nsummary:\n{}", r.summary_file);
    }
    assert_eq!(r.code(), 0, "{ctx}");
    // A real run exposes the runtime to later steps (a dry run writes no runner file).
    assert!(
        r.env_vars()
            .iter()
            .any(|(k, _)| k == "ACTIONS_RUNTIME_TOKEN"),
        "{}",
        r.env_file
    );
    let out = r.outputs();
    assert!(out["imageid"].starts_with("sha256:"), "{out:?}");
    let metadata: serde_json::Value = serde_json::from_str(&out["metadata"]).unwrap();
    assert!(metadata.get("buildx.build.ref").is_some(), "{metadata}");

    let commands = r.commands();
    assert!(
        !commands.iter().any(|c| c.data.contains("from-the-build")),
        "build output issued a command: {ctx}"
    );
    assert!(
        r.stdout.contains("::warning::from-the-build"),
        "but it is shown"
    );
    let fallback = commands
        .iter()
        .find(|c| c.name == "warning" && c.data.contains("without the cache it cannot use"));
    assert!(
        fallback.is_some_and(|c| c.data.contains("type=gha")),
        "{ctx}"
    );

    assert!(
        r.summary_file.contains("| Step | Result | Time |"),
        "{}",
        r.summary_file
    );
    assert!(
        r.summary_file
            .contains("**Repository cache:** 3.0 GiB of 10.0 GiB (30%) in 4 entries"),
        "{}",
        r.summary_file
    );
    assert!(
        r.summary_file
            .contains("**Exported to the Actions cache:** 1 new entry, 1.0 MiB"),
        "{}",
        r.summary_file
    );
    for (what, text) in [
        ("summary", &r.summary_file),
        ("outputs", &r.output_file),
        ("stderr", &r.stderr),
    ] {
        assert!(!text.contains(GH_TOKEN), "github-token leaked into {what}");
    }
    let shown: Vec<_> = r.stdout.lines().filter(|l| l.contains(GH_TOKEN)).collect();
    assert!(
        shown.iter().all(|l| l.starts_with("::add-mask::")),
        "{shown:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_is_annotated_at_its_line() {
    let dockerfile = "ARG BASE\nFROM ${BASE}\nRUN true\nRUN echo about to fail && exit 3\n";
    let s = step(dockerfile, &api().await).await;
    let r = tokio::task::spawn_blocking(move || s.run(&["action"]))
        .await
        .unwrap();
    assert_eq!(r.code(), 1, "{}{}", r.stdout, r.stderr);
    let errors: Vec<_> = r.named("error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].props.get("file").map(String::as_str),
        Some("Dockerfile"),
        "{errors:?}"
    );
    assert_eq!(
        errors[0].props.get("line").map(String::as_str),
        Some("4"),
        "{errors:?}"
    );
    assert!(r.output_file.is_empty(), "no outputs for a failed build");
}

/// build-push-action's inputs through the whole action: a secret-envs entry whose
/// variable is unset is a warning and the build goes on without it, while a multi-line
/// secret written as its README shows arrives whole, and its lines are never shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_arrive_as_build_push_action_passes_them() {
    // 21 characters: the Dockerfile checks the length, never the value.
    const LINE1: &str = "cnry-pem-line-one-7c2";
    let dockerfile = "ARG BASE\nFROM ${BASE}\n\
        RUN --mount=type=secret,id=NPM test ! -s /run/secrets/NPM\n\
        RUN --mount=type=secret,id=KEY,required=true test \"$(wc -l < /run/secrets/KEY)\" -eq 2 \
            && test \"$(head -n1 /run/secrets/KEY | wc -c)\" -eq 22 \
            && test \"$(sed -n 2p /run/secrets/KEY)\" = 'line two' \
            && test \"$(tail -n1 /run/secrets/KEY)\" = 'line three'\n";
    let mut s = step(dockerfile, &api().await).await;
    s.input("expose-runtime", "false")
        .input("secret-envs", "NPM=NPM_TOKEN_NOT_SET")
        .input("secrets", &format!("\"KEY={LINE1}\nline two\nline three\""))
        .input("cache-from", "")
        .input("cache-to", "");
    let r = tokio::task::spawn_blocking(move || s.run(&["action"]))
        .await
        .unwrap();
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.named("warning").iter().any(|w| w
            .data
            .starts_with("secret-envs: secret \"NPM\" is not passed to the build")),
        "{}",
        r.stdout
    );
    let shown: Vec<_> = r.stdout.lines().filter(|l| l.contains(LINE1)).collect();
    assert!(
        !shown.is_empty() && shown.iter().all(|l| l.starts_with("::add-mask::")),
        "{shown:?}"
    );
    assert!(!r.stderr.contains(LINE1) && !r.summary_file.contains(LINE1));
    assert!(
        r.env_file.is_empty(),
        "expose-runtime: false: {}",
        r.env_file
    );
}
