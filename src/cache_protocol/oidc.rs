//! The OIDC exchange of `layercache serve` (docs/serve.md § OIDC): a job trades its
//! GitHub OIDC token for a cache token at this path, asked for with this audience.

/// The exchange's route on the service (the action joins it to the service's URL).
pub const EXCHANGE_PATH: &str = "/_layercache/oidc/exchange";
/// The audience the action requests and the service expects by default.
pub const AUDIENCE: &str = "layercache";
