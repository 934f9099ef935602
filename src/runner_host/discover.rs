//! Finding the action's own container through the daemon's socket, and reading a host
//! file the container does not see (the runner's `~/.docker/config.json`) through a
//! container the daemon creates and never starts.

use std::io::Read as _;
use std::path::Path;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, Mount as BindMount, MountType};
use bollard::query_parameters::{
    CreateContainerOptions, DownloadFromContainerOptions, RemoveContainerOptions,
};
use futures::StreamExt;

use super::mounts::{Mount, MountTable};
use crate::action::env::Env;
use crate::engine::DockerHost;

/// The action's container: its image and its bind mounts, with the daemon that runs it.
pub struct RunnerHost {
    docker: Docker,
    /// The image this container runs (an id): what the reading container is made from,
    /// since it is certainly in the daemon and pulls nothing.
    image: String,
    pub mounts: MountTable,
}

impl std::fmt::Debug for RunnerHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerHost")
            .field("image", &self.image)
            .field("mounts", &self.mounts)
            .finish()
    }
}

/// The largest config file read through the daemon.
const MAX_FILE: u64 = 1 << 20;
/// Where the reading container sees the host file.
const READ_AT: &str = "/layercache-host-file";

impl RunnerHost {
    /// This container as the daemon knows it; `None` outside a container, or when the
    /// daemon does not run this one (then nothing can be translated, and nothing is).
    pub async fn discover(env: &Env) -> Option<Self> {
        let ids = own_container_ids();
        if ids.is_empty() {
            return None;
        }
        let docker = DockerHost::from_env(env).ok()?.docker().ok()?;
        for id in ids {
            let Ok(c) = docker.inspect_container(&id, None).await else {
                continue;
            };
            let mounts = c
                .mounts
                .unwrap_or_default()
                .into_iter()
                .filter(|m| m.typ.as_deref() == Some("bind"))
                .filter_map(|m| {
                    Some(Mount {
                        host: m.source?.into(),
                        container: m.destination?.into(),
                    })
                })
                .collect();
            let image = c.image?;
            tracing::debug!(container = %id, "found the action's own container");
            return Some(Self {
                docker,
                image,
                mounts: MountTable::new(mounts),
            });
        }
        tracing::debug!(
            "running in a container the daemon does not know; host paths are not translated"
        );
        None
    }

    /// The bytes of a file on the daemon's host: read directly when a mount holds it, else
    /// through a container (of this image, never started) with the file bind-mounted
    /// read-only. `Ok(None)` when there is no such file.
    pub async fn read_host_file(&self, host: &Path) -> Result<Option<Vec<u8>>, String> {
        if let Some(here) = self.mounts.to_container(host) {
            return match std::fs::read(&here) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("{}: {e}", here.display())),
            };
        }
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            network_disabled: Some(true),
            labels: Some([("layercache.purpose".to_owned(), "read-host-file".to_owned())].into()),
            host_config: Some(HostConfig {
                mounts: Some(vec![BindMount {
                    typ: Some(MountType::BIND),
                    source: Some(host.to_string_lossy().into_owned()),
                    target: Some(READ_AT.to_owned()),
                    read_only: Some(true),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let name = format!("layercache-read-{}", uuid::Uuid::new_v4().simple());
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        };
        // A bind mount of a missing source is refused (type=bind never creates it, unlike
        // `-v`): that is "no such file".
        if let Err(e) = self.docker.create_container(Some(options), body).await {
            let text = e.to_string();
            return if text.contains("does not exist") || text.contains("no such file") {
                Ok(None)
            } else {
                Err(format!(
                    "creating a container to read {}: {text}",
                    host.display()
                ))
            };
        }
        let read = self.download(&name).await;
        let remove = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        if let Err(e) = self.docker.remove_container(&name, Some(remove)).await {
            tracing::warn!("could not remove the container {name} that read a host file: {e}");
        }
        read.map(Some)
            .map_err(|e| format!("reading {} through the daemon: {e}", host.display()))
    }

    async fn download(&self, container: &str) -> Result<Vec<u8>, String> {
        let options = DownloadFromContainerOptions {
            path: READ_AT.to_owned(),
        };
        let mut stream = self
            .docker
            .download_from_container(container, Some(options));
        let mut tar_bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            tar_bytes.extend_from_slice(&chunk);
            if tar_bytes.len() as u64 > MAX_FILE + 64 * 1024 {
                return Err(format!("larger than {MAX_FILE} bytes"));
            }
        }
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let mut entries = archive.entries().map_err(|e| e.to_string())?;
        let mut entry = entries
            .next()
            .ok_or("an empty archive")?
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        entry
            .by_ref()
            .take(MAX_FILE)
            .read_to_end(&mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }
}

/// Names this container may go by, best first: the id in the paths of the files the
/// daemon bind-mounts into every container (`/var/lib/docker/containers/<id>/hostname`),
/// the id in the cgroup path (cgroup v1, or v2 without a private cgroup namespace:
/// `/docker/<id>`, `docker-<id>.scope`), then the hostname, which is the short id unless
/// `--hostname` was given.
fn own_container_ids() -> Vec<String> {
    let mut ids = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") {
        ids.extend(ids_in_mountinfo(&text));
    }
    if let Ok(text) = std::fs::read_to_string("/proc/self/cgroup") {
        for id in ids_in_cgroup(&text) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    let in_docker = Path::new("/.dockerenv").exists() || !ids.is_empty();
    if in_docker && let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        let h = h.trim();
        if !h.is_empty() && !ids.iter().any(|i| i == h) {
            ids.push(h.to_owned());
        }
    }
    ids
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn ids_in_cgroup(text: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for line in text.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap_or("");
        for part in path.split('/') {
            let part = part.strip_prefix("docker-").unwrap_or(part);
            let part = part.strip_suffix(".scope").unwrap_or(part);
            if is_container_id(part) && !ids.iter().any(|i| i == part) {
                ids.push(part.to_owned());
            }
        }
    }
    ids
}

fn ids_in_mountinfo(text: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some(root) = line.split(' ').nth(3) else {
            continue;
        };
        let mut parts = root.split('/');
        while let Some(p) = parts.next() {
            if p != "containers" {
                continue;
            }
            if let Some(id) = parts.next()
                && is_container_id(id)
                && !ids.iter().any(|i| i == id)
            {
                ids.push(id.to_owned());
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_container_id_comes_from_the_daemons_own_bind_mounts() {
        let id = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
        let text = format!(
            "601 600 0:52 / / rw,relatime - overlay overlay rw\n\
             615 601 8:1 /var/lib/docker/containers/{id}/resolv.conf /etc/resolv.conf rw - ext4 /dev/sda1 rw\n\
             616 601 8:1 /var/lib/docker/containers/{id}/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n\
             617 601 8:1 /home/runner/work/_temp /github/runner_temp rw - ext4 /dev/sda1 rw\n"
        );
        assert_eq!(ids_in_mountinfo(&text), [id]);
        assert!(
            ids_in_mountinfo("1 0 8:1 /containers/short /x rw - ext4 /dev/sda1 rw\n").is_empty()
        );
    }
}
