//! The build context as BuildKit receives it: a tar of the context directory filtered by
//! `.dockerignore` (Docker's rules), with the Dockerfile added when it lives outside the
//! context. BuildKit fetches it over the session's upload service and unpacks it, so the
//! ignore rules must be applied here, exactly as `docker build` would.

use std::fs;
use std::path::{Path, PathBuf};

use std::io::{BufWriter, Seek, Write};

use tempfile::NamedTempFile;

use super::dockerignore::{PatternMatcher, read_ignore_file};
use super::error::EngineError;

/// Where the Dockerfile goes inside the tar when it is outside the context.
const OUTSIDE_DOCKERFILE: &str = ".layercache.Dockerfile";

/// A packed context.
#[derive(Debug)]
pub struct PackedContext {
    /// The tar on disk, deleted when this is dropped (never held in memory: contexts can
    /// be gigabytes); `None` for a remote context.
    pub tar: Option<NamedTempFile>,
    pub tar_bytes: u64,
    /// The Dockerfile's path inside the tar (the frontend's `filename`).
    pub dockerfile_name: String,
    /// The Dockerfile on disk, for locating failing lines.
    pub dockerfile_path: PathBuf,
    pub files: usize,
}

impl PackedContext {
    /// A Git or HTTP context BuildKit fetches itself: nothing to upload, and the Dockerfile
    /// path is taken as relative to that context.
    pub fn remote(dockerfile: Option<&Path>) -> Self {
        let name = dockerfile.map_or_else(
            || "Dockerfile".to_owned(),
            |d| d.to_string_lossy().into_owned(),
        );
        Self {
            tar: None,
            tar_bytes: 0,
            dockerfile_name: name,
            dockerfile_path: PathBuf::new(),
            files: 0,
        }
    }
}

/// Pack `context`, honouring `<Dockerfile>.dockerignore` next to the Dockerfile first,
/// then `<context>/.dockerignore` (the order BuildKit's dockerui uses).
pub fn pack(context: &Path, dockerfile: Option<&Path>) -> Result<PackedContext, EngineError> {
    let meta = fs::metadata(context).map_err(|e| EngineError::MissingContext {
        path: context.to_owned(),
        reason: e.to_string(),
    })?;
    if !meta.is_dir() {
        return Err(EngineError::MissingContext {
            path: context.to_owned(),
            reason: "not a directory".to_owned(),
        });
    }
    let dockerfile_path = dockerfile.map_or_else(|| context.join("Dockerfile"), Path::to_path_buf);
    if !dockerfile_path.is_file() {
        return Err(EngineError::MissingDockerfile {
            path: dockerfile_path,
            reason: "no such file".to_owned(),
        });
    }
    let matcher = ignore_rules(context, &dockerfile_path)?;
    let inside = relative_inside(context, &dockerfile_path);
    let temp = tempfile::Builder::new()
        .prefix("layercache-context-")
        .suffix(".tar")
        .tempfile()
        .map_err(|e| EngineError::Context(format!("failed to create a temporary file: {e}")))?;
    let writer = temp
        .reopen()
        .map_err(|e| EngineError::Context(format!("failed to open the context tar: {e}")))?;
    let mut builder = tar::Builder::new(BufWriter::new(writer));
    builder.mode(tar::HeaderMode::Deterministic);
    builder.follow_symlinks(false);
    let mut files = 0;
    walk(context, "", &matcher, &mut builder, &mut files)?;
    let dockerfile_name = match inside {
        Some(rel) if !matcher.matches_or_parent_matches(&rel) => rel,
        Some(rel) => {
            // Docker sends the Dockerfile even when .dockerignore excludes it.
            append_file(&mut builder, &dockerfile_path, &rel)?;
            rel
        }
        None => {
            append_file(&mut builder, &dockerfile_path, OUTSIDE_DOCKERFILE)?;
            OUTSIDE_DOCKERFILE.to_owned()
        }
    };
    let io =
        |e: std::io::Error| EngineError::Context(format!("failed to write the context tar: {e}"));
    let mut writer = builder.into_inner().map_err(io)?;
    writer.flush().map_err(io)?;
    let tar_bytes = writer.stream_position().map_err(io)?;
    Ok(PackedContext {
        tar: Some(temp),
        tar_bytes,
        dockerfile_name,
        dockerfile_path,
        files,
    })
}

fn ignore_rules(context: &Path, dockerfile: &Path) -> Result<PatternMatcher, EngineError> {
    let specific = PathBuf::from(format!("{}.dockerignore", dockerfile.display()));
    let text = fs::read_to_string(&specific)
        .or_else(|_| fs::read_to_string(context.join(".dockerignore")))
        .unwrap_or_default();
    PatternMatcher::new(&read_ignore_file(&text))
        .map_err(|e| EngineError::Context(format!(".dockerignore: {e}")))
}

/// The Dockerfile's slash-separated path inside the context, if it is inside.
fn relative_inside(context: &Path, dockerfile: &Path) -> Option<String> {
    let ctx = context.canonicalize().ok()?;
    let file = dockerfile.canonicalize().ok()?;
    let rel = file.strip_prefix(&ctx).ok()?;
    Some(rel.to_string_lossy().replace('\\', "/"))
}

fn walk(
    dir: &Path,
    prefix: &str,
    matcher: &PatternMatcher,
    builder: &mut tar::Builder<BufWriter<std::fs::File>>,
    files: &mut usize,
) -> Result<(), EngineError> {
    let io = |e: std::io::Error| EngineError::Context(format!("{}: {e}", dir.display()));
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let path = entry.path();
        let kind = entry.file_type().map_err(io)?;
        let excluded = matcher.matches_or_parent_matches(&rel);
        if kind.is_dir() {
            // An excluded directory may still hold re-included files (`!dir/keep`), so only
            // skip the walk when no exclusion pattern exists at all.
            if !excluded {
                builder.append_dir(&rel, &path).map_err(io)?;
            }
            if !excluded || matcher.has_exclusions() {
                walk(&path, &rel, matcher, builder, files)?;
            }
        } else if !excluded {
            builder.append_path_with_name(&path, &rel).map_err(io)?;
            *files += 1;
        }
    }
    Ok(())
}

fn append_file(
    builder: &mut tar::Builder<BufWriter<std::fs::File>>,
    path: &Path,
    name: &str,
) -> Result<(), EngineError> {
    builder
        .append_path_with_name(path, name)
        .map_err(|e| EngineError::Context(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tar_is_a_temporary_file_with_only_what_dockerignore_keeps() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        fs::write(dir.path().join(".dockerignore"), "*.log\n").unwrap();
        fs::write(dir.path().join("app.txt"), "app").unwrap();
        fs::write(dir.path().join("debug.log"), "noise").unwrap();
        let packed = pack(dir.path(), None).unwrap();
        let tar = packed.tar.as_ref().unwrap();
        let len = fs::metadata(tar.path()).unwrap().len();
        assert_eq!(packed.tar_bytes, len);
        let mut archive = tar::Archive::new(fs::File::open(tar.path()).unwrap());
        let mut names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert_eq!(names, [".dockerignore", "Dockerfile", "app.txt"]);
        let path = tar.path().to_owned();
        drop(packed);
        assert!(!path.exists(), "the context tar outlived the build");
    }
}
