//! Where log lines go: stderr, which is also where the live build view draws. A line
//! written between two redraws would tear the view (indicatif would then erase the wrong
//! rows), so while a view is on screen each log line is written with the view cleared
//! and drawn again below it.

use std::io::{self, Write};
use std::sync::Mutex;

use indicatif::MultiProgress;

/// The live view on screen, if any.
static ON_SCREEN: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Register (or, with `None`, withdraw) the view log lines must be printed above.
pub(super) fn set_on_screen(view: Option<MultiProgress>) {
    if let Ok(mut slot) = ON_SCREEN.lock() {
        *slot = view;
    }
}

/// stderr for `tracing`, aware of the live view: `with_writer(LogWriter::default)`.
/// tracing-subscriber's fmt layer writes each event in one `write_all`, so a whole line
/// goes out in one suspension.
#[derive(Debug, Default)]
pub struct LogWriter;

impl LogWriter {
    fn write_to(&self, err: &mut dyn Write, buf: &[u8]) -> io::Result<()> {
        let view = ON_SCREEN.lock().ok().and_then(|slot| slot.clone());
        match view {
            Some(view) => view.suspend(|| err.write_all(buf)),
            None => err.write_all(buf),
        }
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_to(&mut io::stderr().lock(), buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use indicatif::{InMemoryTerm, ProgressBar, ProgressDrawTarget};

    use super::*;

    #[test]
    fn a_log_line_goes_out_with_the_view_cleared_and_is_redrawn_after() {
        let term = InMemoryTerm::new(10, 40);
        let view =
            MultiProgress::with_draw_target(ProgressDrawTarget::term_like(Box::new(term.clone())));
        let bar = view.add(ProgressBar::new_spinner().with_message("running step"));
        bar.tick();
        set_on_screen(Some(view.clone()));
        let mut seen_during_write = String::new();
        let mut probe = Probe(&term, &mut seen_during_write);
        let written = LogWriter.write_to(&mut probe, b"INFO cache hit\n");
        set_on_screen(None);
        assert!(written.is_ok());
        assert_eq!(
            seen_during_write, "",
            "the bars are cleared while a log line is written"
        );
        std::thread::sleep(Duration::from_millis(50));
        bar.tick();
        assert!(
            term.contents().contains("running step"),
            "{}",
            term.contents()
        );
    }

    /// A writer that records what the fake terminal showed when the line was written.
    struct Probe<'a>(&'a InMemoryTerm, &'a mut String);

    impl Write for Probe<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            *self.1 = self.0.contents();
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}
