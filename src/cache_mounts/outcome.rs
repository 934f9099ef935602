//! What happened to each cache mount, for the summary and the warnings (`report::mounts`
//! words them). A failure carries what was lost; none of them fails the build.

use std::time::Duration;

/// Before the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restore {
    /// Contents put into the mount: compressed bytes downloaded, time for all of it.
    Restored {
        bytes: u64,
        took: Duration,
    },
    /// No entry of this mount in the cache yet.
    Miss,
    /// The builder's mount already had contents (a builder that outlived the job): kept,
    /// the downloaded entry not copied in.
    Kept,
    /// Policy said no (`ACTIONS_CACHE_MODE`, no service); not a fault.
    NotRun(String),
    Failed(String),
}

/// After the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Save {
    /// Uploaded: compressed bytes, time for all of it.
    Saved {
        bytes: u64,
        took: Duration,
    },
    /// Same contents as the entry already in the cache: nothing uploaded.
    Unchanged,
    /// Restored, and no `RUN` of the build ran (all came from the layer cache), so the
    /// mount cannot have changed: not even copied out.
    Untouched,
    /// Larger than the cap left for it (per mount, or what the total leaves).
    OverCap {
        cap: u64,
    },
    NotRun(String),
    Failed(String),
}

/// One mount's story.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOutcome {
    pub id: String,
    pub target: String,
    pub restore: Restore,
    /// `None` until the save phase ran (it does not after a failed build).
    pub save: Option<Save>,
}
