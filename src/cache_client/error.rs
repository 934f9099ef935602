//! What can go wrong talking to a cache service, without tokens or signed URLs in the text.

/// A failed cache-service call, after its retries.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The service answered with an error status (`message` is its own text, trimmed).
    #[error("failed to {what}: HTTP {status}: {message}")]
    Status {
        what: &'static str,
        status: u16,
        message: String,
    },
    /// No answer: connection refused or reset, or a timeout.
    #[error("failed to {what}: {detail}")]
    Transport { what: &'static str, detail: String },
    /// The service answered, but not with what the protocol says.
    #[error("failed to {what}: {detail}")]
    Protocol { what: &'static str, detail: String },
    /// The service refused by policy (`cache write denied: …`, a quota): not retried.
    #[error("failed to {what}: {message}")]
    Denied { what: &'static str, message: String },
    /// Reading or writing the local file.
    #[error("failed to {what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The retry deadline passed before the call succeeded.
    #[error("failed to {what}: gave up after {attempts} attempts ({last})")]
    GaveUp {
        what: &'static str,
        attempts: u32,
        last: String,
    },
    /// Not tried: the service has refused everything so far ([`super::Outage`]).
    #[error("failed to {what}: not tried ({why})")]
    Outage { what: &'static str, why: String },
}

impl ClientError {
    pub(super) fn transport(what: &'static str, e: &reqwest::Error) -> Self {
        // reqwest's text would name the URL, and a signed URL is a credential.
        let e = e.without_url_ref();
        Self::Transport { what, detail: e }
    }

    pub(super) fn io(what: &'static str, source: std::io::Error) -> Self {
        Self::Io { what, source }
    }
}

/// reqwest's error text without the URL it carries.
trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let kind = if self.is_timeout() {
            "timed out"
        } else if self.is_connect() {
            "could not connect"
        } else if self.is_body() || self.is_decode() {
            "the body broke off"
        } else {
            "the request failed"
        };
        let mut detail = kind.to_owned();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            let text = s.to_string();
            if !text.contains("://") {
                detail.push_str(": ");
                detail.push_str(&text);
            }
            source = s.source();
        }
        detail
    }
}
