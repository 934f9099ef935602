//! Dockerfile cache advice on real Dockerfiles: each fixture directory under
//! `tests/fixtures/dockerfiles/` is a build context with a `Dockerfile` and an `expect`
//! file of `LINE RULE TEXT` lines (TEXT must appear in the message). Clean fixtures have
//! an empty `expect`.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on a broken fixture"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use layercache::advice::{self, BuildFacts, Finding};

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dockerfiles");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 8, "fixtures missing under {}", root.display());
    dirs
}

fn analyze_fixture(dir: &Path) -> Vec<Finding> {
    let text = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    advice::analyze(&text, "Dockerfile", &BuildFacts::from_dir(dir))
}

#[test]
fn fixtures_give_exactly_the_expected_findings() {
    let mut failures = Vec::new();
    let mut clean = 0;
    for dir in fixtures() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expect = std::fs::read_to_string(dir.join("expect")).unwrap();
        let expected: Vec<(usize, String, String)> = expect
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut parts = l.splitn(3, ' ');
                let line = parts.next().unwrap().parse().unwrap();
                let rule = parts.next().unwrap().to_owned();
                (line, rule, parts.next().unwrap_or("").to_owned())
            })
            .collect();
        clean += usize::from(expected.is_empty());
        let found = analyze_fixture(&dir);
        let got: Vec<(usize, &str)> = found.iter().map(|f| (f.line, f.rule.code())).collect();
        let want: Vec<(usize, &str)> = expected.iter().map(|(l, r, _)| (*l, r.as_str())).collect();
        if got != want {
            failures.push(format!("{name}: got {got:?}, want {want:?}\n{found:#?}"));
            continue;
        }
        for (f, (_, _, text)) in found.iter().zip(&expected) {
            if !f.message.contains(text.as_str()) {
                failures.push(format!("{name}:{}: {:?} lacks {text:?}", f.line, f.message));
            }
        }
    }
    assert!(clean >= 3, "need clean Dockerfiles too");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn context_files_pick_the_lock_file_that_exists() {
    let text = "FROM node:22\nWORKDIR /app\nCOPY . .\nRUN yarn install --frozen-lockfile\n";
    let ctx = BuildFacts {
        files: ["package.json", "yarn.lock"].map(String::from).into(),
        ..Default::default()
    };
    let found = advice::analyze(text, "Dockerfile", &ctx);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].message.contains("`package.json` and `yarn.lock`"),
        "{}",
        found[0].message
    );
}

#[test]
fn a_lone_apt_update_is_followed_into_child_stages() {
    let text = "FROM debian:12 AS base\nRUN apt-get update\nFROM base AS tools\nRUN apt-get install -y git\nFROM base\nRUN apt-get install -y curl\n";
    let found = advice::analyze(text, "Dockerfile", &BuildFacts::default());
    let got: Vec<(usize, &str)> = found.iter().map(|f| (f.line, f.rule.code())).collect();
    assert_eq!(got, vec![(2, "apt-update-split")]);
    assert!(found[0].message.contains("line 4"), "{}", found[0].message);
}

#[test]
fn build_args_resolve_from_lines_and_unknown_args_are_skipped() {
    let text = "ARG IMG=alpine:3.20\nFROM $IMG AS a\nFROM ${OTHER}\nFROM a\n";
    let mut ctx = BuildFacts::default();
    assert!(advice::analyze(text, "Dockerfile", &ctx).is_empty());
    ctx.build_args.insert("IMG".into(), "alpine".into());
    let found = advice::analyze(text, "Dockerfile", &ctx);
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].line, found[0].rule.code()), (2, "floating-base"));
}

fn layercache(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_layercache"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn advise_command_prints_findings_and_is_strict_only_when_asked() {
    let dir = fixtures()
        .into_iter()
        .find(|d| d.ends_with("node-context-first"))
        .unwrap();
    let dir_s = dir.to_str().unwrap();
    let out = layercache(&["advise", "--context", dir_s]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(
        stdout.contains("Dockerfile:3: context-copy: `COPY . .`"),
        "{stdout}"
    );

    let out = layercache(&[
        "advise",
        "--context",
        dir_s,
        "--strict",
        "--format",
        "github",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let first = stdout.lines().next().unwrap();
    assert!(first.starts_with("::warning file="), "{first}");
    assert!(
        first.contains(",line=1,title=layercache cache advice (floating-base)::"),
        "{first}"
    );

    let clean = dir.with_file_name("python-clean").join("Dockerfile");
    let out = layercache(&["advise", "--file", clean.to_str().unwrap(), "--strict"]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn advise_command_names_a_missing_file() {
    let out = layercache(&["advise", "--file", "/nonexistent/Dockerfile"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("--file: failed to read /nonexistent/Dockerfile"),
        "{stderr}"
    );
}

/// `examples/git-hooks/pre-commit` in a scratch repository: a staged Dockerfile with advice
/// stops the commit, a clean one passes.
#[test]
fn the_example_git_hook_checks_staged_dockerfiles() {
    let repo = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(repo.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q"]);
    let hook = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/git-hooks/pre-commit");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_layercache"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run_hook = || {
        Command::new(&hook)
            .current_dir(repo.path())
            .env("PATH", &path)
            .output()
            .unwrap()
    };

    std::fs::create_dir(repo.path().join("web")).unwrap();
    std::fs::write(
        repo.path().join("web/Dockerfile"),
        "FROM node\nCOPY . .\nRUN npm ci\n",
    )
    .unwrap();
    git(&["add", "web/Dockerfile"]);
    let out = run_hook();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("web/Dockerfile:1: floating-base")
            && stdout.contains("web/Dockerfile:2: context-copy"),
        "{stdout}"
    );

    std::fs::write(
        repo.path().join("web/Dockerfile"),
        "FROM node:22\nCOPY package.json package-lock.json ./\nRUN npm ci\nCOPY . .\n",
    )
    .unwrap();
    git(&["add", "web/Dockerfile"]);
    let out = run_hook();
    assert!(out.status.success(), "{out:?}");
}

/// `layercache advise … | head -1`: a reader that goes away is not a crash.
#[test]
fn advise_output_into_a_closed_pipe_exits_cleanly() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    // 2000 findings of ~250 bytes: far more than a pipe buffer holds.
    let text: String = (0..2000).map(|i| format!("FROM node AS s{i}\n")).collect();
    let file = dir.path().join("Dockerfile");
    std::fs::write(&file, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_layercache"))
        .args([
            "advise",
            "--file",
            file.to_str().unwrap(),
            "--context",
            dir.path().to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains(":1: floating-base"), "{first}");
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
