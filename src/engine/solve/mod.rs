//! The solve: the request written once for every driver (frontend attributes, exporters,
//! cache entries, where the context comes from), the `Control.Solve` call with its status
//! stream, the gateway bridge for `call:`, and what is read back afterwards (provenance,
//! local cache, the failed step).

pub mod context;
pub mod control;
pub mod frontend;
pub mod gateway;
pub mod history;
pub mod local_cache;
pub mod solve_failure;
