//! `call: check|outline|targets` on the newest BuildKit (the lane's buildkitd, driver
//! remote), run as the runner runs the action: the frontend's answer in the log and the
//! job summary, `check` findings as warnings at their line and a failed step when buildx
//! would fail it. The daemon's 20.10 BuildKit is refused with the version needed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should panic

mod engine_support;
mod support;

use layercache::action::names::INPUTS;
use support::runner::{Step, StepResult};

/// Two stages; `as` in lower case after FROM is the frontend's FromAsCasing finding. The
/// base must resolve (outline and check read its metadata): the registry's copy.
async fn checked() -> String {
    let base = engine_support::pushed_base_image().await;
    format!("ARG BASE={base}\nFROM ${{BASE}} as build\nRUN true\n\nFROM build AS final\nRUN true\n")
}

async fn call(method: &str, dockerfile: &str, driver: &[(&str, &str)]) -> StepResult {
    let declared: Vec<_> = INPUTS.iter().map(|s| (s.name, s.default)).collect();
    let mut s = Step::new(&declared);
    std::fs::write(s.workspace().join("Dockerfile"), dockerfile).unwrap();
    s.set(
        "DOCKER_HOST",
        &std::env::var("LAYERCACHE_TEST_DOCKER_HOST").unwrap_or_default(),
    )
    .input("call", method)
    .input("expose-runtime", "false")
    .input("cache-advice", "false");
    for (k, v) in driver {
        s.input(k, v);
    }
    tokio::task::spawn_blocking(move || s.run(&["action"]))
        .await
        .unwrap()
}

fn lane() -> Option<String> {
    let addr = std::env::var("LAYERCACHE_TEST_BUILDKIT_ADDR").ok();
    if addr.is_none() {
        panic!(
            "LAYERCACHE_TEST_BUILDKIT_ADDR names no newest-BuildKit lane (lane tests are named buildkit_lane_*/docker28_lane_*; scripts/test.sh filters them out, counted as skipped, where the lane is absent)"
        );
    }
    addr
}

fn ctx(r: &StepResult) -> String {
    format!("stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_lane_check_annotates_findings_and_fails_like_buildx() {
    let Some(addr) = lane() else { return };
    let remote = [("driver", "remote"), ("endpoint", addr.as_str())];
    let checked = checked().await;
    let r = call("check", &checked, &remote).await;
    assert_eq!(r.code(), 1, "{}", ctx(&r));
    let finding = r.named("warning").into_iter().find(|c| {
        c.data.starts_with("FromAsCasing:")
            && c.props.get("file").map(String::as_str) == Some("Dockerfile")
            && c.props.get("line").map(String::as_str) == Some("2")
    });
    assert!(finding.is_some(), "{}", ctx(&r));
    assert!(
        r.summary_file.contains("`call: check`"),
        "{}",
        r.summary_file
    );
    assert!(
        r.summary_file.contains("FromAsCasing"),
        "{}",
        r.summary_file
    );

    let clean = checked.replace(" as build", " AS build");
    let r = call("check", &clean, &remote).await;
    assert_eq!(r.code(), 0, "{}", ctx(&r));
    assert!(r.named("warning").is_empty(), "{}", ctx(&r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_lane_targets_and_outline_are_printed_and_summarised() {
    let Some(addr) = lane() else { return };
    let remote = [("driver", "remote"), ("endpoint", addr.as_str())];
    let checked = checked().await;
    let r = call("targets", &checked, &remote).await;
    assert_eq!(r.code(), 0, "{}", ctx(&r));
    for stage in ["build", "final"] {
        assert!(
            r.stdout.lines().any(|l| l.starts_with(stage)),
            "{stage}: {}",
            ctx(&r)
        );
        assert!(r.summary_file.contains(stage), "{}", r.summary_file);
    }
    let r = call("outline", &checked, &remote).await;
    assert_eq!(r.code(), 0, "{}", ctx(&r));
    assert!(r.stdout.contains("BASE"), "the build argument: {}", ctx(&r));
    assert!(
        r.summary_file.contains("`call: outline`"),
        "{}",
        r.summary_file
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemons_old_buildkit_is_refused_with_the_version_needed() {
    let r = call("check", "FROM scratch\n", &[("driver", "docker")]).await;
    assert_eq!(r.code(), 1, "{}", ctx(&r));
    let errors = r.named("error");
    assert!(
        errors
            .iter()
            .any(|c| c.data.contains("call check needs BuildKit 0.15")),
        "{}",
        ctx(&r)
    );
}
