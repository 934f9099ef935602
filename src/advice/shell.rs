//! Just enough shell to see which programs a `RUN` line starts: split on `&&`, `||`, `;`,
//! `|`, `&` and newlines, then into words with quotes removed. No expansion; a command
//! hidden in a variable or a script is invisible here, which only means fewer findings.

use crate::dockerfile::Instruction;

/// The command text of a `RUN`: its shell form, its exec form joined with spaces, and
/// the bodies of its heredocs (which BuildKit hands to the shell).
pub fn run_command(inst: &Instruction) -> String {
    let (_, rest) = inst.flags_and_rest();
    let mut text = match serde_json::from_str::<Vec<String>>(rest) {
        Ok(words) if rest.starts_with('[') => words.join(" "),
        _ => rest.to_owned(),
    };
    for doc in &inst.heredocs {
        text.push('\n');
        text.push_str(&doc.body);
    }
    text
}

/// Simple commands in `text`, each as its words, with leading `VAR=value` assignments
/// and wrappers (`sudo`, `env`, `time`, `exec`, `nice`) removed.
pub fn simple_commands(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for segment in split_segments(text) {
        let words = words(&segment);
        let start = words
            .iter()
            .position(|w| !is_assignment(w) && !is_wrapper(w))
            .unwrap_or(words.len());
        if start < words.len() {
            out.push(words[start..].to_vec());
        }
    }
    out
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && !name.starts_with('-')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

fn is_wrapper(word: &str) -> bool {
    matches!(
        word,
        "sudo" | "env" | "time" | "exec" | "nice" | "then" | "do" | "else"
    ) || word == "("
        || word == "{"
}

/// Split on shell control operators outside quotes.
fn split_segments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                cur.push(c);
            }
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                cur.push(c);
            }
            None if matches!(c, '&' | '|' | ';' | '\n') => {
                if !cur.trim().is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                cur.clear();
            }
            None => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// Whitespace-separated words with quote characters removed.
fn words(segment: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in segment.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_operators_and_drops_wrappers() {
        let cmds = simple_commands(
            "set -eux; DEBIAN_FRONTEND=noninteractive sudo apt-get install -y 'a b' && echo \"x && y\" | tee f",
        );
        assert_eq!(cmds[0], vec!["set", "-eux"]);
        assert_eq!(cmds[1], vec!["apt-get", "install", "-y", "a b"]);
        assert_eq!(cmds[2], vec!["echo", "x && y"]);
        assert_eq!(cmds[3], vec!["tee", "f"]);
    }
}
