//! Local-disk storage: one file per object under `<root>/objects/`, written to
//! `<root>/tmp/` first and renamed (or, for an atomic create, linked) into place, so a crash
//! mid-write leaves no object.
//!
//! Inodes are precious here: on ext4 without a journal, creating a file checks, one by one,
//! every inode of its group freed in the last minute or so (`recently_deleted`), under the
//! directory's lock; a service that freed one inode per entry saved fewer entries per
//! second the more it had saved. So objects move by rename and records that need two names
//! get two links ([`BlobStore::put_if_absent_each`]), and dropping one name frees nothing.
//!
//! Layout version 1 (recorded in `<root>/VERSION`): a store key `a/b/c` is the file
//! `objects/a/b/c`. The service shards its own keys (`data/3f/…`), so directories stay
//! small.

use std::io::SeekFrom;
use std::ops::Range;
use std::path::{Path, PathBuf};

use std::io::{Read, Seek};

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;

use super::blob_store::{BlobStore, ByteStream, StorageError, check_range};
use super::file_stream::{self, WriteError};

const LAYOUT_VERSION: &str = "1";

/// Objects as files under a root directory.
pub struct DiskStore {
    root: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Run `op` on the blocking pool: one trip for a whole operation, not one per syscall.
async fn blocking<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(op)
        .await
        .map_err(|e| StorageError::Backend(format!("failed to use the disk store: {e}")))?
}

/// Run `op`, which creates `target`; if its directory is missing, create it and run `op`
/// again (directories are made once, not checked on every write).
fn in_parent(target: &Path, op: impl Fn() -> std::io::Result<()>) -> std::io::Result<()> {
    match op() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = target.parent().ok_or(e)?;
            std::fs::create_dir_all(parent)?;
            op()
        }
        other => other,
    }
}

/// Write `body` to `tmp`, then link it as each of `targets` in turn until one exists;
/// returns how many were linked.
fn link_all(tmp: &Path, body: &[u8], targets: &[PathBuf]) -> Result<usize, StorageError> {
    std::fs::write(tmp, body).map_err(io_err(tmp))?;
    for (linked, target) in targets.iter().enumerate() {
        // link(2) fails with EEXIST instead of replacing: the filesystem's atomic create,
        // and the object appears complete (the temp file is written).
        match in_parent(target, || std::fs::hard_link(tmp, target)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(linked),
            Err(e) => return Err(io_err(target)(e)),
        }
    }
    Ok(targets.len())
}

/// Copy `sources` one after another into the new file `tmp`; returns the bytes written.
/// `std::io::copy` between files is `copy_file_range(2)` on Linux: the kernel moves the
/// bytes (or shares the extents, on filesystems that can), none pass through this process.
fn join_files(tmp: &Path, sources: &[PathBuf]) -> Result<u64, StorageError> {
    let mut out = std::fs::File::create(tmp).map_err(io_err(tmp))?;
    let mut written = 0;
    for src in sources {
        let mut part = match std::fs::File::open(src) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::Backend(format!(
                    "failed to concatenate: part {} is missing",
                    src.display()
                )));
            }
            Err(e) => return Err(io_err(src)(e)),
        };
        written += std::io::copy(&mut part, &mut out).map_err(io_err(src))?;
    }
    Ok(written)
}

impl DiskStore {
    /// Open (or create) a store at `root`; refuses a directory of another layout version.
    pub async fn open(root: &Path) -> Result<Self, StorageError> {
        let root = root.to_path_buf();
        for dir in [root.join("objects"), root.join("tmp")] {
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(io_err(&dir))?;
        }
        let version_file = root.join("VERSION");
        match tokio::fs::read_to_string(&version_file).await {
            Ok(v) if v.trim() == LAYOUT_VERSION => {}
            Ok(v) => {
                return Err(StorageError::Backend(format!(
                    "failed to open {}: layout version {:?}, this build reads {LAYOUT_VERSION}",
                    root.display(),
                    v.trim()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tokio::fs::write(&version_file, LAYOUT_VERSION)
                    .await
                    .map_err(io_err(&version_file))?;
            }
            Err(e) => return Err(io_err(&version_file)(e)),
        }
        // Leftovers of writes a crash interrupted: never visible, safe to drop.
        let tmp = root.join("tmp");
        let mut entries = tokio::fs::read_dir(&tmp).await.map_err(io_err(&tmp))?;
        while let Ok(Some(entry)) = entries.next_entry().await {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
        Ok(Self { root })
    }

    /// The file for `key`; keys are made by the service, but refuse anything path-like.
    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        let mut path = self.root.join("objects");
        for part in key.split('/') {
            let ok = !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !ok {
                return Err(StorageError::Backend(format!(
                    "failed to map store key {key:?} to a file: only [A-Za-z0-9._-] segments are valid"
                )));
            }
            path.push(part);
        }
        Ok(path)
    }

    /// A fresh name under `tmp/`.
    fn temp_path(&self) -> PathBuf {
        self.root
            .join("tmp")
            .join(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Stream `body` into a fresh file under `tmp/` (see [`file_stream::write_file`]: one
    /// blocking writer thread, memory flat however large the upload).
    async fn write_temp(&self, body: ByteStream) -> Result<(PathBuf, u64), StorageError> {
        let tmp = self.temp_path();
        match file_stream::write_file(tmp.clone(), body).await {
            Ok(n) => Ok((tmp, n)),
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(match e {
                    WriteError::Body(e) => StorageError::Body(e),
                    WriteError::File(e) => io_err(&tmp)(e),
                })
            }
        }
    }
}

impl BlobStore for DiskStore {
    fn put(&self, key: &str, body: ByteStream) -> BoxFuture<'_, Result<u64, StorageError>> {
        let target = self.path(key);
        Box::pin(async move {
            let target = target?;
            let (tmp, written) = self.write_temp(body).await?;
            blocking(move || {
                in_parent(&target, || std::fs::rename(&tmp, &target)).map_err(|e| {
                    let _ = std::fs::remove_file(&tmp);
                    io_err(&target)(e)
                })
            })
            .await?;
            Ok(written)
        })
    }

    fn put_if_absent(&self, key: &str, body: Bytes) -> BoxFuture<'_, Result<bool, StorageError>> {
        let created = self.put_if_absent_each(vec![key.to_owned()], body);
        Box::pin(async move { Ok(created.await? == 1) })
    }

    fn put_if_absent_each(
        &self,
        keys: Vec<String>,
        body: Bytes,
    ) -> BoxFuture<'_, Result<usize, StorageError>> {
        let targets: Result<Vec<PathBuf>, StorageError> =
            keys.iter().map(|k| self.path(k)).collect();
        let tmp = self.temp_path();
        Box::pin(async move {
            let targets = targets?;
            // One blocking call for the whole small write: these are the service's records,
            // written several times per entry.
            blocking(move || {
                let linked = link_all(&tmp, &body, &targets);
                let _ = std::fs::remove_file(&tmp);
                linked
            })
            .await
        })
    }

    fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> BoxFuture<'_, Result<Option<ByteStream>, StorageError>> {
        let path = self.path(key);
        Box::pin(async move {
            let path = path?;
            let read = move || -> Result<Option<ByteStream>, StorageError> {
                let mut file = match std::fs::File::open(&path) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(io_err(&path)(e)),
                };
                let size = file.metadata().map_err(io_err(&path))?.len();
                let r = check_range(range, size)?;
                file.seek(SeekFrom::Start(r.start)).map_err(io_err(&path))?;
                let len = r.end - r.start;
                if len > file_stream::READ_CHUNK as u64 {
                    return Ok(Some(file_stream::read_stream(file, len)));
                }
                // Small objects (the service's records, small entries) are read by the call
                // that opened them, not by a streaming thread of their own.
                let mut buf = vec![0; len as usize];
                file.read_exact(&mut buf).map_err(io_err(&path))?;
                let bytes = Bytes::from(buf);
                Ok(Some(
                    futures::stream::once(async move { Ok(bytes) }).boxed(),
                ))
            };
            blocking(read).await
        })
    }

    fn size(&self, key: &str) -> BoxFuture<'_, Result<Option<u64>, StorageError>> {
        let path = self.path(key);
        Box::pin(async move {
            let path = path?;
            match tokio::fs::metadata(&path).await {
                Ok(m) => Ok(Some(m.len())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_err(&path)(e)),
            }
        })
    }

    fn delete(&self, key: &str) -> BoxFuture<'_, Result<bool, StorageError>> {
        let path = self.path(key);
        Box::pin(async move {
            let path = path?;
            match tokio::fs::remove_file(&path).await {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(io_err(&path)(e)),
            }
        })
    }

    /// One blocking call copies the parts file to file in the kernel, then renames the
    /// result into place: memory stays flat however many parts and bytes (#23).
    fn concat(&self, dest: &str, parts: Vec<String>) -> BoxFuture<'_, Result<u64, StorageError>> {
        let target = self.path(dest);
        let sources: Result<Vec<PathBuf>, StorageError> =
            parts.iter().map(|p| self.path(p)).collect();
        let tmp = self.temp_path();
        Box::pin(async move {
            let (target, sources) = (target?, sources?);
            blocking(move || {
                let joined = join_files(&tmp, &sources).and_then(|n| {
                    in_parent(&target, || std::fs::rename(&tmp, &target))
                        .map_err(io_err(&target))?;
                    Ok(n)
                });
                if joined.is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
                joined
            })
            .await
        })
    }

    fn rename(&self, from: &str, to: &str) -> BoxFuture<'_, Result<bool, StorageError>> {
        let (from, to) = (self.path(from), self.path(to));
        Box::pin(async move {
            let (from, to) = (from?, to?);
            blocking(
                move || match in_parent(&to, || std::fs::rename(&from, &to)) {
                    Ok(()) => Ok(true),
                    // rename(2) moves a file once: a racing second rename finds no source.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                    Err(e) => Err(io_err(&to)(e)),
                },
            )
            .await
        })
    }

    fn list(&self, prefix: &str) -> BoxFuture<'_, Result<Vec<String>, StorageError>> {
        let prefix = prefix.to_owned();
        // Walk only the deepest directory the prefix names in full.
        let dir_part = prefix.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
        let start = if dir_part.is_empty() {
            Ok(self.root.join("objects"))
        } else {
            self.path(&dir_part)
        };
        Box::pin(async move {
            let start = start?;
            // One blocking call for the whole walk: a lookup lists `meta/`'s 256 shards.
            let walk = move || -> Result<Vec<String>, StorageError> {
                let mut found = Vec::new();
                let mut stack = vec![(start, dir_part)];
                while let Some((dir, key_prefix)) = stack.pop() {
                    let entries = match std::fs::read_dir(&dir) {
                        Ok(e) => e,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(io_err(&dir)(e)),
                    };
                    for entry in entries {
                        let entry = entry.map_err(io_err(&dir))?;
                        let name = entry.file_name().to_string_lossy().into_owned();
                        let key = if key_prefix.is_empty() {
                            name
                        } else {
                            format!("{key_prefix}/{name}")
                        };
                        if entry.file_type().map_err(io_err(&dir))?.is_dir() {
                            if format!("{key}/").starts_with(&prefix) || prefix.starts_with(&key) {
                                stack.push((entry.path(), key));
                            }
                        } else if key.starts_with(&prefix) {
                            found.push(key);
                        }
                    }
                }
                Ok(found)
            };
            tokio::task::spawn_blocking(walk)
                .await
                .map_err(|e| StorageError::Backend(format!("failed to list the disk store: {e}")))?
        })
    }
}
