//! Workflow commands on stdout (docs/runner-contract.md § Workflow commands): masks,
//! groups, annotations, debug, and `stop-commands` around anything untrusted we echo. Data
//! and properties are escaped the way the toolkit's `escapeData`/`escapeProperty` do (`%`
//! first).

use std::io::Write;

/// Annotation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

impl Level {
    fn command(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Notice => "notice",
        }
    }
}

/// Where an annotation points.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    pub file: Option<String>,
    pub line: Option<u32>,
    pub end_line: Option<u32>,
    pub col: Option<u32>,
    pub title: Option<String>,
}

pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Format one command line (without the trailing newline).
pub fn command(name: &str, props: &[(&str, String)], data: &str) -> String {
    let mut line = format!("::{name}");
    for (i, (k, v)) in props.iter().enumerate() {
        line.push(if i == 0 { ' ' } else { ',' });
        line.push_str(k);
        line.push('=');
        line.push_str(&escape_property(v));
    }
    line.push_str("::");
    line.push_str(&escape_data(data));
    line
}

/// How commands are rendered: as workflow commands for the runner, or as plain lines for
/// a terminal (`layercache build` outside GitHub).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    GitHub,
    Plain,
}

/// Writes workflow commands to stdout (or any writer in tests). Write errors on stdout
/// are ignored: there is nowhere left to report them.
pub struct Workflow<W: Write> {
    out: W,
    style: Style,
    /// The `stop-commands` token while untrusted text is being printed; closed before our
    /// next command, so our own commands are never inside a fence.
    fence: Option<String>,
}

impl Workflow<std::io::Stdout> {
    pub fn stdout(style: Style) -> Self {
        Self::with_style(std::io::stdout(), style)
    }
}

impl<W: Write> Workflow<W> {
    fn with_style(out: W, style: Style) -> Self {
        Self {
            out,
            style,
            fence: None,
        }
    }

    pub fn new(out: W) -> Self {
        Self::with_style(out, Style::GitHub)
    }

    pub fn plain(out: W) -> Self {
        Self::with_style(out, Style::Plain)
    }

    pub fn style(&self) -> Style {
        self.style
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// Write one line of ours. A command first closes an open fence.
    fn emit(&mut self, line: &str) {
        if line.starts_with("::")
            && let Some(token) = self.fence.take()
        {
            self.write_line(&format!("::{token}::"));
        }
        self.write_line(line);
    }

    fn write_line(&mut self, line: &str) {
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }

    /// Register a secret with the runner's masker; must come before any output that could
    /// contain it. Empty values are skipped (the runner only warns about them).
    pub fn add_mask(&mut self, value: &str) {
        if self.style == Style::GitHub && !value.trim().is_empty() {
            self.emit(&command("add-mask", &[], value));
        }
    }

    pub fn group(&mut self, title: &str) {
        match self.style {
            Style::GitHub => self.emit(&command("group", &[], title)),
            Style::Plain => self.emit(&format!("── {title}")),
        }
    }

    pub fn end_group(&mut self) {
        if self.style == Style::GitHub {
            self.emit("::endgroup::");
        }
    }

    pub fn debug(&mut self, message: &str) {
        match self.style {
            Style::GitHub => self.emit(&command("debug", &[], message)),
            Style::Plain => tracing::debug!("{message}"),
        }
    }

    pub fn annotate(&mut self, level: Level, message: &str, at: &Location) {
        if self.style == Style::Plain {
            let place = match (&at.file, at.line) {
                (Some(f), Some(l)) => format!(" ({f}:{l})"),
                (Some(f), None) => format!(" ({f})"),
                _ => String::new(),
            };
            self.emit(&format!("{}: {message}{place}", level.command()));
            return;
        }
        let mut props = Vec::new();
        if let Some(t) = &at.title {
            props.push(("title", t.clone()));
        }
        if let Some(f) = &at.file {
            props.push(("file", f.clone()));
            if let Some(l) = at.line {
                props.push(("line", l.to_string()));
                if let Some(e) = at.end_line.filter(|e| *e >= l) {
                    props.push(("endLine", e.to_string()));
                }
                if let Some(c) = at.col {
                    props.push(("col", c.to_string()));
                }
            }
        }
        self.emit(&command(level.command(), &props, message));
    }

    pub fn error(&mut self, message: &str) {
        self.annotate(Level::Error, message, &Location::default());
    }

    pub fn warning(&mut self, message: &str) {
        self.annotate(Level::Warning, message, &Location::default());
    }

    pub fn notice(&mut self, message: &str) {
        self.annotate(Level::Notice, message, &Location::default());
    }

    /// Print untrusted text (build output) with command parsing paused, so a line in it
    /// that looks like `::add-mask::` or `::set-env` does nothing.
    pub fn untrusted(&mut self, text: &str) {
        if self.style == Style::GitHub && self.fence.is_none() {
            let token = format!("lc-{}", uuid::Uuid::new_v4().simple());
            self.write_line(&format!("::stop-commands::{token}"));
            self.fence = Some(token);
        }
        for line in text.lines() {
            self.write_line(line);
        }
    }

    /// Close an open fence (before handing stdout to someone else, or at the end).
    pub fn end_untrusted(&mut self) {
        if let Some(token) = self.fence.take() {
            self.write_line(&format!("::{token}::"));
        }
    }

    /// A plain log line (already free of secrets).
    pub fn line(&mut self, text: &str) {
        self.emit(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(f: impl FnOnce(&mut Workflow<Vec<u8>>)) -> String {
        let mut w = Workflow::new(Vec::new());
        f(&mut w);
        String::from_utf8(w.into_inner()).unwrap()
    }

    #[test]
    fn escapes_data_and_properties() {
        assert_eq!(escape_data("50%\r\nx"), "50%25%0D%0Ax");
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
        let s = out(|w| {
            w.annotate(
                Level::Warning,
                "line1\nline2",
                &Location {
                    file: Some("/github/workspace/Dockerfile".into()),
                    line: Some(3),
                    title: Some("a, b".into()),
                    ..Default::default()
                },
            )
        });
        assert_eq!(
            s,
            "::warning title=a%2C b,file=/github/workspace/Dockerfile,line=3::line1%0Aline2\n"
        );
    }

    #[test]
    fn untrusted_text_is_fenced() {
        let s = out(|w| {
            w.untrusted("::add-mask::x\nok");
            w.untrusted("::set-env name=A::1");
            w.warning("ours");
            w.untrusted("more");
            w.end_untrusted();
        });
        let lines: Vec<&str> = s.lines().collect();
        let token = lines[0].strip_prefix("::stop-commands::").unwrap();
        assert!(
            token.len() > 6,
            "tokens longer than 6 chars are masked by the runner"
        );
        assert_eq!(
            &lines[1..4],
            ["::add-mask::x", "ok", "::set-env name=A::1"],
            "one fence for consecutive text"
        );
        assert_eq!(
            lines[4],
            format!("::{token}::"),
            "our command closes the fence first"
        );
        assert_eq!(lines[5], "::warning::ours");
        let second = lines[6].strip_prefix("::stop-commands::").unwrap();
        assert_ne!(second, token, "a fresh token for each fence");
        assert_eq!(lines[8], format!("::{second}::"));
    }

    #[test]
    fn masks_skip_empty_values() {
        assert_eq!(out(|w| w.add_mask("  ")), "");
        assert_eq!(out(|w| w.add_mask("a\nb")), "::add-mask::a%0Ab\n");
    }
}
