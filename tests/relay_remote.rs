//! The cache relay with a real BuildKit (the newest-BuildKit lane's buildkitd on loopback,
//! `remote` driver): BuildKit exports through the relay to our own service upstream, with
//! injected 503s and 429s, and an empty builder then imports everything from upstream;
//! a refusing upstream ends in a warning that names what did not land; two builds writing
//! one scope at once both import fully. Skipped (and saying so) without the lane.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

mod engine_support;

use std::time::Duration;

use engine_support::*;
use layercache::cache_client::CacheClient;
use layercache::cache_protocol::Endpoint;
use layercache::cache_service::{self, Faults, RunningService, ServiceConfig};
use layercache::engine::{BuildEvent, CacheState, Recorder, prune_remote, run};
use layercache::plan::{BuildPlan, CacheOption, DriverChoice};
use layercache::secret::Secret;
use layercache::storage::StorageConfig;

const VERSION: &str = "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2";

fn lane(test: &str) -> Option<String> {
    let addr = std::env::var("LAYERCACHE_TEST_BUILDKIT_ADDR").ok();
    if addr.is_none() {
        panic!(
            "{test}: LAYERCACHE_TEST_BUILDKIT_ADDR names no newest-BuildKit lane (lane tests are named buildkit_lane_*/docker28_lane_*; scripts/test.sh filters them out, counted as skipped, where the lane is absent)"
        );
    }
    addr
}

const SECRET: &str = "relay-remote-test-secret-0123456789";

async fn upstream(faults: Faults) -> (RunningService, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (on_store(dir.path(), faults).await, dir)
}

/// A service instance on `store` (instances on one store answer as one service).
async fn on_store(store: &std::path::Path, faults: Faults) -> RunningService {
    let mut c = ServiceConfig::new(
        ([127, 0, 0, 1], 0).into(),
        StorageConfig::Disk(store.to_owned()),
    );
    c.secret = Some(Secret::new(SECRET));
    c.faults = faults;
    cache_service::spawn(c).await.unwrap()
}

fn gha(url: &str, token: &Secret, scope: &str, mode: Option<&str>) -> CacheOption {
    let mut attrs = vec![("scope", scope)];
    if let Some(m) = mode {
        attrs.extend([("mode", m), ("ignore-error", "true")]);
    }
    gha_entry(url, token.clone(), &attrs)
}

async fn remote_request(endpoint: &str, run_id: &str) -> BuildPlan {
    let mut req = request("cached");
    req.build_args
        .insert("BASE".into(), pushed_base_image().await);
    req.build_args.insert("RUN_ID".into(), run_id.to_owned());
    req.driver = DriverChoice::Remote {
        endpoint: endpoint.to_owned(),
    };
    req
}

fn assert_run_steps_cached(outcome: &layercache::engine::Outcome, events: &Recorder) {
    let (cached, ran) = finished(&events.0);
    let runs: Vec<_> = outcome
        .dockerfile_steps()
        .filter(|s| s.name.contains("RUN "))
        .collect();
    assert!(!runs.is_empty());
    for step in runs {
        assert!(
            cached.contains(&step.name),
            "{} not CACHED; ran {ran:?}",
            step.name
        );
    }
}

/// Every blob the scope's newest index upstream names is upstream too.
async fn upstream_complete(up: &CacheClient, scope: &str) -> usize {
    let hit = up
        .lookup(&format!("index-{scope}-1-"), &[], VERSION)
        .await
        .unwrap()
        .expect("an index upstream");
    let body = up.read(&hit, 1 << 24).await.unwrap();
    let config = layercache::cache_config::CacheConfig::from_slice(&body).unwrap();
    let blobs: Vec<String> = config.blobs().map(str::to_owned).collect();
    for b in &blobs {
        let key = format!("buildkit-blob-1-{b}");
        let hit = up.lookup(&key, &[], VERSION).await.unwrap();
        assert!(
            hit.is_some_and(|h| h.matched_key == key),
            "{key} is not upstream"
        );
    }
    blobs.len()
}

#[tokio::test]
async fn buildkit_lane_relay_exports_through_503s_and_429s_and_an_empty_builder_imports_it_all() {
    let Some(endpoint) = lane("relay_exports_through_503s") else {
        return;
    };
    let faults = Faults {
        fail_share: 0.3,
        throttle_share: 0.05,
        retry_after_secs: 1,
        ..Default::default()
    };
    let (svc, dir) = upstream(faults.clone()).await;
    let url = format!("{}/", svc.base_url);
    let token = svc.token("refs/heads/main");
    let scope = unique("relay");
    let mut req = remote_request(&endpoint, &unique("run")).await;
    req.cache_to = vec![gha(&url, &token, &scope, Some("max"))];
    let mut events = Recorder::default();
    let outcome = run(&req, &io(&host()), &mut events).await.unwrap();
    let report = outcome.relay.clone().expect("the relay ran");
    assert!(report.complete(), "{report:?}");
    assert!(report.uploaded >= 3, "{report:?}");
    let states: Vec<_> = outcome.cache_exports.iter().map(|r| r.state).collect();
    assert_eq!(states, [CacheState::Done], "{:?}", outcome.cache_exports);
    assert!(faults.injected().0 > 0, "no fault was injected");
    assert!(
        !outcome.warnings.iter().any(|w| w.contains("cache relay")),
        "{:?}",
        outcome.warnings
    );
    let md = layercache::report::summary_markdown(&outcome);
    assert!(
        md.contains(&format!("relay: {} layers", report.uploaded)),
        "{md}"
    );
    let client = CacheClient::new(Endpoint::V2(url.clone()), token.clone());
    let blobs = upstream_complete(&client, &scope).await;
    assert!(blobs >= 3);
    eprintln!("measured: {}", report.figures());

    // The import reads what landed, through the same store without faults: BuildKit
    // downloads from the service's signed URLs itself, and its downloads do not retry.
    let healthy = on_store(dir.path(), Faults::default()).await;
    let url = format!("{}/", healthy.base_url);
    prune_remote(&endpoint).await.unwrap();
    req.cache_to.clear();
    req.cache_from = vec![gha(&url, &token, &scope, None)];
    let mut events = Recorder::default();
    let outcome = run(&req, &io(&host()), &mut events).await.unwrap();
    assert_run_steps_cached(&outcome, &events);
}

#[tokio::test]
async fn buildkit_lane_relay_warns_what_a_refusing_upstream_did_not_take_and_the_build_stays_green()
{
    let Some(endpoint) = lane("relay_warns_what_a_refusing_upstream") else {
        return;
    };
    let (svc, _dir) = upstream(Faults::default()).await;
    let proxy = refusing_proxy::RefusingProxy::start([127, 0, 0, 1].into(), &svc.base_url).await;
    let token = svc.token("refs/heads/main");
    let scope = unique("relay-refused");
    let mut req = remote_request(&endpoint, &unique("run")).await;
    req.cache_to = vec![gha(&proxy.url, &token, &scope, Some("max"))];
    let mut events = Recorder::default();
    let outcome = run(&req, &io(&host()), &mut events).await.unwrap();
    let report = outcome.relay.clone().expect("the relay ran");
    assert_eq!(report.uploaded, 0);
    assert!(report.lost.len() >= 3, "{report:?}");
    assert!(proxy.refused() >= report.lost.len());
    let warning = events
        .0
        .iter()
        .find_map(|e| match e {
            BuildEvent::Warning(w) if w.starts_with("cache relay:") => Some(w.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no relay warning: {:?}", events.0));
    let n = report.lost.len();
    assert!(warning.contains(&format!("{n} layers (")), "{warning}");
    assert!(
        warning.contains("did not reach the cache: sha256:"),
        "{warning}"
    );
    assert!(
        warning.contains(&format!("index index-{scope}-1-")),
        "{warning}"
    );
    assert!(warning.contains("was not written ("), "{warning}");
    let md = layercache::report::summary_markdown(&outcome);
    assert!(md.contains("| Cache export | ❌ failed · "), "{md}");
    let row = format!(
        "relay: 0 layers (0.0 MiB) uploaded · 0 already there · 0 retried · {n} failed · 0 of 1 indexes written"
    );
    assert!(md.contains(&row), "{md}");
}

#[tokio::test]
async fn buildkit_lane_two_builds_writing_one_scope_at_once_both_import_fully_on_an_empty_builder()
{
    let Some(endpoint) = lane("two_builds_writing_one_scope") else {
        return;
    };
    let (svc, _dir) = upstream(Faults {
        latency: Duration::from_millis(30),
        ..Default::default()
    })
    .await;
    let url = format!("{}/", svc.base_url);
    let token = svc.token("refs/heads/main");
    let scope = unique("relay-shared");
    let mut legs = Vec::new();
    for _ in 0..2 {
        let mut req = remote_request(&endpoint, &unique("leg")).await;
        req.cache_to = vec![gha(&url, &token, &scope, Some("max"))];
        legs.push(req);
    }
    let (h1, h2) = (io(&host()), io(&host()));
    let (mut e1, mut e2) = (Recorder::default(), Recorder::default());
    let (a, b) = tokio::join!(run(&legs[0], &h1, &mut e1), run(&legs[1], &h2, &mut e2));
    for o in [a.unwrap(), b.unwrap()] {
        let r = o.relay.expect("the relay ran");
        assert!(r.complete(), "{r:?}");
    }
    prune_remote(&endpoint).await.unwrap();
    for mut req in legs {
        req.cache_to.clear();
        req.cache_from = vec![gha(&url, &token, &scope, None)];
        let mut events = Recorder::default();
        let outcome = run(&req, &io(&host()), &mut events).await.unwrap();
        assert_run_steps_cached(&outcome, &events);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_lane_layercache_build_outside_github_relays_to_a_configured_upstream() {
    let Some(endpoint) = lane("layercache_build_outside_github") else {
        return;
    };
    let (svc, _dir) = upstream(Faults::default()).await;
    let url = format!("{}/", svc.base_url);
    let token = svc.token("refs/heads/main");
    let base = pushed_base_image().await;
    let scope = unique("relay-cli");
    let ctx = fixture("cached");
    let (cmd_url, cmd_token, cmd_scope) = (url.clone(), token.expose().to_owned(), scope.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_layercache"))
            .args(["build", "--driver", "remote", "--endpoint", &endpoint])
            .args([
                "--cache-to",
                &format!("type=gha,mode=max,scope={cmd_scope}"),
            ])
            .arg("--build-args")
            .arg(format!("BASE={base}\nRUN_ID={}", unique("cli")))
            .arg(ctx)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ACTIONS_RESULTS_URL", cmd_url)
            .env("ACTIONS_RUNTIME_TOKEN", cmd_token)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("cache relay: 1 gha entry goes through"),
        "{text}"
    );
    assert!(text.contains("index written"), "{text}");
    assert!(
        !text.contains(token.expose()),
        "the runtime token was printed"
    );
    let client = CacheClient::new(Endpoint::V2(url), token);
    assert!(upstream_complete(&client, &scope).await >= 3);
}

/// The `docker-container` driver from the host with the builder on the default bridge:
/// BuildKit reaches the relay at the bridge's gateway. No base image (the bridge cannot
/// reach the loopback registry): COPY layers only; the service listens on the gateway too,
/// since BuildKit downloads imports from its signed URLs.
#[tokio::test]
async fn buildkit_lane_a_builder_container_on_the_bridge_reaches_the_relay_at_the_gateway() {
    let Ok(image) = std::env::var("LAYERCACHE_TEST_BUILDKIT_IMAGE") else {
        panic!(
            "LAYERCACHE_TEST_BUILDKIT_IMAGE names no newest-BuildKit image (lane tests are named buildkit_lane_*/docker28_lane_*; scripts/test.sh filters them out, counted as skipped, where the lane is absent)"
        )
    };
    let docker = host().docker().unwrap();
    let gw: std::net::IpAddr = docker
        .inspect_network("bridge", None)
        .await
        .unwrap()
        .ipam
        .and_then(|i| i.config)
        .unwrap_or_default()
        .iter()
        .find_map(|c| c.gateway.as_deref()?.parse().ok())
        .expect("a bridge gateway");
    let dir = tempfile::tempdir().unwrap();
    let mut c = ServiceConfig::new((gw, 0).into(), StorageConfig::Disk(dir.path().to_owned()));
    c.secret = Some(Secret::new(SECRET));
    let svc = cache_service::spawn(c).await.unwrap();
    let url = format!("{}/", svc.base_url);
    let token = svc.token("refs/heads/main");
    let ctx = tempfile::tempdir().unwrap();
    let id = unique("bridge");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY a /a\nCOPY b /b\n",
    )
    .unwrap();
    std::fs::write(ctx.path().join("a"), format!("a {id}")).unwrap();
    std::fs::write(ctx.path().join("b"), format!("b {id}")).unwrap();
    let scope = unique("relay-bridge");
    let builders = [unique("lc-bridge-a"), unique("lc-bridge-b")];
    let req = |builder: &str| {
        let mut r = BuildPlan::local(ctx.path());
        r.driver = DriverChoice::DockerContainer;
        r.builder.image = image.clone();
        r.builder.name = builder.to_owned();
        r
    };
    let mut first = req(&builders[0]);
    first.cache_to = vec![gha(&url, &token, &scope, Some("max"))];
    let mut events = Recorder::default();
    let outcome = run(&first, &io(&host()), &mut events).await.unwrap();
    let notices: Vec<&String> = events
        .0
        .iter()
        .filter_map(|e| match e {
            BuildEvent::Notice(n) => Some(n),
            _ => None,
        })
        .collect();
    let report = outcome
        .relay
        .clone()
        .unwrap_or_else(|| panic!("no relay: {notices:?}"));
    assert!(report.complete(), "{report:?}");
    let export = notices
        .iter()
        .find(|n| n.starts_with("cache export: "))
        .unwrap();
    assert!(export.contains(&format!("url_v2=http://{gw}:")), "{export}");

    let mut second = req(&builders[1]);
    second.cache_from = vec![gha(&url, &token, &scope, None)];
    let mut events = Recorder::default();
    let outcome = run(&second, &io(&host()), &mut events).await.unwrap();
    let (cached, ran) = finished(&events.0);
    let copies: Vec<_> = outcome
        .dockerfile_steps()
        .filter(|s| s.name.contains("COPY "))
        .collect();
    assert_eq!(copies.len(), 2);
    for s in copies {
        assert!(
            cached.contains(&s.name),
            "{} not CACHED; ran {ran:?}",
            s.name
        );
    }
    for b in &builders {
        let _ = layercache::engine::remove_builder(&host(), b).await;
    }
}
