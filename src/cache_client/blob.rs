//! Moving bytes through signed URLs: Azure-style block-blob uploads for v2 (Put Blob up to
//! [`SINGLE_PUT_MAX`], else Put Block + Put Block List), and plain GETs for downloads
//! (docs/cache-protocol.md § Signed upload URLs, § Signed download URLs). Signed URLs
//! carry their own credential: no `Authorization` header goes with them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::error::ClientError;
use super::retry::{Attempt, RetryPolicy, retryable};
use crate::secret::Secret;

/// The toolkit uploads up to 128 MiB in one Put Blob.
pub(super) const SINGLE_PUT_MAX: u64 = 128 << 20;
/// Block size above that (and v1's chunk size).
pub(super) const BLOCK: u64 = 32 << 20;
/// The Azure API version sent; 2019-12-12 and later allow large blocks.
const MS_VERSION: &str = "2019-12-12";

/// What an upload sends: a file on disk (read again for every attempt) or bytes in memory.
#[derive(Debug, Clone)]
pub(super) enum Source {
    File(PathBuf),
    Bytes(Bytes),
}

impl Source {
    pub(super) async fn len(&self) -> Result<u64, ClientError> {
        match self {
            Source::File(p) => tokio::fs::metadata(p)
                .await
                .map(|m| m.len())
                .map_err(|e| ClientError::io("read the file to upload", e)),
            Source::Bytes(b) => Ok(b.len() as u64),
        }
    }

    /// The bytes `offset..offset+len` as a request body.
    pub(super) async fn body(&self, offset: u64, len: u64) -> Result<reqwest::Body, ClientError> {
        match self {
            Source::Bytes(b) => {
                let (start, end) = (offset as usize, (offset + len) as usize);
                Ok(reqwest::Body::from(b.slice(start..end.min(b.len()))))
            }
            Source::File(p) => {
                let mut f = tokio::fs::File::open(p)
                    .await
                    .map_err(|e| ClientError::io("open the file to upload", e))?;
                f.seek(std::io::SeekFrom::Start(offset))
                    .await
                    .map_err(|e| ClientError::io("read the file to upload", e))?;
                let stream = tokio_util::io::ReaderStream::with_capacity(f.take(len), 256 << 10);
                Ok(reqwest::Body::wrap_stream(stream))
            }
        }
    }
}

/// Time one transfer may take: the API timeout plus a second per MiB.
pub(super) fn transfer_timeout(policy: &RetryPolicy, len: u64) -> Duration {
    policy.request_timeout + Duration::from_secs(len >> 20)
}

/// Upload `source` to a v2 signed upload URL; returns the retries it took.
pub(super) async fn upload(
    http: &reqwest::Client,
    policy: &RetryPolicy,
    url: &Secret,
    source: &Source,
    size: u64,
) -> Result<u32, ClientError> {
    if size <= SINGLE_PUT_MAX {
        return put(http, policy, url.expose().to_owned(), source, 0, size, true).await;
    }
    let mut retries = 0;
    let mut ids = Vec::new();
    let prefix = uuid::Uuid::new_v4().hyphenated().to_string();
    let mut offset = 0;
    while offset < size {
        let len = BLOCK.min(size - offset);
        // The Azure SDK's shape: a 36-character UUID and a zero-padded index, base64.
        let id =
            base64::engine::general_purpose::STANDARD.encode(format!("{prefix}{:012}", ids.len()));
        let block_url = with_query(url, &[("comp", "block"), ("blockid", &id)])?;
        retries += put(http, policy, block_url, source, offset, len, false).await?;
        ids.push(id);
        offset += len;
    }
    let xml = block_list_xml(&ids);
    let list_url = with_query(url, &[("comp", "blocklist")])?;
    let xml = Source::Bytes(Bytes::from(xml));
    let n = xml.len().await?;
    retries += put(http, policy, list_url, &xml, 0, n, false).await?;
    Ok(retries)
}

/// The body of a Put Block List that commits `ids` in order, as the Azure SDK writes it.
pub fn block_list_xml(ids: &[String]) -> String {
    let list: String = ids
        .iter()
        .map(|i| format!("<Latest>{i}</Latest>"))
        .collect();
    format!(r#"<?xml version="1.0" encoding="utf-8"?><BlockList>{list}</BlockList>"#)
}

fn with_query(url: &Secret, pairs: &[(&str, &str)]) -> Result<String, ClientError> {
    let mut u = url::Url::parse(url.expose()).map_err(|_| ClientError::Protocol {
        what: "upload",
        detail: "the service's signed upload URL is not a URL".to_owned(),
    })?;
    u.query_pairs_mut().extend_pairs(pairs);
    Ok(u.into())
}

/// One PUT of `source[offset..offset+len]`, retried.
async fn put(
    http: &reqwest::Client,
    policy: &RetryPolicy,
    url: String,
    source: &Source,
    offset: u64,
    len: u64,
    whole_blob: bool,
) -> Result<u32, ClientError> {
    const WHAT: &str = "upload to the signed URL";
    let timeout = transfer_timeout(policy, len);
    let ((), retries) = policy
        .run(WHAT, || async {
            let mut req = http
                .put(&url)
                .timeout(timeout)
                .header("x-ms-version", MS_VERSION)
                .header(CONTENT_LENGTH, len)
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(source.body(offset, len).await?);
            if whole_blob {
                req = req.header("x-ms-blob-type", "BlockBlob");
            }
            let resp = req.send().await.map_err(|e| Attempt::transport(WHAT, &e))?;
            let status = resp.status();
            if status.is_success() {
                return Ok(());
            }
            let again = retryable(status, resp.headers());
            let message = error_text(resp).await;
            Err(Attempt::failed(WHAT, status, again, message))
        })
        .await?;
    Ok(retries)
}

/// The first line of an error body, short: enough to say what went wrong.
pub(super) async fn error_text(resp: reqwest::Response) -> String {
    let code = resp
        .headers()
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.text().await.unwrap_or_default();
    let text = code.unwrap_or(body);
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().take(300).collect()
}

/// Where a download goes.
pub(super) enum Sink<'a> {
    Memory { max: usize },
    File(&'a Path),
}

/// GET a signed download URL into memory or a file, retried from the start.
pub(super) async fn download(
    http: &reqwest::Client,
    policy: &RetryPolicy,
    url: &Secret,
    sink: Sink<'_>,
) -> Result<(Bytes, u64), ClientError> {
    let (got, _) = policy
        .run(DOWNLOAD, || fetch_once(http, url, &sink))
        .await?;
    Ok(got)
}

const DOWNLOAD: &str = "download from the signed URL";

/// One attempt of [`download`].
async fn fetch_once(
    http: &reqwest::Client,
    url: &Secret,
    sink: &Sink<'_>,
) -> Result<(Bytes, u64), Attempt> {
    let mut resp = http
        .get(url.expose())
        .send()
        .await
        .map_err(|e| Attempt::transport(DOWNLOAD, &e))?;
    let status = resp.status();
    if !status.is_success() {
        let again = retryable(status, resp.headers());
        let message = error_text(resp).await;
        return Err(Attempt::failed(DOWNLOAD, status, again, message));
    }
    let mut buf = Vec::new();
    let mut file = match sink {
        Sink::File(p) => Some(
            tokio::fs::File::create(p)
                .await
                .map_err(|e| ClientError::io("create the download file", e))?,
        ),
        Sink::Memory { .. } => None,
    };
    let mut total = 0u64;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Attempt::transport(DOWNLOAD, &e))?
    {
        total += chunk.len() as u64;
        match (&mut file, sink) {
            (Some(f), _) => f
                .write_all(&chunk)
                .await
                .map_err(|e| ClientError::io("write the download file", e))?,
            (None, Sink::Memory { max }) if buf.len() + chunk.len() > *max => {
                return Err(Attempt::Stop(ClientError::Protocol {
                    what: DOWNLOAD,
                    detail: format!("the entry is larger than {max} bytes"),
                }));
            }
            (None, _) => buf.extend_from_slice(&chunk),
        }
    }
    if let Some(f) = &mut file {
        f.flush()
            .await
            .map_err(|e| ClientError::io("write the download file", e))?;
    }
    Ok((Bytes::from(buf), total))
}
