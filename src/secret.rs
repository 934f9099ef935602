//! A value that must never reach a log, a summary, an output or an error message.
//!
//! `Debug` and `Display` print `***`; the only way to the value is [`Secret::expose`],
//! which makes every use greppable.

use std::fmt;

/// What a secret prints as, everywhere.
pub const REDACTED: &str = "***";

/// A secret string (runtime token, signed URL, build secret, registry password).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value. Call only where the value leaves the process on purpose
    /// (an HTTP header, a solve request, the `GITHUB_ENV` record).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// Secret bytes (a build secret from a file may be binary), redacted like [`Secret`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Self(value.into())
    }

    /// The real bytes; see [`Secret::expose`].
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<&Secret> for SecretBytes {
    fn from(value: &Secret) -> Self {
        Self(value.expose().as_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("canary-123");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.expose(), "canary-123");
        let b = SecretBytes::from(&s);
        assert_eq!(format!("{b:?}"), "***");
        assert_eq!(b.expose(), b"canary-123");
    }
}
