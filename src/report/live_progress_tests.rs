//! The live view drawn into indicatif's in-memory terminal (a vt100 screen of a known size).

use std::time::Duration;

use indicatif::{InMemoryTerm, ProgressDrawTarget, TermLike};

use super::*;

const COLS: u16 = 60;

fn view() -> (InMemoryTerm, LiveProgress) {
    let term = InMemoryTerm::new(30, COLS);
    let target = ProgressDrawTarget::term_like(Box::new(term.clone()));
    (term, LiveProgress::new(target, COLS))
}

/// Let the steady tick redraw (draws are rate-limited; the tick runs every 100 ms).
fn settle() {
    std::thread::sleep(Duration::from_millis(350));
}

fn started(index: usize, name: &str) -> BuildEvent {
    BuildEvent::StepStarted {
        index,
        name: name.to_owned(),
    }
}

fn finished(index: usize, cached: bool, ms: u64, error: Option<&str>) -> BuildEvent {
    BuildEvent::StepFinished {
        index,
        name: format!("step {index}"),
        cached,
        duration: Some(Duration::from_millis(ms)),
        error: error.map(str::to_owned),
    }
}

fn log(index: usize, text: &str) -> BuildEvent {
    BuildEvent::StepLog {
        index,
        name: String::new(),
        text: text.to_owned(),
    }
}

fn transfer(layer: &str, bytes: u64) -> BuildEvent {
    BuildEvent::CacheTransfer {
        direction: CacheDirection::Import,
        layer: layer.to_owned(),
        bytes,
        elapsed: Some(Duration::from_millis(500)),
        done: true,
    }
}

#[test]
fn a_running_step_shows_its_time_and_last_lines_cut_to_the_width() {
    let (term, mut live) = view();
    live.event(started(0, "[1/2] FROM docker.io/library/busybox"));
    live.event(finished(0, true, 0, None));
    let long = format!("[2/2] RUN {}", "x".repeat(100));
    live.event(started(1, &long));
    let output: String = (1..=7).map(|i| format!("line {i}\n")).collect();
    live.event(log(1, &output));
    live.event(log(1, "\u{1b}[31mred\u{1b}[0m\r50%\r100%\n"));
    live.event(transfer("sha256:aa", 1024));
    live.event(transfer("sha256:bb", 512));
    settle();
    let screen = term.contents();
    let lines: Vec<&str> = screen.lines().collect();
    assert_eq!(
        lines[0], "#1 [1/2] FROM docker.io/library/busybox  CACHED",
        "{screen}"
    );
    let step = lines[1];
    assert!(step.contains("#2 [2/2] RUN xxx"), "{screen}");
    assert!(step.chars().count() <= usize::from(COLS), "{screen}");
    let secs = step.rsplit(' ').next().unwrap_or_default();
    assert!(
        regex_lite::Regex::new(r"^\d+\.\ds$").is_ok_and(|r| r.is_match(secs)),
        "elapsed time at the end of {step:?}"
    );
    // The last five output lines, escape sequences gone, `\r` redraws collapsed.
    let tail: Vec<&str> = lines[2..7].iter().map(|l| l.trim()).collect();
    assert_eq!(
        tail,
        ["line 4", "line 5", "line 6", "line 7", "100%"],
        "{screen}"
    );
    assert!(
        lines[7].contains("cache import: 2 layers, 1.5 KiB at "),
        "{screen}"
    );
    assert!(lines[7].ends_with("KiB/s"), "{screen}");
    assert_eq!(lines.len(), 8, "{screen}");
}

#[test]
fn finished_steps_become_lines_and_the_summary_counts_them() {
    let (term, mut live) = view();
    live.event(BuildEvent::Phase("driver docker".into()));
    live.event(started(0, "[1/3] FROM busybox"));
    live.event(finished(0, true, 0, None));
    live.event(started(1, "[2/3] RUN make"));
    live.event(log(1, "cc a.c\n"));
    live.event(finished(1, false, 1300, None));
    let long = format!("[2/3] RUN {}", "y".repeat(100));
    live.event(started(3, &long));
    live.event(finished(3, true, 0, None));
    live.event(BuildEvent::Warning("cache import failed".into()));
    live.event(started(2, "[3/3] RUN false"));
    live.event(log(2, "boom\n"));
    live.event(finished(2, false, 100, Some("exit code: 1")));
    live.finish(false);
    let screen = term.contents();
    let lines: Vec<&str> = screen.lines().collect();
    // 60 columns: the name is cut so that the mark stays on the line.
    let cut = format!("#4 [2/3] RUN {}…  CACHED", "y".repeat(38));
    assert_eq!(
        lines[..7],
        [
            "=> driver docker",
            "#1 [1/3] FROM busybox  CACHED",
            "#2 [2/3] RUN make  DONE 1.3s",
            cut.as_str(),
            "WARNING: cache import failed",
            "#3 [3/3] RUN false  ERROR: exit code: 1",
            "#3 boom",
        ],
        "{screen}"
    );
    assert!(
        lines[7].starts_with("build failed after ") && lines[7].ends_with("s: 4 steps, 2 cached"),
        "{screen}"
    );
    assert_eq!(lines.len(), 8, "no bar is left on screen: {screen}");
}

#[test]
fn the_fake_terminal_has_the_width_asked_for() {
    // Guards the tests above: truncation is checked against this width.
    assert_eq!(InMemoryTerm::new(30, COLS).width(), COLS);
}
