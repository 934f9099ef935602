//! The `remote` driver and `gha` cache. The `gha` tests need a BuildKit with `gha` support,
//! which only the newest-BuildKit lane provides here (scripts/setup.d/20-buildkit-lane.sh):
//! they run when `LAYERCACHE_TEST_BUILDKIT_ADDR` names a reachable buildkitd (`tcp://` or
//! `unix://`) and say they are skipped otherwise. The cache service is
//! `LAYERCACHE_TEST_GHA_URL` (with `LAYERCACHE_TEST_GHA_TOKEN`) when set, else one started
//! in this process on loopback, where the lane's buildkitd reaches it. Everything else here
//! runs always.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

mod engine_support;

use std::net::TcpListener;

use engine_support::*;
use layercache::engine::{CacheState, EngineError, Recorder, prune_remote, run};
use layercache::plan::{CacheType, DriverChoice};
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
    let err = run(&req, &io(&host), &mut Recorder::default())
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
    let err = run(&req, &io(&host), &mut events).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cache-to type=gha")
            && msg.contains("docker-container")
            && msg.contains("remote"),
        "{msg}"
    );
    assert!(events.0.is_empty(), "nothing may start: {:?}", events.0);
}

/// The cache service the `gha` tests use: `LAYERCACHE_TEST_GHA_URL`, else one of our own
/// (kept alive by the returned handle).
async fn gha_service() -> (
    String,
    String,
    Option<(layercache::cache_service::RunningService, tempfile::TempDir)>,
) {
    if let Ok(url) = std::env::var("LAYERCACHE_TEST_GHA_URL") {
        let token = std::env::var("LAYERCACHE_TEST_GHA_TOKEN").unwrap_or_default();
        return (url, token, None);
    }
    let dir = tempfile::tempdir().unwrap();
    let config = layercache::cache_service::ServiceConfig::new(
        ([127, 0, 0, 1], 0).into(),
        layercache::storage::StorageConfig::Disk(dir.path().to_owned()),
    );
    let service = layercache::cache_service::spawn(config).await.unwrap();
    let url = format!("{}/", service.base_url);
    let token = service.token("refs/heads/main").expose().to_owned();
    (url, token, Some((service, dir)))
}

#[tokio::test]
async fn buildkit_lane_gha_cache_round_trip_through_remote_buildkit() {
    let Ok(endpoint) = std::env::var("LAYERCACHE_TEST_BUILDKIT_ADDR") else {
        eprintln!(
            "skipped: LAYERCACHE_TEST_BUILDKIT_ADDR names no BuildKit with gha support (the newest-BuildKit lane)"
        );
        return;
    };
    let (url, token, _service) = gha_service().await;
    let scope = unique("engine-gha");
    let gha = |mode: Option<&str>| {
        let mut attrs = vec![("scope", scope.as_str())];
        if let Some(m) = mode {
            attrs.extend([("mode", m), ("ignore-error", "false")]);
        }
        gha_entry(&url, Secret::new(token.clone()), &attrs)
    };
    let host = host();
    let mut req = request("cached");
    req.build_args
        .insert("BASE".into(), pushed_base_image().await);
    req.driver = DriverChoice::Remote {
        endpoint: endpoint.clone(),
    };
    req.build_args.insert("RUN_ID".into(), unique("run"));
    req.cache_to = vec![gha(Some("max"))];
    run(&req, &io(&host), &mut Recorder::default())
        .await
        .unwrap();

    prune_remote(&endpoint).await.unwrap();
    req.cache_to.clear();
    req.cache_from = vec![gha(None)];
    let mut events = Recorder::default();
    let outcome = run(&req, &io(&host), &mut events).await.unwrap();
    assert_run_steps_cached(&outcome, &events);
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
    req.driver = layercache::plan::DriverChoice::DockerContainer;
    req.builder.image = base_image();
    req.builder.name = unique("lc-builder");
    let err = run(&req, &io(&host), &mut Recorder::default())
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
async fn buildkit_lane_refused_gha_service_does_not_fail_a_remote_build_with_ignore_error() {
    let Ok(endpoint) = std::env::var("LAYERCACHE_TEST_BUILDKIT_ADDR") else {
        eprintln!(
            "skipped: LAYERCACHE_TEST_BUILDKIT_ADDR names no BuildKit with gha support (the newest-BuildKit lane)"
        );
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
    req.build_args
        .insert("BASE".into(), pushed_base_image().await);
    req.driver = DriverChoice::Remote { endpoint };
    req.build_args.insert("RUN_ID".into(), unique("run"));
    req.cache_to = vec![e];
    let mut events = Recorder::default();
    let outcome = run(&req, &io(&host()), &mut events).await.unwrap();
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
async fn buildkit_lane_gha_export_refused_by_the_service_is_a_warning_that_says_what_was_lost() {
    let Ok(endpoint) = std::env::var("LAYERCACHE_TEST_BUILDKIT_ADDR") else {
        panic!(
            "LAYERCACHE_TEST_BUILDKIT_ADDR names no BuildKit with gha support (lane tests are named buildkit_lane_*/docker28_lane_*; scripts/test.sh filters them out, counted as skipped, where the lane is absent)"
        )
    };
    let (upstream, token, _service) = gha_service().await;
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
            // BuildKit's own export is what this test is about (tests/relay_remote.rs
            // has the relay's).
            ("relay", "false"),
        ],
    );
    e.secrets.insert("token".into(), Secret::new(token));
    let mut req = request("cached");
    req.build_args
        .insert("BASE".into(), pushed_base_image().await);
    req.driver = DriverChoice::Remote { endpoint };
    req.build_args.insert("RUN_ID".into(), unique("run"));
    req.cache_to = vec![e];
    let mut events = Recorder::default();
    let outcome = run(&req, &io(&host()), &mut events).await.unwrap();
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

#[tokio::test]
async fn buildkit_lane_named_build_contexts_reach_copy_from_on_the_newest_buildkit() {
    let Ok(endpoint) = std::env::var("LAYERCACHE_TEST_BUILDKIT_ADDR") else {
        panic!(
            "LAYERCACHE_TEST_BUILDKIT_ADDR names no newest-BuildKit lane (lane tests are named buildkit_lane_*/docker28_lane_*; scripts/test.sh filters them out, counted as skipped, where the lane is absent)"
        )
    };
    let ctx = tempfile::tempdir().unwrap();
    let extra = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let marker = unique("from-the-named-context");
    std::fs::write(extra.path().join("hello.txt"), &marker).unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "ARG BASE\nFROM ${BASE}\nCOPY --from=extra /hello.txt /copied.txt\nRUN cat /copied.txt > /seen.txt\n",
    )
    .unwrap();
    let mut req = request_at(ctx.path());
    req.build_args
        .insert("BASE".into(), pushed_base_image().await);
    req.build_contexts
        .insert("extra".into(), extra.path().display().to_string());
    req.outputs = vec![layercache::plan::Output {
        kind: layercache::plan::OutputType::Local,
        attrs: [("dest".to_owned(), out.path().display().to_string())].into(),
    }];
    req.driver = DriverChoice::Remote { endpoint };
    run(&req, &io(&host()), &mut Recorder::default())
        .await
        .unwrap();
    let seen = std::fs::read_to_string(out.path().join("seen.txt")).unwrap();
    assert_eq!(seen.trim(), marker);
}

/// GET a registry document as JSON.
async fn registry_json(path: &str) -> serde_json::Value {
    let url = format!("http://{}/v2/{path}", registry());
    let resp = reqwest::Client::new()
        .get(&url)
        .header(
            "Accept",
            "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json",
        )
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
    serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
}

/// The provenance predicate attached to `repo:tag`, if any.
async fn pushed_provenance(repo: &str, tag: &str) -> Option<serde_json::Value> {
    let index = registry_json(&format!("{repo}/manifests/{tag}")).await;
    let attestation = index["manifests"]
        .as_array()?
        .iter()
        .find(|m| m["annotations"]["vnd.docker.reference.type"] == "attestation-manifest")?;
    let digest = attestation["digest"].as_str()?;
    let manifest = registry_json(&format!("{repo}/manifests/{digest}")).await;
    let layer = manifest["layers"].as_array()?.iter().find(|l| {
        l["annotations"]["in-toto.io/predicate-type"]
            .as_str()
            .is_some_and(|t| t.contains("slsa.dev/provenance"))
    })?;
    let blob = registry_json(&format!("{repo}/blobs/{}", layer["digest"].as_str()?)).await;
    Some(blob["predicate"].clone())
}

#[tokio::test]
async fn buildkit_lane_a_private_repository_gets_min_provenance_with_the_run_as_builder_id_and_none_when_false()
 {
    let Ok(endpoint) = std::env::var("LAYERCACHE_TEST_BUILDKIT_ADDR") else {
        panic!(
            "LAYERCACHE_TEST_BUILDKIT_ADDR names no newest-BuildKit lane (lane tests are named buildkit_lane_*/docker28_lane_*; scripts/test.sh filters them out, counted as skipped, where the lane is absent)"
        )
    };
    let run_url = "https://github.com/octo/app/actions/runs/42/attempts/1";
    let repo = unique("lc/provenance");
    let mut req = request("cached");
    req.build_args
        .insert("BASE".into(), pushed_base_image().await);
    req.driver = DriverChoice::Remote { endpoint };
    req.push = true;
    req.tags = image_refs(&[format!("{}/{repo}:default", registry())]);
    // The default build-push-action asks for in a private repository, as the plan makes it
    // on a runner (a public one gets mode=max).
    let runner = [
        ("GITHUB_ACTIONS", "true"),
        (layercache::plan::REPOSITORY_PRIVATE, "true"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "octo/app"),
        ("GITHUB_RUN_ID", "42"),
        ("GITHUB_RUN_ATTEMPT", "1"),
    ];
    req.provenance_default = plan_in(&[], &runner).provenance_default;
    assert!(req.provenance_default.is_some());
    let outcome = run(&req, &io(&host()), &mut Recorder::default())
        .await
        .unwrap();
    // What buildx puts in the metadata as buildx.build.provenance: BuildKit's record.
    let recorded = outcome.provenance.clone().expect("a recorded provenance");
    assert!(
        recorded.get("buildType").is_some() || recorded.get("buildDefinition").is_some(),
        "{recorded}"
    );
    let metadata = layercache::report::metadata(&outcome);
    assert_eq!(metadata["buildx.build.provenance"], recorded);
    let predicate = pushed_provenance(&repo, "default")
        .await
        .expect("a provenance attestation by default");
    let text = predicate.to_string();
    assert!(text.contains(run_url), "builder-id: {text}");
    // mode=min leaves out the build's materials in detail (no buildConfig).
    assert!(!text.contains("buildConfig"), "mode=min: {text}");

    // `provenance: false` (the plan then has no default and no attests entry).
    req.provenance_default = plan_in(&[("provenance", "false")], &runner).provenance_default;
    assert!(req.provenance_default.is_none());
    req.tags = image_refs(&[format!("{}/{repo}:off", registry())]);
    run(&req, &io(&host()), &mut Recorder::default())
        .await
        .unwrap();
    assert!(pushed_provenance(&repo, "off").await.is_none());
}

#[tokio::test]
async fn buildkit_lane_several_outputs_with_load_and_push_on_the_newest_buildkit() {
    let Ok(endpoint) = std::env::var("LAYERCACHE_TEST_BUILDKIT_ADDR") else {
        panic!(
            "LAYERCACHE_TEST_BUILDKIT_ADDR names no newest-BuildKit lane (lane tests are named buildkit_lane_*/docker28_lane_*; scripts/test.sh filters them out, counted as skipped, where the lane is absent)"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let (local, tar) = (dir.path().join("tree"), dir.path().join("image.tar"));
    let out =
        |kind: layercache::plan::OutputType, dest: &std::path::Path| layercache::plan::Output {
            kind,
            attrs: [("dest".to_owned(), dest.display().to_string())].into(),
        };
    let repo = unique("lc/several");
    let pushed = format!("{}/{repo}:v1", registry());
    let mut req = request("cached");
    req.build_args
        .insert("BASE".into(), pushed_base_image().await);
    req.build_args.insert("RUN_ID".into(), unique("run"));
    req.driver = DriverChoice::Remote { endpoint };
    req.outputs = vec![
        out(layercache::plan::OutputType::Local, &local),
        out(layercache::plan::OutputType::Tar, &tar),
    ];
    req.tags = image_refs(std::slice::from_ref(&pushed));
    req.push = true;
    req.load = true;
    let outcome = run(&req, &io(&host()), &mut Recorder::default())
        .await
        .unwrap();

    assert!(local.join("copy").is_file(), "type=local tree");
    let mut names = Vec::new();
    for entry in tar::Archive::new(std::fs::File::open(&tar).unwrap())
        .entries()
        .unwrap()
    {
        names.push(entry.unwrap().path().unwrap().display().to_string());
    }
    assert!(names.iter().any(|n| n == "copy"), "type=tar: {names:?}");
    let manifest = registry_json(&format!("{repo}/manifests/v1")).await;
    assert!(manifest["mediaType"].is_string(), "pushed: {manifest}");
    let docker = host().docker().unwrap();
    let loaded = docker.inspect_image(&pushed).await.unwrap();
    assert_eq!(loaded.id, outcome.image_id, "loaded into the daemon");
    remove_images(&docker, &[pushed]).await;
}

#[tokio::test]
async fn buildkit_lane_local_cache_round_trip_on_the_newest_buildkit() {
    let Ok(endpoint) = std::env::var("LAYERCACHE_TEST_BUILDKIT_ADDR") else {
        panic!(
            "LAYERCACHE_TEST_BUILDKIT_ADDR names no newest-BuildKit lane (lane tests are named buildkit_lane_*/docker28_lane_*; scripts/test.sh filters them out, counted as skipped, where the lane is absent)"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let cache_str = cache.display().to_string();
    let mut req = request("cached");
    req.build_args
        .insert("BASE".into(), pushed_base_image().await);
    req.build_args.insert("RUN_ID".into(), unique("run"));
    req.driver = DriverChoice::Remote {
        endpoint: endpoint.clone(),
    };
    // Nothing there yet: a warning, and the build goes on.
    req.cache_from = vec![cache_entry(CacheType::Local, &[("src", &cache_str)])];
    req.cache_to = vec![cache_entry(
        CacheType::Local,
        &[("dest", &cache_str), ("mode", "max")],
    )];
    let mut events = Recorder::default();
    run(&req, &io(&host()), &mut events).await.unwrap();
    let warned = events.0.iter().any(
        |e| matches!(e, layercache::engine::BuildEvent::Warning(w) if w.contains("no cache there yet")),
    );
    assert!(warned, "{:?}", events.0);
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cache.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );
    let blob = cache
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    assert!(blob.is_file(), "the cache manifest is in the layout");

    // An empty BuildKit rebuilds from the directory alone.
    prune_remote(&endpoint).await.unwrap();
    req.cache_to.clear();
    let mut events = Recorder::default();
    let outcome = run(&req, &io(&host()), &mut events).await.unwrap();
    assert_run_steps_cached(&outcome, &events);
}

/// Every RUN step of `outcome` was answered from cache, by the events of its build.
fn assert_run_steps_cached(outcome: &layercache::engine::Outcome, events: &Recorder) {
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
