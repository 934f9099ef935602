//! Push and registry cache on the real daemon and the loopback registry.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

mod engine_support;

use bollard::query_parameters::{PruneBuildOptions, RemoveImageOptions};
use engine_support::*;
use layercache::engine::{BuildEvent, CacheState, Recorder, run};
use layercache::plan::CacheType;

/// The manifest digest the registry itself reports for `repo:tag`.
async fn registry_digest(registry: &str, repo: &str, tag: &str) -> String {
    let url = format!("http://{registry}/v2/{repo}/manifests/{tag}");
    let resp = reqwest::Client::new()
        .head(&url)
        .header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json",
        )
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "HEAD {url}: {}", resp.status());
    resp.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn remove<T: ToString>(docker: &bollard::Docker, tags: &[T]) {
    for t in tags {
        let opts = RemoveImageOptions {
            force: true,
            ..Default::default()
        };
        docker
            .remove_image(&t.to_string(), Some(opts), None)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn push_reports_the_registry_manifest_digest() {
    let (host, registry) = (host(), registry());
    let repo = unique("lc/push");
    let mut req = request("cached");
    req.tags = image_refs(&[
        format!("{registry}/{repo}:v1"),
        format!("{registry}/{repo}:latest"),
    ]);
    req.push = true;
    let outcome = run(&req, &io(&host), &mut Recorder::default())
        .await
        .unwrap();
    let digest = outcome.digest.clone().expect("digest after push");
    assert_eq!(digest, registry_digest(&registry, &repo, "v1").await);
    assert_eq!(digest, registry_digest(&registry, &repo, "latest").await);
    assert!(outcome.push.is_some());
    remove(&host.docker().unwrap(), &req.tags).await;
}

#[tokio::test]
async fn registry_cache_round_trip_reports_every_expensive_step_cached() {
    let (host, registry) = (host(), registry());
    let docker = host.docker().unwrap();
    let image = format!("{registry}/{}:cache", unique("lc/cacheflow"));
    let mut first = request("cached");
    // A build arg only this test uses, so no other build's local cache can answer.
    first.build_args.insert("RUN_ID".into(), unique("run"));
    first.tags = image_refs(std::slice::from_ref(&image));
    first.push = true;
    first.cache_to = vec![cache_entry(CacheType::Inline, &[])];
    let mut events = Recorder::default();
    let exported = run(&first, &io(&host), &mut events).await.unwrap();
    let states: Vec<_> = exported.cache_exports.iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        [CacheState::Done],
        "inline cache goes with the image"
    );
    let (_, ran) = finished(&events.0);
    assert!(
        ran.iter().any(|s| s.contains("RUN dd")),
        "first build must run the steps: {ran:?}"
    );

    remove(&docker, &first.tags).await;
    let prune = PruneBuildOptions {
        all: Some(true),
        ..Default::default()
    };
    docker.prune_build(Some(prune)).await.unwrap();

    let mut second = first.clone();
    second.push = false;
    second.load = true;
    second.cache_to.clear();
    second.cache_from = vec![cache_entry(CacheType::Registry, &[("ref", &image)])];
    let mut events = Recorder::default();
    let outcome = run(&second, &io(&host), &mut events).await.unwrap();
    let announced = format!("cache import: type=registry,ref={image}");
    assert!(
        events.0.contains(&BuildEvent::Notice(announced)),
        "{:?}",
        events.0
    );
    let (cached, ran) = finished(&events.0);
    let expensive: Vec<_> = outcome
        .dockerfile_steps()
        .filter(|s| s.name.contains("RUN ") || s.name.contains("COPY "))
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(expensive.len(), 3, "{:?}", outcome.steps);
    for step in &expensive {
        assert!(
            cached.contains(step),
            "{step} not CACHED; cached {cached:?}, ran {ran:?}"
        );
    }
    assert!(
        outcome.cached_percent().unwrap() >= 75.0,
        "{:?}",
        outcome.cached_percent()
    );
    // BuildKit's importer vertex says done, with its own time.
    let states: Vec<_> = outcome.cache_imports.iter().map(|r| r.state).collect();
    assert_eq!(states, [CacheState::Done], "{:?}", outcome.cache_imports);
    let import_time = outcome
        .cache_import_time()
        .expect("BuildKit timed the import");
    eprintln!("measured: registry cache import {import_time:?} (BuildKit's importer vertex)");
    // One layer per RUN/COPY came from the registry cache; the base image was already here.
    assert_eq!(
        outcome.cache_traffic.imported_layers(),
        expensive.len(),
        "{:?}",
        outcome.cache_traffic
    );
    remove(&docker, &second.tags).await;
}
