//! The action run as a GitHub runner runs a container action: every declared input as
//! `INPUT_*` (hyphens kept), the runner's `GITHUB_*`/`ACTIONS_*` variables, and file
//! commands read back with the runner's own rules.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should panic

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use layercache::action::names::{INPUTS, InputSpec};
use support::runner::{Step, StepResult};

const CANARY: &str = "canary-7c1d2e";

/// A JWT-shaped runtime token whose signature segment is the canary.
fn token(ac: &str) -> String {
    let claims = serde_json::json!({ "ac": ac, "exp": 4102444800u64 });
    format!(
        "eyJhbGciOiJSUzI1NiJ9.{}.{CANARY}",
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

const AC_MAIN_RW: &str = r#"[{"Scope":"refs/heads/main","Permission":3}]"#;

fn declared(specs: &[InputSpec]) -> Vec<(&str, Option<&str>)> {
    specs.iter().map(|s| (s.name, s.default)).collect()
}

fn step() -> Step {
    let mut step = Step::new(&declared(INPUTS));
    std::fs::write(step.workspace().join("Dockerfile"), "FROM scratch\n").unwrap();
    step.set("ACTIONS_RUNTIME_TOKEN", &token(AC_MAIN_RW))
        .set("ACTIONS_RUNTIME_URL", "https://pipelines.example/abc/")
        .set(
            "ACTIONS_RESULTS_URL",
            "https://results-receiver.actions.githubusercontent.com/",
        )
        .set(
            "ACTIONS_CACHE_URL",
            "https://artifactcache.actions.githubusercontent.com/xyz/",
        );
    step
}

/// The dry run's `export: type=gha...` line.
fn gha_export_line(r: &StepResult) -> &str {
    r.stdout
        .lines()
        .find(|l| l.starts_with("export: type=gha"))
        .expect("a gha export line")
}

fn env_map(r: &StepResult) -> std::collections::BTreeMap<String, String> {
    r.env_vars().into_iter().collect()
}

/// The canary may appear only in the first `add-mask` command and in GITHUB_ENV.
fn assert_canary_contained(r: &StepResult) {
    let first = r.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("::add-mask::") && first.contains(CANARY),
        "the token is masked first: {first:?}"
    );
    let rest: String = r.stdout.lines().skip(1).collect::<Vec<_>>().join("\n");
    for (what, text) in [
        ("stdout", rest.as_str()),
        ("stderr", &r.stderr),
        ("outputs", &r.output_file),
        ("summary", &r.summary_file),
        ("state", &r.state_file),
    ] {
        assert!(!text.contains(CANARY), "canary leaked into {what}:\n{text}");
    }
}

#[test]
fn expose_writes_the_allow_list_and_the_v2_switch() {
    let mut s = step();
    s.set("ACTIONS_CACHE_MODE", "write")
        .set("ACTIONS_SOMETHING_ELSE", "not-exported");
    let r = s.run(&["expose"]);
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    let env = env_map(&r);
    assert_eq!(
        env.get("ACTIONS_RUNTIME_TOKEN").map(String::as_str),
        Some(token(AC_MAIN_RW).as_str())
    );
    assert_eq!(
        env.get("ACTIONS_RESULTS_URL").map(String::as_str),
        Some("https://results-receiver.actions.githubusercontent.com/")
    );
    assert_eq!(
        env.get("ACTIONS_CACHE_SERVICE_V2").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        env.get("ACTIONS_CACHE_MODE").map(String::as_str),
        Some("write")
    );
    assert!(
        !env.contains_key("ACTIONS_SOMETHING_ELSE"),
        "only the allow-list is exported"
    );
    assert!(
        r.stdout.contains("token scope refs/heads/main: read/write"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("cache service: v2"));
    assert_canary_contained(&r);
}

#[test]
fn ghes_gets_v1_and_no_v2_switch() {
    let mut s = step();
    s.set("GITHUB_SERVER_URL", "https://git.example.com");
    let r = s.run(&["expose"]);
    assert_eq!(r.code(), 0);
    assert!(r.stdout.contains("cache service: v1"), "{}", r.stdout);
    assert!(!env_map(&r).contains_key("ACTIONS_CACHE_SERVICE_V2"));
}

/// A runner like act's: the cache over v1 at ACTIONS_CACHE_URL, an artifact server at
/// ACTIONS_RESULTS_URL that answers a cache call with a plain 404.
fn act_like_results_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 16 * 1024];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 19\r\nconnection: close\r\n\r\n404 page not found\n",
            );
        }
    });
    format!("http://{addr}/")
}

#[test]
fn both_urls_and_a_v1_only_service_choose_v1_by_asking() {
    let mut s = step();
    s.set("ACTIONS_RESULTS_URL", &act_like_results_url());
    let r = s.run(&["expose"]);
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("cache service: v1 at ACTIONS_CACHE_URL: the service at ACTIONS_RESULTS_URL does not answer the v2 cache protocol"),
        "{}",
        r.stdout
    );
    assert!(
        !env_map(&r).contains_key("ACTIONS_CACHE_SERVICE_V2"),
        "later steps speak v1 too"
    );
    // The build's gha entries follow the same choice.
    let mut s = step();
    s.set("ACTIONS_RESULTS_URL", &act_like_results_url())
        .input("cache-to", "type=gha,mode=max");
    let r = s.run(&["action", "--dry-run"]);
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    let export = gha_export_line(&r);
    assert!(
        export.contains("version=1") && export.contains("url=https://artifactcache"),
        "{export}"
    );
    // Forced, nothing is asked.
    let mut s = step();
    s.set("ACTIONS_RESULTS_URL", &act_like_results_url())
        .set("ACTIONS_CACHE_SERVICE_V2", "true");
    let r = s.run(&["expose"]);
    assert!(
        r.stdout.contains(
            "cache service: v2 at ACTIONS_RESULTS_URL: ACTIONS_CACHE_SERVICE_V2 asks for v2"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn no_cache_service_is_a_warning_not_a_failure() {
    let mut s = Step::new(&declared(INPUTS));
    std::fs::write(s.workspace().join("Dockerfile"), "FROM scratch\n").unwrap();
    s.input("cache-to", "type=gha,mode=max")
        .input("cache-from", "type=gha");
    let r = s.run(&["action", "--dry-run"]);
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    let warnings: Vec<_> = r.named("warning");
    assert!(
        warnings
            .iter()
            .any(|w| w.data.contains("no GitHub Actions cache service")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.data.starts_with("cache-to: type=gha") && w.data.contains("skipped")),
        "{warnings:?}"
    );
    assert!(r.env_vars().is_empty(), "nothing to expose");
}

#[test]
fn expose_without_a_cache_service_warns_and_succeeds() {
    let s = Step::new(&declared(INPUTS));
    let r = s.run(&["expose"]);
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.named("warning")
            .iter()
            .any(|c| c.data.contains("no GitHub Actions cache service")),
        "{}",
        r.stdout
    );
    assert!(r.env_vars().is_empty());
}

#[test]
fn values_cannot_inject_variables_into_github_env() {
    let mut s = step();
    s.set(
        "ACTIONS_CACHE_URL",
        "https://x/\nEVIL=1\nEVIL2<<EOF\nx\nEOF",
    )
    .set(
        "ACTIONS_RUNTIME_URL",
        "ghadelimiter_00000000-0000-0000-0000-000000000000\nEVIL3=1",
    );
    let r = s.run(&["expose"]);
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    let env = env_map(&r);
    let allowed = layercache::action::names::env::EXPOSED;
    for name in env.keys() {
        assert!(
            allowed.contains(&name.as_str()) || name == "ACTIONS_CACHE_SERVICE_V2",
            "injected {name}"
        );
    }
    assert_eq!(
        env.get("ACTIONS_CACHE_URL").map(String::as_str),
        Some("https://x/\nEVIL=1\nEVIL2<<EOF\nx\nEOF")
    );
}

#[test]
fn action_reports_the_plan_with_derived_scope_and_filled_gha_entries() {
    let mut s = step();
    s.input("tags", "ghcr.io/octo/web:1.0,ghcr.io/octo/web:latest")
        .input("platforms", "linux/amd64")
        .input("cache-from", "type=gha")
        .input(
            "cache-to",
            "type=gha,mode=max\ntype=registry,ref=ghcr.io/octo/web:cache,mode=max",
        )
        .input("secrets", format!("NPM_TOKEN={CANARY}").as_str());
    let r = s.run(&["action", "--dry-run"]);
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    let scope = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("scope: "))
        .expect("scope line")
        .to_owned();
    assert!(scope.starts_with("web-linux-amd64-"), "{scope}");
    let export = gha_export_line(&r);
    for want in [
        "mode=max",
        "ignore-error=true",
        "version=2",
        &format!("scope={scope}"),
        "url_v2=https://results-receiver",
        "token=***",
    ] {
        assert!(export.contains(want), "{want} missing in {export}");
    }
    assert!(
        r.stdout
            .contains("export: type=registry,mode=max,ref=ghcr.io/octo/web:cache")
    );
    assert!(
        r.stdout
            .contains(&format!("import: type=gha,scope={scope}"))
            || r.stdout
                .lines()
                .any(|l| l.starts_with("import: type=gha") && l.contains(&scope))
    );
    let masks: Vec<_> = r.named("add-mask").into_iter().map(|c| c.data).collect();
    assert!(
        masks.iter().any(|m| m == CANARY),
        "build secret values are masked: {masks:?}"
    );
    // The build secret is masked; the runtime token is masked first and only exposed in GITHUB_ENV.
    let first = r.stdout.lines().next().unwrap_or_default();
    assert!(first.starts_with("::add-mask::eyJ"), "{first}");
    assert!(
        !r.stderr.contains(CANARY)
            && !r.output_file.contains(CANARY)
            && !r.summary_file.contains(CANARY)
    );
}

#[test]
fn cache_mode_read_skips_export_with_a_notice() {
    let mut s = step();
    s.set("ACTIONS_CACHE_MODE", "read")
        .input("cache-to", "type=gha")
        .input("cache-from", "type=gha");
    let r = s.run(&["action", "--dry-run"]);
    assert_eq!(r.code(), 0);
    let notices: Vec<_> = r.named("notice");
    assert!(
        notices
            .iter()
            .any(|n| n.data.contains("ACTIONS_CACHE_MODE=read")),
        "{notices:?}"
    );
    assert!(r.stdout.lines().any(|l| l.starts_with("import: type=gha")));
    assert!(!r.stdout.lines().any(|l| l.starts_with("export: type=gha")));
}

#[test]
fn read_only_token_skips_export() {
    let mut s = step();
    s.set(
        "ACTIONS_RUNTIME_TOKEN",
        &token(r#"[{"Scope":"refs/heads/main","Permission":1}]"#),
    )
    .input("cache-to", "type=gha");
    let r = s.run(&["action", "--dry-run"]);
    assert_eq!(r.code(), 0);
    assert!(
        r.commands()
            .iter()
            .any(|c| c.name == "notice" && c.data.contains("no writable ref")),
        "{}",
        r.stdout
    );
}

/// `FALSE` is a valid boolean. (A dry run writes no runner file whatever this says; that
/// `false` keeps a real run from writing GITHUB_ENV is proven in tests/action_build.rs.)
#[test]
fn expose_runtime_false_writes_nothing() {
    let mut s = step();
    s.input("expose-runtime", "FALSE");
    let r = s.run(&["action", "--dry-run"]);
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    assert!(r.env_vars().is_empty());
}

/// Malformed inputs: one error line naming the input, exit code 2, no runner file touched.
#[test]
fn bad_inputs_fail_with_one_line_naming_the_input() {
    let cases: &[(&str, &str, &str)] = &[
        ("cache-to", "type=foo", "unknown cache type \"foo\""),
        ("cache-to", "type=gha,mdoe=max", "unknown key \"mdoe\""),
        (
            "cache-to",
            "type=gha,mode=maximum",
            "invalid mode \"maximum\" (valid: min, max)",
        ),
        ("cache-from", "type=registry", "needs ref="),
        ("cache-to", "type=local,\"dest=a", "is never closed"),
        ("cache-from", "mode=max", "missing type="),
        ("load", "yes", "expected true or false"),
        ("push", "1", "expected true or false"),
        ("no-cache", "ture", "expected true or false"),
        ("tags", "app:", "invalid tag"),
        ("tags", "User/App:1", "must be lowercase"),
        ("platforms", "lnux", "invalid platform"),
        ("platforms", "linux/amd65", "unknown architecture"),
        ("secret-envs", "ID", "is not id=ENV_VAR"),
        ("secret-files", "id=", "names no file"),
        ("outputs", "type=zip", "unknown output type"),
        ("outputs", "type=local", "needs dest="),
        ("network", "bridge", "unknown network"),
        ("shm-size", "lots", "invalid size"),
        ("ulimit", "nofile", "is not name=soft[:hard]"),
        ("ulimit", "nofiles=1", "unknown ulimit"),
        ("add-hosts", "db", "is not host:ip"),
        ("add-hosts", "db:999.1.1.1", "is not host:ip"),
        ("driver", "kubernetes", "unknown driver"),
        ("endpoint", "http://x:1234", "invalid endpoint"),
        ("builder-image", "Moby/BuildKit", "must be lowercase"),
        ("call", "lint", "unknown call"),
        ("allow", "network.everything", "unknown entitlement"),
        ("attests", "type=spdx", "needs type=provenance or type=sbom"),
        ("provenance", "maybe", "invalid value"),
        ("scope", "a,b", "invalid scope"),
        ("build-args", "=x", "empty name"),
        ("build-contexts", "name", "is not name=path"),
        ("labels", "=v", "empty key"),
        ("file", "nope/Dockerfile", "not found"),
        ("context", "missing-dir", "is not a directory"),
        (
            "cache-prune",
            "sometimes",
            "invalid value \"sometimes\" (valid: false, true, orphans)",
        ),
        ("cache-prune-keep", "0", "invalid count"),
        ("cache-advice", "on", "expected true or false"),
    ];
    assert!(cases.len() >= 25);
    for (input, value, want) in cases {
        let mut s = step();
        s.input(input, value);
        let r = s.run(&["action"]);
        let ctx = format!(
            "{input}={value:?}\nstdout:\n{}\nstderr:\n{}",
            r.stdout, r.stderr
        );
        assert_eq!(r.code(), 2, "{ctx}");
        let errors: Vec<_> = r.named("error");
        assert_eq!(errors.len(), 1, "{ctx}");
        let msg = &errors[0].data;
        assert!(!msg.contains('\n'), "one line: {msg:?}");
        assert!(
            msg.starts_with(&format!("{input}: ")),
            "names the input: {msg:?}"
        );
        assert!(msg.contains(want), "{want:?} not in {msg:?}");
        assert!(r.runner_files_empty(), "runner files touched for {input}");
        assert_canary_contained(&r);
    }
}

#[test]
fn push_without_tags_is_refused() {
    let mut s = step();
    s.input("push", "true");
    let r = s.run(&["action"]);
    assert_eq!(r.code(), 2);
    assert!(
        r.commands()
            .iter()
            .any(|c| c.name == "error" && c.data.starts_with("tags: push needs"))
    );
}

#[test]
fn github_token_lets_buildkit_list_blobs_in_bulk_on_github_com() {
    let mut s = step();
    s.input("github-token", "ghs_canarytoken123")
        .input("cache-to", "type=gha");
    let r = s.run(&["action", "--dry-run"]);
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    let export = gha_export_line(&r);
    assert!(
        export.contains("repository=octo/app") && export.contains("ghtoken=***"),
        "{export}"
    );
    assert!(
        !r.stdout.contains("ghs_canarytoken123")
            || r.stdout
                .lines()
                .filter(|l| l.contains("ghs_canarytoken123"))
                .all(|l| l.starts_with("::add-mask::"))
    );

    s.set("GITHUB_SERVER_URL", "https://git.example.com")
        .set("GITHUB_API_URL", "https://git.example.com/api/v3");
    let r = s.run(&["action", "--dry-run"]);
    let export = gha_export_line(&r);
    assert!(
        !export.contains("repository="),
        "BuildKit's REST call goes to api.github.com only: {export}"
    );
}

#[test]
fn cache_advice_annotates_the_dockerfile_line() {
    let mut s = step();
    std::fs::write(s.workspace().join("requirements.txt"), "flask\n").unwrap();
    std::fs::write(
        s.workspace().join("Dockerfile"),
        "FROM python:latest\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\n",
    )
    .unwrap();
    let r = s.run(&["action", "--dry-run"]);
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    let advice: Vec<_> = r
        .commands()
        .into_iter()
        .filter(|c| c.name == "warning" && c.props.contains_key("line"))
        .collect();
    let lines: Vec<&str> = advice.iter().map(|c| c.props["line"].as_str()).collect();
    assert_eq!(lines, ["1", "3"], "{advice:?}");
    assert!(advice[1].data.contains("requirements.txt"), "{advice:?}");
    assert_eq!(
        advice[0].props["file"], "Dockerfile",
        "relative to the workspace, as annotations want"
    );

    s.input("cache-advice", "false");
    let r = s.run(&["action", "--dry-run"]);
    assert!(
        !r.commands().iter().any(|c| c.props.contains_key("line")),
        "advice off"
    );
}
