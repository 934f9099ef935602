//! The action image, run the way GitHub's runner runs a container action (protocol.md
//! §E.2): `docker run` with the runner's flags, mounts and environment, then the file
//! commands read back with the runner's rules.
//!
//! Needs `LAYERCACHE_TEST_ACTION_IMAGE` (built from `Dockerfile` by scripts/test.sh) and
//! `LAYERCACHE_TEST_DOCKER_HOST` (the dockerd that holds it).

#[path = "action_image/runner.rs"]
mod runner;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use runner::{Step, required_env, workflow_commands};

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
        workflow_commands(&output)
            .iter()
            .any(|(name, _)| name == "error"),
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
    // told (protocol.md §0): exposure must say so for a later `docker buildx` step.
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
    assert_canary_masked(&format!("{}\n{}", result.stdout, result.stderr), canary);
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

#[test]
fn expose_without_a_cache_service_warns_and_succeeds() {
    let step = Step::new();
    let result = step.run(&image(), &["expose"]);
    assert_success(&result, "layercache expose with no runtime");
    let output = format!("{}{}", result.stdout, result.stderr);
    assert!(
        workflow_commands(&output)
            .iter()
            .any(|(name, _)| name == "warning"),
        "no ::warning:: about the missing cache service:\n{output}"
    );
    assert_eq!(
        step.pairs("GITHUB_ENV"),
        Vec::new(),
        "exposed variables that were not set"
    );
}

/// The image's config is what the runner needs: root (no `USER`, or it could not write the
/// workspace and file-command mounts), the binary as entrypoint, `action` as the command.
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
        .arg("{{json .Config.User}} {{json .Config.Entrypoint}} {{json .Config.Cmd}}")
        .arg(image())
        .output()
        .expect("docker image inspect");
    let config = String::from_utf8_lossy(&inspect.stdout);
    assert_eq!(
        config.trim(),
        r#""" ["/usr/local/bin/layercache"] ["action"]"#
    );
}
