//! Benchmarks that print ratios measured side by side in one run. They ship in the
//! `layercache-bench` binary, not in the action image: the action binary never links them.

pub mod drivers;
pub mod engine;
pub mod mounts;
pub mod package_index;
pub mod peer;
pub mod project;
pub mod project_setup;
pub mod relay;
pub mod serve;
pub mod transfer;
