//! What the advice reports: one finding per Dockerfile line, printable for a terminal or
//! as a workflow `::warning` annotation.

use std::fmt;

use crate::action::workflow::command;

/// The pattern a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// The whole build context is copied before a dependency install.
    ContextCopy,
    /// `apt-get update` runs in a different `RUN` than the install that needs it.
    AptUpdateSplit,
    /// A base image with `:latest` or no tag.
    FloatingBase,
    /// `ADD` of a remote URL.
    RemoteAdd,
}

impl Rule {
    /// Stable short name, used in output and tests.
    pub fn code(self) -> &'static str {
        match self {
            Self::ContextCopy => "context-copy",
            Self::AptUpdateSplit => "apt-update-split",
            Self::FloatingBase => "floating-base",
            Self::RemoteAdd => "remote-add",
        }
    }
}

/// One piece of advice about one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The Dockerfile path as the caller named it.
    pub file: String,
    /// 1-based line of the instruction.
    pub line: usize,
    pub rule: Rule,
    pub message: String,
}

impl Finding {
    /// The finding as a workflow command the runner turns into a warning annotation
    /// (docs/runner-contract.md § Workflow commands: properties escape `%`, CR, LF, `:` and
    /// `,`; data escapes `%`, CR, LF).
    pub fn annotation(&self) -> String {
        let title = format!("layercache cache advice ({})", self.rule.code());
        command(
            "warning",
            &[
                ("file", self.file.clone()),
                ("line", self.line.to_string()),
                ("title", title),
            ],
            &self.message,
        )
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file,
            self.line,
            self.rule.code(),
            self.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_escapes_properties_and_data() {
        let f = Finding {
            file: "a,b:c/Dockerfile".into(),
            line: 3,
            rule: Rule::RemoteAdd,
            message: "100% sure\nreally".into(),
        };
        assert_eq!(
            f.annotation(),
            "::warning file=a%2Cb%3Ac/Dockerfile,line=3,title=layercache cache advice (remote-add)::100%25 sure%0Areally"
        );
    }
}
