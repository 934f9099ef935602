//! Reports: an engine `Outcome` (or failure) turned into the action's outputs (`imageid`,
//! `digest`, `metadata`), the job summary, and annotations. Writing them to the runner's
//! files and stdout is the action module's job; this module only decides the content.

mod action_log;
mod annotation;
mod bytes;
mod call_result;
mod failure;
mod job_summary;
mod live_progress;
mod log_writer;
mod mounts;
mod outputs;
mod progress_log;
mod progress_mode;
pub mod step_log;
mod summary;

pub use action_log::ActionLog;
pub use annotation::failure_annotation;
pub use bytes::human_bytes;
pub use call_result::{CallReport, CheckFinding};
pub use failure::show_failure;
pub use job_summary::{RepositoryCache, housekeeping_line, job_summary, prune_text, usage_line};
pub use live_progress::LiveProgress;
pub use log_writer::LogWriter;
pub use mounts::{mount_line, mounts_markdown, restore_warning, save_warning};
pub use outputs::{BuildOutputs, metadata};
pub use progress_log::PlainProgress;
pub use progress_mode::{ProgressError, ProgressMode, ProgressView};
pub use summary::summary_markdown;
