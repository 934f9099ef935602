//! The session's FileSync service: BuildKit pulls local directories through it (the build
//! context as `context`, the Dockerfile's directory as `dockerfile`, each local
//! `build-contexts` entry under its name), naming the directory in the `dir-name` header
//! and what to send in `exclude-patterns`, `include-patterns` and `followpaths`. The wire is
//! fsutil's packet protocol ([`super::fsutil::send`]); tonic's generated server would decode the
//! method's declared `BytesMessage`, so this one is written against fsutil's `Packet`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bollard::fsutil::types::Packet;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::body::Body;
use tonic::codegen::{Body as HttpBody, StdError, http};
use tonic::metadata::MetadataMap;
use tonic::server::{Grpc, StreamingService};
use tonic::{Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

use super::diff_copy::{DiffCopy, DiffCopyServer};
use super::fsutil::send::{self as fsutil_send, Selection, Sent};

/// Packets in flight towards BuildKit (at most 8 MiB of file data).
const IN_FLIGHT: usize = 32;

/// What each directory sent, by name, for the summary's context line.
pub type SentByDir = Arc<Mutex<BTreeMap<String, Sent>>>;

/// The FileSync handler: the directories BuildKit may pull, and what each one sent.
#[derive(Clone)]
pub struct FileSync {
    dirs: Arc<BTreeMap<String, PathBuf>>,
    sent: SentByDir,
}

impl FileSync {
    pub fn new(dirs: BTreeMap<String, PathBuf>, sent: SentByDir) -> DiffCopyServer<Self> {
        DiffCopyServer(Self {
            dirs: Arc::new(dirs),
            sent,
        })
    }
}

impl DiffCopy for FileSync {
    const SERVICE: &'static str = "moby.filesync.v1.FileSync";

    fn diff_copy<B>(self, req: http::Request<B>) -> BoxFuture<'static, http::Response<Body>>
    where
        B: HttpBody + Send + 'static,
        B::Error: Into<StdError> + Send + 'static,
    {
        let sender = DirSender {
            dirs: self.dirs,
            sent: self.sent,
        };
        let codec = ProstCodec::<Packet, Packet>::default();
        Box::pin(async move { Grpc::new(codec).streaming(sender, req).await })
    }
}

struct DirSender {
    dirs: Arc<BTreeMap<String, PathBuf>>,
    sent: SentByDir,
}

impl StreamingService<Packet> for DirSender {
    type Response = Packet;
    type ResponseStream = BoxStream<'static, Result<Packet, Status>>;
    type Future = BoxFuture<'static, Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, req: Request<Streaming<Packet>>) -> Self::Future {
        let (dirs, sent) = (self.dirs.clone(), self.sent.clone());
        Box::pin(async move {
            let md = req.metadata();
            let name = values(md, "dir-name")
                .into_iter()
                .next()
                .unwrap_or_default();
            let root = dirs
                .get(&name)
                .cloned()
                .ok_or_else(|| Status::not_found(format!("no access allowed to dir {name:?}")))?;
            let mut includes = values(md, "include-patterns");
            includes.extend(values(md, "followpaths"));
            let selection = Selection {
                excludes: values(md, "exclude-patterns"),
                includes,
            };
            let listing = {
                let root = root.clone();
                tokio::task::spawn_blocking(move || fsutil_send::list(&root, &selection))
            };
            let entries = listing
                .await
                .map_err(|e| Status::internal(e.to_string()))?
                .map_err(Status::internal)?;
            tracing::debug!(dir = %name, entries = entries.len(), "session: sending a local directory");
            let (out, rx) = tokio::sync::mpsc::channel(IN_FLIGHT);
            let inbound = req.into_inner();
            tokio::spawn(async move {
                match fsutil_send::send(inbound, &out, entries).await {
                    Ok(done) => {
                        if let Ok(mut by_dir) = sent.lock() {
                            let total = by_dir.entry(name).or_default();
                            total.files += done.files;
                            total.bytes += done.bytes;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(dir = %root.display(), "sending a local directory failed: {e}")
                    }
                }
            });
            let stream: Self::ResponseStream = ReceiverStream::new(rx).boxed();
            Ok(Response::new(stream))
        })
    }
}

/// Every value of a header that may repeat (one pattern per value).
fn values(md: &MetadataMap, key: &str) -> Vec<String> {
    md.get_all(key)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect()
}
