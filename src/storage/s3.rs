//! S3-compatible object storage through Apache OpenDAL's `services-s3`.
//!
//! OpenDAL's HTTP goes through [`ReqwestTransport`], a small adapter onto the crate's own
//! `reqwest` 0.12 client (rustls + ring), so no second HTTP/TLS stack is linked. Writes use
//! OpenDAL's multipart writer, which makes an object visible only when it completes; a
//! failed body aborts the upload. Credentials are [`Secret`]s and never logged.

use std::ops::Range;

use axum::http;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use opendal::{
    Buffer, ErrorKind, HttpBody, HttpTransport, HttpTransporter, OperationContext, Operator,
};

use super::blob_store::{BlobStore, ByteStream, StorageError, check_range};
use crate::secret::Secret;

/// Parts of an S3 multipart upload; also the most one upload holds in memory.
const PART_SIZE: usize = 8 * 1024 * 1024;

/// Where and how to reach the bucket. `None` fields fall back to the `AWS_*` environment.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    pub bucket: String,
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
}

impl S3Options {
    /// Fill unset fields from `AWS_ENDPOINT_URL[_S3]`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub fn from_env(bucket: &str, prefix: &str) -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL")),
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            access_key_id: var("AWS_ACCESS_KEY_ID").map(Secret::new),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY").map(Secret::new),
        }
    }
}

/// Objects in an S3 bucket under a prefix.
pub struct S3Store {
    op: Operator,
}

fn backend(e: opendal::Error) -> StorageError {
    StorageError::Backend(format!("failed to use object storage: {e}"))
}

impl S3Store {
    pub fn open(o: &S3Options) -> Result<Self, StorageError> {
        let mut b = opendal::services::S3::default()
            .bucket(&o.bucket)
            .root(&format!("/{}", o.prefix.trim_matches('/')))
            .region(o.region.as_deref().unwrap_or("us-east-1"));
        if let Some(e) = &o.endpoint {
            b = b.endpoint(e);
        }
        if let (Some(k), Some(s)) = (&o.access_key_id, &o.secret_access_key) {
            b = b.access_key_id(k.expose()).secret_access_key(s.expose());
        }
        let op = Operator::new(b).map_err(backend)?;
        let ctx =
            OperationContext::new().with_http_transport(HttpTransporter::new(ReqwestTransport {
                client: reqwest::Client::new(),
            }));
        Ok(Self {
            op: op.with_context(ctx),
        })
    }
}

impl BlobStore for S3Store {
    fn put(&self, key: &str, mut body: ByteStream) -> BoxFuture<'_, Result<u64, StorageError>> {
        let key = key.to_owned();
        Box::pin(async move {
            let mut w = self
                .op
                .writer_with(&key)
                .chunk(PART_SIZE)
                .await
                .map_err(backend)?;
            let mut written = 0u64;
            while let Some(chunk) = body.next().await {
                let step = match chunk {
                    Ok(b) => {
                        written += b.len() as u64;
                        w.write(b).await.map_err(backend)
                    }
                    Err(e) => Err(StorageError::Body(e)),
                };
                if let Err(e) = step {
                    let _ = w.abort().await;
                    return Err(e);
                }
            }
            w.close().await.map_err(backend)?;
            Ok(written)
        })
    }

    fn put_if_absent(&self, key: &str, body: Bytes) -> BoxFuture<'_, Result<bool, StorageError>> {
        let key = key.to_owned();
        Box::pin(async move {
            // One PUT with `If-None-Match: *`: S3 (and moto, MinIO, R2...) answer 412 when the
            // key exists, which OpenDAL reports as `ConditionNotMatch`.
            match self.op.write_with(&key, body).if_not_exists(true).await {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == ErrorKind::ConditionNotMatch => Ok(false),
                Err(e) => Err(backend(e)),
            }
        })
    }

    fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> BoxFuture<'_, Result<Option<ByteStream>, StorageError>> {
        let key = key.to_owned();
        Box::pin(async move {
            let Some(size) = self.size(&key).await? else {
                return Ok(None);
            };
            let r = check_range(range, size)?;
            if r.is_empty() {
                return Ok(Some(futures::stream::empty().boxed()));
            }
            let reader = self
                .op
                .reader_with(&key)
                .chunk(PART_SIZE)
                .await
                .map_err(backend)?;
            let stream = reader.into_bytes_stream(r).await.map_err(backend)?;
            Ok(Some(stream.boxed()))
        })
    }

    fn size(&self, key: &str) -> BoxFuture<'_, Result<Option<u64>, StorageError>> {
        let key = key.to_owned();
        Box::pin(async move {
            match self.op.stat(&key).await {
                Ok(m) => Ok(Some(m.content_length())),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(backend(e)),
            }
        })
    }

    fn delete(&self, key: &str) -> BoxFuture<'_, Result<bool, StorageError>> {
        let key = key.to_owned();
        Box::pin(async move {
            if self.size(&key).await?.is_none() {
                return Ok(false);
            }
            self.op.delete(&key).await.map_err(backend)?;
            Ok(true)
        })
    }

    fn list(&self, prefix: &str) -> BoxFuture<'_, Result<Vec<String>, StorageError>> {
        let prefix = prefix.to_owned();
        Box::pin(async move {
            // List the deepest directory the prefix names, then filter: S3 listing by a
            // partial name works, but OpenDAL lists directories.
            let dir = prefix
                .rsplit_once('/')
                .map(|(d, _)| format!("{d}/"))
                .unwrap_or_default();
            let entries = self
                .op
                .list_with(&dir)
                .recursive(true)
                .await
                .map_err(backend)?;
            Ok(entries
                .into_iter()
                .filter(|e| e.metadata().is_file())
                .map(|e| e.path().trim_start_matches('/').to_owned())
                .filter(|p| p.starts_with(&prefix))
                .collect())
        })
    }

    fn rename(&self, from: &str, to: &str) -> BoxFuture<'_, Result<bool, StorageError>> {
        let (from, to) = (from.to_owned(), to.to_owned());
        Box::pin(async move {
            if self.size(&from).await?.is_none() {
                return Ok(false);
            }
            // Server-side copy: the bytes never pass through this process. The source may go
            // between the check and the copy (a racing rename): that too is "absent".
            match self.op.copy(&from, &to).await {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(backend(e)),
            }
            self.op.delete(&from).await.map_err(backend)?;
            Ok(true)
        })
    }
}

/// OpenDAL's HTTP transport over this crate's `reqwest` client.
struct ReqwestTransport {
    client: reqwest::Client,
}

impl HttpTransport for ReqwestTransport {
    async fn fetch(&self, req: http::Request<Buffer>) -> opendal::Result<http::Response<HttpBody>> {
        let unexpected = |what: &'static str| {
            move |e: reqwest::Error| {
                opendal::Error::new(ErrorKind::Unexpected, what)
                    .set_temporary()
                    .set_source(e.without_url())
            }
        };
        let is_head = req.method() == http::Method::HEAD;
        let (parts, body) = req.into_parts();
        // Path only: S3 signs with the Authorization header, but never log a query string.
        tracing::debug!(method = %parts.method, path = parts.uri.path(), "s3 request");
        let url = reqwest::Url::parse(&parts.uri.to_string()).map_err(|e| {
            opendal::Error::new(ErrorKind::Unexpected, "request url is invalid").set_source(e)
        })?;
        let mut rb = self
            .client
            .request(parts.method, url)
            .headers(parts.headers);
        if !body.is_empty() {
            rb = rb.body(body.to_bytes());
        }
        let resp = rb.send().await.map_err(unexpected("send http request"))?;
        let len = if is_head { None } else { resp.content_length() };
        let mut out = http::Response::builder()
            .status(resp.status())
            .version(resp.version());
        if let Some(h) = out.headers_mut() {
            *h = resp.headers().clone();
        }
        let stream = resp
            .bytes_stream()
            .try_filter(|b: &Bytes| futures::future::ready(!b.is_empty()))
            .map_ok(Buffer::from)
            .map_err(unexpected("read data from http response"));
        out.body(HttpBody::new(stream, len)).map_err(|e| {
            opendal::Error::new(ErrorKind::Unexpected, "failed to build the response").set_source(e)
        })
    }
}
