//! The client side of a BuildKit session: the gRPC services BuildKit calls back into
//! (registry credentials, local directories, build secrets, ssh agents, exports to this
//! machine, health), served over a byte stream tunnelled through `Control.Session`
//! (BuildKit's `grpchijack`). The same tunnel works through the daemon's `/grpc` and
//! against a standalone buildkitd, so one session serves every driver. bollard's own
//! services are crate-private in 0.21.1.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bollard::health::health_check_response::ServingStatus;
use bollard::health::health_server::{Health, HealthServer};
use bollard::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use bollard::moby::buildkit::secrets::v1::secrets_server::{Secrets, SecretsServer};
use bollard::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use bollard::moby::buildkit::v1::BytesMessage;
use bollard::moby::buildkit::v1::control_client::ControlClient;
use bollard::moby::filesync::v1::auth_server::{Auth, AuthServer};
use bollard::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse,
    GetTokenAuthorityRequest, GetTokenAuthorityResponse, VerifyTokenAuthorityRequest,
    VerifyTokenAuthorityResponse,
};
use futures::Stream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};

use super::file_send::{ExportError, FileSend, FileSendTarget};
use super::file_sync::{FileSync, SentByDir};
use super::fsutil::send::Sent;
use crate::engine::error::EngineError;
use crate::engine::resolved::RegistryAuth;
use crate::secret::SecretBytes;

/// What the session serves.
#[derive(Debug, Default)]
pub struct SessionServices {
    /// Local directories BuildKit may pull (FileSync), by name.
    pub local_dirs: BTreeMap<String, PathBuf>,
    /// BuildKit keeps what it pulled from a local directory under this key and the
    /// directory's name; the next session with the same key gets only what changed.
    pub shared_key: String,
    pub secrets: BTreeMap<String, SecretBytes>,
    pub registry_auth: BTreeMap<String, RegistryAuth>,
    /// Where exporters' results are written (FileSend), by exporter index.
    pub export: BTreeMap<usize, FileSendTarget>,
    /// ssh-agent sockets by id, for `RUN --mount=type=ssh`.
    pub ssh: BTreeMap<String, PathBuf>,
    /// `type=local` cache directories by content store id (`local:<dir>`).
    pub content_stores: BTreeMap<String, PathBuf>,
}

/// A running session; [`Session::close`] ends it (BuildKit drops its side then).
pub struct Session {
    pub id: String,
    export_error: ExportError,
    sent: SentByDir,
    tasks: Vec<JoinHandle<()>>,
}

impl Session {
    pub async fn start(
        control: &ControlClient<Channel>,
        services: SessionServices,
    ) -> Result<Self, EngineError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let export_error = ExportError::default();
        let shared_key = services.shared_key.clone();
        let sent = SentByDir::default();
        let router = Server::builder()
            .add_service(HealthServer::new(HealthService))
            .add_service(AuthServer::new(AuthService(Arc::new(
                services.registry_auth,
            ))))
            .add_service(FileSync::new(services.local_dirs, sent.clone()))
            .add_service(SecretsServer::new(SecretService(services.secrets)))
            .add_service(FileSend::new(services.export, export_error.clone()))
            .add_service(super::ssh_forward::service(services.ssh))
            .add_service(super::content_store::ContentStore::new(
                services.content_stores,
            ));
        let server = tokio::spawn(async move {
            let incoming = futures::stream::iter([Ok::<_, std::io::Error>(Tunnel(ours))]);
            if let Err(e) = router.serve_with_incoming(incoming).await {
                tracing::debug!(error = %e, "session server ended");
            }
        });
        let pump = tunnel(control.clone(), &id, &shared_key, theirs)?;
        Ok(Self {
            id,
            export_error,
            sent,
            tasks: vec![server, pump],
        })
    }

    /// What BuildKit pulled from the local directory `name` (files and bytes).
    pub fn sent(&self, name: &str) -> Sent {
        self.sent
            .lock()
            .ok()
            .and_then(|by_dir| by_dir.get(name).copied())
            .unwrap_or_default()
    }

    /// Why an export to this machine failed, if one did.
    pub fn export_error(&self) -> Option<String> {
        self.export_error.error()
    }

    /// Wait for the exports to this machine to be in place (see [`super::file_send::Exports`]).
    pub async fn exports_finished(&self) {
        self.export_error.finished().await;
    }

    pub fn close(self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The methods BuildKit may call, announced in the session headers. `FetchToken` is left
/// out on purpose so BuildKit asks for plain credentials and does the token dance itself.
const METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/moby.filesync.v1.Auth/Credentials",
    "/moby.filesync.v1.FileSync/DiffCopy",
    "/moby.buildkit.secrets.v1.Secrets/GetSecret",
    "/moby.filesync.v1.FileSend/DiffCopy",
    "/moby.sshforward.v1.SSH/CheckAgent",
    "/moby.sshforward.v1.SSH/ForwardAgent",
    "/containerd.services.content.v1.Content/Info",
    "/containerd.services.content.v1.Content/Read",
    "/containerd.services.content.v1.Content/Write",
    "/containerd.services.content.v1.Content/Abort",
];

/// Open `Control.Session` and copy bytes both ways between it and `conn`.
fn tunnel(
    mut control: ControlClient<Channel>,
    id: &str,
    shared_key: &str,
    conn: DuplexStream,
) -> Result<JoinHandle<()>, EngineError> {
    let (tx, rx) = mpsc::channel::<BytesMessage>(32);
    let mut req = Request::new(ReceiverStream::new(rx));
    let md = req.metadata_mut();
    let bad =
        |e: tonic::metadata::errors::InvalidMetadataValue| EngineError::Internal(e.to_string());
    md.insert(
        "x-docker-expose-session-uuid",
        MetadataValue::try_from(id).map_err(bad)?,
    );
    md.insert(
        "x-docker-expose-session-name",
        MetadataValue::from_static("layercache"),
    );
    md.insert(
        "x-docker-expose-session-sharedkey",
        MetadataValue::try_from(shared_key).map_err(bad)?,
    );
    for m in METHODS {
        md.append(
            "x-docker-expose-session-grpc-method",
            MetadataValue::from_static(m),
        );
    }
    let (mut read, mut write) = tokio::io::split(conn);
    Ok(tokio::spawn(async move {
        let upstream = tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = read.read(&mut buf).await {
                if n == 0
                    || tx
                        .send(BytesMessage {
                            data: buf[..n].to_vec(),
                        })
                        .await
                        .is_err()
                {
                    break;
                }
            }
        });
        match control.session(req).await {
            Ok(resp) => {
                let mut stream = resp.into_inner();
                while let Ok(Some(msg)) = stream.message().await {
                    if write.write_all(&msg.data).await.is_err() {
                        break;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e.message(), "failed to open the BuildKit session"),
        }
        upstream.abort();
    }))
}

/// The server end of the tunnel, in the shape tonic's server accepts.
struct Tunnel(DuplexStream);

impl Connected for Tunnel {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Tunnel {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tunnel {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

struct HealthService;

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }
    async fn list(
        &self,
        _: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        Err(Status::unimplemented("list"))
    }
    type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;
    async fn watch(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("watch"))
    }
}

struct AuthService(Arc<BTreeMap<String, RegistryAuth>>);

#[tonic::async_trait]
impl Auth for AuthService {
    async fn credentials(
        &self,
        req: Request<CredentialsRequest>,
    ) -> Result<Response<CredentialsResponse>, Status> {
        let host = req.into_inner().host;
        let found = self.0.get(&host).or_else(|| {
            // Docker Hub credentials are kept under `docker.io`; BuildKit asks for the API host.
            (host == "registry-1.docker.io" || host == "index.docker.io")
                .then(|| self.0.get("docker.io"))
                .flatten()
        });
        tracing::debug!(%host, found = found.is_some(), "BuildKit asked for registry credentials");
        Ok(Response::new(match found {
            Some(a) => CredentialsResponse {
                username: a.username.clone(),
                secret: a.password.expose().to_owned(),
            },
            None => CredentialsResponse::default(),
        }))
    }
    async fn fetch_token(
        &self,
        _: Request<FetchTokenRequest>,
    ) -> Result<Response<FetchTokenResponse>, Status> {
        Err(Status::unimplemented("fetch_token"))
    }
    async fn get_token_authority(
        &self,
        _: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("get_token_authority"))
    }
    async fn verify_token_authority(
        &self,
        _: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("verify_token_authority"))
    }
}

struct SecretService(BTreeMap<String, SecretBytes>);

#[tonic::async_trait]
impl Secrets for SecretService {
    async fn get_secret(
        &self,
        req: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        let id = req.into_inner().id;
        match self.0.get(&id) {
            Some(s) => Ok(Response::new(GetSecretResponse {
                data: s.expose().to_vec(),
            })),
            None => Err(Status::not_found(format!("secret {id} not provided"))),
        }
    }
}
