//! The receiving end of fsutil's packet protocol, which BuildKit's `local` exporter speaks
//! through the session's FileSend service (tonistiigi/fsutil `send.go`): the sender streams
//! one `STAT` per entry in walk order (a `STAT` without stat ends the listing), the receiver
//! asks for each regular file's bytes with `REQ{id}` (the id is the entry's index in the
//! listing), `DATA{id}` chunks arrive (an empty one ends the file), and `FIN` each way ends
//! the exchange. Modes are Go `os.FileMode` bits.
//!
//! Everything lands in a staging directory next to `dest` and is merged into `dest` only
//! when the whole tree arrived (as buildx merges into an existing directory); a failed or
//! cut-off export leaves `dest` untouched and no staging behind. Paths are checked so that
//! nothing is written outside `dest`, not even through a symlink the sender created.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use bollard::fsutil::types::packet::PacketType;
use bollard::fsutil::types::{Packet, Stat};
use futures::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc::UnboundedSender;
use tonic::Status;

use super::wire::{MODE_DIR, MODE_SYMLINK, MODE_TYPE, SPECIAL_BITS, packet};

/// Receive a tree into `dest`. Outgoing packets (`REQ`, `FIN`, `ERR`) go to `out`.
pub async fn receive<S>(
    inbound: S,
    out: &UnboundedSender<Result<Packet, Status>>,
    dest: &Path,
) -> Result<(), String>
where
    S: Stream<Item = Result<Packet, Status>> + Unpin,
{
    let staging = staging_dir(dest)?;
    let mut tree = Tree::new(staging.path().to_owned());
    let result = exchange(inbound, out, &mut tree, dest).await;
    if let Err(e) = &result {
        let _ = out.send(Ok(packet(PacketType::PacketErr, 0, e.as_bytes().to_vec())));
    }
    result
}

async fn exchange<S>(
    mut inbound: S,
    out: &UnboundedSender<Result<Packet, Status>>,
    tree: &mut Tree,
    dest: &Path,
) -> Result<(), String>
where
    S: Stream<Item = Result<Packet, Status>> + Unpin,
{
    let mut index: u32 = 0;
    let mut listed = false;
    while !(listed && tree.pending.is_empty()) {
        let p = match inbound.next().await {
            Some(Ok(p)) => p,
            Some(Err(e)) => return Err(format!("export stream failed: {}", e.message())),
            None => return Err("the export stream ended before every file arrived".to_owned()),
        };
        match PacketType::try_from(p.r#type) {
            Ok(PacketType::PacketStat) => match p.stat {
                Some(stat) => {
                    if tree.entry(index, &stat)? {
                        let _ = out.send(Ok(packet(PacketType::PacketReq, index, Vec::new())));
                    }
                    index += 1;
                }
                None => listed = true,
            },
            Ok(PacketType::PacketData) => tree.data(p.id, &p.data).await?,
            Ok(PacketType::PacketErr) => {
                return Err(format!("BuildKit: {}", String::from_utf8_lossy(&p.data)));
            }
            Ok(PacketType::PacketFin) => {
                return Err("BuildKit ended the export before every file arrived".to_owned());
            }
            Ok(PacketType::PacketReq) | Err(_) => {}
        }
    }
    tree.finish(dest)?;
    let _ = out.send(Ok(packet(PacketType::PacketFin, 0, Vec::new())));
    // The sender answers FIN with FIN, then closes.
    while let Some(Ok(_)) = inbound.next().await {}
    Ok(())
}

/// Permissions and times to apply once an entry is complete.
#[derive(Debug, Clone)]
struct Meta {
    rel: PathBuf,
    mode: u32,
    mtime: SystemTime,
}

impl Meta {
    fn of(rel: PathBuf, stat: &Stat) -> Self {
        let nanos = u64::try_from(stat.mod_time).unwrap_or(0);
        Self {
            rel,
            mode: stat.mode,
            mtime: SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos),
        }
    }

    /// Unix permission bits from Go's FileMode.
    fn permissions(&self) -> std::fs::Permissions {
        use std::os::unix::fs::PermissionsExt;
        let mut bits = self.mode & 0o777;
        for (unix, go) in SPECIAL_BITS {
            if self.mode & go != 0 {
                bits |= unix;
            }
        }
        std::fs::Permissions::from_mode(bits)
    }
}

/// The tree being received under the staging directory.
struct Tree {
    root: PathBuf,
    symlinks: HashSet<PathBuf>,
    dirs: Vec<Meta>,
    /// Regular files asked for and not yet complete, by id.
    pending: HashMap<u32, Meta>,
    open: HashMap<u32, tokio::fs::File>,
}

impl Tree {
    fn new(root: PathBuf) -> Self {
        Self {
            root,
            symlinks: HashSet::new(),
            dirs: Vec::new(),
            pending: HashMap::new(),
            open: HashMap::new(),
        }
    }

    /// Create the entry `stat` names; `Ok(true)` when its bytes must be asked for.
    fn entry(&mut self, id: u32, stat: &Stat) -> Result<bool, String> {
        let rel = self.safe_path(&stat.path)?;
        let at = self.root.join(&rel);
        let io = |e: std::io::Error| format!("failed to write {}: {e}", rel.display());
        if stat.mode & MODE_DIR != 0 {
            std::fs::create_dir_all(&at).map_err(io)?;
            self.dirs.push(Meta::of(rel, stat));
        } else if stat.mode & MODE_SYMLINK != 0 {
            std::os::unix::fs::symlink(&stat.linkname, &at).map_err(io)?;
            self.symlinks.insert(rel);
        } else if stat.mode & MODE_TYPE != 0 {
            // Devices, pipes and sockets: buildx's receiver needs privileges for them too.
            tracing::debug!(path = %rel.display(), "local export: skipped a special file");
        } else if !stat.linkname.is_empty() {
            let target = self.root.join(self.safe_path(&stat.linkname)?);
            std::fs::hard_link(target, &at).map_err(io)?;
        } else {
            // Created now, filled when its bytes arrive: a hard link listed later in the
            // walk may point at it before then.
            std::fs::File::create(&at).map_err(io)?;
            self.pending.insert(id, Meta::of(rel, stat));
            return Ok(true);
        }
        Ok(false)
    }

    async fn data(&mut self, id: u32, data: &[u8]) -> Result<(), String> {
        let meta = self
            .pending
            .get(&id)
            .cloned()
            .ok_or_else(|| format!("BuildKit sent data for unknown file {id}"))?;
        let at = self.root.join(&meta.rel);
        let io = |e: std::io::Error| format!("failed to write {}: {e}", meta.rel.display());
        let file = match self.open.entry(id) {
            Entry::Occupied(open) => open.into_mut(),
            Entry::Vacant(slot) => {
                let file = tokio::fs::OpenOptions::new().write(true).open(&at).await;
                slot.insert(file.map_err(io)?)
            }
        };
        if !data.is_empty() {
            return file.write_all(data).await.map_err(io);
        }
        // An empty DATA ends the file.
        file.flush().await.map_err(io)?;
        if let Some(file) = self.open.remove(&id) {
            let file = file.into_std().await;
            file.set_permissions(meta.permissions()).map_err(io)?;
            file.set_modified(meta.mtime).map_err(io)?;
        }
        self.pending.remove(&id);
        Ok(())
    }

    /// Merge the staged tree into `dest`, then give directories their modes and times,
    /// deepest first (a read-only directory must not block writing its children).
    fn finish(&mut self, dest: &Path) -> Result<(), String> {
        let io =
            |e: std::io::Error| format!("failed to move the export into {}: {e}", dest.display());
        if std::fs::symlink_metadata(dest).is_ok() {
            merge(&self.root, dest).map_err(io)?;
        } else {
            std::fs::rename(&self.root, dest).map_err(io)?;
        }
        self.dirs
            .sort_by_key(|d| std::cmp::Reverse(d.rel.components().count()));
        for d in &self.dirs {
            let at = dest.join(&d.rel);
            std::fs::set_permissions(&at, d.permissions()).map_err(io)?;
            if let Ok(dir) = std::fs::File::open(&at) {
                let _ = dir.set_modified(d.mtime);
            }
        }
        Ok(())
    }

    /// A relative path with only normal components that does not pass through a symlink
    /// of this tree.
    fn safe_path(&self, path: &str) -> Result<PathBuf, String> {
        let rel = Path::new(path);
        let normal = rel.components().all(|c| matches!(c, Component::Normal(_)));
        if path.is_empty() || !normal {
            return Err(format!("BuildKit sent an unsafe path {path:?}"));
        }
        if rel.ancestors().skip(1).any(|a| self.symlinks.contains(a)) {
            return Err(format!("BuildKit sent {path:?} below a symlink"));
        }
        Ok(rel.to_owned())
    }
}

/// Move every entry of `from` into `to`: directories merge, anything else replaces.
fn merge(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let src_dir = entry.file_type()?.is_dir();
        match std::fs::symlink_metadata(&dst) {
            Ok(m) if m.is_dir() && src_dir => merge(&src, &dst)?,
            Ok(m) if m.is_dir() => {
                std::fs::remove_dir_all(&dst)?;
                std::fs::rename(&src, &dst)?;
            }
            Ok(_) => {
                std::fs::remove_file(&dst)?;
                std::fs::rename(&src, &dst)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::rename(&src, &dst)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A hidden directory next to `dest` (same file system, so moving out of it is a rename),
/// removed when dropped, whatever happened.
fn staging_dir(dest: &Path) -> Result<tempfile::TempDir, String> {
    let parent = crate::engine::containing_dir(dest);
    let name = dest
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let io = |e: std::io::Error| format!("failed to prepare {}: {e}", dest.display());
    std::fs::create_dir_all(&parent).map_err(io)?;
    tempfile::Builder::new()
        .prefix(&format!(".{name}.layercache-"))
        .tempdir_in(&parent)
        .map_err(io)
}

#[cfg(test)]
#[path = "receive_tests.rs"]
mod tests;
