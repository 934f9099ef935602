//! How the service fails: one [`ServiceError`], rendered per protocol.
//!
//! Each protocol has its own error body (Twirp JSON, Azure XML, VSS JSON for v1, GitHub
//! REST JSON), so handlers return their protocol's wrapper ([`Twirp`], [`Azure`], [`V1`],
//! [`Rest`]). Every rendering logs the detail and sends a sanitized message: storage errors
//! (paths, backend text) never reach a client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::cache_protocol::wire::{RestError, TwirpErrorBody, VssError};
use crate::storage::StorageError;

/// Why a request failed. Messages are safe to show a client (no tokens, no URLs).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    BadRoute(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// Another request is finalizing the same entry.
    #[error("{0}")]
    Aborted(String),
    #[error("the range is not satisfiable for an object of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("{0}")]
    InvalidBlockList(String),
    #[error("failed to use cache storage: {0}")]
    Storage(#[from] StorageError),
    #[error("failed to listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl ServiceError {
    /// The message a client sees.
    fn public_message(&self) -> String {
        match self {
            Self::Storage(StorageError::Range { size, .. }) => {
                format!("the range is not satisfiable for an object of {size} bytes")
            }
            Self::Storage(StorageError::Body(_)) => "failed to read the request body".to_owned(),
            Self::Storage(_) => "failed to use cache storage".to_owned(),
            other => other.to_string(),
        }
    }

    fn log(&self) {
        match self {
            Self::Storage(StorageError::Body(_) | StorageError::Range { .. }) => {
                tracing::info!(error = %self, "request rejected");
            }
            Self::Storage(_) => tracing::error!(error = %self, "request failed"),
            _ => tracing::info!(error = %self, "request rejected"),
        }
    }

    fn range_size(&self) -> Option<u64> {
        match self {
            Self::RangeNotSatisfiable { size }
            | Self::Storage(StorageError::Range { size, .. }) => Some(*size),
            _ => None,
        }
    }

    fn is_client_body_error(&self) -> bool {
        matches!(self, Self::Storage(StorageError::Body(_)))
    }
}

/// A Twirp error (twitchtv/twirp `docs/errors.md`).
#[derive(Debug)]
pub struct Twirp(pub ServiceError);
/// An Azure Blob Storage error: XML body plus `x-ms-error-code`.
#[derive(Debug)]
pub struct Azure(pub ServiceError);
/// A v1 `artifactcache` error: VSS-style JSON.
#[derive(Debug)]
pub struct V1(pub ServiceError);
/// A GitHub REST error.
#[derive(Debug)]
pub struct Rest(pub ServiceError);

macro_rules! from_service_error {
    ($($t:ident),*) => {$(
        impl From<ServiceError> for $t {
            fn from(e: ServiceError) -> Self { Self(e) }
        }
        impl From<StorageError> for $t {
            fn from(e: StorageError) -> Self { Self(ServiceError::Storage(e)) }
        }
    )*};
}
from_service_error!(Twirp, Azure, V1, Rest);

impl IntoResponse for Twirp {
    fn into_response(self) -> Response {
        self.0.log();
        let (status, code) = match &self.0 {
            ServiceError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ServiceError::PermissionDenied(_) => (StatusCode::FORBIDDEN, "permission_denied"),
            ServiceError::InvalidArgument(_) | ServiceError::InvalidBlockList(_) => {
                (StatusCode::BAD_REQUEST, "invalid_argument")
            }
            ServiceError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed"),
            ServiceError::BadRoute(_) => (StatusCode::NOT_FOUND, "bad_route"),
            ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ServiceError::AlreadyExists(_) => (StatusCode::CONFLICT, "already_exists"),
            ServiceError::Aborted(_) => (StatusCode::CONFLICT, "aborted"),
            ServiceError::RangeNotSatisfiable { .. } => (StatusCode::BAD_REQUEST, "out_of_range"),
            ServiceError::Storage(_) if self.0.is_client_body_error() => {
                (StatusCode::BAD_REQUEST, "malformed")
            }
            ServiceError::Storage(_) | ServiceError::Listen { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let msg = self.0.public_message();
        let body = serde_json::to_string(&TwirpErrorBody { code, msg: &msg }).unwrap_or_default();
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

impl IntoResponse for Azure {
    fn into_response(self) -> Response {
        self.0.log();
        let (status, code) = match &self.0 {
            ServiceError::Unauthenticated(_) | ServiceError::PermissionDenied(_) => {
                (StatusCode::FORBIDDEN, "AuthenticationFailed")
            }
            ServiceError::InvalidArgument(_) | ServiceError::Malformed(_) => {
                (StatusCode::BAD_REQUEST, "InvalidInput")
            }
            ServiceError::BadRoute(_) => (StatusCode::BAD_REQUEST, "UnsupportedQueryParameter"),
            ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, "BlobNotFound"),
            ServiceError::AlreadyExists(_) | ServiceError::Aborted(_) => {
                (StatusCode::CONFLICT, "BlobImmutableDueToPolicy")
            }
            ServiceError::InvalidBlockList(_) => (StatusCode::BAD_REQUEST, "InvalidBlockList"),
            _ if self.0.range_size().is_some() => {
                (StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange")
            }
            _ if self.0.is_client_body_error() => (StatusCode::BAD_REQUEST, "InvalidInput"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        };
        let msg = xml_escape(&self.0.public_message());
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{msg}</Message></Error>"
        );
        let mut resp = (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response();
        resp.headers_mut()
            .insert("x-ms-error-code", HeaderValue::from_static(code));
        if let Some(size) = self.0.range_size()
            && let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}"))
        {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        super::azure_headers::add_azure_headers(resp.headers_mut());
        resp
    }
}

impl IntoResponse for V1 {
    fn into_response(self) -> Response {
        self.0.log();
        let (status, type_key) = match &self.0 {
            ServiceError::Unauthenticated(_) => {
                (StatusCode::UNAUTHORIZED, "UnauthorizedRequestException")
            }
            ServiceError::PermissionDenied(_) => (StatusCode::FORBIDDEN, "AccessDeniedException"),
            ServiceError::InvalidArgument(_)
            | ServiceError::Malformed(_)
            | ServiceError::InvalidBlockList(_)
            | ServiceError::BadRoute(_) => (StatusCode::BAD_REQUEST, "ArgumentException"),
            ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, "ArtifactCacheNotFoundException"),
            ServiceError::AlreadyExists(_) | ServiceError::Aborted(_) => {
                (StatusCode::CONFLICT, "ArtifactCacheAlreadyExistsException")
            }
            _ if self.0.range_size().is_some() => {
                (StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRangeException")
            }
            _ if self.0.is_client_body_error() => (StatusCode::BAD_REQUEST, "ArgumentException"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerException"),
        };
        let msg = self.0.public_message();
        let body = VssError {
            message: &msg,
            type_name: type_key,
            type_key,
            error_code: 0,
        };
        (status, axum::Json(body)).into_response()
    }
}

impl IntoResponse for Rest {
    fn into_response(self) -> Response {
        self.0.log();
        let status = match &self.0 {
            ServiceError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ServiceError::PermissionDenied(_) => StatusCode::FORBIDDEN,
            ServiceError::NotFound(_) | ServiceError::BadRoute(_) => StatusCode::NOT_FOUND,
            ServiceError::AlreadyExists(_) | ServiceError::Aborted(_) => StatusCode::CONFLICT,
            ServiceError::Storage(_) if !self.0.is_client_body_error() => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ServiceError::Listen { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let msg = self.0.public_message();
        let body = RestError {
            message: &msg,
            documentation_url: "https://docs.github.com/rest/actions/cache",
        };
        (status, axum::Json(body)).into_response()
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
