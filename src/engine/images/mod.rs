//! Images moving between the daemon and registries: the builder image pulled (with
//! credentials and retries), the result pushed through the daemon, or loaded into it from
//! a BuildKit outside it.

pub mod image_pull;
pub mod load;
pub mod push;
