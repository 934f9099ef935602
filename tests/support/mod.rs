//! Shared test support.

pub mod runner;
