//! The storage contract shared by every backend, and how a backend is chosen.
//!
//! Contracts (checked by `tests/cache_service_storage.rs` on every backend):
//! - "not found" is `Ok(None)` / `Ok(false)`, never an error;
//! - `put` is atomic: until it returns `Ok`, readers see the old object or none, and a
//!   failed or abandoned `put` leaves nothing behind;
//! - `put_if_absent` is atomic against every other user of the store, other processes
//!   and machines included;
//! - streams are consumed and produced piecewise; no method holds a whole object in memory
//!   (the memory backend aside, whose job is to hold it).

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

/// A stream of object bytes.
pub type ByteStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("failed to access storage at {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to read the request body: {0}")]
    Body(#[source] std::io::Error),
    #[error("failed to read range {start}..{end} of an object of {size} bytes")]
    Range { start: u64, end: u64, size: u64 },
    #[error("failed to use object storage: {0}")]
    Backend(String),
    #[error("failed to parse storage location {0:?}: use a directory path or s3://bucket/prefix")]
    Location(String),
}

/// An object store with streaming reads and writes.
pub trait BlobStore: Send + Sync + 'static {
    /// Store `body` under `key`, replacing any object there; returns the bytes written.
    fn put(&self, key: &str, body: ByteStream) -> BoxFuture<'_, Result<u64, StorageError>>;

    /// Store the small object `body` under `key` only if no object is there: `Ok(true)` when
    /// this call created it, `Ok(false)` when one existed. Atomic across every process that
    /// shares the store: of concurrent callers exactly one gets `Ok(true)` (S3
    /// `If-None-Match: *`, a hard link on disk). The service keeps its shared state with it.
    fn put_if_absent(&self, key: &str, body: Bytes) -> BoxFuture<'_, Result<bool, StorageError>>;

    /// Store the small object `body` under each of `keys` in turn, each as
    /// [`Self::put_if_absent`], stopping at the first that exists; returns how many were
    /// created. The disk store makes them hard links of one file, so removing one of them
    /// later frees no inode (see [`super::DiskStore`] for why that matters).
    fn put_if_absent_each(
        &self,
        keys: Vec<String>,
        body: Bytes,
    ) -> BoxFuture<'_, Result<usize, StorageError>> {
        Box::pin(async move {
            for (created, key) in keys.iter().enumerate() {
                if !self.put_if_absent(key, body.clone()).await? {
                    return Ok(created);
                }
            }
            Ok(keys.len())
        })
    }

    /// Read `range` (or all) of `key`. A range past the end is [`StorageError::Range`].
    fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> BoxFuture<'_, Result<Option<ByteStream>, StorageError>>;

    /// The size of `key`, or `None` if absent.
    fn size(&self, key: &str) -> BoxFuture<'_, Result<Option<u64>, StorageError>>;

    /// Remove `key`; `Ok(false)` when it was absent.
    fn delete(&self, key: &str) -> BoxFuture<'_, Result<bool, StorageError>>;

    /// Every key that starts with `prefix`, in no particular order.
    fn list(&self, prefix: &str) -> BoxFuture<'_, Result<Vec<String>, StorageError>>;

    /// Write the concatenation of `parts` to `dest` (atomically, like `put`). Backends with
    /// a native compose or copy may do better than this streaming copy.
    ///
    /// Parts are opened one at a time, as the one before ends: a block-list commit names
    /// hundreds of parts (BuildKit stages 1 MiB blocks), and opening them all up front let
    /// each one's reader fill its buffers, which held the whole blob in memory (#23).
    fn concat(&self, dest: &str, parts: Vec<String>) -> BoxFuture<'_, Result<u64, StorageError>> {
        let dest = dest.to_owned();
        Box::pin(async move {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
            let feed = async move {
                for part in &parts {
                    let opened = match self.get(part, None).await {
                        Ok(Some(stream)) => Ok(stream),
                        Ok(None) => Err(StorageError::Backend(format!(
                            "failed to concatenate: part {part} is missing"
                        ))),
                        Err(e) => Err(e),
                    };
                    let mut stream = match opened {
                        Ok(s) => s,
                        Err(e) => {
                            // An error in the body makes `put` drop what it wrote: the
                            // end of the channel alone would publish a short object.
                            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                            return Err(e);
                        }
                    };
                    while let Some(chunk) = stream.next().await {
                        let failed = chunk.is_err();
                        // A closed channel means the write failed; `put` says why.
                        if tx.send(chunk).await.is_err() || failed {
                            return Ok(());
                        }
                    }
                }
                Ok(())
            };
            let body: ByteStream = tokio_stream::wrappers::ReceiverStream::new(rx).boxed();
            // The feeder's error first: a missing part is why the write then failed.
            let (fed, written) = futures::join!(feed, self.put(&dest, body));
            fed?;
            written
        })
    }

    /// Move `from` to `to` (replacing it); `Ok(false)` when `from` is absent. The default
    /// copies then deletes; backends with a native rename override it.
    fn rename(&self, from: &str, to: &str) -> BoxFuture<'_, Result<bool, StorageError>> {
        let (from, to) = (from.to_owned(), to.to_owned());
        Box::pin(async move {
            let Some(body) = self.get(&from, None).await? else {
                return Ok(false);
            };
            self.put(&to, body).await?;
            self.delete(&from).await?;
            Ok(true)
        })
    }
}

/// Which backend to open, parsed from `--store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    Memory,
    Disk(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl StorageConfig {
    /// `memory`, `s3://bucket/prefix`, or a directory path.
    pub fn parse(location: &str) -> Result<Self, StorageError> {
        if location == "memory" || location == "memory:" {
            return Ok(Self::Memory);
        }
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(StorageError::Location(location.to_owned()));
            }
            return Ok(Self::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        if location.is_empty() || location.contains("://") {
            return Err(StorageError::Location(location.to_owned()));
        }
        Ok(Self::Disk(PathBuf::from(location)))
    }
}

/// Open the configured backend.
pub async fn open(config: &StorageConfig) -> Result<Arc<dyn BlobStore>, StorageError> {
    match config {
        StorageConfig::Memory => Ok(Arc::new(super::MemoryStore::default())),
        StorageConfig::Disk(dir) => Ok(Arc::new(super::DiskStore::open(dir).await?)),
        StorageConfig::S3 { bucket, prefix } => Ok(Arc::new(super::S3Store::open(
            &super::S3Options::from_env(bucket, prefix),
        )?)),
    }
}

/// Check `range` against `size` and clamp an open end; shared by the backends.
pub(crate) fn check_range(
    range: Option<Range<u64>>,
    size: u64,
) -> Result<Range<u64>, StorageError> {
    let r = range.unwrap_or(0..size);
    if r.start > r.end || r.end > size || (r.start >= size && size > 0) {
        return Err(StorageError::Range {
            start: r.start,
            end: r.end,
            size,
        });
    }
    Ok(r)
}
