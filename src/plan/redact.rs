//! What an error may quote of a user's entry: at most [`EXCERPT_CHARS`] characters, with
//! the values of secret-bearing attributes (`token=`, `secret_access_key=`, ...) replaced
//! by `***`. The scan is tolerant: it works on text that did not parse (an unclosed
//! quote, a missing `=`), because that is exactly the text an error quotes.

use crate::secret::REDACTED;

/// The longest excerpt of an entry an error quotes (a 120 KB value is not echoed whole).
pub const EXCERPT_CHARS: usize = 60;

/// Attribute names whose values are credentials in cache entries: the runtime and REST
/// tokens of `gha`, the keys of `s3` and `azblob` (buildx fills these from the
/// environment, so a user may also write them).
pub const SECRET_ATTRS: &[&str] = &[
    "token",
    "ghtoken",
    "secret_access_key",
    "session_token",
    "access_key_id",
];

/// Where each secret-bearing attribute's value is in `text`: byte ranges, in order.
/// A name counts at the start of a field (after the start, a comma, a quote or
/// whitespace), in any case; the value runs to the next comma, quote or line end.
fn secret_ranges(text: &str) -> Vec<(usize, usize)> {
    let lower = text.to_ascii_lowercase();
    let mut ranges = Vec::new();
    let mut at = 0;
    while at < lower.len() {
        let boundary = at == 0
            || lower[..at]
                .chars()
                .next_back()
                .is_some_and(|c| matches!(c, ',' | '"' | '\'') || c.is_whitespace());
        let name = SECRET_ATTRS
            .iter()
            .find(|n| boundary && lower[at..].starts_with(&format!("{n}=")));
        match name {
            Some(n) => {
                let start = at + n.len() + 1;
                let end = lower[start..]
                    .find([',', '"', '\n', '\r'])
                    .map_or(lower.len(), |i| start + i);
                ranges.push((start, end));
                at = end.max(start);
            }
            None => {
                at += lower[at..].chars().next().map_or(1, char::len_utf8);
            }
        }
    }
    ranges
}

/// The values of secret-bearing attributes found in `text` (for `::add-mask::`).
pub fn secret_attr_values(text: &str) -> Vec<String> {
    secret_ranges(text)
        .into_iter()
        .map(|(s, e)| text[s..e].trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// `text` with every secret-bearing attribute's value replaced by `***`.
pub fn redact_attrs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in secret_ranges(text) {
        out.push_str(&text[last..start]);
        out.push_str(REDACTED);
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

/// A quoted, redacted excerpt of an entry for an error message: `"type=gha,token=***"`,
/// cut after [`EXCERPT_CHARS`] characters with `…`. Control characters are escaped, so
/// the message stays on one line.
pub fn excerpt(text: &str) -> String {
    let redacted = redact_attrs(text);
    let cut: String = redacted.chars().take(EXCERPT_CHARS).collect();
    if cut.len() < redacted.len() {
        format!("{:?}", format!("{cut}…"))
    } else {
        format!("{cut:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_attributes_are_found_in_malformed_text() {
        let cases: &[(&str, &[&str])] = &[
            ("type=gha,token=abc,scope=x", &["abc"]),
            ("type=gha,TOKEN=abc", &["abc"]),
            ("type=gha,\"token=abc", &["abc"]),
            ("type=gha,ghtoken=g1,token=t1", &["g1", "t1"]),
            (
                "type=s3,access_key_id=AK,secret_access_key=SK,session_token=ST",
                &["AK", "SK", "ST"],
            ),
            ("type=gha,mytoken=notone,scope=token", &[]),
            ("token=a\ntype=gha, token=b\"", &["a", "b"]),
            ("token=", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(secret_attr_values(text), *want, "{text:?}");
        }
    }

    #[test]
    fn excerpts_are_short_redacted_and_one_line() {
        assert_eq!(
            excerpt("type=gha,token=eyJsecret,\"scope=x"),
            r#""type=gha,token=***,\"scope=x""#
        );
        let long = format!("type=registry,ref={}", "é".repeat(200));
        let e = excerpt(&long);
        assert!(e.ends_with("…\""), "{e}");
        assert_eq!(e.chars().count(), EXCERPT_CHARS + 3, "{e}");
        assert_eq!(excerpt("a\nb"), r#""a\nb""#);
    }
}
