//! Where cache bytes live: one [`BlobStore`] trait built on streams, one file per backend.
//!
//! The cache service keeps both entry data and entry metadata as objects in a store, so a
//! restart (or a second instance on the same bucket) sees every finalized entry. Keys are
//! internal, `/`-separated names the service makes up; user-supplied cache keys never
//! reach a store key.

mod blob_store;
mod disk;
pub mod file_stream;
mod memory;
mod s3;

pub use blob_store::{BlobStore, ByteStream, StorageConfig, StorageError, open};
pub use disk::DiskStore;
pub use memory::MemoryStore;
pub use s3::{S3Options, S3Store};
