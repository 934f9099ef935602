//! Shared set-up for the engine tests: the daemon, registry and base image the test
//! command starts (scripts/test.sh), fixtures, and small helpers.
#![allow(dead_code)]

use std::path::PathBuf;

pub mod refusing_proxy;

use layercache::engine::{BuildEvent, BuildRequest, CacheEntry, CacheType, DockerHost};

/// A variable the test command exports; a test that needs it fails without it.
pub fn required(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set: run the tests through scripts/test.sh, which starts the service it names"
        ),
    }
}

pub fn host() -> DockerHost {
    DockerHost::parse(&required("LAYERCACHE_TEST_DOCKER_HOST")).unwrap()
}

pub fn base_image() -> String {
    required("LAYERCACHE_TEST_BASE_IMAGE")
}

pub fn registry() -> String {
    required("LAYERCACHE_TEST_REGISTRY")
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/engine")
        .join(name)
}

/// A request for a fixture with the test base image.
pub fn request(name: &str) -> BuildRequest {
    let mut req = BuildRequest {
        context: fixture(name),
        ..Default::default()
    };
    req.build_args.insert("BASE".into(), base_image());
    req
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Step names BuildKit reported as cached, and as run.
pub fn finished(events: &[BuildEvent]) -> (Vec<String>, Vec<String>) {
    let mut cached = Vec::new();
    let mut ran = Vec::new();
    for e in events {
        if let BuildEvent::StepFinished {
            name, cached: c, ..
        } = e
        {
            if *c {
                cached.push(name.clone())
            } else {
                ran.push(name.clone())
            }
        }
    }
    (cached, ran)
}

/// A cache entry with plain attributes.
pub fn cache_entry(kind: CacheType, attrs: &[(&str, &str)]) -> CacheEntry {
    CacheEntry {
        kind,
        attrs: attrs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        secrets: Default::default(),
    }
}

/// Remove the images a test tagged.
pub async fn remove_images(docker: &bollard::Docker, tags: &[String]) {
    for t in tags {
        docker
            .remove_image(
                t,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await
            .unwrap();
    }
}
