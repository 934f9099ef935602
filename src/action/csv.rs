//! Splitting of list inputs and CSV entries, as build-push-action and buildx do it.
//!
//! Two levels. An input is split into entries the way the toolkit's `Util.getList` does
//! (docs/inputs.md): the whole value is read as CSV (csv-parse with relaxed quotes and
//! column counts, empty lines skipped, quoted fields spanning lines, `""` for a quote),
//! then each record gives its fields (comma lists) or its fields joined by commas
//! (`ignoreComma` lists). An entry such as `type=registry,ref=a/b:cache,mode=max` is
//! then split into `key=value` attributes as buildx does, with keys lower-cased.

use crate::action::names::InputKind;

/// Why a value could not be split. Never quotes the value: it may be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error(
        "the quote opened on line {line} is never closed (close it; inside a quoted value write a quote as \"\")"
    )]
    UnclosedQuote { line: usize },
}

/// How `Util.getList` is called for an input (its `ListOpts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListOpts {
    /// Keep a record's commas: one entry per record (`ignoreComma`).
    pub ignore_comma: bool,
    /// Double quotes group (`quote: false` turns that off, as for `outputs`).
    pub quote: bool,
    /// Trim each entry (`trimWhitespace: false` keeps it, as for `secrets`).
    pub trim: bool,
}

impl ListOpts {
    /// The options build-push-action passes for an input of this kind.
    pub fn for_kind(kind: InputKind) -> Self {
        let (ignore_comma, quote, trim) = match kind {
            InputKind::ListCsv => (false, true, true),
            InputKind::ListVerbatim => (true, false, true),
            InputKind::ListUntrimmed => (true, true, false),
            InputKind::List | InputKind::Text | InputKind::Bool => (true, true, true),
        };
        Self {
            ignore_comma,
            quote,
            trim,
        }
    }
}

/// The records of a CSV text as csv-parse reads them with `relax_quotes`,
/// `relax_column_count` and `skip_empty_lines`. The record delimiter is the first of
/// `\r\n`, `\n` or `\r` met outside quotes; the others are then ordinary characters.
fn records(input: &str, quote: bool) -> Result<Vec<Vec<String>>, SplitError> {
    let mut out = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut quoting = false;
    let mut was_quoting = false;
    let mut delimiter: Option<&str> = None;
    let (mut line, mut quote_line) = (1, 1);
    let mut rest = input;
    while let Some(c) = rest.chars().next() {
        let next = rest[c.len_utf8()..].chars().next();
        if c == '\n' {
            line += 1;
        }
        if quoting {
            rest = &rest[c.len_utf8()..];
            if c != '"' {
                field.push(c);
            } else if next == Some('"') {
                field.push('"');
                rest = &rest[1..];
            } else {
                quoting = false;
                was_quoting = true;
                let closes = match next {
                    None | Some(',') => true,
                    Some(_) => ends_record(rest, delimiter).is_some(),
                };
                if !closes {
                    // relax_quotes: a quote that does not end the field keeps both quotes.
                    field.insert(0, '"');
                    field.push('"');
                }
            }
            continue;
        }
        if let Some(len) = ends_record(rest, delimiter) {
            delimiter.get_or_insert(&rest[..len]);
            if delimiter == Some(&rest[..len]) {
                let empty = record.is_empty() && field.is_empty() && !was_quoting;
                if !empty {
                    record.push(std::mem::take(&mut field));
                    out.push(std::mem::take(&mut record));
                }
                was_quoting = false;
                rest = &rest[len..];
                continue;
            }
        }
        rest = &rest[c.len_utf8()..];
        match c {
            '"' if quote && field.is_empty() && !was_quoting => {
                quoting = true;
                quote_line = line;
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                was_quoting = false;
            }
            _ => field.push(c),
        }
    }
    if quoting {
        return Err(SplitError::UnclosedQuote { line: quote_line });
    }
    if !(record.is_empty() && field.is_empty() && !was_quoting) {
        record.push(field);
        out.push(record);
    }
    Ok(out)
}

/// The length of the record delimiter at the start of `s`: the chosen one, or before one
/// is chosen any of `\r\n`, `\n`, `\r`.
fn ends_record(s: &str, chosen: Option<&str>) -> Option<usize> {
    match chosen {
        Some(d) => s.starts_with(d).then_some(d.len()),
        None if s.starts_with("\r\n") => Some(2),
        None if s.starts_with('\n') || s.starts_with('\r') => Some(1),
        None => None,
    }
}

/// `Util.getList`: the entries of a list input, exactly as the toolkit gives them to
/// buildx (an entry that is only whitespace comes out as an empty string).
pub fn get_list(input: &str, opts: ListOpts) -> Result<Vec<String>, SplitError> {
    let mut res: Vec<String> = Vec::new();
    for record in records(input, opts.quote)? {
        match record.as_slice() {
            [single] if opts.ignore_comma => res.push(single.clone()),
            [single] => res.extend(single.split(',').map(str::to_owned)),
            _ if opts.ignore_comma => res.push(record.join(",")),
            _ => res.extend(record),
        }
    }
    Ok(res
        .into_iter()
        .filter(|e| !e.is_empty())
        .map(|e| if opts.trim { e.trim().to_owned() } else { e })
        .collect())
}

/// Split a raw input into its entries according to its kind. `Text` and `Bool` give the
/// trimmed value as one entry (or none when empty). Lists follow [`get_list`], without
/// the entries that are only whitespace (buildx would be handed an empty flag).
pub fn split_input(raw: &str, kind: InputKind) -> Result<Vec<String>, SplitError> {
    if matches!(kind, InputKind::Text | InputKind::Bool) {
        let v = raw.trim();
        return Ok((!v.is_empty()).then(|| v.to_owned()).into_iter().collect());
    }
    let mut entries = get_list(raw, ListOpts::for_kind(kind))?;
    entries.retain(|e| !e.trim().is_empty());
    Ok(entries)
}

/// Why an entry's attributes could not be split (the caller quotes an excerpt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttrError {
    #[error("a quote is never closed")]
    UnclosedQuote,
}

/// Split one entry into CSV fields as buildx does: commas separate, double quotes group,
/// `""` escapes a quote inside a quoted field. A quote in the middle of an unquoted field
/// is kept as written.
pub fn split_fields(line: &str) -> Result<Vec<String>, AttrError> {
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
        return Err(AttrError::UnclosedQuote);
    }
    fields.push(field);
    Ok(fields)
}

/// One `key=value` attribute of an entry. `value` is `None` for a bare word (`type=gha`'s
/// shorthand forms are resolved by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub key: String,
    pub value: Option<String>,
}

/// Split an entry into attributes, keys lower-cased as buildx does (`TYPE=gha,MODE=max`).
/// A field without `=` that follows a `key=value` field continues that value, so
/// `dest=a,b` keeps its comma (build-push-action drops the quotes of `"dest=a,b"`).
pub fn split_attrs(entry: &str) -> Result<Vec<Attr>, AttrError> {
    let mut attrs: Vec<Attr> = Vec::new();
    for field in split_fields(entry)? {
        let field = field.trim();
        if field.is_empty() {
            continue;
        }
        match field.split_once('=') {
            Some((k, v)) => attrs.push(Attr {
                key: k.trim().to_ascii_lowercase(),
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

/// Attributes back into one CSV entry (the inverse of [`split_attrs`]), quoting a field that holds a comma or a quote.
pub fn join_attrs(attrs: &[Attr]) -> String {
    let fields: Vec<String> = attrs
        .iter()
        .map(|a| {
            let field = match &a.value {
                Some(v) => format!("{}={v}", a.key),
                None => a.key.clone(),
            };
            if field.contains([',', '"']) {
                format!("\"{}\"", field.replace('"', "\"\""))
            } else {
                field
            }
        })
        .collect();
    fields.join(",")
}

#[cfg(test)]
#[path = "csv_tests.rs"]
mod tests;
