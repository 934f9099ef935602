//! Build events as a live terminal view (`layercache build --progress tty`, or `auto` on a
//! terminal), in the manner of `docker buildx build`: one line per running step with its
//! elapsed time and its last few output lines, finished steps printed above as compact
//! lines (`#5 [2/3] RUN make  DONE 1.2s`, `CACHED`, `ERROR: ...`), a line per cache
//! direction with the layers, bytes and rate moved, and a summary line at the end.
//! Drawing, redrawing and truncating to the terminal's width is `indicatif`'s work.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::engine::{BuildEvent, CacheDirection, EventSink};
use crate::report::human_bytes;

/// Output lines kept on screen under a running step.
const TAIL_LINES: usize = 5;
/// How often the elapsed times and spinners are redrawn.
const TICK: Duration = Duration::from_millis(100);

/// Draws build events on a terminal; [`LiveProgress::finish`] prints the summary line.
pub struct LiveProgress {
    multi: MultiProgress,
    running: HashMap<usize, Running>,
    transfers: BTreeMap<Direction, Transfer>,
    started: Instant,
    /// Columns of the terminal: finished-step lines are cut to fit, as buildx does.
    width: usize,
    /// Registered with [`super::LogWriter`]; withdrawn on drop.
    logs_above: bool,
    finished: usize,
    cached: usize,
    failed: usize,
}

/// A step on screen: its line, and one line per kept output line below it.
struct Running {
    header: ProgressBar,
    name: String,
    tail: VecDeque<String>,
    lines: Vec<ProgressBar>,
}

/// One direction's layers: bytes so far per layer, and when the first and last came.
struct Transfer {
    bar: ProgressBar,
    layers: BTreeMap<String, u64>,
    longest: Duration,
    first: Instant,
    last: Instant,
}

/// [`CacheDirection`] ordered (imports are shown above exports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Direction {
    Import,
    Export,
}

impl LiveProgress {
    /// The live view on stderr, where `docker buildx` draws it too, so stdout keeps only
    /// the results (`imageid: ...`). Log lines (`tracing`, through [`super::LogWriter`])
    /// are printed above it meanwhile.
    pub fn stderr() -> Self {
        let (_, cols) = console::Term::stderr().size();
        let mut view = Self::new(ProgressDrawTarget::stderr(), cols);
        super::log_writer::set_on_screen(Some(view.multi.clone()));
        view.logs_above = true;
        view
    }

    /// Whether the live view can draw on stderr: a terminal, with `TERM` set and not `dumb`
    /// (indicatif draws nothing otherwise, not even the finished-step lines).
    pub fn can_draw() -> bool {
        !ProgressDrawTarget::stderr().is_hidden()
    }

    /// The live view on any draw target `width` columns wide (a fake terminal in tests).
    pub fn new(target: ProgressDrawTarget, width: u16) -> Self {
        Self {
            multi: MultiProgress::with_draw_target(target),
            running: HashMap::new(),
            transfers: BTreeMap::new(),
            started: Instant::now(),
            width: usize::from(width),
            logs_above: false,
            finished: 0,
            cached: 0,
            failed: 0,
        }
    }

    /// Clear the bars and print the cache totals and one summary line.
    pub fn finish(mut self, succeeded: bool) {
        for (_, step) in self.running.drain() {
            step.clear(&self.multi);
        }
        for (direction, transfer) in std::mem::take(&mut self.transfers) {
            transfer.bar.finish_and_clear();
            self.multi.remove(&transfer.bar);
            self.print(&format!("=> {} {}", direction.label(), transfer.describe()));
        }
        let secs = self.started.elapsed().as_secs_f64();
        let verdict = if succeeded && self.failed == 0 {
            format!("build finished in {secs:.1}s")
        } else {
            format!("build failed after {secs:.1}s")
        };
        self.print(&format!(
            "{verdict}: {} steps, {} cached",
            self.finished, self.cached
        ));
        let _ = self.multi.clear();
    }

    /// A line above the bars (dropped when the draw target is hidden).
    fn print(&self, line: &str) {
        // Nowhere to report a failed terminal write; the build goes on.
        let _ = self.multi.println(line);
    }

    fn started(&mut self, index: usize, name: String) {
        if self.running.contains_key(&index) {
            return;
        }
        let header = ProgressBar::new_spinner()
            .with_style(step_style())
            .with_prefix(format!("#{}", index + 1))
            .with_message(clean(&name));
        let header = self.multi.insert_from_back(self.transfers.len(), header);
        header.enable_steady_tick(TICK);
        let step = Running {
            header,
            name,
            tail: VecDeque::new(),
            lines: Vec::new(),
        };
        self.running.insert(index, step);
    }

    fn log(&mut self, index: usize, text: &str) {
        let Some(step) = self.running.get_mut(&index) else {
            for line in text.lines() {
                self.print(&format!("#{} {}", index + 1, clean(line)));
            }
            return;
        };
        for line in text.lines() {
            // A command redrawing its own progress with `\r` shows its latest state.
            let line = clean(line.rsplit('\r').next().unwrap_or(line));
            if step.tail.len() == TAIL_LINES {
                step.tail.pop_front();
            }
            step.tail.push_back(line);
        }
        while step.lines.len() < step.tail.len() {
            let after = step.lines.last().unwrap_or(&step.header).clone();
            let bar = ProgressBar::new_spinner().with_style(log_style());
            step.lines.push(self.multi.insert_after(&after, bar));
        }
        for (bar, line) in step.lines.iter().zip(&step.tail) {
            bar.set_message(line.clone());
        }
    }

    fn finished(
        &mut self,
        index: usize,
        name: &str,
        cached: bool,
        duration: Option<Duration>,
        error: Option<String>,
    ) {
        self.finished += 1;
        let step = self.running.remove(&index);
        let name = step.as_ref().map_or(name, |s| s.name.as_str());
        let head = format!("#{} {}", index + 1, clean(name));
        match (&error, cached) {
            (Some(e), _) => {
                self.failed += 1;
                // The whole error, wrapped if need be: it is what the user reads first.
                self.print(&format!("{head}  ERROR: {}", clean(e)));
                // The failing step's last output explains the failure; keep it on screen.
                for line in step.iter().flat_map(|s| &s.tail) {
                    self.print(&format!("#{} {line}", index + 1));
                }
            }
            (None, true) => {
                self.cached += 1;
                self.print(&fit(&head, "  CACHED", self.width));
            }
            (None, false) => {
                let elapsed = step.as_ref().map(|s| s.header.elapsed());
                let secs = duration.or(elapsed).unwrap_or_default().as_secs_f64();
                self.print(&fit(&head, &format!("  DONE {secs:.1}s"), self.width));
            }
        }
        if let Some(step) = step {
            step.clear(&self.multi);
        }
    }

    fn transfer(
        &mut self,
        direction: CacheDirection,
        layer: String,
        bytes: u64,
        elapsed: Option<Duration>,
    ) {
        let direction = Direction::from(direction);
        let now = Instant::now();
        let multi = &self.multi;
        let transfer = self.transfers.entry(direction).or_insert_with(|| {
            let bar = ProgressBar::new_spinner()
                .with_style(transfer_style())
                .with_prefix(direction.label());
            Transfer {
                bar: multi.add(bar),
                layers: BTreeMap::new(),
                longest: Duration::ZERO,
                first: now,
                last: now,
            }
        });
        let known = transfer.layers.entry(layer).or_default();
        *known = (*known).max(bytes);
        transfer.longest = transfer.longest.max(elapsed.unwrap_or_default());
        transfer.last = now;
        transfer.bar.set_message(transfer.describe());
    }
}

impl EventSink for LiveProgress {
    fn event(&mut self, event: BuildEvent) {
        match event {
            BuildEvent::Phase(p) | BuildEvent::Notice(p) => {
                self.print(&format!("=> {}", clean(&p)))
            }
            BuildEvent::Warning(w) => self.print(&format!("WARNING: {}", clean(&w))),
            BuildEvent::StepStarted { index, name } => self.started(index, name),
            BuildEvent::StepLog { index, text, .. } => self.log(index, &text),
            BuildEvent::StepFinished {
                index,
                name,
                cached,
                duration,
                error,
            } => self.finished(index, &name, cached, duration, error),
            BuildEvent::CacheTransfer {
                direction,
                layer,
                bytes,
                elapsed,
                ..
            } => self.transfer(direction, layer, bytes, elapsed),
        }
    }
}

impl Drop for LiveProgress {
    fn drop(&mut self) {
        if self.logs_above {
            super::log_writer::set_on_screen(None);
        }
    }
}

impl Running {
    fn clear(self, multi: &MultiProgress) {
        for bar in self.lines.iter().chain([&self.header]) {
            bar.finish_and_clear();
            multi.remove(bar);
        }
    }
}

impl Transfer {
    /// `2 layers, 1.5 MiB at 3.0 MiB/s`; just the layer count where BuildKit gave no sizes.
    fn describe(&self) -> String {
        let count = self.layers.len();
        let noun = if count == 1 { "layer" } else { "layers" };
        let bytes: u64 = self.layers.values().sum();
        if bytes == 0 {
            return format!("{count} {noun}");
        }
        // Layers move in parallel: the wall time seen here, or the longest single layer
        // when all updates arrived at once.
        let wall = self.last.duration_since(self.first).max(self.longest);
        let rate = match wall.as_secs_f64() {
            s if s > 0.0 => format!(" at {}/s", human_bytes((bytes as f64 / s) as u64)),
            _ => String::new(),
        };
        format!("{count} {noun}, {}{rate}", human_bytes(bytes))
    }
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Self::Import => "cache import:",
            Self::Export => "cache export:",
        }
    }
}

impl From<CacheDirection> for Direction {
    fn from(d: CacheDirection) -> Self {
        match d {
            CacheDirection::Import => Self::Import,
            CacheDirection::Export => Self::Export,
        }
    }
}

/// `⠋ #5 [2/3] RUN make ........ 1.2s`: the name is cut to fit, the time stays.
fn step_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {wide_msg} {secs:>7}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .with_key("secs", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.1}s", s.elapsed().as_secs_f64());
        })
}

fn log_style() -> ProgressStyle {
    ProgressStyle::with_template("    {wide_msg:.dim}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn transfer_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// `head` cut (with `…`) so that `head` and `tail` fit in `width` columns, unless the
/// terminal is too narrow to show a useful part of it.
fn fit(head: &str, tail: &str, width: usize) -> String {
    let room = width.saturating_sub(console::measure_text_width(tail));
    if room < 20 {
        return format!("{head}{tail}");
    }
    format!("{}{tail}", console::truncate_str(head, room, "…"))
}

/// Text from the build (step names, command output) without escape sequences or control
/// characters, which could move the cursor or recolour the terminal and break the redraw.
fn clean(text: &str) -> String {
    console::strip_ansi_codes(text)
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .filter(|c| !c.is_control())
        .collect()
}

#[cfg(test)]
#[path = "live_progress_tests.rs"]
mod tests;
