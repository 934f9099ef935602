//! Find the Dockerfile line of a BuildKit step, so a failing step can be annotated where it
//! is written. BuildKit 0.8 sends no source map with the error, but its step names carry
//! the stage and the instruction with build args expanded (`[build 2/4] RUN echo hi`);
//! they are matched against the file's instructions, continuations joined and `$VAR`
//! references standing for any text.

use regex_lite::Regex;

use super::parse;

/// An instruction as a step name is matched against it.
struct Located {
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
    let hits: Vec<Located> = instructions(dockerfile)
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

/// The file's instructions as BuildKit names them, each with its stage.
fn instructions(dockerfile: &str) -> Vec<Located> {
    let mut stage = None::<String>;
    parse(dockerfile)
        .instructions
        .into_iter()
        .map(|i| {
            let text = normalize(&format!("{} {}", i.keyword, i.args));
            if i.keyword == "FROM" {
                let words: Vec<&str> = i.args.split_whitespace().collect();
                stage = words
                    .windows(2)
                    .find(|w| w[0].eq_ignore_ascii_case("as"))
                    .map(|w| w[1].to_owned());
            }
            Located {
                line: i.line,
                text,
                stage: stage.clone(),
            }
        })
        .collect()
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
