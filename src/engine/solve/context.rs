//! Where BuildKit reads the build context and the Dockerfile: local directories it pulls
//! through the session's FileSync service (the context as `context`, the Dockerfile's
//! directory as `dockerfile`, each local `build-contexts` entry under its own name, see
//! [`local_context_dir`]), or a Git/HTTP context it fetches itself. The Dockerfile
//! frontend reads `.dockerignore` and asks for the context without what it excludes, as
//! with `docker buildx build`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::engine::error::EngineError;

/// The local names the Dockerfile frontend asks for.
pub const CONTEXT_DIR: &str = "context";
pub const DOCKERFILE_DIR: &str = "dockerfile";

#[derive(Debug, Clone, Default)]
pub struct ContextSource {
    /// Directories BuildKit pulls through the session, by local name; empty for a remote
    /// context.
    pub dirs: BTreeMap<String, PathBuf>,
    /// The frontend's `filename`: the Dockerfile's name in its directory, or its path in a
    /// remote context.
    pub dockerfile_name: String,
    /// The Dockerfile on disk, for locating failing lines (empty for a remote context).
    pub dockerfile_path: PathBuf,
}

impl ContextSource {
    /// The session's shared key: one per context directory, so BuildKit sends a rebuild of
    /// the same directory only what changed, and two directories never share a snapshot.
    pub fn shared_key(&self) -> String {
        let dir = self
            .dirs
            .get(CONTEXT_DIR)
            .map(|d| d.canonicalize().unwrap_or_else(|_| d.clone()));
        let digest = Sha256::digest(dir.unwrap_or_default().as_os_str().as_encoded_bytes());
        format!("layercache-{}", &hex::encode(digest)[..16])
    }

    /// A Git or HTTP context BuildKit fetches itself: the Dockerfile path is taken as
    /// relative to that context.
    pub fn remote(dockerfile: &Path) -> Self {
        Self {
            dockerfile_name: dockerfile.to_string_lossy().into_owned(),
            ..Self::default()
        }
    }

    /// The context directory and the Dockerfile, both checked to exist.
    pub fn local(context: &Path, dockerfile: &Path) -> Result<Self, EngineError> {
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
        let dockerfile_path = dockerfile.to_path_buf();
        let missing = |reason: &str| EngineError::MissingDockerfile {
            path: dockerfile_path.clone(),
            reason: reason.to_owned(),
        };
        if !dockerfile_path.is_file() {
            return Err(missing("no such file"));
        }
        let name = dockerfile_path
            .file_name()
            .ok_or_else(|| missing("not a file name"))?
            .to_string_lossy()
            .into_owned();
        let dir = crate::engine::containing_dir(&dockerfile_path);
        let dirs = [
            (CONTEXT_DIR.to_owned(), context.to_owned()),
            (DOCKERFILE_DIR.to_owned(), dir),
        ];
        Ok(Self {
            dirs: dirs.into(),
            dockerfile_name: name,
            dockerfile_path,
        })
    }

    /// Add the local directories among `build-contexts`, each under
    /// [`local_context_dir`]; the other kinds BuildKit fetches itself.
    pub fn add_build_contexts(&mut self, contexts: &BTreeMap<String, String>) {
        for (name, value) in contexts {
            if is_local_build_context(value) {
                self.dirs
                    .insert(local_context_dir(name), PathBuf::from(value));
            }
        }
    }
}

/// Whether a `build-contexts` value is a directory on this machine rather than an image,
/// URL, Git repository or another stage (buildx `build/opt.go`).
pub fn is_local_build_context(value: &str) -> bool {
    !value.contains("://") && !value.starts_with("target:") && !value.starts_with("git@")
}

/// The session directory name of the local build context `name`: its own name, except
/// that `context` and `dockerfile` get a leading `_` so they do not shadow the main
/// context and the Dockerfile's directory (as buildx and the docker CLI do).
pub fn local_context_dir(name: &str) -> String {
    if name == CONTEXT_DIR || name == DOCKERFILE_DIR {
        format!("_{name}")
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_build_contexts_never_replace_the_main_context() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        let mut source = ContextSource::local(dir.path(), &dir.path().join("Dockerfile")).unwrap();
        source.add_build_contexts(&BTreeMap::from([
            ("context".to_owned(), "../other".to_owned()),
            ("lib".to_owned(), "../lib".to_owned()),
            ("base".to_owned(), "docker-image://alpine:3".to_owned()),
        ]));
        let names: Vec<&str> = source.dirs.keys().map(String::as_str).collect();
        assert_eq!(names, ["_context", "context", "dockerfile", "lib"]);
        assert_eq!(source.dirs["context"], dir.path());
        assert_eq!(source.dirs["_context"], Path::new("../other"));
    }
}
