//! Find the Dockerfile line of a BuildKit step, so a failing step can be annotated where it
//! is written. BuildKit 0.8 sends no source map with the error, but its step names carry
//! the instruction text (`[2/3] RUN make`), which is matched against the file's
//! instructions with line continuations joined.

/// The 1-based line where the instruction `instruction` (`RUN make`) starts.
pub fn locate(dockerfile: &str, instruction: &str) -> Option<usize> {
    let want = normalize(instruction);
    let mut start = None;
    let mut text = String::new();
    let escape = escape_char(dockerfile);
    for (i, line) in dockerfile.lines().enumerate() {
        let trimmed = line.trim();
        if start.is_none() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if start.is_some() && trimmed.starts_with('#') {
            continue;
        }
        start.get_or_insert(i + 1);
        match trimmed.strip_suffix(escape) {
            Some(head) => {
                text.push_str(head);
                text.push(' ');
            }
            None => {
                text.push_str(trimmed);
                if normalize(&text) == want {
                    return start;
                }
                start = None;
                text.clear();
            }
        }
    }
    None
}

fn escape_char(dockerfile: &str) -> char {
    let directive = dockerfile
        .lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| {
            let l = l.trim_start_matches('#').trim();
            l.strip_prefix("escape=").map(str::trim)
        });
    match directive {
        Some("`") => '`',
        _ => '\\',
    }
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
    use super::locate;

    #[test]
    fn finds_instructions_across_continuations_and_comments() {
        let df = "# syntax=docker/dockerfile:1\nFROM base AS build\n\nRUN echo one \\\n    && echo two\n# note\nrun   exit 3\nCOPY . /src\n";
        assert_eq!(locate(df, "FROM base AS build"), Some(2));
        assert_eq!(locate(df, "RUN echo one && echo two"), Some(4));
        assert_eq!(locate(df, "RUN exit 3"), Some(7));
        assert_eq!(locate(df, "COPY . /src"), Some(8));
        assert_eq!(locate(df, "RUN missing"), None);
    }
}
