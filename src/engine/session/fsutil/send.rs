//! The sending end of fsutil's packet protocol, for BuildKit's local sources (the build
//! context, the Dockerfile's directory, `build-contexts` directories) pulled through the
//! session's FileSync service (tonistiigi/fsutil `send.go`, `walker.go`): one `STAT` per
//! entry in walk order (names sorted byte-wise, a directory before its children, parents
//! sent only when something under them is), an empty `STAT` to end the listing, then the
//! bytes of each regular file BuildKit asks for with `REQ{id}` as `DATA` chunks ended by an
//! empty one, and `FIN` answered with `FIN`. BuildKit asks only for files its cached copy
//! of the directory lacks, so a rebuild sends what changed.
//!
//! BuildKit chooses what to send: `exclude-patterns` (from `.dockerignore`, Docker's
//! matching rules), `include-patterns` and `followpaths` (a Dockerfile, a `.dockerignore`).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use bollard::fsutil::types::packet::PacketType;
use bollard::fsutil::types::{Packet, Stat};
use futures::{Stream, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc::Sender;
use tonic::Status;

use super::super::dockerignore::PatternMatcher;
use super::wire::{
    MODE_CHAR_DEVICE, MODE_DEVICE, MODE_DIR, MODE_NAMED_PIPE, MODE_SOCKET, MODE_SYMLINK,
    SPECIAL_BITS, packet,
};

/// Bytes per `DATA` packet, well under BuildKit's 16 MiB message cap.
const CHUNK: usize = 256 * 1024;

/// What BuildKit asked for.
#[derive(Debug, Default)]
pub struct Selection {
    pub excludes: Vec<String>,
    /// `include-patterns` and `followpaths` together (fsutil merges them).
    pub includes: Vec<String>,
}

/// What was sent, for the summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub files: usize,
    pub bytes: u64,
}

/// One entry of the listing, and for a regular file where to read it.
#[derive(Debug)]
pub struct Entry {
    pub stat: Stat,
    pub file: Option<PathBuf>,
}

/// The listing of `root` that `selection` keeps, in fsutil's walk order.
pub fn list(root: &Path, selection: &Selection) -> Result<Vec<Entry>, String> {
    let excludes =
        PatternMatcher::new(&selection.excludes).map_err(|e| format!("exclude patterns: {e}"))?;
    let includes =
        PatternMatcher::new(&selection.includes).map_err(|e| format!("include patterns: {e}"))?;
    let mut walker = Walker {
        excludes,
        includes,
        prefixes: selection
            .includes
            .iter()
            .map(|p| literal_prefix(p))
            .collect(),
        parents: Vec::new(),
        seen: HashMap::new(),
        out: Vec::new(),
    };
    walker
        .dir(root, "")
        .map_err(|e| format!("failed to read {}: {e}", root.display()))?;
    Ok(walker.out)
}

struct Walker {
    excludes: PatternMatcher,
    includes: PatternMatcher,
    /// Each include pattern up to its first wildcard: where a match can be.
    prefixes: Vec<String>,
    /// Directories being walked, and whether their own `STAT` went out yet.
    parents: Vec<(Entry, bool)>,
    /// Regular files with several links, by (device, inode): later ones become hard links.
    seen: HashMap<(u64, u64), String>,
    out: Vec<Entry>,
}

impl Walker {
    fn dir(&mut self, abs: &Path, prefix: &str) -> std::io::Result<()> {
        let mut names: Vec<_> = std::fs::read_dir(abs)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
        for name in names {
            let path = abs.join(&name);
            let name = name.to_string_lossy();
            let rel = if prefix.is_empty() {
                name.into_owned()
            } else {
                format!("{prefix}/{name}")
            };
            let meta = std::fs::symlink_metadata(&path)?;
            let excluded = self.excludes.matches_or_parent_matches(&rel);
            let included =
                self.includes.is_empty() || self.includes.matches_or_parent_matches(&rel);
            if meta.is_dir() {
                let below = self.may_include_below(&rel);
                let rescue = excluded && self.excludes.has_exclusions();
                if (excluded && !rescue) || !(included || below) {
                    continue;
                }
                let entry = self.entry(&rel, &path, &meta)?;
                self.parents.push((entry, false));
                if !excluded && included {
                    self.flush_parents();
                }
                self.dir(&path, &rel)?;
                self.parents.pop();
            } else if !excluded && included {
                let entry = self.entry(&rel, &path, &meta)?;
                self.flush_parents();
                self.out.push(entry);
            }
        }
        Ok(())
    }

    /// Whether an include pattern may match something below the directory `rel`.
    fn may_include_below(&self, rel: &str) -> bool {
        let dir = format!("{rel}/");
        self.prefixes
            .iter()
            .any(|p| p.starts_with(&dir) || dir.starts_with(p.as_str()))
    }

    /// Send the `STAT`s of the directories above the next entry that have not gone out.
    fn flush_parents(&mut self) {
        for (entry, sent) in &mut self.parents {
            if !*sent {
                *sent = true;
                self.out.push(Entry {
                    stat: entry.stat.clone(),
                    file: None,
                });
            }
        }
    }

    fn entry(
        &mut self,
        rel: &str,
        path: &Path,
        meta: &std::fs::Metadata,
    ) -> std::io::Result<Entry> {
        let mut stat = Stat {
            path: rel.to_owned(),
            mode: go_mode(meta.mode()),
            uid: meta.uid(),
            gid: meta.gid(),
            mod_time: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ..Default::default()
        };
        let mut file = None;
        if meta.file_type().is_symlink() {
            stat.linkname = std::fs::read_link(path)?.to_string_lossy().into_owned();
        } else if meta.is_file() {
            let key = (meta.dev(), meta.ino());
            match self.seen.get(&key) {
                Some(first) if meta.nlink() > 1 => stat.linkname = first.clone(),
                _ => {
                    if meta.nlink() > 1 {
                        self.seen.insert(key, rel.to_owned());
                    }
                    stat.size = i64::try_from(meta.len()).unwrap_or(i64::MAX);
                    file = Some(path.to_owned());
                }
            }
        }
        Ok(Entry { stat, file })
    }
}

/// An include pattern up to its first wildcard (`docker/*.Dockerfile` → `docker/`).
fn literal_prefix(pattern: &str) -> String {
    let end = pattern.find(['*', '?', '[', '\\']).unwrap_or(pattern.len());
    pattern[..end].trim_start_matches("./").to_owned()
}

/// A Unix `st_mode` as Go's `os.FileMode`.
fn go_mode(mode: u32) -> u32 {
    let mut out = mode & 0o777;
    out |= match mode & 0o170_000 {
        0o040_000 => MODE_DIR,
        0o120_000 => MODE_SYMLINK,
        0o010_000 => MODE_NAMED_PIPE,
        0o140_000 => MODE_SOCKET,
        0o060_000 => MODE_DEVICE,
        0o020_000 => MODE_DEVICE | MODE_CHAR_DEVICE,
        _ => 0,
    };
    for (unix, go) in SPECIAL_BITS {
        if mode & unix != 0 {
            out |= go;
        }
    }
    out
}

/// Run the sender: the listing, then files as BuildKit asks for them, until `FIN`.
pub async fn send<S>(
    mut inbound: S,
    out: &Sender<Result<Packet, Status>>,
    entries: Vec<Entry>,
) -> Result<Sent, String>
where
    S: Stream<Item = Result<Packet, Status>> + Unpin,
{
    let mut files: HashMap<u32, PathBuf> = HashMap::new();
    for (id, entry) in entries.into_iter().enumerate() {
        let id = u32::try_from(id).map_err(|_| "too many files in the context".to_owned())?;
        if let Some(path) = entry.file {
            files.insert(id, path);
        }
        let stat = Packet {
            stat: Some(entry.stat),
            ..packet(PacketType::PacketStat, 0, Vec::new())
        };
        let _ = out.send(Ok(stat)).await;
    }
    let _ = out
        .send(Ok(packet(PacketType::PacketStat, 0, Vec::new())))
        .await;
    let mut sent = Sent::default();
    while let Some(p) = inbound.next().await {
        let p = p.map_err(|e| format!("context stream failed: {}", e.message()))?;
        match PacketType::try_from(p.r#type) {
            Ok(PacketType::PacketReq) => {
                let path = files
                    .remove(&p.id)
                    .ok_or_else(|| format!("BuildKit asked for unknown file {}", p.id))?;
                sent.bytes += send_file(p.id, &path, out).await?;
                sent.files += 1;
            }
            Ok(PacketType::PacketFin) => {
                let _ = out
                    .send(Ok(packet(PacketType::PacketFin, 0, Vec::new())))
                    .await;
                return Ok(sent);
            }
            Ok(PacketType::PacketErr) => {
                return Err(format!("BuildKit: {}", String::from_utf8_lossy(&p.data)));
            }
            _ => {}
        }
    }
    Err("BuildKit ended the context transfer early".to_owned())
}

async fn send_file(
    id: u32,
    path: &Path,
    out: &Sender<Result<Packet, Status>>,
) -> Result<u64, String> {
    let io = |e: std::io::Error| format!("failed to read {}: {e}", path.display());
    let mut file = tokio::fs::File::open(path).await.map_err(io)?;
    let mut total = 0u64;
    loop {
        let mut buf = vec![0u8; CHUNK];
        let n = file.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            break;
        }
        buf.truncate(n);
        total += n as u64;
        if out
            .send(Ok(packet(PacketType::PacketData, id, buf)))
            .await
            .is_err()
        {
            return Err("BuildKit closed the context transfer".to_owned());
        }
    }
    let _ = out
        .send(Ok(packet(PacketType::PacketData, id, Vec::new())))
        .await;
    Ok(total)
}

#[cfg(test)]
#[path = "send_tests.rs"]
mod tests;
