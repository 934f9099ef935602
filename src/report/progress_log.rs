//! Build events as plain log lines in the style of `docker buildx build --progress=plain`
//! (`#3 [2/4] RUN make`, `#3 CACHED`, `#3 DONE 1.2s`), so a build log reads the way
//! people know. Grouping into `::group::` sections is the action module's business.

use std::io::Write;

use crate::engine::{BuildEvent, EventSink};

/// Writes one line per event to `out` (stdout in the CLI and the action).
pub struct PlainProgress<W: Write> {
    out: W,
}

impl<W: Write> PlainProgress<W> {
    pub fn new(out: W) -> Self {
        Self { out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn line(&mut self, text: &str) {
        // Nowhere to report a failed log write; the build goes on.
        let _ = writeln!(self.out, "{text}");
    }
}

impl<W: Write> EventSink for PlainProgress<W> {
    fn event(&mut self, event: BuildEvent) {
        match event {
            BuildEvent::Phase(p) => self.line(&format!("=> {p}")),
            BuildEvent::Notice(n) => self.line(&format!("=> {n}")),
            BuildEvent::Warning(w) => self.line(&format!("WARNING: {w}")),
            // Per-layer byte counts are for the live view; the plain stream stays as buildx
            // prints steps, and the summary gives the cache totals.
            BuildEvent::CacheTransfer { .. } => {}
            BuildEvent::StepStarted { index, name } => self.line(&format!("#{} {name}", index + 1)),
            BuildEvent::StepLog { index, text, .. } => {
                for l in text.lines() {
                    self.line(&format!("#{} {l}", index + 1));
                }
            }
            BuildEvent::StepFinished {
                index,
                cached,
                duration,
                error,
                ..
            } => {
                let n = index + 1;
                match (error, cached) {
                    (Some(e), _) => self.line(&format!("#{n} ERROR: {e}")),
                    (None, true) => self.line(&format!("#{n} CACHED")),
                    (None, false) => {
                        let secs = duration.map_or(0.0, |d| d.as_secs_f64());
                        self.line(&format!("#{n} DONE {secs:.1}s"));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn events_read_like_buildx_plain_progress() {
        let mut p = PlainProgress::new(Vec::new());
        let name = "[2/3] RUN make".to_owned();
        p.event(BuildEvent::StepStarted {
            index: 4,
            name: name.clone(),
        });
        p.event(BuildEvent::StepLog {
            index: 4,
            name: name.clone(),
            text: "cc a.c\ncc b.c\n".into(),
        });
        p.event(BuildEvent::StepFinished {
            index: 4,
            name: name.clone(),
            cached: false,
            duration: Some(Duration::from_millis(1250)),
            error: None,
        });
        p.event(BuildEvent::StepFinished {
            index: 5,
            name: "x".into(),
            cached: true,
            duration: None,
            error: None,
        });
        p.event(BuildEvent::StepFinished {
            index: 6,
            name,
            cached: false,
            duration: None,
            error: Some("exit code: 2".into()),
        });
        p.event(BuildEvent::Warning("cache import failed".into()));
        let text = String::from_utf8(p.into_inner()).unwrap_or_default();
        assert_eq!(
            text,
            "#5 [2/3] RUN make\n#5 cc a.c\n#5 cc b.c\n#5 DONE 1.2s\n#6 CACHED\n#7 ERROR: exit code: 2\nWARNING: cache import failed\n"
        );
    }
}
