//! Every subcommand that fails says so exactly once: one `error: ...` line on stderr for
//! terminal commands, one `::error::` annotation on stdout for what the runner starts, and
//! the documented exit code. A failure that exits without a message fails these tests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should panic

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_layercache");
const BENCH: &str = env!("CARGO_BIN_EXE_layercache-bench");

/// A command with none of the runner's or the developer's environment.
fn cmd(bin: &str, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LAYERCACHE_LOG", "off");
    c
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit `code`, and stderr is exactly one line: `error: ` and something containing `want`.
fn assert_one_plain_error(out: &Output, code: i32, want: &str) {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "not one line on stderr:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        lines[0].contains(want),
        "{:?} does not say {want:?}",
        lines[0]
    );
    assert!(!stdout.contains("::error"), "{stdout}");
}

/// Exit `code`, and stdout has exactly one `::error` annotation, containing `want`.
fn assert_one_annotation(out: &Output, code: i32, want: &str) {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let errors: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect();
    assert_eq!(errors.len(), 1, "not one ::error:: in:\n{stdout}");
    assert!(
        errors[0].contains(want),
        "{:?} does not say {want:?}",
        errors[0]
    );
    assert!(!stderr.contains("error: "), "{stderr}");
}

#[test]
fn serve_with_an_unusable_store() {
    let out = cmd(BIN, &["serve", "--store", "/proc/nonexistent/x"])
        .output()
        .unwrap();
    assert_one_plain_error(&out, 1, "failed to access storage at /proc/nonexistent/x");
}

#[test]
fn advise_without_a_dockerfile() {
    let out = cmd(BIN, &["advise", "--file", "/nonexistent/Dockerfile"])
        .output()
        .unwrap();
    assert_one_plain_error(&out, 2, "--file: failed to read /nonexistent/Dockerfile");
}

#[test]
fn prune_against_an_api_that_is_not_there() {
    let out = cmd(
        BIN,
        &[
            "prune",
            "--repository",
            "o/r",
            "--scope",
            "web",
            "--api-url",
            "http://127.0.0.1:9",
        ],
    )
    .env("GITHUB_TOKEN", "t")
    .output()
    .unwrap();
    assert_one_plain_error(&out, 1, "");
}

#[test]
fn build_with_a_bad_input_in_a_terminal_and_under_the_runner() {
    let out = cmd(BIN, &["build", "--push", "yes", "--dry-run"])
        .output()
        .unwrap();
    assert_one_plain_error(&out, 2, "push");
    let out = cmd(BIN, &["build", "--push", "yes", "--dry-run"])
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    assert_one_annotation(&out, 2, "push");
}

#[test]
fn action_with_a_bad_input() {
    let out = cmd(BIN, &["action", "--dry-run"])
        .env("INPUT_PUSH", "yes")
        .output()
        .unwrap();
    assert_one_annotation(&out, 2, "push");
}

#[test]
fn expose_that_cannot_write_the_env_file() {
    let out = cmd(BIN, &["expose"])
        .env("ACTIONS_RUNTIME_TOKEN", "eyJhbGciOiJSUzI1NiJ9.e30.sig")
        .env("ACTIONS_RESULTS_URL", "https://results.example/")
        .env("GITHUB_ENV", "/proc/nonexistent/env")
        .output()
        .unwrap();
    assert_one_annotation(&out, 1, "");
}

#[test]
fn bench_serve_with_an_unusable_dir() {
    let out = cmd(BENCH, &["serve", "--dir", "/proc/nonexistent/x"])
        .output()
        .unwrap();
    assert_one_plain_error(&out, 1, "serve: failed to");
}
