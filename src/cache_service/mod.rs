//! A GitHub-compatible Actions cache service (`layercache serve`): the v2 Twirp API, the v1
//! `artifactcache` API, Azure-like blob endpoints behind signed URLs, and GitHub's REST
//! cache-management endpoints, over any [`crate::storage::BlobStore`].
//!
//! Wire details: docs/cache-protocol.md (BuildKit's keys: docs/gha-cache-layout.md); token
//! rules are in [`auth`], the OIDC exchange in [`exchange`].

pub mod auth;
mod azure_headers;
mod blob;
mod cache;
pub mod error;
pub mod exchange;
mod faults;
mod hooks;
mod http;
mod index;
mod jwks;
pub mod oidc;
mod protobuf;
mod rest;
mod service;
mod shared;
mod signing;
mod state;
mod tenant;
mod twirp;
mod upload;
mod v1;
mod validate;

pub use auth::{Access, Subject, TokenIssuer, TokenVerifier};
pub use cache::Limits;
pub use error::ServiceError;
pub use faults::{FaultCounts, Faults};
pub use hooks::{EntryHooks, ForeignHit, Hooks};
pub use http::serve;
pub use index::StoredEntry;
pub use oidc::{OidcConfig, OidcVerifier};
pub use service::{RunningService, router, spawn, spawn_with};
pub use state::{AppState, ServiceConfig};
