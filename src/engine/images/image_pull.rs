//! Getting the builder image into the daemon: with the registry credentials
//! `docker login` left for its host, retried with backoff when the registry or the network
//! fails transiently (pull flakes and rate limits are what setup-buildx users hit most),
//! and named with the digest the daemon holds, so a log says exactly what BuildKit ran.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error;
use bollard::query_parameters::CreateImageOptions;
use futures::StreamExt;

use super::push::{credentials_for, split_tag};
use crate::engine::resolved::RegistryAuth;
use crate::retry::{Attempt, Backoff, Failed, Failure};

/// Four pulls in all, 1–2, 2–4 and 4–8 s apart.
const PULL: Backoff = Backoff {
    max_attempts: 4,
    base_delay: Duration::from_secs(2),
    max_delay: Duration::from_secs(8),
    max_retry_after: Duration::ZERO,
    deadline: None,
};

/// The image the builder runs, as the daemon holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderImage {
    pub image: String,
    /// The registry's manifest digest when the daemon knows it, else the image id.
    pub digest: String,
    /// Whether this step pulled it (else it was there already), and how many tries it took.
    pub pulled_after: Option<u32>,
}

/// Make sure `image` is in the daemon, pulling it when absent.
pub async fn ensure(
    docker: &Docker,
    image: &str,
    auth: &BTreeMap<String, RegistryAuth>,
) -> Result<BuilderImage, String> {
    let pulled_after = match docker.inspect_image(image).await {
        Ok(_) => None,
        Err(_) => Some(pull_with_retries(docker, image, auth).await?),
    };
    let inspect = docker
        .inspect_image(image)
        .await
        .map_err(|e| e.to_string())?;
    let (repo, _) = split_tag(image);
    let repo = repo.split('@').next().unwrap_or(repo);
    let digest = inspect
        .repo_digests
        .unwrap_or_default()
        .into_iter()
        .find_map(|d| {
            d.split_once('@')
                .filter(|(r, _)| *r == repo || r.ends_with(&format!("/{repo}")))
                .map(|(_, digest)| digest.to_owned())
        })
        .or(inspect.id)
        .unwrap_or_default();
    Ok(BuilderImage {
        image: image.to_owned(),
        digest,
        pulled_after,
    })
}

async fn pull_with_retries(
    docker: &Docker,
    image: &str,
    auth: &BTreeMap<String, RegistryAuth>,
) -> Result<u32, String> {
    let attempt = || async {
        pull(docker, image, auth).await.map_err(|e| {
            if is_transient(&e) {
                Attempt::Again {
                    after: None,
                    last: e.to_string(),
                }
            } else {
                Attempt::Stop(e.to_string())
            }
        })
    };
    let failed = |r: &Failed<'_>| {
        if let Some(wait) = r.wait {
            tracing::warn!(%image, attempt = r.attempt, error = %r.last, "pulling the builder image failed; retrying in {:.1}s", wait.as_secs_f64());
        }
        Ok(())
    };
    match PULL.run(attempt, failed).await {
        Ok(((), retries)) => Ok(retries + 1),
        Err(Failure::Stopped(e)) => Err(e),
        Err(Failure::GaveUp { attempts, last }) => {
            Err(format!("{last} (after {attempts} attempts)"))
        }
    }
}

async fn pull(
    docker: &Docker,
    image: &str,
    auth: &BTreeMap<String, RegistryAuth>,
) -> Result<(), Error> {
    let (repo, _) = split_tag(image);
    let credentials = credentials_for(repo, auth);
    let opts = CreateImageOptions {
        from_image: Some(image.to_owned()),
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(opts), None, credentials);
    while let Some(item) = stream.next().await {
        item?;
    }
    Ok(())
}

/// Worth another try: the registry was busy, rate-limited us or the connection broke.
/// Not: unknown image, denied access (another try gets the same answer).
fn is_transient(e: &Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    let permanent = [
        "not found",
        "manifest unknown",
        "unauthorized",
        "denied",
        "invalid reference",
    ];
    if permanent.iter().any(|p| text.contains(p)) {
        return false;
    }
    match e {
        Error::DockerResponseServerError { status_code, .. } if *status_code == 429 => true,
        Error::DockerStreamError { .. }
        | Error::HyperResponseError { .. }
        | Error::RequestTimeoutError => true,
        _ => {
            let transient = [
                "toomanyrequests",
                "too many requests",
                "timeout",
                "connection refused",
                "connection reset",
                "eof",
                "503",
                "502",
                "504",
                "500 internal server error",
                "service unavailable",
                "tls handshake",
            ];
            transient.iter().any(|t| text.contains(t))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status: u16, message: &str) -> Error {
        Error::DockerResponseServerError {
            status_code: status,
            message: message.to_owned(),
        }
    }

    #[test]
    fn flakes_and_rate_limits_are_retried_missing_images_are_not() {
        assert!(is_transient(&server(429, "toomanyrequests: rate limit")));
        assert!(is_transient(&server(
            500,
            "Get \"https://registry-1.docker.io/v2/\": net/http: TLS handshake timeout"
        )));
        assert!(is_transient(&server(
            500,
            "received unexpected HTTP status: 503 Service Unavailable"
        )));
        assert!(is_transient(&server(
            500,
            "dial tcp 127.0.0.1:5000: connect: connection refused"
        )));
        assert!(!is_transient(&server(
            404,
            "manifest for moby/buildkit:v9 not found: manifest unknown"
        )));
        assert!(!is_transient(&server(
            500,
            "unauthorized: authentication required"
        )));
        assert!(!is_transient(&server(
            500,
            "pull access denied for nope, repository does not exist"
        )));
    }
}
