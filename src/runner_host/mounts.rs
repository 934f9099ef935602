//! This container's bind mounts and the translation of paths between host and container,
//! as the runner's `ContainerInfo.TranslateToContainerPath` does for whole values, but
//! with the mounts the daemon reports (so it also holds for mounts the runner adds later).

use std::path::{Path, PathBuf};

/// One bind mount: `host` on the daemon's machine, seen at `container` here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host: PathBuf,
    pub container: PathBuf,
}

/// The bind mounts of the action's container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountTable {
    mounts: Vec<Mount>,
}

/// A host path the container cannot reach: no mount holds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{path} is a path on the runner outside every directory mounted into the action's container ({mounted}); put it under ${{{{ runner.temp }}}} or ${{{{ github.workspace }}}}"
)]
pub struct PathError {
    pub path: String,
    pub mounted: String,
}

/// The container path of the runner's temp directory (`RUNNER_TEMP`).
pub const RUNNER_TEMP: &str = "/github/runner_temp";

impl MountTable {
    pub fn new(mounts: Vec<Mount>) -> Self {
        Self { mounts }
    }

    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// `host` as a path in this container: through the mount with the longest host prefix.
    pub fn to_container(&self, host: &Path) -> Option<PathBuf> {
        self.mounts
            .iter()
            .filter_map(|m| host.strip_prefix(&m.host).ok().map(|rest| (m, rest)))
            .max_by_key(|(m, _)| m.host.components().count())
            .map(|(m, rest)| join(&m.container, rest))
    }

    /// `container` as a path on the host: through the mount with the longest container prefix.
    pub fn to_host(&self, container: &Path) -> Option<PathBuf> {
        self.mounts
            .iter()
            .filter_map(|m| {
                container
                    .strip_prefix(&m.container)
                    .ok()
                    .map(|rest| (m, rest))
            })
            .max_by_key(|(m, _)| m.container.components().count())
            .map(|(m, rest)| join(&m.host, rest))
    }

    /// A path as written in an input, made usable here: relative paths (to the workspace,
    /// the working directory) and paths already inside a mount stay; a host path inside a
    /// mount is translated; any other absolute path is on the runner, out of reach.
    pub fn translate(&self, path: &str) -> Result<String, PathError> {
        let p = Path::new(path);
        if !p.is_absolute() {
            return Ok(path.to_owned());
        }
        if let Some(inside) = self.to_container(p) {
            return Ok(inside.to_string_lossy().into_owned());
        }
        if self.to_host(p).is_some() {
            return Ok(path.to_owned());
        }
        Err(PathError {
            path: path.to_owned(),
            mounted: self
                .mounts
                .iter()
                .filter(|m| m.container != Path::new("/var/run/docker.sock"))
                .map(|m| m.host.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The runner's work directory on the host (`<work>/_temp` is mounted at
    /// `/github/runner_temp`, runner `WellKnownDirectory.Temp`).
    pub fn work_dir_on_host(&self) -> Option<PathBuf> {
        let temp = self.to_host(Path::new(RUNNER_TEMP))?;
        temp.parent().map(Path::to_path_buf)
    }
}

fn join(base: &Path, rest: &Path) -> PathBuf {
    if rest.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runner's mounts on a hosted runner (docs/runner-contract.md § Starting the container).
    pub(crate) fn hosted() -> MountTable {
        let m = |h: &str, c: &str| Mount {
            host: h.into(),
            container: c.into(),
        };
        MountTable::new(vec![
            m("/var/run/docker.sock", "/var/run/docker.sock"),
            m("/home/runner/work/_temp", "/github/runner_temp"),
            m("/home/runner/work/_temp/_github_home", "/github/home"),
            m(
                "/home/runner/work/_temp/_github_workflow",
                "/github/workflow",
            ),
            m(
                "/home/runner/work/_temp/_runner_file_commands",
                "/github/file_commands",
            ),
            m("/home/runner/work/app/app", "/github/workspace"),
        ])
    }

    #[test]
    fn host_paths_under_a_mount_become_container_paths() {
        let t = hosted();
        let cases = [
            (
                "/home/runner/work/_temp/secret.txt",
                "/github/runner_temp/secret.txt",
            ),
            (
                "/home/runner/work/_temp/_github_home/.docker",
                "/github/home/.docker",
            ),
            ("/home/runner/work/app/app", "/github/workspace"),
            ("/home/runner/work/app/app/lib", "/github/workspace/lib"),
            // Already container paths, or relative to the workspace: unchanged.
            ("/github/workspace/out", "/github/workspace/out"),
            ("/github/runner_temp/f", "/github/runner_temp/f"),
            ("./lib", "./lib"),
            ("lib", "lib"),
        ];
        for (given, want) in cases {
            assert_eq!(t.translate(given).as_deref(), Ok(want), "{given}");
        }
        // A prefix of a mount's name is not inside it.
        let err = t.translate("/home/runner/work/app/app2/x").unwrap_err();
        assert_eq!(err.path, "/home/runner/work/app/app2/x");
        assert!(
            err.to_string().contains("/home/runner/work/_temp,"),
            "{err}"
        );
        assert!(!err.to_string().contains("docker.sock"), "{err}");
        assert!(t.translate("/home/runner/.ssh/id").is_err());
        assert_eq!(
            t.work_dir_on_host(),
            Some(PathBuf::from("/home/runner/work"))
        );
        assert_eq!(
            t.to_host(Path::new("/github/home/.docker/config.json")),
            Some(PathBuf::from(
                "/home/runner/work/_temp/_github_home/.docker/config.json"
            ))
        );
    }
}
