//! The session's content store, for `type=local` cache: BuildKit reads and writes a local
//! cache directory (an OCI layout: `blobs/sha256/<hex>`, `index.json`) through containerd's
//! content service served by the client, the directory chosen by the metadata
//! `buildkit-attachable-store-id: local:<dir>` (docs/buildkit.md, "Local cache"). Only
//! what BuildKit calls is served: `Info`, `Read`, `Write`, `Abort`. The messages are
//! declared here with containerd's field numbers (bollard ships no containerd protos).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tonic::body::Body;
use tonic::codegen::{Body as HttpBody, StdError, http};
use tonic::server::{Grpc, NamedService, ServerStreamingService, StreamingService, UnaryService};
use tonic::{Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

const SERVICE: &str = "containerd.services.content.v1.Content";
const STORE_ID: &str = "buildkit-attachable-store-id";

#[derive(Clone, PartialEq, prost::Message)]
struct Info {
    #[prost(string, tag = "1")]
    digest: String,
    #[prost(int64, tag = "2")]
    size: i64,
    #[prost(map = "string, string", tag = "5")]
    labels: HashMap<String, String>,
}
#[derive(Clone, PartialEq, prost::Message)]
struct InfoRequest {
    #[prost(string, tag = "1")]
    digest: String,
}
#[derive(Clone, PartialEq, prost::Message)]
struct InfoResponse {
    #[prost(message, optional, tag = "1")]
    info: Option<Info>,
}
#[derive(Clone, PartialEq, prost::Message)]
pub(in crate::engine) struct ReadContentRequest {
    #[prost(string, tag = "1")]
    pub digest: String,
    #[prost(int64, tag = "2")]
    pub offset: i64,
    #[prost(int64, tag = "3")]
    pub size: i64,
}
#[derive(Clone, PartialEq, prost::Message)]
pub(in crate::engine) struct ReadContentResponse {
    #[prost(int64, tag = "1")]
    pub offset: i64,
    #[prost(bytes = "vec", tag = "2")]
    pub data: Vec<u8>,
}
#[derive(Clone, PartialEq, prost::Message)]
struct WriteContentRequest {
    /// 0 stat, 1 write, 2 commit.
    #[prost(int32, tag = "1")]
    action: i32,
    #[prost(string, tag = "2")]
    r#ref: String,
    #[prost(int64, tag = "3")]
    total: i64,
    #[prost(string, tag = "4")]
    expected: String,
    #[prost(int64, tag = "5")]
    offset: i64,
    #[prost(bytes = "vec", tag = "6")]
    data: Vec<u8>,
}
#[derive(Clone, PartialEq, prost::Message)]
struct WriteContentResponse {
    #[prost(int32, tag = "1")]
    action: i32,
    #[prost(int64, tag = "4")]
    offset: i64,
    #[prost(int64, tag = "5")]
    total: i64,
    #[prost(string, tag = "6")]
    digest: String,
}
#[derive(Clone, PartialEq, prost::Message)]
struct Empty {}

/// Content stores by id (`local:<dir>`), each an OCI layout directory.
#[derive(Clone, Default)]
pub struct ContentStore {
    stores: Arc<BTreeMap<String, PathBuf>>,
}

impl ContentStore {
    pub fn new(stores: BTreeMap<String, PathBuf>) -> Self {
        Self {
            stores: Arc::new(stores),
        }
    }

    fn dir<T>(&self, req: &Request<T>) -> Result<PathBuf, Status> {
        let id = req
            .metadata()
            .get(STORE_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        self.stores
            .get(id)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("content store {id:?} is not offered")))
    }
}

/// `blobs/<algorithm>/<hex>` for `sha256:<hex>`; anything else is not a digest we store.
fn blob_path(dir: &Path, digest: &str) -> Result<PathBuf, Status> {
    let (alg, hex) = digest
        .split_once(':')
        .filter(|(a, h)| {
            *a == "sha256" && h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())
        })
        .ok_or_else(|| Status::invalid_argument(format!("invalid digest {digest:?}")))?;
    Ok(dir.join("blobs").join(alg).join(hex))
}

impl NamedService for ContentStore {
    const NAME: &'static str = SERVICE;
}

impl<B> tonic::codegen::Service<http::Request<B>> for ContentStore
where
    B: HttpBody + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let store = self.clone();
        let method = req.uri().path().rsplit('/').next().unwrap_or("").to_owned();
        Box::pin(async move {
            let resp = match method.as_str() {
                "Info" => {
                    let codec = ProstCodec::<InfoResponse, InfoRequest>::default();
                    Grpc::new(codec).unary(store, req).await
                }
                "Read" => {
                    let codec = ProstCodec::<ReadContentResponse, ReadContentRequest>::default();
                    Grpc::new(codec).server_streaming(store, req).await
                }
                "Write" => {
                    let codec = ProstCodec::<WriteContentResponse, WriteContentRequest>::default();
                    Grpc::new(codec).streaming(store, req).await
                }
                "Abort" => {
                    let codec = ProstCodec::<Empty, Empty>::default();
                    Grpc::new(codec).unary(Aborted, req).await
                }
                other => Status::unimplemented(format!("{other} is not offered")).into_http(),
            };
            Ok(resp)
        })
    }
}

impl UnaryService<InfoRequest> for ContentStore {
    type Response = InfoResponse;
    type Future = BoxFuture<'static, Result<Response<InfoResponse>, Status>>;

    fn call(&mut self, req: Request<InfoRequest>) -> Self::Future {
        let dir = self.dir(&req);
        Box::pin(async move {
            let digest = req.into_inner().digest;
            let path = blob_path(&dir?, &digest)?;
            let meta = tokio::fs::metadata(&path)
                .await
                .map_err(|_| Status::not_found(format!("content digest {digest}: not found")))?;
            let info = Info {
                digest,
                size: i64::try_from(meta.len()).unwrap_or(i64::MAX),
                labels: HashMap::new(),
            };
            Ok(Response::new(InfoResponse { info: Some(info) }))
        })
    }
}

/// `Abort` of a write: nothing to do, a write that did not commit leaves only its
/// temporary file, which is removed when its stream ends.
#[derive(Clone)]
struct Aborted;

impl UnaryService<Empty> for Aborted {
    type Response = Empty;
    type Future = BoxFuture<'static, Result<Response<Empty>, Status>>;

    fn call(&mut self, _: Request<Empty>) -> Self::Future {
        Box::pin(async { Ok(Response::new(Empty {})) })
    }
}

impl ServerStreamingService<ReadContentRequest> for ContentStore {
    type Response = ReadContentResponse;
    type ResponseStream = BoxStream<'static, Result<ReadContentResponse, Status>>;
    type Future = BoxFuture<'static, Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, req: Request<ReadContentRequest>) -> Self::Future {
        let dir = self.dir(&req);
        Box::pin(async move {
            let r = req.into_inner();
            let path = blob_path(&dir?, &r.digest)?;
            let mut file = tokio::fs::File::open(&path).await.map_err(|_| {
                Status::not_found(format!("content digest {}: not found", r.digest))
            })?;
            let start = u64::try_from(r.offset).unwrap_or(0);
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(|e| Status::internal(e.to_string()))?;
            let limit = u64::try_from(r.size)
                .ok()
                .filter(|s| *s > 0)
                .unwrap_or(u64::MAX);
            let chunks = futures::stream::unfold(
                (file.take(limit), r.offset),
                |(mut file, offset)| async move {
                    let mut data = vec![0; 1 << 20];
                    match file.read(&mut data).await {
                        Ok(0) => None,
                        Ok(n) => {
                            data.truncate(n);
                            let next = offset + n as i64;
                            Some((Ok(ReadContentResponse { offset, data }), (file, next)))
                        }
                        Err(e) => Some((Err(Status::internal(e.to_string())), (file, offset))),
                    }
                },
            );
            let stream: Self::ResponseStream = chunks.boxed();
            Ok(Response::new(stream))
        })
    }
}

impl StreamingService<WriteContentRequest> for ContentStore {
    type Response = WriteContentResponse;
    type ResponseStream = BoxStream<'static, Result<WriteContentResponse, Status>>;
    type Future = BoxFuture<'static, Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, req: Request<Streaming<WriteContentRequest>>) -> Self::Future {
        let dir = self.dir(&req);
        Box::pin(async move {
            let dir = dir?;
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let mut inbound = req.into_inner();
            tokio::spawn(async move {
                let mut write = Ingest::default();
                while let Ok(Some(msg)) = inbound.message().await {
                    let answer = write.handle(&dir, msg).await;
                    let failed = answer.is_err();
                    if tx.send(answer).is_err() || failed {
                        break;
                    }
                }
            });
            let stream: Self::ResponseStream =
                tokio_stream::wrappers::UnboundedReceiverStream::new(rx).boxed();
            Ok(Response::new(stream))
        })
    }
}

/// One write session: a temporary file in the store, hashed as it grows, renamed to its
/// blob path on commit when size and digest match.
#[derive(Default)]
struct Ingest {
    file: Option<(tempfile::NamedTempFile, tokio::fs::File)>,
    hasher: Sha256,
    offset: i64,
    total: i64,
    expected: String,
}

impl Ingest {
    async fn handle(
        &mut self,
        dir: &Path,
        msg: WriteContentRequest,
    ) -> Result<WriteContentResponse, Status> {
        let internal = |e: std::io::Error| Status::internal(e.to_string());
        if !msg.expected.is_empty() {
            self.expected.clone_from(&msg.expected);
        }
        if msg.total > 0 {
            self.total = msg.total;
        }
        if self.file.is_none() {
            if !self.expected.is_empty() && blob_path(dir, &self.expected)?.exists() {
                return Err(Status::already_exists(format!(
                    "content {}: already exists",
                    self.expected
                )));
            }
            let ingest = dir.join("ingest");
            tokio::fs::create_dir_all(&ingest).await.map_err(internal)?;
            let temp = tempfile::NamedTempFile::new_in(&ingest).map_err(internal)?;
            let file = tokio::fs::File::from_std(temp.reopen().map_err(internal)?);
            self.file = Some((temp, file));
        }
        if !msg.data.is_empty() {
            if msg.offset != self.offset {
                return Err(Status::invalid_argument(format!(
                    "write at offset {} but {} bytes are written",
                    msg.offset, self.offset
                )));
            }
            if let Some((_, file)) = &mut self.file {
                file.write_all(&msg.data).await.map_err(internal)?;
            }
            self.hasher.update(&msg.data);
            self.offset += msg.data.len() as i64;
        }
        let mut answer = WriteContentResponse {
            action: msg.action,
            offset: self.offset,
            total: self.total,
            digest: String::new(),
        };
        if msg.action == 2 {
            answer.digest = self.commit(dir).await?;
        }
        Ok(answer)
    }

    async fn commit(&mut self, dir: &Path) -> Result<String, Status> {
        let Some((temp, mut file)) = self.file.take() else {
            return Err(Status::failed_precondition("commit before any write"));
        };
        file.flush()
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        let digest = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
        if self.total > 0 && self.total != self.offset {
            return Err(Status::failed_precondition(format!(
                "commit of {} bytes, {} expected",
                self.offset, self.total
            )));
        }
        if !self.expected.is_empty() && self.expected != digest {
            return Err(Status::failed_precondition(format!(
                "content is {digest}, {} expected",
                self.expected
            )));
        }
        let path = blob_path(dir, &digest)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| Status::internal(e.to_string()))?;
        }
        temp.persist(&path)
            .map_err(|e| Status::internal(e.error.to_string()))?;
        Ok(digest)
    }
}
