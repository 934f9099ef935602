//! Cache mounts that survive the runner (issue #15): the contents of a Dockerfile's
//! `RUN --mount=type=cache` mounts kept in the GitHub Actions cache. Discovery reads the
//! Dockerfile; before the build each mount is restored into BuildKit's cache mount, after
//! it the mount is saved, both through BuildKit itself (small generated builds), never by
//! reaching into the builder's state on disk. See docs/cache-mounts.md.

mod archive;
mod discover;
mod transfer;

pub use discover::{BuildFacts, CacheMount, Discovery, Sharing, Unidentified, discover};
