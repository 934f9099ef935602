//! The `docker-container` driver end to end on the newest BuildKit, run as the runner runs
//! the action: a BuildKit container from the lane's image (scripts/setup.d/20-buildkit-lane.sh)
//! on the test dockerd, `gha` cache through a cache service started in this process,
//! `load` into the daemon, `push` to the loopback registry, a second step reusing the
//! builder, the post step removing it, and the export-failure fallback. Every test here
//! needs `LAYERCACHE_TEST_BUILDKIT_IMAGE` and says it is skipped without it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should panic

mod engine_support;
mod support;

use std::net::SocketAddr;

use engine_support::{host, lane_image, pushed_base_image, registry, required, unique};
use layercache::action::names::INPUTS;
use layercache::cache_service::{self, RunningService, ServiceConfig};
use layercache::storage::StorageConfig;
use support::runner::{Step, StepResult};

const DOCKERFILE: &str =
    "ARG BASE\nFROM ${BASE}\nARG RUN_ID\nRUN echo \"$RUN_ID\" > /id\nRUN echo built > /built\n";

async fn cache_service(dir: &std::path::Path) -> RunningService {
    let config = ServiceConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        StorageConfig::Disk(dir.to_owned()),
    );
    cache_service::spawn(config).await.unwrap()
}

/// A step of the job: the lane's builder, host networking so BuildKit reaches the
/// loopback cache service and registry.
fn step(image: &str, builder: &str, base: &str, service: &RunningService) -> Step {
    let declared: Vec<_> = INPUTS.iter().map(|s| (s.name, s.default)).collect();
    let mut s = Step::new(&declared);
    std::fs::write(s.workspace().join("Dockerfile"), DOCKERFILE).unwrap();
    s.set("DOCKER_HOST", &required("LAYERCACHE_TEST_DOCKER_HOST"))
        .set("ACTIONS_RESULTS_URL", &format!("{}/", service.base_url))
        .set(
            "ACTIONS_RUNTIME_TOKEN",
            service.token("refs/heads/main").expose(),
        )
        .input("driver", "docker-container")
        .input("builder", builder)
        .input("builder-image", image)
        .input("driver-opts", "network=host")
        .input("build-args", &format!("BASE={base}\nRUN_ID={builder}"))
        .input("expose-runtime", "false");
    s
}

async fn run(s: Step, args: &'static [&'static str]) -> StepResult {
    let r = tokio::task::spawn_blocking(move || s.run(args))
        .await
        .unwrap();
    if std::env::var_os("LAYERCACHE_TEST_SHOW").is_some() {
        eprintln!("stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    }
    r
}

fn ctx(r: &StepResult) -> String {
    format!("stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr)
}

/// Whether the step whose name contains `what` was reported `#N CACHED`.
fn cached(stdout: &str, what: &str) -> bool {
    let Some(id) = stdout
        .lines()
        .find(|l| l.starts_with('#') && l.contains(what))
        .and_then(|l| l.split_whitespace().next())
    else {
        return false;
    };
    stdout.lines().any(|l| l == format!("{id} CACHED"))
}

async fn container_exists(name: &str) -> bool {
    let docker = host().docker().unwrap();
    docker.inspect_container(name, None).await.is_ok()
}

async fn volume_exists(name: &str) -> bool {
    let docker = host().docker().unwrap();
    docker.inspect_volume(name).await.is_ok()
}

/// The post step, as the runner runs it with the state the main step saved.
async fn post(builder: &str) -> StepResult {
    let mut s = Step::new(&[]);
    s.set("DOCKER_HOST", &required("LAYERCACHE_TEST_DOCKER_HOST"))
        .set("STATE_builder", builder);
    run(s, &["post"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_lane_gha_round_trip_load_push_reuse_and_post_on_the_newest_buildkit() {
    let Some(image) =
        lane_image("buildkit_lane_gha_round_trip_load_push_reuse_and_post_on_the_newest_buildkit")
    else {
        return;
    };
    let store = tempfile::tempdir().unwrap();
    let service = cache_service(store.path()).await;
    let base = pushed_base_image().await;
    let builder = unique("lc-dc");
    let tag = format!("lc-dc-load:{}", uuid::Uuid::new_v4().simple());

    // Step 1: a new builder, gha export, load into the daemon.
    let mut s = step(&image, &builder, &base, &service);
    s.input("cache-to", "type=gha,mode=max")
        .input("load", "true")
        .input("tags", &tag);
    let r = run(s, &["action"]).await;
    assert_eq!(r.code(), 0, "{}", ctx(&r));
    assert!(
        r.stdout
            .contains(&format!("builder image {image} (sha256:")),
        "the log names image and digest: {}",
        ctx(&r)
    );
    let imageid = r.outputs()["imageid"].clone();
    let docker = host().docker().unwrap();
    let loaded = docker.inspect_image(&tag).await.unwrap();
    assert_eq!(loaded.id.as_deref(), Some(imageid.as_str()), "{}", ctx(&r));
    assert!(
        r.state_file.contains(&builder),
        "the post step must learn the builder: {}",
        r.state_file
    );
    assert!(!cached(&r.stdout, "RUN echo built"), "{}", ctx(&r));

    // Step 2 of the same job: the same builder, push to the loopback registry.
    let pushed = format!("{}/{}:v1", registry(), unique("lc/dc-push"));
    let mut s = step(&image, &builder, &base, &service);
    s.input("push", "true").input("tags", &pushed);
    let r = run(s, &["action"]).await;
    assert_eq!(r.code(), 0, "{}", ctx(&r));
    assert!(
        r.stdout
            .contains("reusing the builder container an earlier step started"),
        "{}",
        ctx(&r)
    );
    assert!(cached(&r.stdout, "RUN echo built"), "{}", ctx(&r));
    let digest = r.outputs()["digest"].clone();
    assert!(digest.starts_with("sha256:"), "{}", ctx(&r));
    let (repo, _) = pushed.split_once('/').unwrap().1.rsplit_once(':').unwrap();
    let manifest = reqwest::Client::new()
        .get(format!("http://{}/v2/{repo}/manifests/{digest}", registry()))
        .header("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
        .send()
        .await
        .unwrap();
    assert!(
        manifest.status().is_success(),
        "{digest} is not in the registry"
    );

    // The post step removes the container and its state.
    let p = post(&builder).await;
    assert_eq!(p.code(), 0, "{}", ctx(&p));
    assert!(!container_exists(&builder).await, "container left behind");
    assert!(
        !volume_exists(&format!("{builder}_state")).await,
        "state volume left behind"
    );

    // A fresh builder (an empty BuildKit) rebuilds from the gha cache alone.
    let mut s = step(&image, &builder, &base, &service);
    s.input("cache-from", "type=gha")
        .input("load", "true")
        .input("tags", &tag);
    let r = run(s, &["action"]).await;
    assert_eq!(r.code(), 0, "{}", ctx(&r));
    assert!(
        cached(&r.stdout, "RUN echo built") && cached(&r.stdout, "/id"),
        "the RUN steps come from the gha cache: {}",
        ctx(&r)
    );
    post(&builder).await;
    docker
        .remove_image(
            &tag,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_lane_a_failing_gha_export_is_a_warning_unless_strict() {
    let Some(image) = lane_image("buildkit_lane_a_failing_gha_export_is_a_warning_unless_strict")
    else {
        return;
    };
    let store = tempfile::tempdir().unwrap();
    let service = cache_service(store.path()).await;
    let base = pushed_base_image().await;
    let builder = unique("lc-dc-fail");
    // A cache service that refuses every connection.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut s = step(&image, &builder, &base, &service);
    s.set("ACTIONS_RESULTS_URL", &format!("http://{closed}/"))
        .input("cache-to", "type=gha,mode=max");
    let r = run(s, &["action"]).await;
    assert_eq!(
        r.code(),
        0,
        "cache trouble must not fail the build: {}",
        ctx(&r)
    );
    assert!(
        r.named("warning")
            .iter()
            // BuildKit exports to the relay in this process, which cannot reach the
            // service (docs/relay.md).
            .any(|c| c.data.starts_with("cache relay: ")
                && c.data.contains("did not reach the cache")
                && c.data.contains("was not written")),
        "{}",
        ctx(&r)
    );

    let mut s = step(&image, &builder, &base, &service);
    s.set("ACTIONS_RESULTS_URL", &format!("http://{closed}/"))
        .input("cache-to", "type=gha,mode=max,ignore-error=false");
    let r = run(s, &["action"]).await;
    assert_eq!(
        r.code(),
        1,
        "ignore-error=false asked for strictness: {}",
        ctx(&r)
    );
    assert!(
        r.named("error")
            .iter()
            .any(|c| c.data.contains("exporting to GitHub Actions Cache")),
        "the error names the cache export: {}",
        ctx(&r)
    );
    post(&builder).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_lane_build_checks_are_annotated_at_their_line_and_listed_in_metadata() {
    let Some(image) =
        lane_image("buildkit_lane_build_checks_are_annotated_at_their_line_and_listed_in_metadata")
    else {
        return;
    };
    let store = tempfile::tempdir().unwrap();
    let service = cache_service(store.path()).await;
    let base = pushed_base_image().await;
    let builder = unique("lc-dc-checks");
    // `as` in lower case after an upper-case FROM: the frontend's FromAsCasing check.
    let dockerfile = "ARG BASE\nFROM ${BASE} as build\nRUN true\n";
    let checked = |env: Option<&str>| {
        let mut s = step(&image, &builder, &base, &service);
        std::fs::write(s.workspace().join("Dockerfile"), dockerfile).unwrap();
        if let Some(v) = env {
            s.set("DOCKER_BUILD_CHECKS_ANNOTATIONS", v);
        }
        s
    };
    let r = run(checked(None), &["action"]).await;
    assert_eq!(r.code(), 0, "{}", ctx(&r));
    let at_line_2 = r.named("warning").into_iter().find(|c| {
        c.data.contains("FromAsCasing")
            && c.props.get("file").map(String::as_str) == Some("Dockerfile")
            && c.props.get("line").map(String::as_str) == Some("2")
    });
    assert!(at_line_2.is_some(), "{}", ctx(&r));
    let metadata: serde_json::Value = serde_json::from_str(&r.outputs()["metadata"]).unwrap();
    let warnings = metadata["buildx.build.warnings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        warnings.iter().any(|w| w["range"][0]["start"]["line"] == 2),
        "{metadata}"
    );

    let r = run(checked(Some("false")), &["action"]).await;
    assert_eq!(r.code(), 0, "{}", ctx(&r));
    assert!(
        !r.named("warning")
            .iter()
            .any(|c| c.data.contains("FromAsCasing")),
        "DOCKER_BUILD_CHECKS_ANNOTATIONS=false: {}",
        ctx(&r)
    );
    assert!(r.stdout.contains("WARNING: FromAsCasing"), "{}", ctx(&r));
    post(&builder).await;
}
