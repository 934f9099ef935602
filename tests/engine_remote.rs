//! The `remote` driver and `gha` cache. A BuildKit that can export `gha` cannot run on
//! these machines (no `moby/buildkit` image, no privileged containers, Engine 20.10's
//! graphdriver store), so the end-to-end `gha` test runs only when
//! `LAYERCACHE_TEST_BUILDKIT_ADDR` names a reachable buildkitd (`tcp://` or `unix://`);
//! it then also needs `LAYERCACHE_TEST_GHA_URL`, a cache service (`layercache serve`)
//! that buildkitd can reach. Everything else here runs always.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (HELPERS.md)

mod engine_support;

use std::net::TcpListener;

use engine_support::*;
use layercache::engine::{
    CacheState, CacheType, DriverChoice, EngineError, Recorder, prune_remote, run,
};
use layercache::secret::Secret;

#[tokio::test]
async fn unreachable_remote_buildkit_is_named() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let endpoint = format!("tcp://{closed}");
    let mut req = request("cached");
    req.driver = DriverChoice::Remote {
        endpoint: endpoint.clone(),
    };
    // No Docker daemon is needed for remote: a bogus DOCKER_HOST must not matter.
    let host =
        layercache::engine::DockerHost::parse("unix:///tmp/layercache-no-daemon.sock").unwrap();
    let err = run(&req, &host, &mut Recorder::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::BuildkitUnreachable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&endpoint), "{err}");
}

#[tokio::test]
async fn gha_export_on_this_daemon_fails_before_building_and_names_the_drivers_that_can() {
    let host = host();
    let mut req = request("cached");
    req.driver = DriverChoice::Docker;
    req.cache_to = vec![cache_entry(
        CacheType::Gha,
        &[
            ("scope", "x"),
            ("url_v2", "http://127.0.0.1:9/"),
            ("version", "2"),
        ],
    )];
    let mut events = Recorder::default();
    let err = run(&req, &host, &mut events).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cache-to type=gha")
            && msg.contains("docker-container")
            && msg.contains("remote"),
        "{msg}"
    );
    assert!(events.0.is_empty(), "nothing may start: {:?}", events.0);
}

#[tokio::test]
async fn gha_cache_round_trip_through_remote_buildkit() {
    let Ok(endpoint) = std::env::var("LAYERCACHE_TEST_BUILDKIT_ADDR") else {
        eprintln!("skipped: LAYERCACHE_TEST_BUILDKIT_ADDR names no BuildKit with gha support");
        return;
    };
    let url = required("LAYERCACHE_TEST_GHA_URL");
    let scope = unique("engine-gha");
    let gha = |mode: Option<&str>| {
        let mut attrs = vec![
            ("url", url.as_str()),
            ("url_v2", url.as_str()),
            ("version", "2"),
            ("scope", scope.as_str()),
        ];
        if let Some(m) = mode {
            attrs.extend([("mode", m), ("ignore-error", "false")]);
        }
        let mut e = cache_entry(CacheType::Gha, &attrs);
        e.secrets.insert(
            "token".into(),
            Secret::new(std::env::var("LAYERCACHE_TEST_GHA_TOKEN").unwrap_or_default()),
        );
        e
    };
    let host = host();
    let mut req = request("cached");
    req.driver = DriverChoice::Remote {
        endpoint: endpoint.clone(),
    };
    req.build_args.insert("RUN_ID".into(), unique("run"));
    req.cache_to = vec![gha(Some("max"))];
    run(&req, &host, &mut Recorder::default()).await.unwrap();

    prune_remote(&endpoint).await.unwrap();
    req.cache_to.clear();
    req.cache_from = vec![gha(None)];
    let mut events = Recorder::default();
    let outcome = run(&req, &host, &mut events).await.unwrap();
    let (cached, ran) = finished(&events.0);
    for step in outcome
        .dockerfile_steps()
        .filter(|s| s.name.contains("RUN "))
    {
        assert!(
            cached.contains(&step.name),
            "{} not CACHED; ran {ran:?}",
            step.name
        );
    }
}

#[tokio::test]
async fn builder_container_that_cannot_start_is_removed_and_named() {
    let host = host();
    let docker = host.docker().unwrap();
    let mut req = request("cached");
    req.cache_to = vec![cache_entry(
        CacheType::Gha,
        &[
            ("scope", "x"),
            ("url_v2", "http://127.0.0.1:9/"),
            ("version", "2"),
        ],
    )];
    // An explicit docker-container driver (auto would fall back to the daemon, see
    // engine_failures); this image has no buildkitd, and these machines refuse privileged
    // containers, so starting it fails either way.
    req.driver = layercache::engine::DriverChoice::DockerContainer;
    req.builder.image = base_image();
    req.builder.name = unique("lc-builder");
    let err = run(&req, &host, &mut Recorder::default())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("docker-container") && msg.contains(&req.builder.name),
        "{msg}"
    );
    assert!(
        docker
            .inspect_container(&req.builder.name, None)
            .await
            .is_err(),
        "the container must be gone"
    );
    let volumes = docker
        .list_volumes(None::<bollard::query_parameters::ListVolumesOptions>)
        .await
        .unwrap();
    let names: Vec<String> = volumes
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with(&req.builder.name)),
        "{names:?}"
    );
}

#[tokio::test]
async fn refused_gha_service_does_not_fail_a_remote_build_with_ignore_error() {
    let Ok(endpoint) = std::env::var("LAYERCACHE_TEST_BUILDKIT_ADDR") else {
        eprintln!("skipped: LAYERCACHE_TEST_BUILDKIT_ADDR names no BuildKit with gha support");
        return;
    };
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}/");
    let mut e = cache_entry(
        CacheType::Gha,
        &[
            ("url", &url),
            ("url_v2", &url),
            ("version", "2"),
            ("scope", "refused"),
            ("ignore-error", "true"),
        ],
    );
    e.secrets.insert("token".into(), Secret::new("t"));
    let mut req = request("cached");
    req.driver = DriverChoice::Remote { endpoint };
    req.build_args.insert("RUN_ID".into(), unique("run"));
    req.cache_to = vec![e];
    let outcome = run(&req, &host(), &mut Recorder::default()).await.unwrap();
    assert!(outcome.image_id.is_some() || !outcome.exporter_response.is_empty());
    let states: Vec<CacheState> = outcome.cache_exports.iter().map(|r| r.state).collect();
    assert_eq!(states, [CacheState::Failed], "{:?}", outcome.cache_exports);
    assert!(
        outcome
            .warnings
            .iter()
            .any(|w| w.contains("cache export to gha scope refused failed"))
    );
}

/// The case: a cache service that refuses every write. The build stays green, the
/// warning names the scope and what was lost, and the report counts what BuildKit began
/// to write against what the service refused.
#[tokio::test]
async fn gha_export_refused_by_the_service_is_a_warning_that_says_what_was_lost() {
    let Ok(endpoint) = std::env::var("LAYERCACHE_TEST_BUILDKIT_ADDR") else {
        eprintln!("skipped: LAYERCACHE_TEST_BUILDKIT_ADDR names no BuildKit with gha support");
        return;
    };
    let upstream = required("LAYERCACHE_TEST_GHA_URL");
    let ip = reqwest::Url::parse(&upstream)
        .ok()
        .and_then(|u| u.host_str().and_then(|h| h.parse().ok()))
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    let proxy = refusing_proxy::RefusingProxy::start(ip, &upstream).await;
    let scope = unique("refused-writes");
    let mut e = cache_entry(
        CacheType::Gha,
        &[
            ("url", &proxy.url),
            ("url_v2", &proxy.url),
            ("version", "2"),
            ("scope", &scope),
            ("mode", "max"),
            ("ignore-error", "true"),
        ],
    );
    e.secrets.insert(
        "token".into(),
        Secret::new(std::env::var("LAYERCACHE_TEST_GHA_TOKEN").unwrap_or_default()),
    );
    let mut req = request("cached");
    req.driver = DriverChoice::Remote { endpoint };
    req.build_args.insert("RUN_ID".into(), unique("run"));
    req.cache_to = vec![e];
    let mut events = Recorder::default();
    let outcome = run(&req, &host(), &mut events).await.unwrap();
    let [report] = outcome.cache_exports.as_slice() else {
        panic!("{:?}", outcome.cache_exports)
    };
    assert_eq!(report.state, CacheState::Failed, "{report:?}");
    assert_eq!(report.written, 0, "{report:?}");
    assert!(proxy.refused() >= 1, "the service saw no write");
    let warning = events
        .0
        .iter()
        .find_map(|e| match e {
            layercache::engine::BuildEvent::Warning(w) if w.contains("cache export") => Some(w),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no warning: {:?}", events.0));
    assert!(
        warning.contains(&format!("cache export to gha scope {scope} failed: 0 of "))
            && warning.contains("no index written; the next run will not find this build's cache"),
        "{warning}"
    );
    let md = layercache::report::summary_markdown(&outcome);
    assert!(md.contains("| Cache export | ❌ failed · "), "{md}");
    eprintln!(
        "measured: export {:?}, {} layer(s) begun, {} write(s) refused",
        outcome.cache_export_time(),
        report.attempted.len(),
        proxy.refused()
    );
}
