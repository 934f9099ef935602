//! Connections: the Docker Engine API (bollard), BuildKit's control API through the
//! daemon's `POST /grpc` h2c upgrade (what buildx's `docker` driver does), and a
//! standalone buildkitd at `tcp://` or `unix://` (the `remote` driver).
//!
//! bollard 0.21.1 keeps its upgrade helpers crate-private, so the `/grpc` upgrade is done
//! here with hyper directly: one HTTP/1.1 request on a fresh socket, then h2 on top.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;
use bollard::moby::buildkit::v1::control_client::ControlClient;
use bytes::Bytes;
use http_body_util::Empty;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use super::error::EngineError;
use crate::action::env::Env;

/// Where the Docker daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    Unix(PathBuf),
    Tcp(String),
}

impl DockerHost {
    /// A daemon on this machine: a unix socket, or TCP on a loopback address.
    pub fn is_local(&self) -> bool {
        match self {
            Self::Unix(_) => true,
            Self::Tcp(addr) => is_loopback_addr(addr),
        }
    }

    /// Parse `unix:///path` or `tcp://host:port` (what `DOCKER_HOST` holds).
    pub fn parse(value: &str) -> Result<Self, EngineError> {
        if let Some(path) = value.strip_prefix("unix://") {
            Ok(Self::Unix(PathBuf::from(path)))
        } else if let Some(addr) = value
            .strip_prefix("tcp://")
            .or_else(|| value.strip_prefix("http://"))
        {
            Ok(Self::Tcp(addr.trim_end_matches('/').to_owned()))
        } else {
            Err(EngineError::DockerHost {
                host: value.to_owned(),
                reason: "only unix:// and tcp:// (without TLS) are supported".to_owned(),
            })
        }
    }

    /// `DOCKER_HOST` when set, else the default socket.
    pub fn from_env(env: &Env) -> Result<Self, EngineError> {
        let host = match env.get("DOCKER_HOST") {
            Some(v) if !v.is_empty() => Self::parse(v)?,
            _ => Self::Unix(PathBuf::from("/var/run/docker.sock")),
        };
        let tls = env.get("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty());
        if tls && matches!(host, Self::Tcp(_)) {
            return Err(EngineError::DockerHost {
                host: host.describe(),
                reason: "DOCKER_TLS_VERIFY is set, and TLS to the daemon is not supported"
                    .to_owned(),
            });
        }
        Ok(host)
    }

    /// How error messages name the daemon.
    pub fn describe(&self) -> String {
        match self {
            Self::Unix(p) => format!("unix://{}", p.display()),
            Self::Tcp(a) => format!("tcp://{a}"),
        }
    }

    /// A bollard client for the Engine API. Long streams (push) are not cut by the
    /// timeout: it only bounds the wait for response headers.
    pub fn docker(&self) -> Result<Docker, EngineError> {
        let result = match self {
            Self::Unix(p) => {
                Docker::connect_with_unix(&p.to_string_lossy(), 120, bollard::API_DEFAULT_VERSION)
            }
            Self::Tcp(a) => Docker::connect_with_http(a, 120, bollard::API_DEFAULT_VERSION),
        };
        result.map_err(|e| self.unreachable(e.to_string()))
    }

    pub fn unreachable(&self, reason: String) -> EngineError {
        EngineError::DaemonUnreachable {
            host: self.describe(),
            reason,
        }
    }

    /// `POST <path>` with `Upgrade: h2c`; returns the raw connection after `101`.
    async fn upgrade(&self, path: &str) -> io::Result<Upgraded> {
        tracing::debug!(host = %self.describe(), %path, "docker: POST with Upgrade: h2c");
        match self {
            Self::Unix(p) => upgrade_on(tokio::net::UnixStream::connect(p).await?, path).await,
            Self::Tcp(a) => upgrade_on(tokio::net::TcpStream::connect(a).await?, path).await,
        }
    }

    /// BuildKit's control API inside the daemon.
    pub async fn control(&self) -> Result<ControlClient<Channel>, EngineError> {
        self.control_channel().await.map(client)
    }

    /// The connection to the daemon's BuildKit (control API and gateway bridge).
    pub async fn control_channel(&self) -> Result<Channel, EngineError> {
        let host = self.clone();
        let connector = tower::service_fn(move |_: Uri| {
            let host = host.clone();
            async move { host.upgrade("/grpc").await }
        });
        let channel = endpoint()
            .connect_with_connector(connector)
            .await
            .map_err(|e| self.unreachable(format!("failed to open /grpc: {}", source_chain(&e))))?;
        Ok(channel)
    }
}

async fn upgrade_on<S>(stream: S, path: &str) -> io::Result<Upgraded>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(conn.with_upgrades());
    let req = hyper::Request::post(path)
        .header(hyper::header::HOST, "docker")
        .header(hyper::header::CONNECTION, "Upgrade")
        .header(hyper::header::UPGRADE, "h2c")
        .body(Empty::<Bytes>::new())
        .map_err(io::Error::other)?;
    let resp = sender.send_request(req).await.map_err(io::Error::other)?;
    if resp.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
        return Err(io::Error::other(format!(
            "daemon answered {} to {path} (it has no BuildKit API?)",
            resp.status()
        )));
    }
    hyper::upgrade::on(resp).await.map_err(io::Error::other)
}

/// A standalone buildkitd (`remote` driver): `tcp://host:port` or `unix:///path`.
pub async fn remote_control(endpoint_url: &str) -> Result<ControlClient<Channel>, EngineError> {
    remote_channel(endpoint_url).await.map(client)
}

/// The connection to a standalone buildkitd.
pub async fn remote_channel(endpoint_url: &str) -> Result<Channel, EngineError> {
    let fail = |reason: String| EngineError::BuildkitUnreachable {
        endpoint: endpoint_url.to_owned(),
        reason,
    };
    let channel = if let Some(path) = endpoint_url.strip_prefix("unix://") {
        let path = PathBuf::from(path);
        let connector = tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                tokio::net::UnixStream::connect(path)
                    .await
                    .map(TokioIo::new)
            }
        });
        endpoint().connect_with_connector(connector).await
    } else if let Some(addr) = endpoint_url.strip_prefix("tcp://") {
        let ep =
            Endpoint::from_shared(format!("http://{addr}")).map_err(|e| fail(e.to_string()))?;
        ep.connect_timeout(Duration::from_secs(10)).connect().await
    } else {
        return Err(fail(
            "the endpoint must start with tcp:// or unix://".to_owned(),
        ));
    };
    channel.map_err(|e| fail(source_chain(&e)))
}

fn endpoint() -> Endpoint {
    // The URI only names the h2 authority; the connector decides where bytes go.
    Endpoint::from_static("http://buildkit.invalid").connect_timeout(Duration::from_secs(10))
}

pub fn client(channel: Channel) -> ControlClient<Channel> {
    // BuildKit's own limit is 16 MiB per message; status batches can be large.
    ControlClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20)
}

/// An error and its causes on one line (tonic wraps the interesting part).
pub fn source_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

/// `host:port` (or `[v6]:port`) names a loopback address.
pub(crate) fn is_loopback_addr(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map_or("", |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_comes_from_the_env_once_with_its_tls_check() {
        let env = Env::from_pairs([("DOCKER_HOST", "tcp://127.0.0.1:2376")]);
        assert_eq!(
            DockerHost::from_env(&env).ok(),
            Some(DockerHost::Tcp("127.0.0.1:2376".into()))
        );
        let env = Env::from_pairs([
            ("DOCKER_HOST", "tcp://127.0.0.1:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
        ]);
        assert!(DockerHost::from_env(&env).is_err(), "TLS was not refused");
        assert_eq!(
            DockerHost::from_env(&Env::default()).ok(),
            Some(DockerHost::Unix("/var/run/docker.sock".into()))
        );
    }
}
