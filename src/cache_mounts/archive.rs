//! A cache mount's contents as one gzip-compressed tar file, and back.
//!
//! The content hash covers what a tool in the mount can see change (paths, kinds, modes,
//! link targets, file bytes), not modification times: a save whose hash equals the
//! restored entry's is "unchanged" and not uploaded again. Entries are written in sorted
//! order so the same tree packs the same way. Packing stops as soon as the compressed
//! output passes the cap, so an oversized mount costs no more than the cap in disk.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("failed to read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("failed to write the archive: {0}")]
    Write(io::Error),
    #[error("the compressed contents pass the cap of {cap} bytes")]
    OverCap { cap: u64 },
    #[error("failed to unpack the archive: {0}")]
    Unpack(io::Error),
}

/// A packed mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// Hex SHA-256 of the contents (see the module doc), first 32 digits.
    pub hash: String,
    /// Bytes of the compressed file.
    pub size: u64,
    /// Bytes of the files before compression.
    pub raw: u64,
    pub files: u64,
}

/// Counts what passes through and refuses to go past `cap`.
struct Capped<W> {
    inner: W,
    written: u64,
    cap: u64,
    /// Set when the cap stopped a write: the error that reaches `pack` is wrapped by tar.
    hit: Rc<Cell<bool>>,
}

impl<W: Write> Write for Capped<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written + buf.len() as u64 > self.cap {
            self.hit.set(true);
            return Err(io::Error::other("over the cap"));
        }
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Pack the tree under `dir` into `out`, failing with [`ArchiveError::OverCap`] once the
/// compressed bytes pass `cap`.
pub fn pack(dir: &Path, out: &Path, cap: u64) -> Result<Packed, ArchiveError> {
    let file = File::create(out).map_err(ArchiveError::Write)?;
    let hit = Rc::new(Cell::new(false));
    let capped = Capped {
        inner: BufWriter::new(file),
        written: 0,
        cap,
        hit: hit.clone(),
    };
    // Level 3: most of the ratio of the default level at about twice its speed on
    // package caches, which are largely compressed files already.
    let mut tar = tar::Builder::new(GzEncoder::new(capped, Compression::new(3)));
    tar.follow_symlinks(false);
    let mut state = Walk {
        hasher: Sha256::new(),
        raw: 0,
        files: 0,
    };
    let over = |e: io::Error| match hit.get() {
        true => ArchiveError::OverCap { cap },
        false => ArchiveError::Write(e),
    };
    walk(dir, Path::new(""), &mut tar, &mut state, &over)?;
    let gz = tar.into_inner().map_err(over)?;
    let mut capped = gz.finish().map_err(over)?;
    capped.flush().map_err(over)?;
    Ok(Packed {
        hash: hex::encode(state.hasher.finalize())[..32].to_owned(),
        size: capped.written,
        raw: state.raw,
        files: state.files,
    })
}

struct Walk {
    hasher: Sha256,
    raw: u64,
    files: u64,
}

type Tar = tar::Builder<GzEncoder<Capped<BufWriter<File>>>>;

/// Add the children of `dir` (at `rel` in the archive), sorted by name, recursively.
fn walk(
    dir: &Path,
    rel: &Path,
    tar: &mut Tar,
    state: &mut Walk,
    over: &dyn Fn(io::Error) -> ArchiveError,
) -> Result<(), ArchiveError> {
    let read = |e| ArchiveError::Read {
        path: dir.to_owned(),
        source: e,
    };
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(read)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(read)?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let rel = rel.join(&name);
        let meta = std::fs::symlink_metadata(&path).map_err(|e| ArchiveError::Read {
            path: path.clone(),
            source: e,
        })?;
        let kind = meta.file_type();
        state.hasher.update(rel.as_os_str().as_encoded_bytes());
        state.hasher.update([0]);
        state.hasher.update(meta.mode().to_le_bytes());
        if kind.is_symlink() {
            let target = std::fs::read_link(&path).map_err(|e| ArchiveError::Read {
                path: path.clone(),
                source: e,
            })?;
            state.hasher.update(target.as_os_str().as_encoded_bytes());
        } else if kind.is_file() {
            hash_file(&path, &mut state.hasher)?;
            state.raw += meta.len();
            state.files += 1;
        } else if !kind.is_dir() {
            // Sockets, fifos and devices are not cache contents.
            continue;
        }
        tar.append_path_with_name(&path, &rel).map_err(over)?;
        if kind.is_dir() {
            walk(&path, &rel, tar, state, over)?;
        }
    }
    Ok(())
}

fn hash_file(path: &Path, hasher: &mut Sha256) -> Result<(), ArchiveError> {
    let read = |e| ArchiveError::Read {
        path: path.to_owned(),
        source: e,
    };
    let mut file = File::open(path).map_err(read)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(read)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
    }
}

/// Unpack `archive` into `dir` (modes and times kept; nothing written outside `dir`).
pub fn unpack(archive: &Path, dir: &Path) -> Result<(), ArchiveError> {
    let file = File::open(archive).map_err(ArchiveError::Unpack)?;
    let mut tar = tar::Archive::new(GzDecoder::new(std::io::BufReader::new(file)));
    tar.set_preserve_permissions(true);
    tar.set_preserve_mtime(true);
    tar.unpack(dir).map_err(ArchiveError::Unpack)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path, files: &[(&str, &[u8])]) {
        for (name, body) in files {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
    }

    #[test]
    fn round_trip_keeps_contents_and_the_hash_ignores_times() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        tree(&src, &[("a/b.whl", b"wheel"), ("c.json", b"{}")]);
        std::os::unix::fs::symlink("c.json", src.join("link")).unwrap();
        let first = pack(&src, &tmp.path().join("1.tgz"), 1 << 20).unwrap();
        assert_eq!((first.files, first.raw), (2, 7));

        let back = tmp.path().join("back");
        unpack(&tmp.path().join("1.tgz"), &back).unwrap();
        assert_eq!(std::fs::read(back.join("a/b.whl")).unwrap(), b"wheel");
        assert_eq!(
            std::fs::read_link(back.join("link")).unwrap(),
            Path::new("c.json")
        );
        // Unpacked elsewhere, times differ: same hash. One byte more: another hash.
        let again = pack(&back, &tmp.path().join("2.tgz"), 1 << 20).unwrap();
        assert_eq!(again.hash, first.hash);
        std::fs::write(back.join("c.json"), b"{ }").unwrap();
        let changed = pack(&back, &tmp.path().join("3.tgz"), 1 << 20).unwrap();
        assert_ne!(changed.hash, first.hash);
    }

    #[test]
    fn packing_stops_at_the_cap() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        // Random bytes do not compress: 256 KiB stays about 256 KiB.
        let noise: Vec<u8> = (0..256 * 1024).map(|_| rand::random::<u8>()).collect();
        tree(&src, &[("big", &noise)]);
        let err = pack(&src, &tmp.path().join("x.tgz"), 64 * 1024).unwrap_err();
        assert!(matches!(err, ArchiveError::OverCap { cap: 65536 }), "{err}");
        let ok = pack(&src, &tmp.path().join("y.tgz"), 1 << 20).unwrap();
        assert!(ok.size > 64 * 1024 && ok.size < 300 * 1024, "{ok:?}");
    }
}
