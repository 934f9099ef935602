//! The session's ssh-agent forwarding (`RUN --mount=type=ssh`): BuildKit asks whether an
//! agent id is known (`CheckAgent`), then opens one `ForwardAgent` stream per connection
//! its build step makes to the mounted socket; each stream is spliced onto a fresh
//! connection to the user's agent. The id travels in the `buildkit.ssh.id` header
//! (BuildKit `session/sshforward`); no header means `default`. A path that is a key file
//! rather than a socket is served by an agent of our own ([`super::ssh_agent`]), as
//! buildx does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use bollard::moby::sshforward::v1::ssh_server::{Ssh, SshServer};
use bollard::moby::sshforward::v1::{BytesMessage, CheckAgentRequest, CheckAgentResponse};
use futures::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;
use tonic::{Request, Response, Status, Streaming};

const ID_HEADER: &str = "buildkit.ssh.id";
const DEFAULT_ID: &str = "default";

/// Agents by id (`default`, `git`) → their sockets on this machine.
pub fn service(agents: BTreeMap<String, PathBuf>) -> SshServer<SshService> {
    SshServer::new(SshService(Arc::new(agents)))
}

pub struct SshService(Arc<BTreeMap<String, PathBuf>>);

impl SshService {
    /// The socket for `id`; BuildKit sends an empty id for `default`.
    fn socket<'a>(&'a self, id: &'a str) -> Result<(&'a str, &'a PathBuf), Status> {
        let id = if id.is_empty() { DEFAULT_ID } else { id };
        self.0.get(id).map(|path| (id, path)).ok_or_else(|| {
            Status::not_found(format!(
                "ssh agent {id:?} was not forwarded (add it to the ssh input)"
            ))
        })
    }
}

#[tonic::async_trait]
impl Ssh for SshService {
    async fn check_agent(
        &self,
        req: Request<CheckAgentRequest>,
    ) -> Result<Response<CheckAgentResponse>, Status> {
        self.socket(&req.into_inner().id)?;
        Ok(Response::new(CheckAgentResponse {}))
    }

    type ForwardAgentStream = Pin<Box<dyn Stream<Item = Result<BytesMessage, Status>> + Send>>;

    async fn forward_agent(
        &self,
        req: Request<Streaming<BytesMessage>>,
    ) -> Result<Response<Self::ForwardAgentStream>, Status> {
        let id = req
            .metadata()
            .get(ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (id, socket) = self.socket(&id)?;
        let (read, mut write) = match std::fs::metadata(socket) {
            Ok(m) if m.is_file() => key_agent(id, socket)?,
            _ => {
                let conn = tokio::net::UnixStream::connect(socket).await.map_err(|e| {
                    Status::unavailable(format!(
                        "failed to reach ssh agent {id:?} at {}: {e}",
                        socket.display()
                    ))
                })?;
                let (read, write) = conn.into_split();
                (
                    Box::new(read) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                    Box::new(write) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
                )
            }
        };
        let mut from_build = req.into_inner();
        tokio::spawn(async move {
            while let Ok(Some(msg)) = from_build.message().await {
                if write.write_all(&msg.data).await.is_err() {
                    break;
                }
            }
            // The build step closed its end: let the agent see EOF too.
            let _ = write.shutdown().await;
        });
        let to_build = ReaderStream::new(read).map(|chunk| match chunk {
            Ok(data) => Ok(BytesMessage {
                data: data.to_vec(),
            }),
            Err(e) => Err(Status::unavailable(format!("ssh agent connection: {e}"))),
        });
        Ok(Response::new(Box::pin(to_build)))
    }
}

type AgentHalves = (
    Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
);

/// An agent of our own holding the key file at `path`, one per connection (buildx loads
/// key files into an in-memory keyring the same way).
fn key_agent(id: &str, path: &std::path::Path) -> Result<AgentHalves, Status> {
    let unusable = |why: String| {
        Status::failed_precondition(format!("ssh key {id:?} at {}: {why}", path.display()))
    };
    let text = std::fs::read(path).map_err(|e| unusable(format!("cannot be read ({e})")))?;
    let key = super::ssh_agent::load_key(&text).map_err(unusable)?;
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Err(e) = super::ssh_agent::serve(&[key], ours).await {
            tracing::debug!(error = %e, "ssh key agent: connection ended");
        }
    });
    let (read, write) = tokio::io::split(theirs);
    Ok((Box::new(read), Box::new(write)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_id_is_the_default_agent_and_is_named_so() {
        let agents = SshService(Arc::new(BTreeMap::from([(
            "default".to_owned(),
            PathBuf::from("/run/agent.sock"),
        )])));
        let (id, path) = agents.socket("").unwrap();
        assert_eq!((id, path.to_str()), ("default", Some("/run/agent.sock")));
        let missing = agents.socket("git").unwrap_err();
        assert_eq!(missing.code(), tonic::Code::NotFound);
        assert!(
            missing.message().contains("\"git\""),
            "{}",
            missing.message()
        );
    }
}
