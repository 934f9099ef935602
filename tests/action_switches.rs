//! build-push-action's environment switches, on the real daemon: `DOCKER_BUILD_SUMMARY=false`
//! writes no job summary (and the summary is written without it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should panic

mod support;

use layercache::action::names::INPUTS;
use support::runner::{Step, StepResult};

fn required(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: run scripts/test.sh (it starts dockerd)"))
}

async fn build(extra_env: &[(&str, &str)]) -> StepResult {
    let declared: Vec<_> = INPUTS.iter().map(|s| (s.name, s.default)).collect();
    let mut s = Step::new(&declared);
    std::fs::write(
        s.workspace().join("Dockerfile"),
        "ARG BASE\nFROM ${BASE}\nRUN echo switches > /s\n",
    )
    .unwrap();
    s.set("DOCKER_HOST", &required("LAYERCACHE_TEST_DOCKER_HOST"))
        .input("driver", "docker")
        .input("expose-runtime", "false")
        .input(
            "build-args",
            &format!("BASE={}", required("LAYERCACHE_TEST_BASE_IMAGE")),
        );
    for (k, v) in extra_env {
        s.set(k, v);
    }
    tokio::task::spawn_blocking(move || s.run(&["action"]))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_build_summary_false_writes_no_job_summary() {
    let r = build(&[]).await;
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    assert!(r.summary_file.contains("| Step |"), "{}", r.summary_file);

    let r = build(&[("DOCKER_BUILD_SUMMARY", "false")]).await;
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    assert!(r.summary_file.is_empty(), "{}", r.summary_file);
    assert!(!r.outputs()["imageid"].is_empty(), "outputs are still set");
}
