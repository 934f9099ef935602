//! The copy a cache-mount transfer runs inside BuildKit, done by this very binary
//! (`layercache mount-copy`, hidden): a static layercache is a root file system of one
//! file, so the transfer needs neither the stage's base image (a pull of hundreds of MB on
//! an empty builder) nor a shell. docs/cache-mounts.md § Transfers.
//!
//! The copy keeps what `cp -a` keeps for a cache: modes, owners, times and symlinks,
//! streamed through a pipe as a tar so that nothing is held in memory.

use std::io::Read;
use std::path::{Path, PathBuf};

/// `layercache mount-copy`: copy a directory's contents into another.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    from: PathBuf,
    #[arg(long)]
    to: PathBuf,
    /// Leave `--to` alone when it has contents already (printing [`KEPT`]).
    #[arg(long)]
    keep_filled: bool,
    /// `UID:GID` to give everything copied.
    #[arg(long)]
    owner: Option<String>,
    /// Makes each transfer's step unique, so the layer cache never answers for it.
    #[arg(long)]
    nonce: Option<String>,
}

/// Printed when `--keep-filled` left a mount with contents alone (a builder that outlived
/// the job, as on a self-hosted runner: its own contents are newer than any cache entry).
pub const KEPT: &str = "layercache: the mount has contents, kept as they are";

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("mount-copy: {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("mount-copy: --owner {0:?} is not UID:GID")]
    Owner(String),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CopyError + 'a {
    move |source| CopyError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Run the copy; `Ok(false)` when `--keep-filled` kept what was there.
pub fn run(args: &Args) -> Result<bool, CopyError> {
    let owner = args.owner.as_deref().map(parse_owner).transpose()?;
    std::fs::create_dir_all(&args.to).map_err(io("failed to create", &args.to))?;
    if args.keep_filled {
        let mut entries = std::fs::read_dir(&args.to).map_err(io("failed to read", &args.to))?;
        if entries.next().is_some() {
            println!("{KEPT}");
            return Ok(false);
        }
    }
    copy_tree(&args.from, &args.to)?;
    if let Some((uid, gid)) = owner {
        chown_tree(&args.to, uid, gid)?;
    }
    Ok(true)
}

fn parse_owner(s: &str) -> Result<(u32, u32), CopyError> {
    let bad = || CopyError::Owner(s.to_owned());
    let (u, g) = s.split_once(':').ok_or_else(bad)?;
    Ok((u.parse().map_err(|_| bad())?, g.parse().map_err(|_| bad())?))
}

/// `from`'s contents into `to`, through a tar stream between two threads.
fn copy_tree(from: &Path, to: &Path) -> Result<(), CopyError> {
    let (reader, writer) = std::io::pipe().map_err(io("failed to open a pipe for", from))?;
    let source = from.to_owned();
    let packer = std::thread::spawn(move || -> Result<(), CopyError> {
        let mut tar = tar::Builder::new(writer);
        tar.follow_symlinks(false);
        tar.append_dir_all(".", &source)
            .map_err(io("failed to read", &source))?;
        tar.finish().map_err(io("failed to read", &source))
    });
    let unpacked = unpack(reader, to);
    // The packer's error explains an unpack that ended early: report it first.
    match packer.join() {
        Ok(Err(e)) => return Err(e),
        Ok(Ok(())) => {}
        Err(_) => {
            return Err(CopyError::Io {
                what: "failed to read",
                path: from.to_owned(),
                source: std::io::Error::other("the reading thread panicked"),
            });
        }
    }
    unpacked
}

fn unpack(reader: impl Read, to: &Path) -> Result<(), CopyError> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive.unpack(to).map_err(io("failed to write", to))
}

fn chown_tree(root: &Path, uid: u32, gid: u32) -> Result<(), CopyError> {
    let mut todo = vec![root.to_owned()];
    while let Some(path) = todo.pop() {
        std::os::unix::fs::lchown(&path, Some(uid), Some(gid))
            .map_err(io("failed to change the owner of", &path))?;
        let meta = std::fs::symlink_metadata(&path).map_err(io("failed to read", &path))?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(io("failed to read", &path))? {
                todo.push(entry.map_err(io("failed to read", &path))?.path());
            }
        }
    }
    Ok(())
}

/// This binary, when it can be the transfer's whole root file system: a statically linked
/// ELF (the action image's, a release built for musl). `LAYERCACHE_MOUNT_TOOL` names
/// another such binary (tests, a dynamically linked install).
pub fn static_self(env_tool: Option<&str>) -> Option<PathBuf> {
    let path = match env_tool {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => std::env::current_exe().ok()?,
    };
    let mut head = Vec::new();
    std::fs::File::open(&path)
        .ok()?
        .take(64 * 1024)
        .read_to_end(&mut head)
        .ok()?;
    is_static_elf(&head).then_some(path)
}

/// An ELF64 executable without a program interpreter (`PT_INTERP`).
fn is_static_elf(head: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    if head.len() < 64 || &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([head[o], head[o + 1]]) as usize;
    let phoff = head[0x20..0x28]
        .try_into()
        .map(u64::from_le_bytes)
        .unwrap_or(u64::MAX) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).all(|i| {
        let at = phoff.saturating_add(i * phentsize);
        head.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .is_some_and(|t| t != PT_INTERP)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn a_tree_is_copied_with_modes_links_and_times() {
        let from = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(from.path().join("a/b")).unwrap();
        std::fs::write(from.path().join("a/b/f"), b"data").unwrap();
        std::fs::set_permissions(
            from.path().join("a/b/f"),
            std::fs::Permissions::from_mode(0o751),
        )
        .unwrap();
        std::os::unix::fs::symlink("b/f", from.path().join("a/link")).unwrap();
        let args = Args {
            from: from.path().to_owned(),
            to: to.path().join("mount"),
            keep_filled: true,
            owner: None,
            nonce: None,
        };
        assert!(run(&args).unwrap());
        let f = to.path().join("mount/a/b/f");
        assert_eq!(std::fs::read(&f).unwrap(), b"data");
        assert_eq!(std::fs::metadata(&f).unwrap().mode() & 0o777, 0o751);
        assert_eq!(
            std::fs::metadata(&f).unwrap().mtime(),
            std::fs::metadata(from.path().join("a/b/f"))
                .unwrap()
                .mtime()
        );
        assert_eq!(
            std::fs::read_link(to.path().join("mount/a/link")).unwrap(),
            Path::new("b/f")
        );
        // Filled now: kept.
        assert!(!run(&args).unwrap());
    }

    #[test]
    fn owner_must_be_numbers() {
        assert!(parse_owner("1000:1000").is_ok());
        assert!(parse_owner("root:0").is_err());
        assert!(parse_owner("1000").is_err());
    }

    #[test]
    fn static_and_dynamic_executables_are_told_apart() {
        // The test binary is linked dynamically on glibc.
        let me = std::env::current_exe().unwrap();
        let head = std::fs::read(&me).unwrap();
        assert!(!is_static_elf(&head[..65536.min(head.len())]));
        assert!(!is_static_elf(b"#!/bin/sh\n"));
        if let Ok(busybox) = std::fs::read("/bin/busybox") {
            assert!(is_static_elf(&busybox[..65536.min(busybox.len())]));
        }
    }
}
