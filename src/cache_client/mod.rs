//! A client for the GitHub Actions cache service (ours or GitHub's): look an entry up, read
//! it through its signed URL, and save one (create/reserve, upload, finalize/commit), over
//! v2 (Twirp plus Azure-style block-blob uploads) or v1 (`artifactcache` REST). Every call
//! retries 5xx answers, timeouts and dropped connections with backoff, waits out `429` as
//! its `Retry-After` says, and reports "already exists" as a result, not an error.
//!
//! Wire details: docs/cache-protocol.md. The relay (`crate::relay`) and cache mounts use it;
//! the token and signed URLs never appear in its errors or logs.

mod blob;
mod client;
mod error;
mod probe;
mod retry;
mod v1;
mod v2;

pub use blob::block_list_xml;
pub use client::{CacheClient, Hit, SaveOutcome, Saved};
pub use error::ClientError;
pub use probe::speaks_v2;
pub use retry::{Outage, RetryPolicy};
