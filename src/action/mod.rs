//! The runner contract: inputs (how they split, how an error quotes them), the runtime
//! environment, file commands and workflow commands. Only this module writes runner files
//! or workflow commands. It depends on no other module of ours but `secret`.

pub mod csv;
pub mod env;
mod error;
pub mod expose;
pub mod files;
pub mod inputs;
pub mod masks;
pub mod names;
pub mod oidc;
pub mod redact;
pub mod runtime;
pub mod workflow;

pub use error::InputError;
