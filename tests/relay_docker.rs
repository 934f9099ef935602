//! The relay through the `docker` driver on the Docker 28 lane (containerd image store,
//! the daemon's own BuildKit, issue #26 item 3): whether that BuildKit reaches the relay is
//! decided by a live probe (BuildKit fetches an HTTP source from the relay). Reachable: the
//! probe passes and every entry goes through the relay. Told an address it cannot reach:
//! the probe fails within its time box, BuildKit exports directly with a notice that says
//! so, and the build succeeds with the cache upstream. Named `docker28_lane_*`:
//! scripts/test.sh filters them out where the lane is absent.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

mod engine_support;

use std::time::{Duration, Instant};

use engine_support::*;
use layercache::cache_client::CacheClient;
use layercache::cache_protocol::Endpoint;
use layercache::cache_service::{self, RunningService, ServiceConfig};
use layercache::engine::{BuildEvent, CacheState, DockerHost, Outcome, Recorder, run};
use layercache::plan::{BuildPlan, DriverChoice};
use layercache::secret::Secret;
use layercache::storage::StorageConfig;

const VERSION: &str = "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2";
const SECRET: &str = "relay-docker-canary-secret-0123456789";

const DOCKERFILE: &str = "ARG BASE
FROM ${BASE}
COPY dep /dep
RUN cat /dep > /dep.seen
COPY app.txt /app.txt
RUN cat /app.txt /dep.seen
";

async fn upstream() -> (RunningService, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ServiceConfig::new(
        ([127, 0, 0, 1], 0).into(),
        StorageConfig::Disk(dir.path().to_owned()),
    );
    c.secret = Some(Secret::new(SECRET));
    (cache_service::spawn(c).await.unwrap(), dir)
}

/// A `gha` round trip of a fresh context through the Docker 28 daemon's own BuildKit;
/// `relay_address` replaces the relay's guessed address.
async fn build(
    svc: &RunningService,
    scope: &str,
    relay_address: Option<&str>,
) -> (Outcome, Recorder, Duration) {
    let host = DockerHost::parse(&required("LAYERCACHE_TEST_DOCKER28_HOST")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), DOCKERFILE).unwrap();
    for f in ["dep", "app.txt"] {
        std::fs::write(dir.path().join(f), unique(f)).unwrap();
    }
    let url = format!("{}/", svc.base_url);
    let token = svc.token("refs/heads/main");
    let mut req = BuildPlan::local(dir.path());
    req.build_args.insert(
        "BASE".into(),
        required("LAYERCACHE_TEST_DOCKER28_BASE_IMAGE"),
    );
    req.driver = DriverChoice::Docker;
    req.cache_from = vec![gha_entry(&url, token.clone(), &[("scope", scope)])];
    req.cache_to = vec![gha_entry(
        &url,
        token.clone(),
        &[("scope", scope), ("mode", "max"), ("ignore-error", "true")],
    )];
    let mut io = io(&host);
    io.relay_address = relay_address.map(str::to_owned);
    let mut events = Recorder::default();
    let started = Instant::now();
    let outcome = run(&req, &io, &mut events).await.unwrap();
    let wall = started.elapsed();
    // Neither the runtime token nor the service's secret reaches a message.
    let log = format!("{:?}", events.0);
    assert!(!log.contains(token.expose()), "the runtime token leaked");
    assert!(!log.contains(SECRET), "the service secret leaked");
    (outcome, events, wall)
}

fn notices(events: &Recorder) -> Vec<&str> {
    events
        .0
        .iter()
        .filter_map(|e| match e {
            BuildEvent::Notice(n) => Some(n.as_str()),
            _ => None,
        })
        .collect()
}

/// The index BuildKit (or the relay) wrote upstream for `scope`.
async fn upstream_index(svc: &RunningService, scope: &str) -> serde_json::Value {
    let client = CacheClient::new(
        Endpoint::V2(format!("{}/", svc.base_url)),
        svc.token("refs/heads/main"),
    );
    let hit = client
        .lookup(&format!("index-{scope}-1-"), &[], VERSION)
        .await
        .unwrap()
        .expect("an index upstream");
    serde_json::from_slice(&client.read(&hit, 1 << 24).await.unwrap()).unwrap()
}

#[tokio::test]
async fn docker28_lane_the_probe_passes_and_every_entry_goes_through_the_relay() {
    let (svc, _store) = upstream().await;
    let scope = unique("probe-ok");
    let (outcome, events, _) = build(&svc, &scope, None).await;
    let notices = notices(&events);
    let probe = notices
        .iter()
        .find(|n| n.contains("the daemon's BuildKit reached it at"))
        .unwrap_or_else(|| panic!("no probe notice in {notices:?}"));
    eprintln!("{probe}");
    assert!(
        notices
            .iter()
            .any(|n| n.contains("2 gha entries go through")),
        "{notices:?}"
    );
    let relay = outcome.relay.expect("the relay ran");
    assert!(relay.complete(), "{relay:?}");
    assert_eq!(relay.indexes.len(), 1, "{relay:?}");
    assert!(relay.warning().is_none(), "{:?}", relay.warning());
    let index = upstream_index(&svc, &scope).await;
    assert!(!index["layers"].as_array().unwrap().is_empty(), "{index}");
}

#[tokio::test]
async fn docker28_lane_an_unreachable_address_fails_the_probe_and_exports_directly() {
    let (svc, _store) = upstream().await;
    let scope = unique("probe-fails");
    // TEST-NET-1 (RFC 5737): routed nowhere, so the fetch fails or hangs to the time box.
    let (outcome, events, wall) = build(&svc, &scope, Some("192.0.2.1")).await;
    let notices = notices(&events);
    let direct = notices
        .iter()
        .find(|n| n.starts_with("cache relay not used, BuildKit exports to the cache directly"))
        .unwrap_or_else(|| panic!("no direct-export notice in {notices:?}"));
    assert!(direct.contains("the probe failed"), "{direct}");
    assert!(direct.contains("192.0.2.1"), "{direct}");
    assert!(outcome.relay.is_none(), "{:?}", outcome.relay);
    assert!(
        outcome
            .cache_exports
            .iter()
            .all(|r| r.state == CacheState::Done),
        "{:?}",
        outcome.cache_exports
    );
    // BuildKit's own export landed upstream.
    let index = upstream_index(&svc, &scope).await;
    assert!(!index["layers"].as_array().unwrap().is_empty(), "{index}");
    eprintln!("build with a failed probe: {} ms wall", wall.as_millis());
}
