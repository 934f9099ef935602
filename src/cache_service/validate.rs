//! Checks on client-supplied keys and versions, shared by v1 and v2.

use super::error::ServiceError;

/// GitHub's limit on a key's length, in characters.
pub const MAX_KEY_CHARS: usize = 512;
/// At most this many keys (primary plus restore keys) per lookup.
pub const MAX_KEYS: usize = 10;

pub fn key(key: &str) -> Result<(), ServiceError> {
    if key.is_empty() {
        return Err(ServiceError::InvalidArgument(
            "key must not be empty".to_owned(),
        ));
    }
    let n = key.chars().count();
    if n > MAX_KEY_CHARS {
        return Err(ServiceError::InvalidArgument(format!(
            "key is {n} characters; at most {MAX_KEY_CHARS} are valid"
        )));
    }
    Ok(())
}

/// v1 joins keys with commas, so a key may not contain one.
pub fn v1_key(k: &str) -> Result<(), ServiceError> {
    key(k)?;
    if k.contains(',') {
        return Err(ServiceError::InvalidArgument(
            "key must not contain a comma".to_owned(),
        ));
    }
    Ok(())
}

pub fn key_count(n: usize) -> Result<(), ServiceError> {
    if n > MAX_KEYS {
        return Err(ServiceError::InvalidArgument(format!(
            "{n} keys given; at most {MAX_KEYS} (primary plus restore keys) are valid"
        )));
    }
    Ok(())
}

pub fn version(v: &str) -> Result<(), ServiceError> {
    if v.is_empty() || v.len() > MAX_KEY_CHARS {
        return Err(ServiceError::InvalidArgument(
            "version must be 1 to 512 characters (clients send a sha256 hex string)".to_owned(),
        ));
    }
    Ok(())
}

/// How much of a client-supplied string a message or log line quotes.
pub const QUOTE_CHARS: usize = 64;

/// `s` quoted for a message or a log line, cut to [`QUOTE_CHARS`] characters: a client
/// can send megabytes where a short name belongs, and each copy of it in an answer or the
/// log would cost as much again.
pub fn quote_short(s: &str) -> String {
    let n = s.chars().count();
    if n <= QUOTE_CHARS {
        return format!("{s:?}");
    }
    let head: String = s.chars().take(QUOTE_CHARS).collect();
    format!("{head:?}… ({n} characters)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_strings_are_quoted_cut_short() {
        assert_eq!(quote_short("k1"), "\"k1\"");
        let long = "é".repeat(100_000);
        let q = quote_short(&long);
        assert!(
            q.starts_with(&format!("\"{}\"…", "é".repeat(QUOTE_CHARS))),
            "{q}"
        );
        assert!(q.ends_with("(100000 characters)"), "{q}");
    }
}
