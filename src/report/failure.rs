//! The one message a failed command leaves. Under the runner it is an `::error::`
//! annotation on stdout (at the Dockerfile line when the failure has one); in a terminal it
//! is an `error: ...` line on stderr. Commands never print their own failure, so there is
//! exactly one such message, and never none.

use std::io::Write;

use crate::action::workflow::{Level, Location, Style, Workflow};

/// Show `message` (and where it happened, when known) in `style`.
pub fn show_failure(style: Style, message: &str, at: Option<&Location>) {
    let at = at.cloned().unwrap_or_default();
    match style {
        Style::GitHub => write_failure(&mut Workflow::stdout(Style::GitHub), message, &at),
        Style::Plain => write_failure(&mut Workflow::plain(std::io::stderr()), message, &at),
    }
}

fn write_failure<W: Write>(wf: &mut Workflow<W>, message: &str, at: &Location) {
    wf.annotate(Level::Error, message, at);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(mut wf: Workflow<Vec<u8>>, message: &str, at: &Location) -> String {
        write_failure(&mut wf, message, at);
        String::from_utf8_lossy(&wf.into_inner()).into_owned()
    }

    #[test]
    fn one_line_in_either_form() {
        let at = Location {
            file: Some("Dockerfile".into()),
            line: Some(3),
            ..Default::default()
        };
        assert_eq!(
            shown(Workflow::new(Vec::new()), "exit code: 2", &at),
            "::error file=Dockerfile,line=3::exit code: 2\n"
        );
        assert_eq!(
            shown(Workflow::plain(Vec::new()), "exit code: 2", &at),
            "error: exit code: 2 (Dockerfile:3)\n"
        );
    }
}
