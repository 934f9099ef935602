//! Cache mounts that survive the runner (issue #15): the contents of a Dockerfile's
//! `RUN --mount=type=cache` mounts kept in the GitHub Actions cache. Discovery reads the
//! Dockerfile; before the build each mount is restored into BuildKit's cache mount, after
//! it the mount is saved, both through BuildKit itself (small generated builds), never by
//! reaching into the builder's state on disk. See docs/cache-mounts.md.
//!
//! Use: [`prepare`] (after the plan), [`Keeper::restore`] (before the build),
//! [`Keeper::save`] (after a successful build), then `report::mounts` for what to show.

mod archive;
pub mod copy_tool;
mod discover;
mod keep;
mod outcome;
mod store;
mod transfer;

pub use archive::{ArchiveError, Packed, pack, unpack};
pub use discover::{BuildFacts, CacheMount, Discovery, Sharing, Unidentified, discover};
pub use keep::{Keeper, RestoreSignals, hold, prepare};
pub use outcome::{MountOutcome, Restore, Save};
pub use store::{key_prefix, version};
pub use transfer::{Copy, CopyStage, Direction, TransferError, Transfers, transfer_dockerfile};
