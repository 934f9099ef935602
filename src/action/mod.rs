//! The runner contract: inputs, the runtime environment, file commands and workflow
//! commands. Only this module writes runner files or workflow commands.

pub mod env;
pub mod expose;
pub mod files;
pub mod inputs;
pub mod masks;
pub mod names;
pub mod runtime;
pub mod workflow;
