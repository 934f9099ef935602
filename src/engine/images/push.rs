//! Pushing through the daemon (driver docker): the daemon's BuildKit on a graphdriver store
//! cannot push, so, like buildx's docker driver, ask the daemon to push each tag and take
//! the manifest digest from its progress stream.

use std::collections::BTreeMap;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::PushImageOptions;
use futures::StreamExt;

use crate::engine::error::EngineError;
use crate::engine::resolved::RegistryAuth;

/// The credentials `DOCKER_CONFIG` holds for the registry of `repo` (`host/name`), if any.
pub(in crate::engine) fn credentials_for(
    repo: &str,
    auth: &BTreeMap<String, RegistryAuth>,
) -> Option<DockerCredentials> {
    let host = registry_host(repo);
    auth.get(host).map(|a| DockerCredentials {
        username: Some(a.username.clone()),
        password: Some(a.password.expose().to_owned()),
        serveraddress: Some(host.to_owned()),
        ..Default::default()
    })
}

/// Push `image` (`host/name:tag`) and return the manifest digest the registry reported.
pub async fn push(
    docker: &Docker,
    image: &str,
    auth: &BTreeMap<String, RegistryAuth>,
) -> Result<String, EngineError> {
    let (repo, tag) = split_tag(image);
    let credentials = credentials_for(repo, auth);
    let options = PushImageOptions {
        tag: Some(tag.to_owned()),
        platform: None,
    };
    let mut stream = docker.push_image(repo, Some(options), credentials);
    let mut digest = None;
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| EngineError::Push {
            image: image.to_owned(),
            reason: e.to_string(),
        })?;
        if let Some(d) = info.status.as_deref().and_then(digest_in_status) {
            digest = Some(d.to_owned());
        }
    }
    digest.ok_or_else(|| EngineError::Push {
        image: image.to_owned(),
        reason: "the daemon reported no digest".to_owned(),
    })
}

/// `latest: digest: sha256:abc… size: 527` → `sha256:abc…`.
fn digest_in_status(status: &str) -> Option<&str> {
    let rest = &status[status.find("digest: ")? + 8..];
    Some(rest.split_whitespace().next().unwrap_or(rest))
}

/// Split `host:5000/name:tag` into repository and tag (default `latest`); digests are kept.
pub fn split_tag(image: &str) -> (&str, &str) {
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].rfind(':') {
        Some(i) if !image.contains('@') => (&image[..name_start + i], &image[name_start + i + 1..]),
        _ => (image, "latest"),
    }
}

/// The registry host of a repository, Docker's way: the first component when it looks
/// like a host, else Docker Hub.
pub fn registry_host(repo: &str) -> &str {
    match repo.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_split_like_docker() {
        assert_eq!(
            split_tag("127.0.0.1:5000/app:v1"),
            ("127.0.0.1:5000/app", "v1")
        );
        assert_eq!(
            split_tag("127.0.0.1:5000/app"),
            ("127.0.0.1:5000/app", "latest")
        );
        assert_eq!(split_tag("app"), ("app", "latest"));
        assert_eq!(registry_host("127.0.0.1:5000/app"), "127.0.0.1:5000");
        assert_eq!(registry_host("library/app"), "docker.io");
        assert_eq!(
            digest_in_status("v1: digest: sha256:ab12 size: 527"),
            Some("sha256:ab12")
        );
        assert_eq!(digest_in_status("Pushed"), None);
    }
}
