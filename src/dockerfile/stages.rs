//! Build stages: which instructions belong to which `FROM`, the stage names, and the
//! global `ARG` defaults a `FROM` line may use.

use std::collections::BTreeMap;

use super::parse::{Dockerfile, Instruction};

/// One stage: its `FROM`, its name and the instructions after it.
#[derive(Debug)]
pub struct Stage<'a> {
    pub from: &'a Instruction,
    /// The image reference as written (first word after the flags).
    pub base: String,
    /// `AS name`, lower-cased (stage names are case-insensitive).
    pub name: Option<String>,
    /// Index of an earlier stage this one starts from, if `base` names one.
    pub parent: Option<usize>,
    pub body: Vec<&'a Instruction>,
}

/// Split a Dockerfile into stages. Instructions before the first `FROM` (global `ARG`s)
/// belong to no stage.
pub fn stages(df: &Dockerfile) -> Vec<Stage<'_>> {
    let mut out: Vec<Stage<'_>> = Vec::new();
    for inst in &df.instructions {
        if inst.keyword == "FROM" {
            let (_, rest) = inst.flags_and_rest();
            let words: Vec<&str> = rest.split_whitespace().collect();
            let base = words.first().copied().unwrap_or_default().to_owned();
            let name = match words.as_slice() {
                [_, kw, name, ..] if kw.eq_ignore_ascii_case("as") => {
                    Some(name.to_ascii_lowercase())
                }
                _ => None,
            };
            let lower = base.to_ascii_lowercase();
            let parent = out
                .iter()
                .position(|s| s.name.as_deref() == Some(lower.as_str()));
            out.push(Stage {
                from: inst,
                base,
                name,
                parent,
                body: Vec::new(),
            });
        } else if let Some(stage) = out.last_mut() {
            stage.body.push(inst);
        }
    }
    out
}

/// The stage names of a Dockerfile's text (`FROM ... AS name`, lower-cased), in order:
/// what `target` may name.
pub fn stage_names(text: &str) -> Vec<String> {
    let df = super::parse::parse(text);
    stages(&df).into_iter().filter_map(|s| s.name).collect()
}

/// Defaults of `ARG`s declared before the first `FROM`, overridden by `build_args`.
pub fn global_args(
    df: &Dockerfile,
    build_args: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for inst in df.instructions.iter().take_while(|i| i.keyword != "FROM") {
        if inst.keyword != "ARG" {
            continue;
        }
        for word in inst.args.split_whitespace() {
            if let Some((k, v)) = word.split_once('=') {
                out.insert(
                    k.to_owned(),
                    v.trim_matches(|c| c == '"' || c == '\'').to_owned(),
                );
            }
        }
    }
    for (k, v) in build_args {
        out.insert(k.clone(), v.clone());
    }
    out
}

/// Expand `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME-default}`. `None` when a
/// variable has no value: the reference cannot be judged then.
pub fn expand(text: &str, vars: &BTreeMap<String, String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, default, used) = if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}')?;
            let body = &inner[..end];
            let (name, default) = match body.split_once(":-").or_else(|| body.split_once('-')) {
                Some((n, d)) => (n, Some(d)),
                None => (body, None),
            };
            (name, default, end + 2)
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..len], None, len)
        };
        let value = vars
            .get(name)
            .filter(|v| !v.is_empty())
            .map(String::as_str)
            .or(default)?;
        out.push_str(value);
        rest = &after[used..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_known_variables_only() {
        let vars = BTreeMap::from([("V".to_owned(), "3.12".to_owned())]);
        assert_eq!(
            expand("python:$V-slim", &vars).as_deref(),
            Some("python:3.12-slim")
        );
        assert_eq!(expand("python:${V}", &vars).as_deref(), Some("python:3.12"));
        assert_eq!(expand("node:${N:-20}", &vars).as_deref(), Some("node:20"));
        assert_eq!(expand("${IMAGE}", &vars), None);
    }
}
