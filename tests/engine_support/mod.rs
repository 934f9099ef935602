//! Shared set-up for the engine tests: the daemon, registry and base image the test
//! command starts (scripts/test.sh), fixtures, and small helpers.
#![allow(dead_code)]

use std::path::PathBuf;

pub mod refusing_proxy;

use layercache::action::env::Env;
use layercache::action::inputs::Inputs;
use layercache::action::names::INPUTS;
use layercache::action::runtime::Runtime;
use layercache::cache_protocol::{Endpoint, Service};
use layercache::engine::{BuildEvent, DockerHost, Resolved};
use layercache::plan::image::{ImageRef, parse_image_ref};
use layercache::plan::{BuildPlan, CacheOption, CacheType};
use layercache::secret::Secret;

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

/// The test daemon, with no secrets or registry credentials.
pub fn io(host: &DockerHost) -> Resolved {
    Resolved::new(host.clone())
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

/// A plan for a fixture with the test base image.
pub fn request(name: &str) -> BuildPlan {
    request_at(fixture(name))
}

/// A plan for the context `dir` (its `Dockerfile`) with the test base image.
pub fn request_at(dir: impl Into<PathBuf>) -> BuildPlan {
    let mut req = BuildPlan::local(dir);
    req.build_args.insert("BASE".into(), base_image());
    req
}

/// The plan the action makes of these inputs, outside a runner.
pub fn plan_of(pairs: &[(&str, &str)]) -> BuildPlan {
    plan_in(pairs, &[])
}

/// The plan the action makes of these inputs in this environment.
pub fn plan_in(pairs: &[(&str, &str)], env: &[(&str, &str)]) -> BuildPlan {
    let inputs = Inputs::from_pairs(INPUTS, pairs.iter().map(|(k, v)| (*k, (*v).to_owned())))
        .unwrap_or_else(|e| panic!("{e}"));
    let env = Env::from_pairs(env.iter().copied());
    layercache::plan::parse(&inputs, &Runtime::from_env(&env), &env)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Image references, as the `tags` input would give them.
pub fn image_refs<S: AsRef<str>>(names: &[S]) -> Vec<ImageRef> {
    names
        .iter()
        .map(|n| parse_image_ref(n.as_ref()).unwrap_or_else(|e| panic!("{e}")))
        .collect()
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
pub fn cache_entry(kind: CacheType, attrs: &[(&str, &str)]) -> CacheOption {
    CacheOption {
        kind,
        attrs: attrs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        secrets: Default::default(),
        service: None,
    }
}

/// A `gha` entry for the v2 service at `url` with `token`, and `attrs`.
pub fn gha_entry(url: &str, token: Secret, attrs: &[(&str, &str)]) -> CacheOption {
    let service = Service {
        endpoint: Endpoint::V2(url.to_owned()),
        token,
    };
    CacheOption::gha(service, attrs)
}

/// Remove the images a test tagged.
pub async fn remove_images<T: ToString>(docker: &bollard::Docker, tags: &[T]) {
    for t in tags {
        docker
            .remove_image(
                &t.to_string(),
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await
            .unwrap();
    }
}

/// The newest-BuildKit lane's image in the test dockerd (scripts/setup.d/20-buildkit-lane.sh),
/// or `None` after saying the calling test is skipped.
pub fn lane_image(test: &str) -> Option<String> {
    match std::env::var("LAYERCACHE_TEST_BUILDKIT_IMAGE") {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            eprintln!(
                "skipped {test}: LAYERCACHE_TEST_BUILDKIT_IMAGE names no newest-BuildKit image (see README, How it is tested)"
            );
            None
        }
    }
}

/// The base image pushed to the loopback registry: a BuildKit outside the daemon cannot see
/// the daemon's images and pulls `FROM` itself.
pub async fn pushed_base_image() -> String {
    let docker = host().docker().unwrap();
    let target = format!("{}/layercache-test-base:latest", registry());
    let (repo, tag) = target.rsplit_once(':').unwrap();
    docker
        .tag_image(
            &base_image(),
            Some(bollard::query_parameters::TagImageOptions {
                repo: Some(repo.to_owned()),
                tag: Some(tag.to_owned()),
            }),
        )
        .await
        .unwrap();
    let mut push = docker.push_image(
        repo,
        Some(bollard::query_parameters::PushImageOptions {
            tag: Some(tag.to_owned()),
            platform: None,
        }),
        None,
    );
    while let Some(item) = futures::StreamExt::next(&mut push).await {
        item.unwrap();
    }
    target
}

/// Debian's docker-registry with htpasswd auth (user `layercache`, password
/// `right-password`) on `addr`, storing in `dir`: stopped and started again on the same
/// address and data, as a registry that goes away for a while.
pub fn auth_registry(addr: &str, dir: &std::path::Path) -> std::process::Child {
    let config = format!(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\nauth:\n  htpasswd:\n    realm: layercache\n    path: {}\n",
        dir.join("data").display(),
        fixture("auth-registry").join("htpasswd").display()
    );
    let path = dir.join("config.yml");
    std::fs::write(&path, config).unwrap();
    let child = std::process::Command::new("docker-registry")
        .arg("serve")
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docker-registry (Debian package docker-registry) must be installed");
    for _ in 0..50 {
        if std::net::TcpStream::connect(addr).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child
}
