//! The cache relay in the action image, run as GitHub's runner runs a container action:
//! the action's container on the job's own network, the `docker-container` driver's
//! BuildKit (the newest-BuildKit lane's image) on the default bridge, which layercache
//! connects to the job's network so BuildKit reaches the relay in the action's container.
//! The cache service (ours) listens on the bridge's gateway, where both containers reach it.
//! Needs `LAYERCACHE_TEST_ACTION_IMAGE` and `LAYERCACHE_TEST_BUILDKIT_IMAGE`; skipped
//! without the lane.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should panic

#[path = "action_image/runner.rs"]
#[allow(dead_code, reason = "this crate uses part of the runner")]
mod runner;
mod support;

use bollard::Docker;
use bollard::models::NetworkCreateRequest;
use layercache::cache_client::CacheClient;
use layercache::cache_protocol::Endpoint;
use layercache::cache_service::{self, ServiceConfig};
use layercache::storage::StorageConfig;
use runner::{Step, StepResult, required_env};
use support::runner::commands;

const VERSION: &str = "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2";
/// No base image to pull (BuildKit on the bridge cannot reach the loopback registry) and
/// no RUN: every layer is a COPY.
const DOCKERFILE: &str = "FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n";

fn docker() -> Docker {
    let host = required_env("LAYERCACHE_TEST_DOCKER_HOST");
    let socket = host.strip_prefix("unix://").expect("a unix:// docker host");
    Docker::connect_with_unix(socket, 120, bollard::API_DEFAULT_VERSION).unwrap()
}

async fn bridge_gateway(docker: &Docker) -> std::net::IpAddr {
    let net = docker.inspect_network("bridge", None).await.unwrap();
    net.ipam
        .and_then(|i| i.config)
        .unwrap_or_default()
        .iter()
        .find_map(|c| c.gateway.as_deref()?.parse().ok())
        .expect("the bridge network has a gateway")
}

fn step(net: &str, lane: &str, builder: &str, url: &str, token: &str, id: &str) -> Step {
    let mut s = Step::new();
    std::fs::write(s.workspace().join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(s.workspace().join("a.txt"), format!("a {id}")).unwrap();
    std::fs::write(s.workspace().join("b.txt"), format!("b {id}")).unwrap();
    s.network(net)
        .set("ACTIONS_RESULTS_URL", url)
        .set("ACTIONS_RUNTIME_TOKEN", token)
        .set("INPUT_CONTEXT", ".")
        .set("INPUT_DRIVER", "docker-container")
        .set("INPUT_BUILDER", builder)
        .set("INPUT_BUILDER-IMAGE", lane)
        .set("INPUT_SCOPE", "relay-action")
        .set("INPUT_EXPOSE-RUNTIME", "false");
    s
}

async fn remove_builder(docker: &Docker, name: &str) {
    let _ = docker
        .remove_container(
            name,
            Some(bollard::query_parameters::RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            }),
        )
        .await;
    let _ = docker
        .remove_volume(
            &format!("{name}_state"),
            None::<bollard::query_parameters::RemoveVolumeOptions>,
        )
        .await;
}

fn ctx(r: &StepResult) -> String {
    format!("--- stdout\n{}\n--- stderr\n{}", r.stdout, r.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_lane_the_action_image_relays_gha_cache_from_a_builder_container_on_another_network()
 {
    let Ok(lane) = std::env::var("LAYERCACHE_TEST_BUILDKIT_IMAGE") else {
        panic!(
            "LAYERCACHE_TEST_BUILDKIT_IMAGE names no newest-BuildKit image (lane tests are named buildkit_lane_*/docker28_lane_*; scripts/test.sh filters them out, counted as skipped, where the lane is absent)"
        )
    };
    let image = required_env("LAYERCACHE_TEST_ACTION_IMAGE");
    let docker = docker();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let net = format!("lc-job-{}", &id[..12]);
    docker
        .create_network(NetworkCreateRequest {
            name: net.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let store = tempfile::tempdir().unwrap();
    let gw = bridge_gateway(&docker).await;
    let svc = cache_service::spawn(ServiceConfig::new(
        (gw, 0).into(),
        StorageConfig::Disk(store.path().to_owned()),
    ))
    .await
    .unwrap();
    let url = format!("{}/", svc.base_url);
    let token = svc.token("refs/heads/main").expose().to_owned();
    let builders = [
        format!("lc-relay-a-{}", &id[..8]),
        format!("lc-relay-b-{}", &id[..8]),
    ];

    let mut s = step(&net, &lane, &builders[0], &url, &token, &id);
    s.set("INPUT_CACHE-TO", "type=gha,mode=max");
    let r = tokio::task::spawn_blocking(move || s.run(&image_clone(), &["action"]))
        .await
        .unwrap();
    assert_eq!(r.status, Some(0), "{}", ctx(&r));
    let out = format!("{}{}", r.stdout, r.stderr);
    for line in out.lines().filter(|l| l.contains("relay")) {
        eprintln!("step 1: {line}");
    }
    assert!(
        out.contains("cache relay: 1 gha entry goes through"),
        "{}",
        ctx(&r)
    );
    assert!(
        out.contains("relay: ") && out.contains("index written"),
        "{}",
        ctx(&r)
    );
    assert!(
        !commands(&r.stdout)
            .iter()
            .any(|c| c.name == "warning" && c.data.contains("cache relay")),
        "{}",
        ctx(&r)
    );
    // Upstream has the index and every layer it names.
    let client = CacheClient::new(Endpoint::V2(url.clone()), token.clone().into());
    let hit = client
        .lookup("index-relay-action-1-", &[], VERSION)
        .await
        .unwrap()
        .expect("an index upstream");
    let body = client.read(&hit, 1 << 20).await.unwrap();
    let config = layercache::cache_config::CacheConfig::from_slice(&body).unwrap();
    let blobs: Vec<String> = config.blobs().map(str::to_owned).collect();
    assert!(blobs.len() >= 2, "{config:?}");
    for b in blobs {
        let key = format!("buildkit-blob-1-{b}");
        let found = client.lookup(&key, &[], VERSION).await.unwrap();
        assert!(
            found.is_some_and(|h| h.matched_key == key),
            "{key} not upstream"
        );
    }

    // A new builder (empty) imports through the relay: both COPY steps come from cache.
    let mut s = step(&net, &lane, &builders[1], &url, &token, &id);
    s.set("INPUT_CACHE-FROM", "type=gha");
    let r = tokio::task::spawn_blocking(move || s.run(&image_clone(), &["action"]))
        .await
        .unwrap();
    assert_eq!(r.status, Some(0), "{}", ctx(&r));
    let cached = r.stdout.lines().filter(|l| l.ends_with(" CACHED")).count();
    assert!(cached >= 2, "the COPY steps were not cached: {}", ctx(&r));
    for b in &builders {
        remove_builder(&docker, b).await;
    }
    let _ = docker.remove_network(&net).await;
    let _ = image;
}

fn image_clone() -> String {
    required_env("LAYERCACHE_TEST_ACTION_IMAGE")
}
