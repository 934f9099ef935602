//! Signed, expiring blob URLs, the stand-in for Azure SAS URLs.
//!
//! A URL names one blob and one permission (`r` read, `w` write) and carries an expiry
//! (`se`, Unix seconds) and `sig`, an HMAC-SHA256 over all three. Clients append their own
//! query parameters (`comp`, `blockid`), which the signature does not cover. The `sig`
//! value never reaches a log.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::azure_headers::AZURE_VERSION;
use super::error::ServiceError;
use crate::secret::Secret;

/// What a signed URL allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Write,
}

impl Permission {
    fn code(self) -> &'static str {
        match self {
            Self::Read => "r",
            Self::Write => "w",
        }
    }
}

/// The query parameters of a signed URL, as received.
#[derive(Debug, Default, serde::Deserialize)]
pub struct SignedQuery {
    #[serde(default)]
    pub se: Option<String>,
    #[serde(default)]
    pub sp: Option<String>,
    #[serde(default)]
    pub sig: Option<String>,
    #[serde(default)]
    pub comp: Option<String>,
    #[serde(default)]
    pub blockid: Option<String>,
}

/// Signs and checks blob URLs.
#[derive(Clone)]
pub struct UrlSigner {
    key: Secret,
    ttl: chrono::Duration,
}

impl UrlSigner {
    pub fn new(key: Secret, ttl: chrono::Duration) -> Self {
        Self { key, ttl }
    }

    fn mac(&self, blob: u64, perm: Permission, expiry: i64) -> Vec<u8> {
        #[expect(clippy::expect_used)]
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose().as_bytes())
            .expect("hmac accepts any key length");
        mac.update(format!("{blob}\n{}\n{expiry}", perm.code()).as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// `{base}/blob/cache/{blob}?sv=..&se=..&sp=..&sig=..`. The path has three segments so
    /// the Azure SDK can split it into account, container and blob on IP-style hosts.
    pub fn url(&self, base: &str, blob: u64, perm: Permission) -> Secret {
        let expiry = (chrono::Utc::now() + self.ttl).timestamp();
        let sig = URL_SAFE_NO_PAD.encode(self.mac(blob, perm, expiry));
        Secret::new(format!(
            "{}/blob/cache/{blob}?sv={AZURE_VERSION}&se={expiry}&sp={}&sig={sig}",
            base.trim_end_matches('/'),
            perm.code()
        ))
    }

    /// Check that `q` grants `perm` on `blob` now.
    pub fn check(&self, blob: u64, perm: Permission, q: &SignedQuery) -> Result<(), ServiceError> {
        let denied =
            |why: &str| ServiceError::PermissionDenied(format!("signed URL rejected: {why}"));
        let (Some(se), Some(sp), Some(sig)) = (&q.se, &q.sp, &q.sig) else {
            return Err(denied("missing se, sp or sig"));
        };
        if sp != perm.code() {
            return Err(denied("it does not grant this operation"));
        }
        let expiry: i64 = se.parse().map_err(|_| denied("bad expiry"))?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| denied("bad signature"))?;
        #[expect(clippy::expect_used)]
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose().as_bytes())
            .expect("hmac accepts any key length");
        mac.update(format!("{blob}\n{sp}\n{expiry}").as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| denied("bad signature"))?;
        if expiry < chrono::Utc::now().timestamp() {
            return Err(denied("expired"));
        }
        Ok(())
    }
}
