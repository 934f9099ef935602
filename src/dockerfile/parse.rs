//! A small Dockerfile reader: enough of BuildKit's parser to find instructions and their
//! line numbers, not a full frontend.
//!
//! Mirrors the rules of `moby/buildkit` `frontend/dockerfile/parser`: parser directives
//! (`# syntax=`, `# escape=`) only before the first comment, blank line or instruction;
//! a line ending in the escape character continues on the next one; comment lines and
//! blank lines inside a continuation are dropped; `RUN`/`COPY`/`ADD` may carry heredocs
//! (`<<EOF`, `<<-EOF`, `<<"EOF"`), whose bodies follow the instruction line.

/// One instruction, with its continuation lines joined and heredoc bodies split off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Upper-cased keyword (`RUN`, `FROM`, ...).
    pub keyword: String,
    /// Everything after the keyword, continuation lines joined, trimmed.
    pub args: String,
    /// 1-based line of the keyword.
    pub line: usize,
    /// Heredoc bodies, in the order their markers appear.
    pub heredocs: Vec<Heredoc>,
}

/// A heredoc attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub body: String,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character (`\` unless `# escape=` says otherwise).
    pub escape: char,
    /// Parser directives, keys lower-cased (`syntax`, `escape`, `check`).
    pub directives: Vec<(String, String)>,
    pub instructions: Vec<Instruction>,
}

impl Instruction {
    /// Leading `--flag[=value]` words and the rest of the arguments.
    pub fn flags_and_rest(&self) -> (Vec<&str>, &str) {
        let mut flags = Vec::new();
        let mut rest = self.args.as_str();
        while let Some(stripped) = rest.strip_prefix("--") {
            let end = stripped.find(char::is_whitespace).unwrap_or(stripped.len());
            flags.push(&rest[..end + 2]);
            rest = rest[end + 2..].trim_start();
        }
        (flags, rest)
    }

    /// The value of flag `--name=value`, if given.
    pub fn flag(&self, name: &str) -> Option<&str> {
        let (flags, _) = self.flags_and_rest();
        flags.into_iter().find_map(|f| {
            f.strip_prefix("--")
                .and_then(|f| f.strip_prefix(name))
                .and_then(|f| f.strip_prefix('='))
        })
    }
}

/// Parse Dockerfile text. Never fails: text that is not an instruction is skipped,
/// because findings on a broken Dockerfile are worth less than BuildKit's own error.
pub fn parse(text: &str) -> Dockerfile {
    let lines: Vec<&str> = text.lines().collect();
    let (directives, mut i) = read_directives(&lines);
    let escape = directives
        .iter()
        .find(|(k, _)| k == "escape")
        .and_then(|(_, v)| v.chars().next())
        .filter(|c| *c == '\\' || *c == '`')
        .unwrap_or('\\');
    let mut instructions = Vec::new();
    while i < lines.len() {
        let trimmed = lines[i].trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i;
        let (logical, next) = join_continuations(&lines, i, escape);
        i = next;
        let (keyword, args) = split_keyword(&logical);
        let mut heredocs = Vec::new();
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            for (name, strip_tabs) in heredoc_markers(&args) {
                let (body, after) = read_heredoc(&lines, i, &name, strip_tabs);
                i = after;
                heredocs.push(Heredoc { name, body });
            }
        }
        instructions.push(Instruction {
            keyword,
            args,
            line: start + 1,
            heredocs,
        });
    }
    Dockerfile {
        escape,
        directives,
        instructions,
    }
}

/// Read `# key=value` lines at the top; return them and the index of the first other line.
fn read_directives(lines: &[&str]) -> (Vec<(String, String)>, usize) {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        let Some(body) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = body.split_once('=') else {
            break;
        };
        let key = key.trim().to_ascii_lowercase();
        let valid = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric());
        // A repeated directive is an error in BuildKit; either way it ends the block.
        if !valid || key.contains(' ') || out.iter().any(|(k, _)| *k == key) {
            break;
        }
        out.push((key, value.trim().to_owned()));
        i += 1;
    }
    (out, i)
}

/// Join line `i` with its continuation lines. Returns the logical line and the index of
/// the line after the last one used.
fn join_continuations(lines: &[&str], mut i: usize, escape: char) -> (String, usize) {
    let mut logical = String::new();
    loop {
        let line = lines[i].trim_end();
        i += 1;
        match line.strip_suffix(escape) {
            Some(head) => {
                logical.push_str(head);
                // Comment and blank lines inside a continuation are removed by BuildKit.
                while i < lines.len() {
                    let t = lines[i].trim();
                    if t.is_empty() || t.starts_with('#') {
                        i += 1;
                    } else {
                        break;
                    }
                }
                if i >= lines.len() {
                    return (logical, i);
                }
            }
            None => {
                logical.push_str(line);
                return (logical, i);
            }
        }
    }
}

fn split_keyword(logical: &str) -> (String, String) {
    let t = logical.trim();
    let end = t.find(char::is_whitespace).unwrap_or(t.len());
    (t[..end].to_ascii_uppercase(), t[end..].trim().to_owned())
}

/// Heredoc markers in an instruction's arguments: name and whether `<<-` strips tabs.
/// `<<<` (a here-string) is not a heredoc.
fn heredoc_markers(args: &str) -> Vec<(String, bool)> {
    let bytes = args.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(found) = args[pos..].find("<<") {
        let at = pos + found;
        pos = at + 2;
        if bytes.get(pos) == Some(&b'<') || (at > 0 && bytes[at - 1] == b'<') {
            pos += 1;
            continue;
        }
        let mut rest = &args[pos..];
        let strip_tabs = rest.starts_with('-');
        if strip_tabs {
            rest = &rest[1..];
        }
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
        if let Some(q) = quote {
            rest = &rest[1..];
            if let Some(end) = rest.find(q) {
                out.push((rest[..end].to_owned(), strip_tabs));
            }
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()) {
            out.push((name, strip_tabs));
        }
    }
    out
}

/// Read a heredoc body starting at line `i` up to the terminator line.
fn read_heredoc(lines: &[&str], mut i: usize, name: &str, strip_tabs: bool) -> (String, usize) {
    let mut body = String::new();
    while i < lines.len() {
        let raw = lines[i];
        i += 1;
        let line = if strip_tabs {
            raw.trim_start_matches('\t')
        } else {
            raw
        };
        if line == name {
            break;
        }
        body.push_str(line);
        body.push('\n');
    }
    (body, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_comments_and_directives() {
        let df = parse(
            "# syntax=docker/dockerfile:1\n# escape=`\n\nFROM base\nRUN a `\n  # note\n\n  b\nCOPY x y\n",
        );
        assert_eq!(df.escape, '`');
        assert_eq!(df.directives.len(), 2);
        let kw: Vec<_> = df
            .instructions
            .iter()
            .map(|i| (i.keyword.as_str(), i.line))
            .collect();
        assert_eq!(kw, vec![("FROM", 4), ("RUN", 5), ("COPY", 9)]);
        assert_eq!(df.instructions[1].args, "a   b");
    }

    #[test]
    fn directive_after_comment_is_a_comment() {
        let df = parse("# hello\n# escape=`\nFROM a\nRUN x \\\n y\n");
        assert_eq!(df.escape, '\\');
        assert_eq!(df.instructions[1].args, "x  y");
    }

    #[test]
    fn heredocs_are_split_off() {
        let df = parse(
            "FROM a\nRUN <<EOF bash\napt-get update\nEOF\nCOPY <<-\"X\" <<Y /f\n\tone\n\tX\ntwo\nY\nRUN cat <<<x\n",
        );
        let run = &df.instructions[1];
        assert_eq!(run.heredocs[0].body, "apt-get update\n");
        let copy = &df.instructions[2];
        assert_eq!(copy.line, 5);
        assert_eq!(copy.heredocs.len(), 2);
        assert_eq!(copy.heredocs[0].body, "one\n");
        assert_eq!(copy.heredocs[1].body, "two\n");
        assert_eq!(df.instructions[3].line, 10);
        assert!(df.instructions[3].heredocs.is_empty());
    }

    #[test]
    fn flags_are_separated() {
        let df = parse("COPY --chown=1:1 --link . /app\n");
        let (flags, rest) = df.instructions[0].flags_and_rest();
        assert_eq!(flags, vec!["--chown=1:1", "--link"]);
        assert_eq!(rest, ". /app");
        assert_eq!(df.instructions[0].flag("chown"), Some("1:1"));
    }
}
