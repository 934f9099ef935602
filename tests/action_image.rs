//! The action image, run the way GitHub's runner runs a container action
//! (docs/runner-contract.md § Starting the container): `docker run` with the runner's
//! flags, mounts and environment, then the file commands read back with the runner's rules.
//!
//! Needs `LAYERCACHE_TEST_ACTION_IMAGE` (built from `Dockerfile` by scripts/test.sh) and
//! `LAYERCACHE_TEST_DOCKER_HOST` (the dockerd that holds it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should panic

#[path = "action_image/runner.rs"]
mod runner;
mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use runner::{Step, required_env};
use support::runner::commands as workflow_commands;

/// The image's size limit (docs/release.md), also checked by scripts/lib/image.sh.
const MAX_IMAGE_BYTES: u64 = 15_000_000;

fn image() -> String {
    required_env("LAYERCACHE_TEST_ACTION_IMAGE")
}

/// A runtime token shaped like the runner's: a JWT whose `ac` claim is a JSON *string*.
/// The signature part is a canary that must never leak.
fn runtime_token(canary: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
    let ac = r#"[{"Scope":"refs/heads/main","Permission":3}]"#;
    let claims = serde_json::json!({ "ac": ac, "iss": "vstoken.actions.githubusercontent.com" });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.{canary}")
}

fn assert_success(result: &runner::StepResult, what: &str) {
    assert_eq!(
        result.status,
        Some(0),
        "{what} failed\n--- stdout\n{}\n--- stderr\n{}",
        result.stdout,
        result.stderr
    );
}

#[test]
fn help_lists_the_subcommands() {
    let step = Step::new();
    let result = step.run(&image(), &["--help"]);
    assert_success(&result, "layercache --help");
    for subcommand in ["action", "expose"] {
        assert!(
            result
                .stdout
                .lines()
                .any(|l| l.trim_start().starts_with(subcommand)),
            "--help does not list `{subcommand}`:\n{}",
            result.stdout
        );
    }
}

/// With no arguments the image runs its CMD, `action`: in an empty workspace (nothing to
/// build) it fails the step with an error annotation, and leaves files the runner accepts.
#[test]
fn default_command_is_the_action() {
    let step = Step::new();
    let result = step.run(&image(), &[]);
    assert_ne!(result.status, Some(0), "the action ran without any inputs");
    let output = format!("{}{}", result.stdout, result.stderr);
    assert!(
        workflow_commands(&output).iter().any(|c| c.name == "error"),
        "no ::error:: annotation:\n{output}"
    );
    for file in ["GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_STATE"] {
        step.pairs(file);
    }
}

#[test]
fn expose_hands_the_runtime_to_later_steps() {
    let canary = "canary-3c1d9e0b7f5a4e21";
    let token = runtime_token(canary);
    let mut step = Step::new();
    step.set("ACTIONS_RUNTIME_TOKEN", &token)
        .set(
            "ACTIONS_RUNTIME_URL",
            "https://pipelines.actions.githubusercontent.com/abc/",
        )
        .set(
            "ACTIONS_RESULTS_URL",
            "https://results-receiver.actions.githubusercontent.com/",
        )
        .set(
            "ACTIONS_CACHE_URL",
            "https://artifactcache.actions.githubusercontent.com/abc/",
        )
        .set("ACTIONS_UNRELATED", "must-not-be-exposed");
    let result = step.run(&image(), &["expose"]);
    assert_success(&result, "layercache expose");

    let env = step.pairs("GITHUB_ENV");
    let get = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("ACTIONS_RUNTIME_TOKEN"), Some(token.as_str()));
    assert_eq!(
        get("ACTIONS_RUNTIME_URL"),
        Some("https://pipelines.actions.githubusercontent.com/abc/")
    );
    assert_eq!(
        get("ACTIONS_RESULTS_URL"),
        Some("https://results-receiver.actions.githubusercontent.com/")
    );
    assert_eq!(
        get("ACTIONS_CACHE_URL"),
        Some("https://artifactcache.actions.githubusercontent.com/abc/")
    );
    // ACTIONS_RESULTS_URL without GHES means cache v2, which container actions never get
    // told (docs/cache-protocol.md § Choosing a protocol version): exposure must say so for
    // a later `docker buildx` step.
    assert_eq!(get("ACTIONS_CACHE_SERVICE_V2"), Some("true"));
    assert_eq!(
        get("ACTIONS_UNRELATED"),
        None,
        "exposed a variable outside the allow-list"
    );
    for (name, _) in &env {
        assert!(
            name.starts_with("ACTIONS_"),
            "unexpected GITHUB_ENV record {name}"
        );
    }
    let output = format!("{}\n{}", result.stdout, result.stderr);
    // The token's `ac` claim is decoded (not verified) and its refs are logged.
    assert!(
        output.contains("refs/heads/main"),
        "the token's cache refs are not logged:\n{output}"
    );
    assert_canary_masked(&output, canary);
}

/// The canary may appear in the output only inside `::add-mask::`, and no later than the
/// first mask (the runner masks output after the command only).
fn assert_canary_masked(output: &str, canary: &str) {
    let mut masked = false;
    for line in output.lines() {
        let is_mask = line.trim_start().starts_with("::add-mask::");
        if is_mask && line.contains(canary) {
            masked = true;
        } else if line.contains(canary) {
            panic!("the token leaked (masked before: {masked}) in: {line}");
        }
    }
    assert!(masked, "the runtime token was never masked:\n{output}");
}

/// Outside a job with a cache service, expose succeeds (never fails a workflow for a
/// missing cache) and exposes nothing. Whether it also warns is the runtime's choice
/// (it warns only once `gha` is asked for), so only an error annotation is ruled out.
#[test]
fn expose_without_a_cache_service_warns_and_exposes_nothing() {
    let step = Step::new();
    let result = step.run(&image(), &["expose"]);
    assert_success(&result, "layercache expose with no runtime");
    let output = format!("{}{}", result.stdout, result.stderr);
    assert!(
        !workflow_commands(&output).iter().any(|c| c.name == "error"),
        "an ::error:: for a missing cache service:\n{output}"
    );
    assert!(
        workflow_commands(&output)
            .iter()
            .any(|c| c.name == "warning" && c.data.contains("no GitHub Actions cache service")),
        "a missing cache service is a warning:\n{output}"
    );
    assert_eq!(
        step.pairs("GITHUB_ENV"),
        Vec::new(),
        "exposed variables that were not set"
    );
}

/// `runs` of an action.yml in this repository: `(args, post-entrypoint)`.
fn runs_of(action_yml: &str) -> (Vec<String>, Option<String>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(action_yml);
    let text = std::fs::read_to_string(&path).expect("read action.yml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("parse action.yml");
    let runs = &doc["runs"];
    let args = runs["args"].as_sequence().map_or_else(Vec::new, |seq| {
        seq.iter()
            .map(|a| a.as_str().expect("string arg").to_owned())
            .collect()
    });
    let post = runs["post-entrypoint"].as_str().map(str::to_owned);
    (args, post)
}

/// The post step runs as the runner starts it: a second container from the same image with
/// `--entrypoint <post-entrypoint>` and the main step's args, so the image must hold that
/// executable and the binary must pick the post step by it.
#[test]
fn post_entrypoint_runs_the_post_step() {
    let (args, post) = runs_of("action.yml");
    let Some(post) = post else {
        return assert!(
            !args.is_empty(),
            "action.yml has neither args nor post-entrypoint"
        );
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let step = Step::new();
    let result = step.run_stage(&image(), Some(&post), &args);
    assert_success(&result, &format!("post step ({post} {})", args.join(" ")));
    for file in ["GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_STATE"] {
        step.pairs(file);
    }
}

/// `expose-runtime/action.yml` runs the same image with its own args.
#[test]
fn expose_runtime_action_runs_expose() {
    let (args, _) = runs_of("expose-runtime/action.yml");
    assert_eq!(args, ["expose"], "expose-runtime/action.yml runs.args");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut step = Step::new();
    step.set(
        "ACTIONS_RESULTS_URL",
        "https://results-receiver.actions.githubusercontent.com/",
    );
    let result = step.run(&image(), &args);
    assert_success(&result, "expose-runtime");
    let env = step.pairs("GITHUB_ENV");
    assert!(
        env.iter()
            .any(|(k, v)| k == "ACTIONS_CACHE_SERVICE_V2" && v == "true"),
        "{env:?}"
    );
}

/// The image's config is what the runner needs: root (no `USER`, or it could not write the
/// workspace and file-command mounts), the binary as entrypoint, `action` as the command;
/// and it stays small, since every job that uses the action pulls it.
#[test]
fn image_config_fits_the_runner() {
    let step = Step::new();
    let result = step.run(&image(), &["--version"]);
    assert_success(&result, "layercache --version");
    assert!(
        result.stdout.starts_with("layercache "),
        "{}",
        result.stdout
    );
    let inspect = std::process::Command::new("docker")
        .env("DOCKER_HOST", required_env("LAYERCACHE_TEST_DOCKER_HOST"))
        .args(["image", "inspect", "--format"])
        .arg("{{.Size}} {{json .Config.User}} {{json .Config.Entrypoint}} {{json .Config.Cmd}}")
        .arg(image())
        .output()
        .expect("docker image inspect");
    let inspected = String::from_utf8_lossy(&inspect.stdout);
    let (size, config) = inspected
        .trim()
        .split_once(' ')
        .expect("docker image inspect output");
    assert_eq!(config, r#""" ["/usr/local/bin/layercache"] ["action"]"#);
    let size: u64 = size.parse().expect("image size");
    assert!(
        size <= MAX_IMAGE_BYTES,
        "the image is {size} bytes, over {MAX_IMAGE_BYTES}"
    );
}
