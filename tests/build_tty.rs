//! `layercache build` in a real pseudo-terminal (util-linux `script`, 100x40) on the test
//! daemon: the live view's final screen, read back through a vt100 emulator, lists every
//! step as CACHED or DONE with its time, and a summary line;
//! `--progress plain` in the same terminal prints the buildx-plain `#N` stream instead.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should panic

mod engine_support;

use std::path::Path;
use std::process::{Command, Stdio};

use engine_support::*;
use regex_lite::Regex;

const COLS: u16 = 100;

/// Run `layercache build ARGS` in `dir` inside a pseudo-terminal of COLS x 40, outside CI
/// as far as the program can tell; the terminal's final contents, one string per line.
fn build_in_pty(dir: &Path, args: &[&str]) -> (bool, Vec<String>) {
    let bin = env!("CARGO_BIN_EXE_layercache");
    let quoted: Vec<String> = std::iter::once(bin)
        .chain(["build"])
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let inner = format!("stty cols {COLS} rows 40 && exec {}", quoted.join(" "));
    let out = Command::new("script")
        .args([
            "--quiet",
            "--flush",
            "--return",
            "--command",
            &inner,
            "/dev/null",
        ])
        .current_dir(dir)
        .env("TERM", "xterm-256color")
        .env("DOCKER_HOST", required("LAYERCACHE_TEST_DOCKER_HOST"))
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("LAYERCACHE_LOG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("util-linux `script` runs the build in a pseudo-terminal");
    // Tall enough that nothing scrolls away: the program draws relative to the cursor.
    let mut screen = vt100::Parser::new(2000, COLS, 0);
    screen.process(&out.stdout);
    // One string per screen row: indicatif pads its lines to the full width and lets the
    // terminal wrap, so vt100's wrap flags do not tell lines apart; the live view's lines
    // fit the width (asserted below), so a row is a line.
    let lines = screen
        .screen()
        .rows(0, COLS)
        .map(|l| l.trim_end().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    (out.status.success(), lines)
}

fn context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture("cached");
    for name in ["Dockerfile", "app.txt"] {
        std::fs::copy(fixture.join(name), dir.path().join(name)).unwrap();
    }
    dir
}

/// The lines naming a Dockerfile step (`#5 [2/4] RUN ...`). A vertex BuildKit shares with
/// a concurrent build keeps that build's name (the `FROM` of another test's two-stage
/// Dockerfile reads `[1/2] FROM ...`), so the counter is not checked.
fn step_lines(lines: &[String]) -> Vec<&String> {
    let step = Regex::new(r"^#\d+ \[\d+/\d+\] ").unwrap();
    lines.iter().filter(|l| step.is_match(l)).collect()
}

#[test]
fn a_terminal_gets_the_live_view_and_plain_when_asked() {
    let registry = registry();
    let image = format!("{registry}/{}:cache", unique("lc/tty"));
    let run_id = unique("run");
    let dir = context();
    let base = format!("BASE={}", base_image());
    let run_arg = format!("RUN_ID={run_id}");
    let common = ["--build-args", &base, "--build-args", &run_arg];

    // First build: every step runs; the image carries its cache inline.
    let mut first = common.to_vec();
    first.extend([
        "--progress",
        "tty",
        "--cache-to",
        "type=inline",
        "--tags",
        &image,
    ]);
    first.extend(["--push=true", "."]);
    let (ok, lines) = build_in_pty(dir.path(), &first);
    let screen = lines.join("\n");
    assert!(ok, "{screen}");
    // Lines fit the terminal: a long RUN is cut with `…` so its mark stays visible.
    let done = Regex::new(r"^#\d+ \[[234]/4\] (RUN|COPY) .+  DONE \d+\.\ds$").unwrap();
    let from = Regex::new(r"^#\d+ \[1/\d\] FROM .+  (CACHED|DONE \d+\.\ds)$").unwrap();
    let steps = step_lines(&lines);
    assert_eq!(steps.len(), 4, "one line per Dockerfile step:\n{screen}");
    for s in &steps {
        assert!(
            done.is_match(s) || from.is_match(s),
            "{s:?} is not `DONE n.ns` / `CACHED`:\n{screen}"
        );
        assert!(
            s.chars().count() <= usize::from(COLS),
            "{s:?} is wider than the terminal"
        );
    }
    assert_eq!(
        steps.iter().filter(|s| done.is_match(s)).count(),
        3,
        "{screen}"
    );
    // The summary counts what the lines show (the FROM step may be CACHED).
    let marked = lines.iter().filter(|l| l.ends_with("  CACHED")).count();
    let summary = format!(r"^build finished in \d+\.\ds: \d+ steps, {marked} cached$");
    let summary = Regex::new(&summary).unwrap();
    assert!(lines.iter().any(|l| summary.is_match(l)), "{screen}");
    assert!(
        !lines.iter().any(|l| l.contains("⠁")),
        "no bar left on screen:\n{screen}"
    );

    // Second build, `auto` in the terminal: the steps come from the local cache. A
    // concurrent test's `docker builder prune` (engine_registry) can empty that cache
    // between two builds; then build again, at most three times, until it answers.
    let mut second = common.to_vec();
    second.extend(["--progress", "auto", "."]);
    let cached = Regex::new(r"^#\d+ \[[234]/4\] (RUN|COPY) .+  CACHED$").unwrap();
    let mut attempts = 0;
    let (lines, hits) = loop {
        attempts += 1;
        let (ok, lines) = build_in_pty(dir.path(), &second);
        assert!(ok, "{}", lines.join("\n"));
        let hits = step_lines(&lines)
            .iter()
            .filter(|s| cached.is_match(s))
            .count();
        if hits == 3 || attempts == 3 {
            break (lines, hits);
        }
    };
    let screen = lines.join("\n");
    assert_eq!(hits, 3, "{screen}");
    let summary = Regex::new(r"^build finished in \d+\.\ds: \d+ steps, [3-9] cached$").unwrap();
    assert!(lines.iter().any(|l| summary.is_match(l)), "{screen}");

    // Same terminal, `--progress plain`: the `#N` stream, no live view.
    let mut third = common.to_vec();
    third.extend(["--progress", "plain", "."]);
    let (ok, lines) = build_in_pty(dir.path(), &third);
    let screen = lines.join("\n");
    assert!(ok, "{screen}");
    let named = Regex::new(r"^#(\d+) \[2/4\] RUN dd ").unwrap();
    let n = lines
        .iter()
        .find_map(|l| named.captures(l).map(|c| c[1].to_owned()))
        .unwrap_or_else(|| panic!("no `#N [2/4] RUN dd` line:\n{screen}"));
    let mark = Regex::new(&format!(r"^#{n} (CACHED|DONE \d+\.\ds)$")).unwrap();
    assert!(lines.iter().any(|l| mark.is_match(l)), "{screen}");
    assert!(
        !lines.iter().any(|l| l.starts_with("build finished")),
        "{screen}"
    );
    assert!(!lines.iter().any(|l| l.ends_with("  CACHED")), "{screen}");
}

#[test]
fn tty_on_a_pipe_is_a_usage_error_naming_the_choices() {
    let out = Command::new(env!("CARGO_BIN_EXE_layercache"))
        .args(["build", "--progress", "tty", "--dry-run", "."])
        .env_remove("GITHUB_ACTIONS")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // One message, on stderr in a terminal's form (report::show_failure).
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("--progress tty: stderr is not a terminal") && text.contains("plain or auto"),
        "{text}"
    );
}
