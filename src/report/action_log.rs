//! Build events in the step log: buildx-plain lines (see [`super::PlainProgress`]), with
//! everything the build itself printed (step names come from the Dockerfile, step output
//! from its commands) fenced by `stop-commands`, so a line in a build cannot mask, annotate
//! or set anything. Our own warnings and notices become annotations.

use std::io::Write;

use super::PlainProgress;
use crate::action::workflow::Workflow;
use crate::engine::{BuildEvent, EventSink};

pub struct ActionLog<'a, W: Write> {
    wf: &'a mut Workflow<W>,
}

impl<'a, W: Write> ActionLog<'a, W> {
    pub fn new(wf: &'a mut Workflow<W>) -> Self {
        Self { wf }
    }
}

impl<W: Write> EventSink for ActionLog<'_, W> {
    fn event(&mut self, event: BuildEvent) {
        match event {
            BuildEvent::Warning(w) => self.wf.warning(&w),
            BuildEvent::Notice(n) => self.wf.notice(&n),
            other => {
                let mut plain = PlainProgress::new(Vec::new());
                plain.event(other);
                self.wf
                    .untrusted(&String::from_utf8_lossy(&plain.into_inner()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_output_cannot_issue_commands() {
        let mut wf = Workflow::new(Vec::new());
        let mut log = ActionLog::new(&mut wf);
        let name = "[2/2] RUN echo".to_owned();
        log.event(BuildEvent::StepLog {
            index: 1,
            name,
            text: "::add-mask::x\n::warning::fake\n".into(),
        });
        log.event(BuildEvent::Warning("real".into()));
        let out = String::from_utf8(wf.into_inner()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        let token = lines[0].strip_prefix("::stop-commands::").unwrap();
        assert_eq!(lines[1], "#2 ::add-mask::x");
        assert_eq!(lines[3], format!("::{token}::"));
        assert_eq!(lines[4], "::warning::real");
    }
}
