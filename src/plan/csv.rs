//! Splitting of list inputs and CSV entries, as build-push-action and buildx do it.
//!
//! Two levels, like the toolkit (`Util.getInputList`) and buildx (`encoding/csv`):
//! an input is split into entries (per line, and per comma for comma-lists), and an entry
//! such as `type=registry,ref=a/b:cache,mode=max` is split into `key=value` attributes.
//! Double quotes keep commas inside a field (`"dest=a,b"`); `""` inside quotes is a quote.

use crate::action::names::InputKind;

/// Why a line could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("unbalanced quotes in {line:?}")]
    UnbalancedQuotes { line: String },
}

/// Split one line into CSV fields: commas separate, double quotes group, `""` escapes a
/// quote inside a quoted field. A quote in the middle of an unquoted field is literal
/// (csv-parse's `relaxQuotes`, which the toolkit uses).
pub fn split_fields(line: &str) -> Result<Vec<String>, SplitError> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            }
            '"' if at_field_start || field.trim().is_empty() => {
                field.clear();
                in_quotes = true;
            }
            ',' if !in_quotes => {
                fields.push(std::mem::take(&mut field));
                at_field_start = true;
                continue;
            }
            _ => field.push(c),
        }
        at_field_start = false;
    }
    if in_quotes {
        return Err(SplitError::UnbalancedQuotes {
            line: line.to_owned(),
        });
    }
    fields.push(field);
    Ok(fields)
}

/// Split a raw input into its entries according to its kind. Empty entries are dropped
/// and entries are trimmed, as the toolkit does. `Text` and `Bool` give the trimmed
/// value as one entry (or none when empty).
pub fn split_input(raw: &str, kind: InputKind) -> Result<Vec<String>, SplitError> {
    let mut out = Vec::new();
    match kind {
        InputKind::Text | InputKind::Bool => {
            let v = raw.trim();
            if !v.is_empty() {
                out.push(v.to_owned());
            }
        }
        InputKind::List => {
            for line in raw.lines().filter(|l| !l.trim().is_empty()) {
                let fields = split_fields(line)?;
                // A line that is one (possibly quoted) field is that field, unquoted; a line
                // of several fields stays as written, so the entry parser sees its quotes.
                let entry = match fields.as_slice() {
                    [single] => single.trim().to_owned(),
                    _ => line.trim().to_owned(),
                };
                if !entry.is_empty() {
                    out.push(entry);
                }
            }
        }
        InputKind::ListCsv => {
            for line in raw.lines() {
                for field in split_fields(line)? {
                    let field = field.trim();
                    if !field.is_empty() {
                        out.push(field.to_owned());
                    }
                }
            }
        }
    }
    Ok(out)
}

/// One `key=value` attribute of an entry. `value` is `None` for a bare word (`type=gha`'s
/// shorthand forms are resolved by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub key: String,
    pub value: Option<String>,
}

/// Split an entry into attributes. A field without `=` that follows a `key=value` field
/// continues that value (`dest=a,b` written as one quoted entry keeps its comma).
pub fn split_attrs(entry: &str) -> Result<Vec<Attr>, SplitError> {
    let mut attrs: Vec<Attr> = Vec::new();
    for field in split_fields(entry)? {
        let field = field.trim();
        if field.is_empty() {
            continue;
        }
        match field.split_once('=') {
            Some((k, v)) => attrs.push(Attr {
                key: k.trim().to_owned(),
                value: Some(v.to_owned()),
            }),
            None => match attrs.last_mut() {
                Some(Attr {
                    value: Some(prev), ..
                }) => {
                    prev.push(',');
                    prev.push_str(field);
                }
                _ => attrs.push(Attr {
                    key: field.to_owned(),
                    value: None,
                }),
            },
        }
    }
    Ok(attrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use InputKind::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn lists_split_like_the_toolkit() {
        let cases: &[(&str, InputKind, &[&str])] = &[
            ("a,b\nc", ListCsv, &["a", "b", "c"]),
            (" a , b \n\n", ListCsv, &["a", "b"]),
            ("\"a,b\",c", ListCsv, &["a,b", "c"]),
            (
                "type=gha,mode=max\ntype=local,dest=x",
                List,
                &["type=gha,mode=max", "type=local,dest=x"],
            ),
            ("\"type=local,dest=a,b\"", List, &["type=local,dest=a,b"]),
            (
                "type=local,\"dest=a,b\"",
                List,
                &["type=local,\"dest=a,b\""],
            ),
            ("KEY=a,b", List, &["KEY=a,b"]),
            ("  spaced  ", Text, &["spaced"]),
            ("", ListCsv, &[]),
        ];
        for (raw, kind, want) in cases {
            assert_eq!(split_input(raw, *kind).unwrap(), s(want), "input {raw:?}");
        }
    }

    #[test]
    fn unbalanced_quotes_are_an_error() {
        assert!(split_input("\"a,b", ListCsv).is_err());
        assert!(split_input("type=local,\"dest=a", List).is_err());
    }

    #[test]
    fn attrs_keep_quoted_commas() {
        let attrs = split_attrs("type=local,\"dest=a,b\"").unwrap();
        assert_eq!(attrs[1].value.as_deref(), Some("a,b"));
        let attrs = split_attrs("type=local,dest=a,b").unwrap();
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs[1].value.as_deref(), Some("a,b"));
        let attrs = split_attrs("user/app:cache").unwrap();
        assert_eq!(attrs[0].value, None);
        let attrs = split_attrs("a=\"x\"\"y\"").unwrap();
        assert_eq!(
            attrs[0].value.as_deref(),
            Some("\"x\"\"y\""),
            "quotes mid-field are literal"
        );
    }
}
