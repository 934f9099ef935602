//! Failures end with one clear error and leave nothing behind: no container, no temp file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

mod engine_support;

use std::net::TcpListener;
use std::process::Child;

use engine_support::*;
use layercache::engine::{
    BuildEvent, CacheState, DockerHost, EngineError, Recorder, RegistryAuth, run,
};
use layercache::plan::CacheType;
use layercache::secret::Secret;

/// A temp dir of this test's own for every temporary file the engine makes (nextest runs
/// each test in a process of its own), so other tests' files never look like ours.
fn private_temp_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    tempfile::env::override_temp_dir(dir.path()).unwrap();
    dir
}

/// Containers and our temp entries now, to compare after a failed build.
async fn leftovers(docker: &bollard::Docker) -> (usize, Vec<String>) {
    let opts = bollard::query_parameters::ListContainersOptions {
        all: true,
        ..Default::default()
    };
    // Builder containers of the docker-container tests come and go meanwhile.
    let containers = docker
        .list_containers(Some(opts))
        .await
        .unwrap()
        .iter()
        .filter(|c| {
            !c.labels
                .as_ref()
                .is_some_and(|l| l.contains_key("io.layercache.builder"))
        })
        .count();
    let mut temp: Vec<String> = std::fs::read_dir(tempfile::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.contains("layercache") || n.contains("buildkit"))
        .collect();
    temp.sort();
    (containers, temp)
}

#[tokio::test]
async fn missing_dockerfile_and_context_name_the_path() {
    let host = host();
    let mut req = request("basic");
    req.dockerfile = fixture("basic").join("Nope.Dockerfile");
    let err = run(&req, &io(&host), &mut Recorder::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::MissingDockerfile { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("Nope.Dockerfile"), "{err}");

    let req = request_at(fixture("does-not-exist"));
    let err = run(&req, &io(&host), &mut Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::MissingContext { .. }), "{err:?}");
    assert!(err.to_string().contains("does-not-exist"), "{err}");
}

#[tokio::test]
async fn unreachable_daemon_names_the_socket() {
    let host = DockerHost::parse("unix:///tmp/layercache-no-such-daemon.sock").unwrap();
    let err = run(&request("basic"), &io(&host), &mut Recorder::default())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, EngineError::DaemonUnreachable { .. }),
        "{err:?}"
    );
    assert!(
        msg.contains("unix:///tmp/layercache-no-such-daemon.sock") && msg.contains("DOCKER_HOST"),
        "{msg}"
    );
}

#[tokio::test]
async fn failing_run_points_at_its_dockerfile_line() {
    let host = host();
    let docker = host.docker().unwrap();
    let _temp = private_temp_dir();
    let before = leftovers(&docker).await;
    let mut req = request("failing");
    req.build_args.insert("CODE".into(), "7".into());
    let mut events = Recorder::default();
    let err = run(&req, &io(&host), &mut events).await.unwrap_err();
    match &err {
        EngineError::StepFailed {
            step,
            message,
            dockerfile,
            line,
        } => {
            assert!(step.contains("RUN echo \"failing now\""), "{step}");
            assert!(message.contains("exit code: 7"), "{message}");
            assert_eq!(dockerfile, &fixture("failing").join("Dockerfile"));
            assert_eq!(*line, Some(5));
        }
        other => panic!("expected StepFailed, got {other:?}"),
    }
    let logged = events
        .0
        .iter()
        .any(|e| matches!(e, BuildEvent::StepLog { text, .. } if text.contains("failing now")));
    assert!(logged, "the step's output is streamed: {:?}", events.0);
    assert_eq!(leftovers(&docker).await, before);
}

#[tokio::test]
async fn unreachable_cache_source_warns_and_builds() {
    let host = host();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut req = request("cached");
    req.cache_from = vec![cache_entry(
        CacheType::Registry,
        &[("ref", &format!("{closed}/nothing:here"))],
    )];
    let mut events = Recorder::default();
    let outcome = run(&req, &io(&host), &mut events).await.unwrap();
    assert!(outcome.image_id.is_some());
    assert!(
        outcome
            .warnings
            .iter()
            .any(|w| w.contains("cache") && w.contains(&closed.to_string())),
        "{:?}",
        outcome.warnings
    );
    let warned = events
        .0
        .iter()
        .any(|e| matches!(e, BuildEvent::Warning(w) if w.contains("connection refused")));
    assert!(warned, "{:?}", events.0);
}

/// Debian's docker-registry with htpasswd auth (user `layercache`, password `right-password`).
struct AuthRegistry {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl AuthRegistry {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string();
        let child = auth_registry(&addr, dir.path());
        Self {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn refused_registry_auth_fails_the_push_with_the_registry_named() {
    let registry = AuthRegistry::start();
    let host = host();
    let image = format!("{}/{}:v1", registry.addr, unique("lc/auth"));
    let mut req = request("cached");
    req.tags = image_refs(std::slice::from_ref(&image));
    req.push = true;
    let mut auth = io(&host);
    auth.registry_auth.insert(
        registry.addr.clone(),
        RegistryAuth {
            username: "layercache".into(),
            password: "wrong-password".into(),
        },
    );
    let err = run(&req, &auth, &mut Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Push { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&image) && msg.contains("unauthorized"),
        "{msg}"
    );
    assert!(!msg.contains("wrong-password"), "{msg}");

    auth.registry_auth.get_mut(&registry.addr).unwrap().password = "right-password".into();
    let outcome = run(&req, &auth, &mut Recorder::default()).await.unwrap();
    assert!(outcome.digest.is_some());
    let docker = host.docker().unwrap();
    docker
        .remove_image(
            &image,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await
        .unwrap();
}

/// `auto` needs a BuildKit container for `type=gha`, and none can start here (no image can
/// be pulled): the build goes on with the daemon's BuildKit, without the gha entries, and
/// says so; an export the user made strict fails instead.
#[tokio::test]
async fn gha_without_a_startable_builder_warns_and_builds() {
    let host = host();
    let docker = host.docker().unwrap();
    let _temp = private_temp_dir();
    let gha = |extra: &[(&str, &str)]| {
        let mut attrs = vec![("scope", "t")];
        attrs.extend_from_slice(extra);
        gha_entry("http://127.0.0.1:9/", Secret::new("t.x.y"), &attrs)
    };
    let mut req = request("cached");
    req.builder.image = "127.0.0.1:9/no/such-buildkit:v0".into();
    req.builder.name = unique("lc-test-builder");
    req.cache_from = vec![gha(&[])];
    req.cache_to = vec![gha(&[("ignore-error", "true")])];
    let mut events = Recorder::default();
    let outcome = run(&req, &io(&host), &mut events).await.unwrap();
    assert!(outcome.image_id.is_some());
    let warning = events.0.iter().find_map(|e| match e {
        BuildEvent::Warning(w) if w.contains("without the cache it cannot use") => Some(w.clone()),
        _ => None,
    });
    let warning = warning.unwrap_or_else(|| panic!("no fallback warning: {:?}", events.0));
    assert!(
        warning.contains("cache-from type=gha") && warning.contains("cache-to type=gha"),
        "{warning}"
    );
    // The summary must not call the dropped entries "not used": they failed.
    for reports in [&outcome.cache_imports, &outcome.cache_exports] {
        let states: Vec<_> = reports
            .iter()
            .map(|r| (r.entry.as_str(), r.state))
            .collect();
        assert_eq!(states, [("gha scope t", CacheState::Failed)], "{reports:?}");
    }
    // By name: other tests start containers of their own on the same daemon meanwhile.
    assert!(
        docker
            .inspect_container(&req.builder.name, None)
            .await
            .is_err(),
        "no builder container left behind"
    );

    req.cache_to = vec![gha(&[("ignore-error", "false")])];
    let err = run(&req, &io(&host), &mut Recorder::default())
        .await
        .unwrap_err();
    assert!(!err.to_string().is_empty());
    assert!(
        docker
            .inspect_container(&req.builder.name, None)
            .await
            .is_err()
    );
}
