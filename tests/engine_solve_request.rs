//! The solve request and driver choice, without a daemon: what BuildKit receives.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

mod engine_support;

use std::collections::HashMap;

use engine_support::{cache_entry, gha_entry, plan_of};
use layercache::engine::{
    Capabilities, DaemonFacts, EngineError, OutputDestination, SolveInputs, choose,
    output_destination, solve_request,
};
use layercache::plan::{BuildPlan, CacheOption, CacheType, DriverChoice, Output, OutputType};
use layercache::secret::Secret;

const INPUTS: SolveInputs<'static> = SolveInputs {
    build_ref: "ref1",
    session_id: "sess1",
    remote_context: None,
    dockerfile_name: "sub/Dockerfile",
};

fn gha(scope: &str) -> CacheOption {
    gha_entry(
        "http://127.0.0.1:9/",
        Secret::new("jwt-value"),
        &[("scope", scope), ("mode", "max"), ("ignore-error", "true")],
    )
}

fn graphdriver() -> DaemonFacts {
    DaemonFacts {
        containerd_store: false,
        engine_major: 20,
        engine_version: "20.10.24".into(),
        rootless: false,
    }
}

#[test]
fn gha_entries_reach_buildkit_with_exactly_their_attributes() {
    let mut req = BuildPlan::local(".");
    req.cache_from = vec![gha("app-linux-amd64")];
    req.cache_to = vec![gha("app-linux-amd64")];
    let solve = solve_request(&req, &Capabilities::standalone("remote"), &INPUTS);
    let cache = solve.cache.unwrap();
    let want: HashMap<String, String> = [
        ("url", "http://127.0.0.1:9/"),
        ("url_v2", "http://127.0.0.1:9/"),
        ("version", "2"),
        ("scope", "app-linux-amd64"),
        ("mode", "max"),
        ("ignore-error", "true"),
        ("token", "jwt-value"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(cache.exports.len(), 1);
    assert_eq!(cache.exports[0].r#type, "gha");
    assert_eq!(cache.exports[0].attrs, want);
    assert_eq!(cache.imports[0].attrs, want);
    // The Dockerfile frontend imports from its own attribute, in BuildKit's JSON shape.
    let json: serde_json::Value =
        serde_json::from_str(&solve.frontend_attrs["cache-imports"]).unwrap();
    assert_eq!(json[0]["Type"], "gha");
    assert_eq!(json[0]["Attrs"]["scope"], "app-linux-amd64");
    assert_eq!(json[0]["Attrs"]["token"], "jwt-value");
    // A debug print of the request side never shows the token.
    assert!(!format!("{req:?}").contains("jwt-value"));
}

#[test]
fn build_contexts_from_directories_go_through_the_session_under_their_name() {
    let req = plan_of(&[(
        "build-contexts",
        "lib=../lib\ncontext=../other\nbase=docker-image://alpine:3\nsrc=https://github.com/o/r.git",
    )]);
    let remote = SolveInputs {
        remote_context: Some("https://github.com/o/app.git"),
        ..INPUTS
    };
    let solve = solve_request(&req, &Capabilities::standalone("remote"), &remote);
    let a = &solve.frontend_attrs;
    let get = |k: &str| a.get(k).map(String::as_str);
    assert_eq!(get("context:lib"), Some("local:lib"));
    // A local context named like ours is sent under another name, as buildx does.
    assert_eq!(get("context:context"), Some("local:_context"));
    assert_eq!(get("context:base"), Some("docker-image://alpine:3"));
    assert_eq!(get("context:src"), Some("https://github.com/o/r.git"));
    assert_eq!(get("context"), Some("https://github.com/o/app.git"));
}

#[test]
fn frontend_attributes_follow_buildx_names() {
    // From the action's inputs: the typed plan is what the engine reads.
    let mut req = plan_of(&[
        ("target", "final"),
        ("platforms", "linux/amd64,linux/arm64"),
        ("no-cache-filters", "build,test"),
        ("pull", "true"),
        ("network", "host"),
        ("add-hosts", "db:10.0.0.2,v6=::1"),
        ("shm-size", "1m"),
        ("ulimit", "nofile=1024:2048"),
        ("attests", "type=provenance,mode=max"),
        ("tags", "r/a:1\nr/a:2"),
        ("push", "true"),
        ("build-args", "A=1"),
        ("labels", "l=v"),
    ]);
    let solve = solve_request(&req, &Capabilities::standalone("remote"), &INPUTS);
    let a = &solve.frontend_attrs;
    let get = |k: &str| a.get(k).map(String::as_str);
    // No `context`: the frontend pulls the local `context` directory through the session.
    assert_eq!(get("context"), None);
    assert_eq!(get("filename"), Some("sub/Dockerfile"));
    assert_eq!(get("target"), Some("final"));
    assert_eq!(get("build-arg:A"), Some("1"));
    assert_eq!(get("label:l"), Some("v"));
    assert_eq!(get("platform"), Some("linux/amd64,linux/arm64"));
    assert_eq!(get("no-cache"), Some("build,test"));
    assert_eq!(get("image-resolve-mode"), Some("pull"));
    assert_eq!(get("force-network-mode"), Some("host"));
    assert_eq!(get("add-hosts"), Some("db=10.0.0.2,v6=::1"));
    assert_eq!(get("shm-size"), Some("1048576"));
    assert_eq!(get("ulimit"), Some("nofile=1024:2048"));
    // As buildx's `Attests.ToMap` writes it: the type first, then sorted attributes.
    assert_eq!(get("attest:provenance"), Some("type=provenance,mode=max"));
    assert_eq!(solve.entitlements, vec!["network.host".to_owned()]);
    assert_eq!(solve.exporter_deprecated, "image");
    assert_eq!(solve.exporter_attrs_deprecated["name"], "r/a:1,r/a:2");
    assert_eq!(solve.exporter_attrs_deprecated["push"], "true");
    // buildx `--push`: no unpacking of what is only pushed.
    assert_eq!(solve.exporter_attrs_deprecated["unpack"], "false");
    assert_eq!(
        (solve.session.as_str(), solve.r#ref.as_str()),
        ("sess1", "ref1")
    );

    req.no_cache = true;
    let docker = Capabilities::docker(&graphdriver());
    let solve = solve_request(&req, &docker, &INPUTS);
    assert_eq!(solve.frontend_attrs["no-cache"], "");
    assert_eq!(solve.exporter_deprecated, "moby");
}

#[test]
fn auto_takes_docker_only_when_it_can_honour_every_cache_entry() {
    let mut req = BuildPlan::local(".");
    req.cache_from = vec![cache_entry(CacheType::Registry, &[("ref", "r/a:cache")])];
    req.cache_to = vec![cache_entry(CacheType::Inline, &[])];
    assert_eq!(choose(&req, &graphdriver()).unwrap().driver, "docker");

    // gha export needs a BuildKit container here.
    req.cache_to = vec![gha("s")];
    assert_eq!(
        choose(&req, &graphdriver()).unwrap().driver,
        "docker-container"
    );

    // ... unless the container cannot do everything else either (an exporter without a
    // destination on this side).
    req.outputs = vec![Output {
        kind: OutputType::Tar,
        attrs: Default::default(),
    }];
    let err = choose(&req, &graphdriver()).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            EngineError::Unsupported {
                driver: "docker",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        msg.contains("cache-to type=gha")
            && msg.contains("docker-container")
            && msg.contains("remote"),
        "{msg}"
    );
    req.outputs.clear();

    let containerd = DaemonFacts {
        containerd_store: true,
        engine_major: 28,
        engine_version: "28.0.4".into(),
        rootless: false,
    };
    assert_eq!(choose(&req, &containerd).unwrap().driver, "docker");

    req.driver = DriverChoice::Docker;
    let msg = choose(&req, &graphdriver()).unwrap_err().to_string();
    assert!(
        msg.contains("driver docker") && msg.contains("docker-container or remote"),
        "{msg}"
    );

    req.driver = DriverChoice::Remote {
        endpoint: "tcp://127.0.0.1:1234".into(),
    };
    assert_eq!(choose(&req, &graphdriver()).unwrap().driver, "remote");
    // load and push with a standalone BuildKit: two exporters, the docker tar is loaded.
    req.load = true;
    req.push = true;
    let caps = choose(&req, &graphdriver()).unwrap();
    assert_eq!(
        output_destination(&req, &caps),
        Some(OutputDestination::DaemonLoad)
    );
    let solve = solve_request(&req, &caps, &INPUTS);
    let kinds: Vec<&str> = solve.exporters.iter().map(|e| e.r#type.as_str()).collect();
    assert_eq!(kinds, ["image", "docker"]);
    assert_eq!(solve.exporter_deprecated, "");
}

#[test]
fn tar_outputs_go_through_the_session_to_their_dest() {
    let req = plan_of(&[("tags", "r/a:1"), ("outputs", "type=tar,dest=/tmp/out.tar")]);
    let mut req = req;
    let caps = choose(&req, &graphdriver()).unwrap();
    assert_eq!(caps.driver, "docker");
    assert_eq!(
        output_destination(&req, &caps),
        Some(OutputDestination::File("/tmp/out.tar".into()))
    );
    let solve = solve_request(&req, &caps, &INPUTS);
    assert_eq!(solve.exporter_deprecated, "tar");
    assert!(
        solve.exporter_attrs_deprecated.is_empty(),
        "{:?}",
        solve.exporter_attrs_deprecated
    );

    req.outputs[0].kind = OutputType::Oci;
    assert_eq!(
        choose(&req, &graphdriver()).unwrap().driver,
        "docker-container"
    );
    req.driver = DriverChoice::Docker;
    let msg = choose(&req, &graphdriver()).unwrap_err().to_string();
    assert!(msg.contains("outputs type=oci is not supported"), "{msg}");
    req.outputs[0].attrs.clear();
    req.driver = DriverChoice::Remote {
        endpoint: "tcp://127.0.0.1:1".into(),
    };
    let msg = choose(&req, &graphdriver()).unwrap_err().to_string();
    assert!(msg.contains("needs dest=PATH"), "{msg}");
}

#[test]
fn inputs_this_buildkit_cannot_honour_are_errors() {
    let facts = graphdriver();
    let cases: Vec<(BuildPlan, &str)> = vec![
        (
            plan_of(&[("platforms", "linux/amd64,linux/arm64")]),
            "platforms",
        ),
        (plan_of(&[("attests", "type=sbom")]), "attestations"),
        (plan_of(&[("annotations", "a=b")]), "annotations"),
        (plan_of(&[("call", "check")]), "call"),
        (
            plan_of(&[("cache-to", "type=inline\ntype=inline")]),
            "takes one",
        ),
        (
            plan_of(&[("build-contexts", "x=docker-image://a")]),
            "build-contexts",
        ),
        // Local cache import works here (the session's content store); export does not.
        (
            plan_of(&[("cache-to", "type=local,dest=/tmp/c")]),
            "cache-to type=local is not supported (needs a BuildKit outside",
        ),
        (
            plan_of(&[("build-contexts", "lib=../lib")]),
            "build-contexts need BuildKit 0.10",
        ),
    ];
    for (mut req, needle) in cases {
        req.driver = DriverChoice::Docker;
        let msg = choose(&req, &facts).unwrap_err().to_string();
        assert!(msg.contains(needle), "{needle}: {msg}");
    }
}
