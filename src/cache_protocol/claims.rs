//! What a runtime token grants: its `ac` claim, a JSON **string** holding an array of
//! `{"Scope": "<ref>", "Permission": <bits>}` (1 = read, 2 = write), the shape GitHub's
//! runtime tokens carry (docs/cache-protocol.md § Runtime token and scopes); and the HS256
//! tokens `layercache serve` makes and checks, through `jsonwebtoken`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Permission bits of one `ac` scope.
pub const READ: u8 = 1;
pub const WRITE: u8 = 2;

/// One entry of the `ac` claim: a ref and what the job may do with its caches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessScope {
    #[serde(rename = "Scope")]
    pub scope: String,
    #[serde(rename = "Permission")]
    pub permission: u8,
}

impl AccessScope {
    pub fn readable(&self) -> bool {
        self.permission & READ != 0
    }
    pub fn writable(&self) -> bool {
        self.permission & WRITE != 0
    }
}

/// Who a token was made for, as the OIDC exchange copies it from the job's OIDC claims.
/// Every field is optional: tokens made by `serve token` carry none of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// GitHub's numeric ids (as strings, as in OIDC claims): unlike names, never reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_owner_id: Option<String>,
    /// The job's ref (`refs/heads/main`, `refs/pull/7/merge`).
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// The claims of a cache token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// JSON text of `Vec<AccessScope>` (a JSON array is accepted too).
    #[serde(default)]
    pub ac: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(flatten)]
    pub subject: Subject,
}

impl Claims {
    /// The `ac` claim as scopes: a string holding an array, as GitHub sends it, or an
    /// array. An absent claim grants nothing.
    pub fn scopes(&self) -> Result<Vec<AccessScope>, &'static str> {
        let scopes = match &self.ac {
            serde_json::Value::Null => return Ok(Vec::new()),
            serde_json::Value::String(s) => serde_json::from_str(s),
            other => serde_json::from_value(other.clone()),
        };
        scopes.map_err(|_| "the ac claim is not a list of {Scope, Permission}")
    }
}

/// Why a token was not accepted (never quotes the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a JWT")]
    Malformed,
    #[error("only HS256 tokens are accepted")]
    Algorithm,
    #[error("signature does not match this service's secret")]
    Signature,
    #[error("the payload is not a claim set")]
    Payload,
}

/// Read a token's claims without checking its signature: what a job can see of its own
/// runtime token (GitHub's are RS256, checked by GitHub alone), and what a service without
/// a secret accepts.
pub fn read_unverified(token: &str) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(_), Some(body), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(body.trim_end_matches('='))
        .map_err(|_| TokenError::Payload)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Payload)
}

/// Check an HS256 token's signature with `secret` and read its claims. Times (`exp`,
/// `nbf`) are the caller's to judge.
pub fn verify_hs256(token: &str, secret: &Secret) -> Result<Claims, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.alg != Algorithm::HS256 {
        return Err(TokenError::Algorithm);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let key = DecodingKey::from_secret(secret.expose().as_bytes());
    jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::Signature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => TokenError::Algorithm,
            jsonwebtoken::errors::ErrorKind::Json(_) => TokenError::Payload,
            _ => TokenError::Malformed,
        })
}

/// Sign `claims` as an HS256 JWT with `secret`.
pub fn sign_hs256(claims: &Claims, secret: &Secret) -> Result<Secret, TokenError> {
    let key = EncodingKey::from_secret(secret.expose().as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key)
        .map(Secret::new)
        .map_err(|_| TokenError::Payload)
}

/// Decode a runtime token's payload without verifying it and read its `ac` claim.
pub fn decode_scopes(token: &Secret) -> Result<Vec<AccessScope>, String> {
    let claims = read_unverified(token.expose()).map_err(|e| match e {
        TokenError::Malformed => "not a JWT (no payload segment)".to_owned(),
        _ => "the payload is not JSON".to_owned(),
    })?;
    claims.scopes().map_err(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(ac: serde_json::Value) -> Claims {
        Claims {
            ac,
            exp: Some(4_102_444_800),
            nbf: None,
            iat: None,
            iss: None,
            subject: Subject::default(),
        }
    }

    #[test]
    fn signed_tokens_verify_with_their_secret_only() {
        let secret = Secret::new("s3cret-for-tests");
        let scopes = vec![AccessScope {
            scope: "refs/heads/main".into(),
            permission: READ | WRITE,
        }];
        let ac = serde_json::Value::String(serde_json::to_string(&scopes).unwrap());
        let token = sign_hs256(&claims(ac), &secret).unwrap();
        let back = verify_hs256(token.expose(), &secret).unwrap();
        assert_eq!(back.scopes().unwrap(), scopes);
        assert_eq!(
            verify_hs256(token.expose(), &Secret::new("other")).unwrap_err(),
            TokenError::Signature
        );
        assert_eq!(
            read_unverified(token.expose()).unwrap().exp,
            Some(4_102_444_800)
        );
    }

    #[test]
    fn ac_is_a_string_or_an_array() {
        let arr = serde_json::json!([{"Scope": "refs/heads/a", "Permission": 1}]);
        let s = serde_json::Value::String(arr.to_string());
        assert_eq!(claims(arr).scopes().unwrap(), claims(s).scopes().unwrap());
        assert!(claims(serde_json::Value::Null).scopes().unwrap().is_empty());
        assert!(claims(serde_json::json!(7)).scopes().is_err());
    }
}
