//! The session's FileSend service: where BuildKit's exporters hand results to this side.
//! One method, two wire formats: tar-like exporters (`tar`, `oci`, `docker`) stream raw
//! bytes as `BytesMessage`s (BuildKit `filesync.CopyFileWriter`); the `local` exporter
//! streams a tree as fsutil `Packet`s ([`super::fsutil::receive`]). tonic's generated server fixes
//! one message type per method, so this service picks the codec from what the solve asked
//! for.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bollard::fsutil::types::Packet;
use bollard::moby::filesync::v1::BytesMessage;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use tokio::io::AsyncWriteExt;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::body::Body;
use tonic::codegen::{Body as HttpBody, StdError, http};
use tonic::server::{Grpc, StreamingService};
use tonic::{Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

use super::diff_copy::{DiffCopy, DiffCopyServer};
use super::fsutil::receive as fsutil_receive;

/// Where an export arrives on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSendTarget {
    /// One tar stream, written to this file (replaced only when complete).
    Tar(PathBuf),
    /// A directory tree (`outputs: type=local,dest=DIR`), merged into this directory.
    Directory(PathBuf),
}

/// Why the last export failed on this side, for the solve's error message: BuildKit only
/// sees the stream end.
pub type ExportError = Arc<Exports>;

/// What this session's exports to this machine left behind: the failure if any, and the
/// `local` receives still merging into place. BuildKit counts an export as done once it has
/// sent the last file, so the engine waits for these before it reports the build done.
#[derive(Default)]
pub struct Exports {
    error: Mutex<Option<String>>,
    receiving: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Exports {
    pub fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }

    /// Wait until every receive begun so far has finished (merged or cleaned up).
    pub async fn finished(&self) {
        let handles: Vec<_> = match self.receiving.lock() {
            Ok(mut h) => h.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for h in handles {
            // The solve is over, so BuildKit has closed its side; a receive that still does
            // not end is not worth hanging the build for.
            if tokio::time::timeout(std::time::Duration::from_secs(60), h)
                .await
                .is_err()
            {
                tracing::warn!("a local export was still being written after 60 s");
            }
        }
    }
}

fn remember(slot: &ExportError, message: String) -> String {
    if let Ok(mut slot) = slot.error.lock() {
        *slot = Some(message.clone());
    }
    message
}

/// The FileSend handler: where this session's exports go, by exporter index, and the
/// failure if any.
#[derive(Clone)]
pub struct FileSend {
    targets: Arc<BTreeMap<usize, FileSendTarget>>,
    error: ExportError,
}

/// The gRPC metadata naming the exporter a FileSend stream belongs to: its index in the
/// solve's exporter list (absent means 0; docs/buildkit.md, "Several exporters").
const EXPORTER_ID: &str = "buildkit-attachable-exporter-id";

impl FileSend {
    pub fn new(
        targets: BTreeMap<usize, FileSendTarget>,
        error: ExportError,
    ) -> DiffCopyServer<Self> {
        DiffCopyServer(Self {
            targets: Arc::new(targets),
            error,
        })
    }
}

impl DiffCopy for FileSend {
    const SERVICE: &'static str = "moby.filesync.v1.FileSend";

    fn diff_copy<B>(self, req: http::Request<B>) -> BoxFuture<'static, http::Response<Body>>
    where
        B: HttpBody + Send + 'static,
        B::Error: Into<StdError> + Send + 'static,
    {
        let error = self.error;
        let id = req
            .headers()
            .get(EXPORTER_ID)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let target = self.targets.get(&id).cloned();
        Box::pin(async move {
            match target {
                Some(FileSendTarget::Tar(path)) => {
                    let codec = ProstCodec::<BytesMessage, BytesMessage>::default();
                    Grpc::new(codec)
                        .streaming(TarReceiver { path, error }, req)
                        .await
                }
                Some(FileSendTarget::Directory(dir)) => {
                    let codec = ProstCodec::<Packet, Packet>::default();
                    Grpc::new(codec)
                        .streaming(TreeReceiver { dest: dir, error }, req)
                        .await
                }
                None => {
                    Status::failed_precondition("no export destination in this session").into_http()
                }
            }
        })
    }
}

/// Writes a tar stream to a temporary file next to the destination, renamed into place
/// only once the stream ended cleanly.
struct TarReceiver {
    path: PathBuf,
    error: ExportError,
}

impl StreamingService<BytesMessage> for TarReceiver {
    type Response = BytesMessage;
    type ResponseStream = BoxStream<'static, Result<BytesMessage, Status>>;
    type Future = BoxFuture<'static, Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, req: Request<Streaming<BytesMessage>>) -> Self::Future {
        let (path, error) = (self.path.clone(), self.error.clone());
        Box::pin(async move {
            write_tar(&path, req.into_inner()).await.map_err(|e| {
                let message = format!("failed to write {}: {e}", path.display());
                Status::internal(remember(&error, message))
            })?;
            let done: Self::ResponseStream = futures::stream::empty().boxed();
            Ok(Response::new(done))
        })
    }
}

async fn write_tar(
    path: &std::path::Path,
    mut stream: Streaming<BytesMessage>,
) -> Result<(), String> {
    let dir = crate::engine::containing_dir(path);
    let temp = tempfile::Builder::new()
        .prefix(".layercache-export-")
        .tempfile_in(&dir)
        .map_err(|e| e.to_string())?;
    let mut file = tokio::fs::File::from_std(temp.reopen().map_err(|e| e.to_string())?);
    while let Some(msg) = stream.message().await.map_err(|e| e.message().to_owned())? {
        file.write_all(&msg.data).await.map_err(|e| e.to_string())?;
    }
    file.flush().await.map_err(|e| e.to_string())?;
    temp.persist(path).map_err(|e| e.error.to_string())?;
    Ok(())
}

/// Receives a `local` export; the exchange runs while the response streams our packets.
struct TreeReceiver {
    dest: PathBuf,
    error: ExportError,
}

impl StreamingService<Packet> for TreeReceiver {
    type Response = Packet;
    type ResponseStream = BoxStream<'static, Result<Packet, Status>>;
    type Future = BoxFuture<'static, Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, req: Request<Streaming<Packet>>) -> Self::Future {
        let (dest, error) = (self.dest.clone(), self.error.clone());
        Box::pin(async move {
            let (out, rx) = tokio::sync::mpsc::unbounded_channel();
            let inbound = req.into_inner();
            let state = error.clone();
            let receive = tokio::spawn(async move {
                if let Err(e) = fsutil_receive::receive(inbound, &out, &dest).await {
                    remember(
                        &error,
                        format!("local export to {} failed: {e}", dest.display()),
                    );
                }
            });
            if let Ok(mut receiving) = state.receiving.lock() {
                receiving.push(receive);
            }
            let stream: Self::ResponseStream = UnboundedReceiverStream::new(rx).boxed();
            Ok(Response::new(stream))
        })
    }
}
