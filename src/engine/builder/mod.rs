//! The builder: which BuildKit runs the solve (driver choice), the `docker-container`
//! driver's container and its settings, and whether that BuildKit reaches the cache relay
//! in this process (by address and by a live probe).

pub mod builder_config;
pub mod cache_relay;
pub mod container;
pub mod driver;
pub mod relay_probe;
pub mod relay_reach;
