//! Reading Dockerfiles, in one place: the instructions with their lines ([`parse`]), the
//! stages and their build arguments ([`stages`]), and the line of a step BuildKit names
//! ([`locate_step`]). Cache advice, preflight checks, cache-mount discovery and the
//! engine's failure annotations all read Dockerfiles through it.

mod locate;
pub mod parse;
pub mod stages;

pub use locate::locate_step;
pub use parse::{Dockerfile, Heredoc, Instruction, parse};
pub use stages::stage_names;
