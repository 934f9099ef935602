//! Docker's documented GitHub Actions recipes that touch exporters, attestations, `call`
//! and the lenient inputs (issue 27 items 3, 5 and 7), each run as the action with only
//! `uses:` changed: the recipe's inputs as `INPUT_*` through the runner emulation, against
//! the real registry. Where buildx runs here (the Docker 28 lane: docker 28.5, containerd
//! image store, buildx 0.29.1) the same inputs go through `docker buildx build` as
//! build-push-action passes them, and what is pushed is compared.
//!
//! Recipes (docs.docker.com/build/ci/github-actions/): "Distribute build across multiple
//! runners" (push by digest per platform, merge with `imagetools create`), "Local
//! registry" (push, then `imagetools inspect`), "Attestations" (default provenance),
//! "Validating build configuration" (`call: check`), "Export to Docker" (`load`),
//! "Cache management" (registry cache with the lenient `cache-from ...,mode=max`),
//! "Reproducible builds" (`SOURCE_DATE_EPOCH`, `rewrite-timestamp=true`). Secrets recipe:
//! only its lenient paths (an entry without `=`, a missing file) are here.
//!
//! Cannot run here: the recipes as written use `setup-buildx-action` (a BuildKit container
//! pulled from Docker Hub; no image can be pulled); driver docker on the Docker 28 lane
//! runs them instead. buildx refuses push-by-digest on driver docker, so that recipe has
//! no buildx side to compare with.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should panic

mod engine_support;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use engine_support::{plan_in, required, unique};
use layercache::action::names::INPUTS;
use layercache::engine::{Capabilities, DaemonFacts, SolveInputs, solve_request};
use serde_json::Value;
use support::runner::{Step, StepResult};

const RUN_URL: &str = "https://github.com/octo/app/actions/runs/5/attempts/1";

/// The Docker 28 lane: its daemon, buildx and the registry.
struct Lane {
    host: String,
    buildx: String,
    registry: String,
}

fn lane() -> Lane {
    Lane {
        host: required("LAYERCACHE_TEST_DOCKER28_HOST"),
        buildx: required("LAYERCACHE_TEST_DOCKER28_BUILDX"),
        registry: required("LAYERCACHE_TEST_REGISTRY"),
    }
}

/// A runner step of a public repository's workflow run, on the lane's daemon.
fn step(lane: &Lane, dockerfile: &str, inputs: &[(&str, &str)]) -> Step {
    let declared: Vec<_> = INPUTS.iter().map(|s| (s.name, s.default)).collect();
    let mut s = Step::new(&declared);
    std::fs::write(s.workspace().join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(s.workspace().join("hello"), "hello\n").unwrap();
    let event = s.dir.path().join("workflow/event.json");
    std::fs::write(&event, r#"{"repository":{"private":false}}"#).unwrap();
    s.set("DOCKER_HOST", &lane.host)
        .set("GITHUB_EVENT_PATH", &event.display().to_string())
        .set("GITHUB_RUN_ID", "5")
        .set("GITHUB_RUN_ATTEMPT", "1");
    for (k, v) in inputs {
        s.input(k, v);
    }
    s
}

fn ctx(r: &StepResult) -> String {
    format!("stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr)
}

fn run_ok(s: &Step) -> StepResult {
    let r = s.run(&["action"]);
    assert_eq!(r.code(), 0, "{}", ctx(&r));
    r
}

/// The lane's docker CLI (with buildx), on the lane's daemon.
fn docker(lane: &Lane, args: &[&str], dir: &Path) -> String {
    let out = Command::new(&lane.buildx)
        .args(args)
        .env("DOCKER_HOST", &lane.host)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "docker {args:?}:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn raw_manifest(lane: &Lane, reference: &str) -> Value {
    let dir = std::env::temp_dir();
    let text = docker(
        lane,
        &["buildx", "imagetools", "inspect", "--raw", reference],
        &dir,
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{reference}: {e}: {text}"))
}

/// What a pushed index holds, for comparing two pushes: its media type; per manifest the
/// media type, platform and reference type; per image its config labels; per attestation
/// the predicate types of its layers.
fn pushed_shape(lane: &Lane, repo: &str, digest: &str) -> Value {
    let index = raw_manifest(lane, &format!("{repo}@{digest}"));
    let mut manifests = Vec::new();
    let mut labels = BTreeMap::new();
    let mut predicates = BTreeSet::new();
    // A single image manifest is its own only entry.
    let single = [serde_json::json!({
        "mediaType": index["mediaType"],
        "digest": digest,
        "platform": {},
    })];
    let entries = match index["manifests"].as_array() {
        Some(list) => list.as_slice(),
        None => &single,
    };
    for m in entries {
        let platform = format!(
            "{}/{}",
            m["platform"]["os"].as_str().unwrap_or(""),
            m["platform"]["architecture"].as_str().unwrap_or("")
        );
        let kind = m["annotations"]["vnd.docker.reference.type"]
            .as_str()
            .unwrap_or("image")
            .to_owned();
        manifests.push(serde_json::json!([m["mediaType"], platform, kind]));
        let inner = raw_manifest(lane, &format!("{repo}@{}", m["digest"].as_str().unwrap()));
        if kind == "attestation-manifest" {
            for l in inner["layers"].as_array().into_iter().flatten() {
                if let Some(p) = l["annotations"]["in-toto.io/predicate-type"].as_str() {
                    predicates.insert(p.to_owned());
                }
            }
        } else {
            let config = docker(
                lane,
                &[
                    "buildx",
                    "imagetools",
                    "inspect",
                    &format!("{repo}@{}", m["digest"].as_str().unwrap()),
                    "--format",
                    "{{json .Image}}",
                ],
                &std::env::temp_dir(),
            );
            let config: Value = serde_json::from_str(&config).unwrap();
            labels.insert(platform, config["config"]["Labels"].clone());
        }
    }
    serde_json::json!({
        "mediaType": index["mediaType"],
        "manifests": manifests,
        "labels": labels,
        "predicates": predicates,
    })
}

fn metadata(r: &StepResult) -> Value {
    serde_json::from_str(&r.outputs()["metadata"]).unwrap()
}

const COPY_ONLY: &str = "FROM scratch\nCOPY hello /hello\n";

/// "Distribute build across multiple runners": each platform built and pushed by digest
/// (both spellings of the recipe: `tags` + outputs without a name, and the older
/// `outputs: type=image,name=...`), the digests read from `steps.build.outputs.digest`,
/// then merged with `docker buildx imagetools create` and inspected.
#[test]
fn docker28_lane_push_by_digest_per_platform_then_imagetools_create() {
    let lane = lane();
    let repo = format!("{}/{}", lane.registry, unique("lc-dist"));
    let mut digests = Vec::new();
    let named = format!("type=image,name={repo},push-by-digest=true,name-canonical=true,push=true");
    for (platform, inputs) in [
        (
            "linux/amd64",
            vec![
                ("platforms", "linux/amd64"),
                ("labels", "org.opencontainers.image.title=dist"),
                ("tags", repo.as_str()),
                (
                    "outputs",
                    "type=image,push-by-digest=true,name-canonical=true,push=true",
                ),
            ],
        ),
        (
            "linux/arm64",
            vec![
                ("platforms", "linux/arm64"),
                ("labels", "org.opencontainers.image.title=dist"),
                ("outputs", named.as_str()),
            ],
        ),
    ] {
        let r = run_ok(&step(&lane, COPY_ONLY, &inputs));
        let out = r.outputs();
        let digest = out["digest"].clone();
        assert!(digest.starts_with("sha256:"), "{platform}: {out:?}");
        let m = metadata(&r);
        assert_eq!(m["containerimage.digest"], digest.as_str(), "{m}");
        assert_eq!(m["image.name"], repo.as_str(), "{m}");
        // Pushed by digest: the digest resolves, and no tag was made.
        let pushed = raw_manifest(&lane, &format!("{repo}@{digest}"));
        let platforms: Vec<&str> = pushed["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["platform"]["architecture"].as_str())
            .filter(|a| *a != "unknown")
            .collect();
        assert_eq!(platforms, [platform.split('/').nth(1).unwrap()], "{pushed}");
        digests.push(digest);
    }
    let tags = http_get(
        &lane.registry,
        &format!("/v2/{}/tags/list", repo_path(&repo)),
    );
    assert!(!tags.contains("latest"), "pushed by digest only: {tags}");

    // The merge job, as the recipe writes it.
    let sources: Vec<String> = digests.iter().map(|d| format!("{repo}@{d}")).collect();
    let mut args = vec!["buildx", "imagetools", "create", "-t"];
    let merged = format!("{repo}:latest");
    args.push(&merged);
    args.extend(sources.iter().map(String::as_str));
    docker(&lane, &args, &std::env::temp_dir());
    let index = raw_manifest(&lane, &merged);
    let mut archs: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["platform"]["architecture"].as_str())
        .filter(|a| *a != "unknown")
        .collect();
    archs.sort_unstable();
    assert_eq!(archs, ["amd64", "arm64"], "{index}");
    // Each leg's provenance came along (public repository: mode=max).
    let attestations = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["annotations"]["vnd.docker.reference.type"] == "attestation-manifest")
        .count();
    assert_eq!(attestations, 2, "{index}");
}

/// One push through the action and one through `docker buildx build` given the arguments
/// build-push-action passes for the same inputs (`attest` as it computes it, `--push`,
/// `--label`, `--metadata-file`), in the same environment; returns both pushed shapes
/// and both metadata documents.
fn push_both(
    lane: &Lane,
    private: bool,
    env: &[(&str, &str)],
    attest: Option<&str>,
) -> [(Value, Value); 2] {
    let repo = format!("{}/{}", lane.registry, unique("lc-cmp"));
    let labels = "org.opencontainers.image.title=cmp\norg.opencontainers.image.version=1";
    let ours_tag = format!("{repo}:layercache");
    let mut s = step(
        lane,
        COPY_ONLY,
        &[("tags", &ours_tag), ("labels", labels), ("push", "true")],
    );
    for (k, v) in env {
        s.set(k, v);
    }
    if private {
        let event = s.dir.path().join("workflow/private.json");
        std::fs::write(&event, r#"{"repository":{"private":true}}"#).unwrap();
        s.set("GITHUB_EVENT_PATH", &event.display().to_string());
    }
    let r = run_ok(&s);
    let ours_digest = r.outputs()["digest"].clone();
    let ours_meta = metadata(&r);

    let theirs_tag = format!("{repo}:buildx");
    let meta_file = s.dir.path().join("buildx-metadata.json");
    let meta_arg = meta_file.display().to_string();
    let mut args = vec!["buildx", "build", "--builder", "default"];
    if let Some(a) = attest {
        args.extend(["--attest", a]);
    }
    args.extend([
        "--label",
        "org.opencontainers.image.title=cmp",
        "--label",
        "org.opencontainers.image.version=1",
        "--push",
        "-t",
        &theirs_tag,
        "--metadata-file",
        &meta_arg,
        ".",
    ]);
    let out = Command::new(&lane.buildx)
        .args(&args)
        .env("DOCKER_HOST", &lane.host)
        .envs(env.iter().copied())
        .current_dir(s.workspace())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs_meta: Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_file).unwrap()).unwrap();
    let theirs_digest = theirs_meta["containerimage.digest"].as_str().unwrap();
    [
        (pushed_shape(lane, &repo, &ours_digest), ours_meta),
        (pushed_shape(lane, &repo, theirs_digest), theirs_meta),
    ]
}

fn keys(m: &Value) -> BTreeSet<String> {
    m.as_object().unwrap().keys().cloned().collect()
}

fn has_provenance(shape: &Value) -> bool {
    shape["predicates"].as_array().unwrap().iter().any(|p| {
        p.as_str()
            .unwrap()
            .starts_with("https://slsa.dev/provenance/")
    })
}

/// "Local registry" and "Attestations": `push: true` with tags and labels, and the default
/// provenance of a public repository (build-push-action: `--attest type=provenance,
/// mode=max,builder-id=<run>`). Same index and manifest media types, platforms, labels,
/// attestation predicate types and metadata keys as buildx's push.
#[test]
fn docker28_lane_push_matches_buildx_for_the_same_inputs() {
    let lane = lane();
    let attest = format!("type=provenance,mode=max,builder-id={RUN_URL}");
    let [(ours, ours_meta), (theirs, theirs_meta)] = push_both(&lane, false, &[], Some(&attest));
    assert_eq!(ours, theirs, "what we pushed vs what buildx pushed");
    assert!(has_provenance(&ours), "{ours}");
    assert_eq!(keys(&ours_meta), keys(&theirs_meta), "metadata keys");
}

/// A private repository: build-push-action asks for `mode=min,inline-only=true`.
#[test]
fn docker28_lane_private_repository_push_matches_buildx() {
    let lane = lane();
    let attest = format!("type=provenance,mode=min,inline-only=true,builder-id={RUN_URL}");
    let [(ours, _), (theirs, _)] = push_both(&lane, true, &[], Some(&attest));
    assert_eq!(ours, theirs);
    assert!(has_provenance(&ours), "{ours}");
}

/// `BUILDX_NO_DEFAULT_ATTESTATIONS=1`: build-push-action passes no `--attest` and buildx
/// adds none; neither push carries an attestation.
#[test]
fn docker28_lane_no_default_attestations_matches_buildx() {
    let lane = lane();
    let [(ours, ours_meta), (theirs, theirs_meta)] = push_both(
        &lane,
        false,
        &[("BUILDX_NO_DEFAULT_ATTESTATIONS", "1")],
        None,
    );
    assert_eq!(ours, theirs);
    assert!(!has_provenance(&ours), "{ours}");
    assert_eq!(keys(&ours_meta), keys(&theirs_meta), "metadata keys");
}

/// "Reproducible builds": `SOURCE_DATE_EPOCH` in the step's environment and
/// `rewrite-timestamp=true` on the exporter give an image created at that time.
#[test]
fn docker28_lane_source_date_epoch_and_rewrite_timestamp_reach_buildkit() {
    let lane = lane();
    let repo = format!("{}/{}", lane.registry, unique("lc-repro"));
    let mut s = step(
        &lane,
        COPY_ONLY,
        &[
            ("tags", &format!("{repo}:1")),
            ("outputs", "type=registry,rewrite-timestamp=true"),
        ],
    );
    s.set("SOURCE_DATE_EPOCH", "1700000000");
    let r = run_ok(&s);
    let digest = r.outputs()["digest"].clone();
    let index = raw_manifest(&lane, &format!("{repo}@{digest}"));
    let image = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] != "unknown")
        .unwrap();
    let config = docker(
        &lane,
        &[
            "buildx",
            "imagetools",
            "inspect",
            &format!("{repo}@{}", image["digest"].as_str().unwrap()),
            "--format",
            "{{json .Image}}",
        ],
        &std::env::temp_dir(),
    );
    let config: Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["created"], "2023-11-14T22:13:20Z", "{config}");
}

/// "Cache management", registry cache: the recipe's entries plus the `mode=max` people
/// copy into `cache-from` (buildx hands it on; the importer ignores it), and an
/// `outputs: type=cacheonly` build that exports only the cache.
#[test]
fn docker28_lane_registry_cache_with_lenient_attributes_and_cacheonly() {
    let lane = lane();
    let repo = format!("{}/{}", lane.registry, unique("lc-cache"));
    let cache = format!("{repo}:buildcache");
    let dockerfile = "FROM scratch\nCOPY hello /hello\nCOPY hello /again\n";
    let from = format!("type=registry,ref={cache},mode=max");
    let to = format!("type=registry,ref={cache},mode=max");
    let r = run_ok(&step(
        &lane,
        dockerfile,
        &[
            ("outputs", "type=cacheonly"),
            ("cache-from", &from),
            ("cache-to", &to),
        ],
    ));
    // cacheonly: no image, so no digest; the cache manifest is in the registry.
    assert_eq!(r.outputs()["digest"], "", "{}", ctx(&r));
    let cache_manifest = raw_manifest(&lane, &cache);
    assert!(cache_manifest["mediaType"].is_string(), "{cache_manifest}");
    // A second build, pushed, imports from it.
    let tag = format!("{repo}:1");
    let r = run_ok(&step(
        &lane,
        dockerfile,
        &[
            ("tags", &tag),
            ("push", "true"),
            ("cache-from", &from),
            ("no-cache", "false"),
        ],
    ));
    assert!(r.outputs()["digest"].starts_with("sha256:"), "{}", ctx(&r));
}

/// "Validating build configuration with checks": `call: check,format=json` prints the
/// frontend's JSON as buildx does, and a flagged check fails the step as buildx fails it.
#[test]
fn docker28_lane_call_check_format_json_like_buildx() {
    let lane = lane();
    let flagged = "FROM scratch as base\nCOPY hello /hello\n";
    let s = step(&lane, flagged, &[("call", "check,format=json")]);
    let r = s.run(&["action"]);
    assert_eq!(r.code(), 1, "{}", ctx(&r));
    let out = Command::new(&lane.buildx)
        .args(["buildx", "build", "--builder", "default"])
        .args(["--call", "check,format=json", "."])
        .env("DOCKER_HOST", &lane.host)
        .current_dir(s.workspace())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "buildx fails it too");
    let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = |v: &Value| -> Vec<String> {
        v["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|w| w["ruleName"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    // The answer is printed whole, between a line "{" and a line "}".
    let lines: Vec<&str> = r.stdout.lines().collect();
    let start = lines.iter().position(|l| *l == "{");
    let end = lines.iter().rposition(|l| *l == "}");
    let ours: Value = match (start, end) {
        (Some(a), Some(b)) => serde_json::from_str(&lines[a..=b].join("\n")).unwrap(),
        _ => panic!("no JSON answer: {}", ctx(&r)),
    };
    assert_eq!(rules(&ours), rules(&theirs), "{ours}\n{theirs}");
    assert!(rules(&ours).contains(&"FromAsCasing".to_owned()));
    // ignorestatus=true reports without failing.
    let s = step(&lane, flagged, &[("call", "check,ignorestatus=true")]);
    run_ok(&s);
}

/// "Export to Docker": `load: true`, then the image is in the daemon as `docker buildx
/// build --load` leaves it: the same kind of descriptor, the same manifests (an image and
/// buildx's default `mode=min` provenance, which build-push-action leaves to buildx for
/// `load`), `imageid` the id the daemon shows, and the same metadata keys.
#[test]
fn docker28_lane_load_matches_buildx() {
    let lane = lane();
    let ours_tag = format!("{}:latest", unique("lc-load"));
    let s = step(&lane, COPY_ONLY, &[("load", "true"), ("tags", &ours_tag)]);
    let r = run_ok(&s);
    let theirs_tag = format!("{}:latest", unique("bx-load"));
    let meta_file = s.dir.path().join("buildx-metadata.json");
    let meta_arg = meta_file.display().to_string();
    docker(
        &lane,
        &[
            "buildx",
            "build",
            "--builder",
            "default",
            "--load",
            "-t",
            &theirs_tag,
            "--metadata-file",
            &meta_arg,
            ".",
        ],
        &s.workspace(),
    );
    let stored = |tag: &str| {
        let image = daemon_get(&lane, &format!("/v1.48/images/{tag}/json?manifests=1"));
        let kinds: Vec<Value> = image["Manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| serde_json::json!([m["Kind"], m["Descriptor"]["mediaType"]]))
            .collect();
        (
            image["Id"].clone(),
            image["Descriptor"]["mediaType"].clone(),
            kinds,
        )
    };
    let (ours_id, ours_type, ours_kinds) = stored(&ours_tag);
    let (_, theirs_type, theirs_kinds) = stored(&theirs_tag);
    assert_eq!((&ours_type, &ours_kinds), (&theirs_type, &theirs_kinds));
    assert!(
        ours_kinds.iter().any(|k| k[0] == "attestation"),
        "{ours_kinds:?}"
    );
    assert_eq!(r.outputs()["imageid"], ours_id.as_str().unwrap());
    let theirs_meta: Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_file).unwrap()).unwrap();
    assert_eq!(keys(&metadata(&r)), keys(&theirs_meta), "metadata keys");
    let tmp = std::env::temp_dir();
    docker(&lane, &["image", "rm", &ours_tag, &theirs_tag], &tmp);
}

/// One GET to the lane's Docker API (its unix socket), as JSON.
fn daemon_get(lane: &Lane, path: &str) -> Value {
    use std::io::{Read, Write};
    let socket = lane.host.trim_start_matches("unix://");
    let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
}

/// A throwaway ed25519 key made for these tests (`ssh-keygen -t ed25519 -N ""`).
const TEST_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACAjJDa0MIw+MXmgIAW8lSTRKmkiAR9bU8BaiCKS4xhikgAAAJAsMC3gLDAt
4AAAAAtzc2gtZWQyNTUxOQAAACAjJDa0MIw+MXmgIAW8lSTRKmkiAR9bU8BaiCKS4xhikg
AAAEAXmw9BLOx6hunptCqtBCtmKBW8Vp6Ji4cnvOTMh1nMQCMkNrQwjD4xeaAgBbyVJNEq
aSIBH1tTwFqIIpLjGGKSAAAACHRlc3Qta2V5AQIDBAU=
-----END OPENSSH PRIVATE KEY-----
";

/// "Secrets and SSH": `ssh: default=/path/key` (a key file, not an agent) is served to
/// `RUN --mount=type=ssh` by an agent of the action's own, as buildx serves it.
#[test]
fn docker28_lane_ssh_key_file_is_served_as_an_agent() {
    let lane = lane();
    let base = required("LAYERCACHE_TEST_DOCKER28_BASE_IMAGE");
    let dockerfile = format!(
        "FROM {base}\nRUN --mount=type=ssh,required=true test -S \"$SSH_AUTH_SOCK\" && echo agent-ok\n"
    );
    let mut s = step(&lane, &dockerfile, &[("no-cache", "true")]);
    let key = s.dir.path().join("runner_temp/id_ed25519");
    std::fs::write(&key, TEST_KEY).unwrap();
    s.input("ssh", &format!("default={}", key.display()));
    let r = run_ok(&s);
    assert!(r.stdout.contains("agent-ok"), "{}", ctx(&r));
    assert!(!r.stdout.contains("PRIVATE KEY"), "{}", ctx(&r));
    // A key that cannot be used is an error naming the input, before any build.
    std::fs::write(&key, "-----BEGIN OPENSSH PRIVATE KEY-----\nbroken\n").unwrap();
    let r = s.run(&["action"]);
    assert_eq!(r.code(), 2, "{}", ctx(&r));
    let errors = r.named("error");
    assert!(
        errors[0].data.starts_with("ssh: default: ") && !errors[0].data.contains("broken"),
        "{errors:?}"
    );
}

fn repo_path(repo: &str) -> &str {
    repo.split_once('/').map_or(repo, |(_, p)| p)
}

/// A plain HTTP GET to the test registry (no client crate needed for one call).
fn http_get(host: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

// What BuildKit receives, without a daemon: every exporter attribute and the provenance
// rule, for the drivers the lanes have.

const INPUTS_SOLVE: SolveInputs<'static> = SolveInputs {
    build_ref: "r",
    session_id: "s",
    remote_context: None,
    dockerfile_name: "Dockerfile",
};

const PUBLIC_RUN: &[(&str, &str)] = &[
    ("GITHUB_ACTIONS", "true"),
    ("GITHUB_SERVER_URL", "https://github.com"),
    ("GITHUB_REPOSITORY", "octo/app"),
    ("GITHUB_RUN_ID", "5"),
    ("GITHUB_RUN_ATTEMPT", "1"),
];

fn containerd28() -> DaemonFacts {
    DaemonFacts {
        containerd_store: true,
        engine_major: 28,
        engine_version: "28.5.2".into(),
        rootless: false,
    }
}

fn exporters(
    inputs: &[(&str, &str)],
    caps: &Capabilities,
) -> Vec<(String, BTreeMap<String, String>)> {
    let plan = plan_in(inputs, PUBLIC_RUN);
    let solve = solve_request(&plan, caps, &INPUTS_SOLVE);
    let mut list: Vec<_> = solve
        .exporters
        .iter()
        .map(|e| (e.r#type.clone(), e.attrs.clone().into_iter().collect()))
        .collect();
    if !solve.exporter_deprecated.is_empty() {
        list.push((
            solve.exporter_deprecated.clone(),
            solve
                .exporter_attrs_deprecated
                .clone()
                .into_iter()
                .collect(),
        ));
    }
    list
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Inputs, the BuildKit they go to, and the exporters (type, attributes) it must get.
type ExporterCase<'a> = (
    &'a [(&'a str, &'a str)],
    &'a Capabilities,
    &'a [(&'a str, &'a [(&'a str, &'a str)])],
);

#[test]
fn every_output_attribute_reaches_the_solve_request() {
    let standalone = Capabilities::standalone("docker-container");
    let d28 = Capabilities::docker(&containerd28());
    let cases: &[ExporterCase<'_>] = &[
        (
            &[
                ("tags", "r.io/app"),
                (
                    "outputs",
                    "type=image,push-by-digest=true,name-canonical=true,push=true",
                ),
            ],
            &standalone,
            &[(
                "image",
                &[
                    ("name", "r.io/app"),
                    ("push", "true"),
                    ("push-by-digest", "true"),
                    ("name-canonical", "true"),
                ],
            )],
        ),
        // Driver docker on the containerd store: BuildKit's own image exporter pushes
        // by digest (the daemon's moby exporter would tag it).
        (
            &[(
                "outputs",
                "type=image,name=r.io/app,push-by-digest=true,name-canonical=true,push=true",
            )],
            &d28,
            &[(
                "image",
                &[
                    ("name", "r.io/app"),
                    ("push", "true"),
                    ("push-by-digest", "true"),
                    ("name-canonical", "true"),
                ],
            )],
        ),
        (
            &[
                ("tags", "r.io/app:1"),
                (
                    "outputs",
                    "type=registry,compression=zstd,compression-level=3,force-compression=true,oci-mediatypes=true",
                ),
            ],
            &standalone,
            &[(
                "image",
                &[
                    ("name", "r.io/app:1"),
                    ("push", "true"),
                    ("unpack", "false"),
                    ("compression", "zstd"),
                    ("compression-level", "3"),
                    ("force-compression", "true"),
                    ("oci-mediatypes", "true"),
                ],
            )],
        ),
        (
            &[("tags", "r.io/app:1"), ("push", "true")],
            &d28,
            &[(
                "moby",
                &[
                    ("name", "r.io/app:1"),
                    ("push", "true"),
                    ("unpack", "false"),
                    // buildx's docker driver on the containerd store.
                    ("prefer-image-digest", "true"),
                ],
            )],
        ),
        (
            &[("outputs", "type=oci,dest=/tmp/o.tar,rewrite-timestamp=true")],
            &standalone,
            &[("oci", &[("rewrite-timestamp", "true")])],
        ),
        (&[("outputs", "type=cacheonly")], &standalone, &[]),
    ];
    for (inputs, caps, want) in cases {
        let want: Vec<(String, BTreeMap<String, String>)> = want
            .iter()
            .map(|(t, a)| ((*t).to_owned(), map(a)))
            .collect();
        assert_eq!(
            &exporters(inputs, caps),
            &want,
            "{inputs:?} on {}",
            caps.driver
        );
    }
}

#[test]
fn provenance_is_what_build_push_action_and_buildx_ask_for() {
    let standalone = Capabilities::standalone("docker-container");
    let attr = |inputs: &[(&str, &str)], env: &[(&str, &str)]| {
        let mut all = PUBLIC_RUN.to_vec();
        all.extend_from_slice(env);
        let plan = plan_in(inputs, &all);
        solve_request(&plan, &standalone, &INPUTS_SOLVE)
            .frontend_attrs
            .get("attest:provenance")
            .cloned()
    };
    let push = [("tags", "r.io/a"), ("push", "true")];
    assert_eq!(
        attr(&push, &[]).as_deref(),
        Some(format!("type=provenance,builder-id={RUN_URL},mode=max").as_str())
    );
    assert_eq!(
        attr(&push, &[("LAYERCACHE_REPOSITORY_PRIVATE", "true")]).as_deref(),
        Some(format!("type=provenance,builder-id={RUN_URL},inline-only=true,mode=min").as_str())
    );
    // Loaded into the daemon: build-push-action asks for none, buildx adds its own.
    assert_eq!(
        attr(&[("load", "true")], &[]).as_deref(),
        Some("mode=min,inline-only=true")
    );
    assert_eq!(
        attr(&push, &[("BUILDX_NO_DEFAULT_ATTESTATIONS", "1")]),
        None
    );
    assert_eq!(
        attr(
            &[("load", "true")],
            &[("BUILDX_NO_DEFAULT_ATTESTATIONS", "true")]
        ),
        None
    );
    assert_eq!(
        attr(
            &[
                ("provenance", "false"),
                ("push", "true"),
                ("tags", "r.io/a")
            ],
            &[]
        ),
        None
    );
    assert_eq!(
        attr(
            &[
                ("provenance", "mode=max"),
                ("push", "true"),
                ("tags", "r.io/a")
            ],
            &[]
        )
        .as_deref(),
        Some(format!("type=provenance,builder-id={RUN_URL},mode=max").as_str())
    );
    // SOURCE_DATE_EPOCH from the environment is a build argument, as buildx passes it.
    let plan = plan_in(&[], &[("SOURCE_DATE_EPOCH", "1700000000")]);
    let solve = solve_request(&plan, &standalone, &INPUTS_SOLVE);
    assert_eq!(
        solve
            .frontend_attrs
            .get("build-arg:SOURCE_DATE_EPOCH")
            .map(String::as_str),
        Some("1700000000")
    );
}

/// The secrets recipe's lenient paths: an entry without `=` and a missing file are left
/// out with a warning that names them (by number for `secrets`), never showing a value.
#[test]
fn secrets_without_a_value_or_file_are_warnings_that_show_no_value() {
    let canary = "canary-3f7b19";
    let declared: Vec<_> = INPUTS.iter().map(|s| (s.name, s.default)).collect();
    let mut s = Step::new(&declared);
    std::fs::write(s.workspace().join("Dockerfile"), COPY_ONLY).unwrap();
    let present = s.dir.path().join("runner_temp/present");
    std::fs::write(&present, "file-secret").unwrap();
    s.input("secrets", &format!("GOOD=1\n{canary}")).input(
        "secret-files",
        &format!("present={}\nabsent=/nonexistent/key", present.display()),
    );
    let r = s.run(&["action", "--dry-run"]);
    assert_eq!(r.code(), 0, "{}", ctx(&r));
    let warnings: Vec<String> = r.named("warning").into_iter().map(|c| c.data).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("secrets: entry 2 is not id=value")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("secret \"absent\"") && w.contains("/nonexistent/key")),
        "{warnings:?}"
    );
    let masked = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("::add-mask::"))
        .count();
    let rest: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    assert!(masked > 0);
    for (what, text) in [("log", rest.join("\n")), ("stderr", r.stderr.clone())] {
        assert!(!text.contains(canary), "canary in {what}: {text}");
    }
    for (file, text) in r.runner_files() {
        assert!(!text.contains(canary), "canary in {file}");
    }
}
