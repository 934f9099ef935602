//! Find the Dockerfile line of a BuildKit step, so a failing step can be annotated where it
//! is written. BuildKit 0.8 sends no source map with the error, but its step names carry
//! the stage and the instruction with build args expanded (`[build 2/4] RUN echo hi`);
//! they are matched against the file's instructions, continuations joined and `$VAR`
//! references standing for any text.

use regex_lite::Regex;

struct Instruction {
    line: usize,
    text: String,
    stage: Option<String>,
}

/// The 1-based line of the instruction BuildKit calls `step` (`[2/3] RUN make`).
pub fn locate_step(dockerfile: &str, step: &str) -> Option<usize> {
    let (tag, instruction) = step.strip_prefix('[')?.split_once("] ")?;
    let stage = tag.rsplit_once(' ').map(|(s, _)| s.to_owned());
    let want = normalize(instruction);
    // FROM steps name the resolved image (`docker.io/library/base:latest`), not the text.
    let is_from = want.starts_with("FROM ");
    let hits: Vec<Instruction> = instructions(dockerfile)
        .into_iter()
        .filter(|i| match is_from {
            true => i.text.starts_with("FROM "),
            false => pattern(&i.text).is_some_and(|re| re.is_match(&want)),
        })
        .collect();
    if is_from && stage.is_none() && hits.len() > 1 {
        // An unnamed stage: the last FROM without a name is the best guess.
        return hits
            .iter()
            .rev()
            .find(|i| i.stage.is_none())
            .map(|i| i.line);
    }
    let in_stage = hits.iter().find(|i| stage.is_some() && i.stage == stage);
    in_stage.or(hits.first()).map(|i| i.line)
}

fn instructions(dockerfile: &str) -> Vec<Instruction> {
    let escape = escape_char(dockerfile);
    let mut out = Vec::new();
    let (mut start, mut text, mut stage) = (None, String::new(), None::<String>);
    for (i, line) in dockerfile.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (start.is_none() && trimmed.is_empty()) {
            continue;
        }
        start.get_or_insert(i + 1);
        if let Some(head) = trimmed.strip_suffix(escape) {
            text.push_str(head);
            text.push(' ');
            continue;
        }
        text.push_str(trimmed);
        let norm = normalize(&text);
        if norm.starts_with("FROM ") {
            let words: Vec<&str> = norm.split_whitespace().collect();
            stage = words
                .windows(2)
                .find(|w| w[0].eq_ignore_ascii_case("as"))
                .map(|w| w[1].to_owned());
        }
        out.push(Instruction {
            line: start.take().unwrap_or(i + 1),
            text: norm,
            stage: stage.clone(),
        });
        text.clear();
    }
    out
}

/// A regex for one instruction: literal text, with `$NAME` and `${...}` matching anything.
fn pattern(instruction: &str) -> Option<Regex> {
    let var = Regex::new(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*").ok()?;
    let mut re = String::from("^");
    let mut last = 0;
    for m in var.find_iter(instruction) {
        re.push_str(&regex_lite::escape(&instruction[last..m.start()]));
        re.push_str(".*?");
        last = m.end();
    }
    re.push_str(&regex_lite::escape(&instruction[last..]));
    re.push('$');
    Regex::new(&re).ok()
}

fn escape_char(dockerfile: &str) -> char {
    let directive = dockerfile
        .lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| {
            let l = l.trim_start_matches('#').trim();
            l.strip_prefix("escape=").map(str::trim)
        });
    if directive == Some("`") { '`' } else { '\\' }
}

/// Keyword upper-cased, whitespace collapsed.
fn normalize(s: &str) -> String {
    let mut words = s.split_whitespace();
    let mut out = words
        .next()
        .map(str::to_ascii_uppercase)
        .unwrap_or_default();
    for w in words {
        out.push(' ');
        out.push_str(w);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::locate_step;

    const DF: &str = "# syntax=docker/dockerfile:1\nARG BASE=base\nFROM $BASE AS build\nARG GREETING\n\nRUN echo one \\\n    && echo \"$GREETING\"\n# note\nrun   exit 3\nCOPY . /src\n\nFROM build AS final\nRUN exit 3\n";

    #[test]
    fn finds_instructions_across_continuations_comments_and_args() {
        assert_eq!(
            locate_step(DF, "[build 1/4] FROM docker.io/library/base"),
            Some(3)
        );
        assert_eq!(
            locate_step(DF, "[build 2/4] RUN echo one && echo \"hi\""),
            Some(6)
        );
        assert_eq!(locate_step(DF, "[build 3/4] RUN exit 3"), Some(9));
        assert_eq!(locate_step(DF, "[build 4/4] COPY . /src"), Some(10));
        assert_eq!(locate_step(DF, "[final 2/2] RUN exit 3"), Some(13));
        assert_eq!(locate_step(DF, "[2/2] RUN missing"), None);
        assert_eq!(locate_step(DF, "exporting to image"), None);
    }
}
