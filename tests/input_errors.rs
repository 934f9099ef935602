//! Bad inputs and secrets, through the real binary under the runner emulation: every
//! malformed input is exit code 2 with one error line that names the input and says what
//! would be valid, before any runner file is written; and no secret-bearing value (a
//! canary) reaches stdout (outside `::add-mask::`), stderr or a runner file, whichever
//! error stops the step. Masks come before the first message that could quote a secret.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should panic

mod support;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use layercache::action::names::INPUTS;
use support::runner::{Step, StepResult};

const DOCKERFILE: &str = "FROM scratch AS base\nFROM base AS Build\nCOPY . /\n";

fn step() -> Step {
    let specs: Vec<_> = INPUTS.iter().map(|s| (s.name, s.default)).collect();
    let mut step = Step::new(&specs);
    std::fs::write(step.workspace().join("Dockerfile"), DOCKERFILE).unwrap();
    step.set(
        "ACTIONS_RUNTIME_TOKEN",
        &format!("eyJhbGciOiJSUzI1NiJ9.e30.{RT}"),
    )
    .set(
        "ACTIONS_RESULTS_URL",
        "https://results-receiver.actions.githubusercontent.com/",
    );
    step
}

/// Exit 2, one `::error::` line naming the input and containing `want`, nothing else
/// that looks like an error, and no runner file written.
fn assert_usage_error(r: &StepResult, input: &str, want: &str, ctx: &str) {
    assert_eq!(r.code(), 2, "{ctx}\n{}\n{}", r.stdout, r.stderr);
    let errors = r.named("error");
    assert_eq!(errors.len(), 1, "{ctx}: {errors:?}");
    let msg = &errors[0].data;
    assert!(
        !msg.contains('\n') && !msg.contains('\r'),
        "one line: {msg:?}"
    );
    assert!(msg.len() <= 400, "{ctx}: {} bytes: {msg:.200}", msg.len());
    assert!(
        msg.starts_with(&format!("{input}: ")),
        "names {input}: {msg}"
    );
    assert!(msg.contains(want), "{ctx}: {want:?} not in {msg:?}");
    for (file, text) in r.runner_files() {
        assert!(
            text.is_empty(),
            "{ctx}: {file} written before validation: {text}"
        );
    }
}

#[test]
fn malformed_inputs_fail_in_one_line_before_any_runner_file() {
    let long_tag = format!("app:{}", "t".repeat(300));
    let huge = "x".repeat(120 * 1024);
    let cases: &[(&str, &str, &str)] = &[
        (
            "cache-to",
            "type=gha,\"scope=x",
            "is never closed (close it",
        ),
        (
            "cache-to",
            "\"type=gha,\"\"scope=x\"",
            "a quote is never closed (close it",
        ),
        (
            "cache-to",
            "type=registry,ref=",
            "type=registry needs a value for ref=",
        ),
        (
            "cache-to",
            "type=registry,ref=Octo/App:cache",
            "must be lowercase",
        ),
        ("cache-from", "Octo/App:cache", "must be lowercase"),
        ("cache-to", "type=gha,scope=a,b", "no commas"),
        (
            "cache-to",
            "type=foo",
            "unknown cache type \"foo\" (valid: gha",
        ),
        (
            "cache-to",
            "TYPE=gha,MDOE=max",
            "unknown key \"mdoe\" for type=gha (valid:",
        ),
        ("cache-to", "type=gha,mode=maximum", "(valid: min, max)"),
        ("cache-from", "mode=max", "missing type= (e.g."),
        ("tags", &long_tag, "at most 128 characters"),
        ("tags", &huge, "at most 255"),
        ("tags", "User/App:1", "must be lowercase"),
        (
            "labels",
            &format!("={huge}"),
            "has an empty key (expected key=value)",
        ),
        (
            "target",
            "my stage",
            "is not a stage of \"Dockerfile\" (stages: base, build)",
        ),
        (
            "target",
            "release",
            "is not a stage of \"Dockerfile\" (stages: base, build)",
        ),
        ("endpoint", "tcp://", "expected tcp://host:port"),
        ("endpoint", "tcp://buildkitd", "no port"),
        ("endpoint", "unix://", "no socket path"),
        ("platforms", "linux/amd65", "unknown architecture \"amd65\""),
        ("platforms", "lnux", "(os/arch[/variant]"),
        ("scope", "a,b", "no commas"),
        ("add-hosts", "nohost", "is not host:ip or host=ip (e.g."),
        ("ulimit", "nofile=abc", "is not a number (name=soft[:hard]"),
        (
            "ulimit",
            "nofile=2:1",
            "soft limit is above the hard limit (soft <= hard",
        ),
        ("secrets", "\"A=1\nB", "is never closed (close it"),
        (
            "secret-envs",
            "A=",
            "names no environment variable (expected id=ENV_VAR)",
        ),
        ("outputs", "type=local,\"dest=a", "a quote is never closed"),
        ("driver", &huge, "(valid: auto, docker"),
        ("network", "bridge", "(valid: default, none, host)"),
        ("load", "yes", "expected true or false"),
        ("ssh", "a b=/x", "is not default, default=/path/agent.sock"),
        (
            "context",
            "missing-dir",
            "is not a directory (the build context",
        ),
        ("file", "nope/Dockerfile", "not found (set file:"),
    ];
    for (input, value, want) in cases {
        let mut s = step();
        s.input(input, value);
        let r = s.run(&["action"]);
        assert_usage_error(&r, input, want, &format!("{input}={value:.60?}"));
    }
    eprintln!("malformed inputs covered: {}", cases.len());
}

#[test]
fn a_target_is_checked_even_when_the_dockerfile_is_remote() {
    let mut s = step();
    s.input("context", "https://github.com/octo/app.git#main")
        .input("target", "my stage");
    let r = s.run(&["action", "--dry-run"]);
    assert_usage_error(
        &r,
        "target",
        "is not a stage name (a letter",
        "remote context",
    );
    std::fs::write(s.workspace().join("Dockerfile"), "FROM scratch\n").unwrap();
    s.input("context", ".").input("target", "build");
    let r = s.run(&["action", "--dry-run"]);
    assert_usage_error(
        &r,
        "target",
        "it names no stages (name one with FROM",
        "no stages",
    );
}

#[test]
fn an_input_that_is_not_utf8_is_an_error_naming_it() {
    let mut s = step();
    s.os_env.insert(
        "INPUT_TAGS".to_owned(),
        OsString::from_vec(b"app:\xff\xfe".to_vec()),
    );
    let r = s.run(&["action", "--dry-run"]);
    assert_usage_error(&r, "tags", "not UTF-8", "INPUT_TAGS=<bytes>");
}

#[test]
fn dry_run_writes_no_runner_file() {
    let mut s = step();
    s.input("cache-to", "type=gha,mode=max")
        .input("tags", "ghcr.io/octo/app:1");
    let r = s.run(&["action", "--dry-run"]);
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("export: type=gha"), "{}", r.stdout);
    for (file, text) in r.runner_files() {
        assert!(text.is_empty(), "--dry-run wrote {file}: {text}");
    }
}

#[test]
fn an_unset_secret_env_is_a_warning_and_the_build_goes_on() {
    let mut s = step();
    s.input("secret-envs", "NPM=NPM_TOKEN_UNSET,OK=HOME");
    let r = s.run(&["action", "--dry-run"]);
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    let warnings: Vec<_> = r.named("warning").into_iter().map(|w| w.data).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("secret-envs: secret \"NPM\"")
                && w.contains("variable \"NPM_TOKEN_UNSET\" is not set")),
        "{warnings:?}"
    );
}

#[test]
fn valid_but_unusual_inputs_pass() {
    for (input, value) in [
        ("platforms", "local"),
        ("platforms", "linux"),
        ("scope", "my scope"),
        ("cache-to", "TYPE=gha,MODE=max"),
        ("secrets", "\"MYSECRET=aaaa\nbbbb\ncccc\""),
        ("target", "BUILD"),
    ] {
        let mut s = step();
        s.input(input, value);
        let r = s.run(&["action", "--dry-run"]);
        assert_eq!(r.code(), 0, "{input}={value:?}\n{}{}", r.stdout, r.stderr);
        assert!(r.named("error").is_empty(), "{input}: {}", r.stdout);
    }
}

// Canaries: one per secret-bearing value an input can carry.
const RT: &str = "cnry-runtime-3b7";
const GT: &str = "cnry-ghtoken-input-8d1";
const SV: &str = "cnry-secret-value-2c4";
const SM1: &str = "cnry-multiline-first-5a0";
const SM2: &str = "cnry-multiline-second-9e3";
const SE: &str = "cnry-secret-env-6f2";
const SF: &str = "cnry-secret-file-1d8";
const CT: &str = "cnry-cache-token-7a5";
const CG: &str = "cnry-cache-ghtoken-4b9";
const CK: &str = "cnry-access-key-id-0c6";
const CS: &str = "cnry-secret-access-key-3e2";
const CST: &str = "cnry-session-token-8f4";
const CANARIES: &[&str] = &[RT, GT, SV, SM1, SM2, SE, SF, CT, CG, CK, CS, CST];

/// A step whose every secret-bearing input holds a canary, validly.
fn secret_step() -> Step {
    let mut s = step();
    let file = s.dir.path().join("secret.txt");
    std::fs::write(&file, format!("{SF}\n")).unwrap();
    s.set("CANARY_ENV", SE)
        .input("github-token", GT)
        .input("secrets", &format!("A={SV}\n\"B={SM1}\n{SM2}\""))
        .input("secret-envs", "E=CANARY_ENV")
        .input("secret-files", &format!("F={}", file.display()))
        .input("cache-from", &format!("type=gha,token={CT}"))
        .input(
            "cache-to",
            &format!(
                "type=gha,mode=max,ghtoken={CG}\ntype=s3,bucket=b,region=r,access_key_id={CK},secret_access_key={CS},session_token={CST}"
            ),
        );
    s
}

/// Each canary: masked before the first annotation, and absent from every other stdout
/// line, stderr and every runner file. Returns the number of checks made.
fn assert_no_canary(r: &StepResult, ctx: &str) -> usize {
    let lines: Vec<&str> = r.stdout.lines().collect();
    let first_message = lines
        .iter()
        .position(|l| l.starts_with("::error") || l.starts_with("::warning"))
        .unwrap_or(lines.len());
    let mut checks = 0;
    for canary in CANARIES {
        let masked = lines
            .iter()
            .position(|l| l.starts_with("::add-mask::") && l.contains(canary));
        assert!(
            masked.is_some_and(|i| i < first_message),
            "{ctx}: {canary} not masked before the first message:\n{}",
            r.stdout
        );
        let leaked = lines
            .iter()
            .find(|l| !l.starts_with("::add-mask::") && l.contains(canary));
        assert!(leaked.is_none(), "{ctx}: {canary} on stdout: {leaked:?}");
        assert!(!r.stderr.contains(canary), "{ctx}: {canary} on stderr");
        checks += 3;
        for (file, text) in r.runner_files() {
            assert!(!text.contains(canary), "{ctx}: {canary} in {file}");
            checks += 1;
        }
    }
    checks
}

#[test]
fn no_secret_reaches_a_message_whatever_the_error() {
    // (input to override, its value, the input the error names; "" = success)
    let paths: &[(&str, String, &str)] = &[
        // Entries that are not id=value are left out with a warning naming their number.
        ("secrets", format!("A={SV},\"tail\n\"B={SM1}\n{SM2}\""), ""),
        ("secrets", format!("A={SV}\n\"B={SM1}\n{SM2}"), "secrets"),
        ("secrets", format!("{SV}\n\"B={SM1}\n{SM2}\""), ""),
        (
            "secrets",
            format!("A={SV}\nA={SV}\n\"B={SM1}\n{SM2}\""),
            "secrets",
        ),
        // An id that secret-envs also gives.
        (
            "secrets",
            format!("A={SV}\n\"B={SM1}\n{SM2}\"\nE=dup"),
            "secrets",
        ),
        (
            "cache-from",
            format!("type=gha,token={CT},\"scope=x"),
            "cache-from",
        ),
        (
            "cache-from",
            format!("type=gha,TOKEN={CT},mdoe=1"),
            "cache-from",
        ),
        ("cache-from", format!("token={CT}"), "cache-from"),
        (
            "cache-to",
            format!(
                "type=gha,ghtoken={CG},mode=maximum\ntype=s3,access_key_id={CK},secret_access_key={CS},session_token={CST}"
            ),
            "cache-to",
        ),
        (
            "cache-to",
            format!(
                "type=gha,ghtoken={CG}\ntype=s3,bucket=b,access_key_id={CK},secret_access_key={CS},session_token={CST},typo=1"
            ),
            "cache-to",
        ),
        (
            "cache-to",
            format!(
                "type=gha,ghtoken={CG}\ntype=s3,\"access_key_id={CK},secret_access_key={CS},session_token={CST}"
            ),
            "cache-to",
        ),
        (
            "cache-to",
            format!(
                "type=gha,ghtoken={CG}\ntype=foo,access_key_id={CK},secret_access_key={CS},session_token={CST}"
            ),
            "cache-to",
        ),
        ("secret-envs", "E=CANARY_ENV,E2=".to_owned(), "secret-envs"),
        ("tags", "User/App".to_owned(), "tags"),
        ("platforms", "linux/amd65".to_owned(), "platforms"),
        ("target", "nostage".to_owned(), "target"),
        ("endpoint", "tcp://".to_owned(), "endpoint"),
        // Left out with a warning, as build-push-action does.
        ("secret-files", "G=/nonexistent".to_owned(), ""),
        ("load", "maybe".to_owned(), "load"),
        ("file", "missing/Dockerfile".to_owned(), "file"),
        ("scope", "a,b".to_owned(), "scope"),
        ("push", "true".to_owned(), "tags"),
        ("builder", "bad name".to_owned(), "builder"),
        ("ulimit", "nofile=abc".to_owned(), "ulimit"),
        ("network", "NOT-UTF-8".to_owned(), "network"),
        ("tags", String::new(), ""),
    ];
    let mut checks = 0;
    for (input, value, names) in paths {
        let mut s = secret_step();
        if *input == "secret-files" {
            // Keep the canary file in play: a second, missing file is the error.
            let file = s.dir.path().join("secret.txt");
            s.input(input, &format!("F={}\n{value}", file.display()));
        } else if value == "NOT-UTF-8" {
            let bytes = b"\xff\xfe".to_vec();
            s.os_env.insert(
                format!("INPUT_{}", input.to_uppercase()),
                OsString::from_vec(bytes),
            );
            s.env.remove(&format!("INPUT_{}", input.to_uppercase()));
        } else {
            s.input(input, value);
        }
        let ctx = format!("{input}={value:.50?}");
        let r = s.run(&["action", "--dry-run"]);
        if names.is_empty() {
            assert_eq!(r.code(), 0, "{ctx}\n{}{}", r.stdout, r.stderr);
        } else {
            assert_eq!(r.code(), 2, "{ctx}\n{}{}", r.stdout, r.stderr);
            let errors = r.named("error");
            assert_eq!(errors.len(), 1, "{ctx}: {errors:?}");
            assert!(
                errors[0].data.starts_with(&format!("{names}: ")),
                "{errors:?}"
            );
        }
        checks += assert_no_canary(&r, &ctx);
    }
    eprintln!(
        "canary checks: {checks} ({} error paths x {} canaries)",
        paths.len(),
        CANARIES.len()
    );
    assert_eq!(checks, paths.len() * CANARIES.len() * 8);
}
