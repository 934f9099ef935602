//! GitHub's Actions cache protocol, in one place: where a service is and which version it
//! speaks ([`Endpoint`], [`Service`]), what a runtime token grants and how our tokens are
//! signed ([`claims`]), the v1 and v2 messages service and client both use ([`wire`]), the
//! key layout BuildKit and our mounts write ([`keys`]), and the OIDC exchange's path and
//! audience ([`oidc`]). `cache_service`, `cache_client`, `relay`, `cache_mounts`,
//! `housekeeping` and `action` spell none of these themselves (docs/cache-protocol.md).

pub mod claims;
mod endpoint;
pub mod keys;
pub mod oidc;
pub mod wire;

pub use claims::{AccessScope, READ, WRITE, decode_scopes};
pub use endpoint::{Endpoint, Service};
