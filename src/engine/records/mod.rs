//! The build's records: what BuildKit's status stream says happened (progress events and
//! per-step records), the cache traffic and per-entry cache reports read from it, and the
//! [`outcome::Outcome`] they end in. Nothing here talks to BuildKit; these modules only
//! read what it sent.

pub mod cache_report;
pub mod cache_traffic;
pub mod outcome;
pub mod progress;
pub mod vertex;
