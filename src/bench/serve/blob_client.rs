//! The benchmark's client for the large entry's blob transfers: blocking HTTP/1.1 on a
//! connection of each transfer's own (a Put Blob or a GET is one request; BuildKit's
//! blocks and block list go one after another on it), the body sent and received through
//! one reused 1 MiB buffer. The client then costs little next to the service, so the ratios
//! measure the service, not the client.
//!
//! Not `sendfile` (what `std::io::copy` does from a file to a socket): it moves 64 KiB
//! per internal step, and over loopback on a 2-vCPU machine the wake-ups that costs made a
//! bare TCP transfer of 1 GiB (receiver discarding) take 0.8–1.1 s, against 0.27–0.34 s
//! with read/write through 1 MiB. Real clients (Node's, Go's) write from user buffers too.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;

use base64::Engine as _;

use super::timing::copy_through;

/// Receive into a buffer this large, and write it to the file in one call (the upload
/// goes through [`copy_through`]'s buffer of the same size).
const RECV_BUFFER: usize = 1 << 20;
/// A response head longer than this is not from the service.
const MAX_HEAD: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BlobClientError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    // The URL itself is signed: it stays out of the message.
    #[error("the signed URL is not an http:// URL with a host")]
    Url,
    #[error("the response head is malformed: {0}")]
    Head(String),
    #[error("status {0}")]
    Status(u16),
}

/// What the client needs of a response head.
struct Head {
    status: u16,
    content_length: Option<u64>,
}

fn connect(url: &str) -> Result<(TcpStream, String, String), BlobClientError> {
    let parsed = url::Url::parse(url).map_err(|_| BlobClientError::Url)?;
    let host = parsed
        .host_str()
        .filter(|_| parsed.scheme() == "http")
        .ok_or(BlobClientError::Url)?;
    let port = parsed.port().unwrap_or(80);
    let target = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let stream = TcpStream::connect((host, port))?;
    stream.set_nodelay(true)?;
    Ok((stream, format!("{host}:{port}"), target))
}

fn read_head(reader: &mut BufReader<TcpStream>) -> Result<Head, BlobClientError> {
    let mut raw = Vec::new();
    while !raw.ends_with(b"\r\n\r\n") {
        if reader.read_until(b'\n', &mut raw)? == 0 || raw.len() > MAX_HEAD {
            return Err(BlobClientError::Head(
                "it ends before its blank line".into(),
            ));
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    response
        .parse(&raw)
        .map_err(|e| BlobClientError::Head(e.to_string()))?;
    let content_length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok());
    Ok(Head {
        status: response.code.unwrap_or(0),
        content_length,
    })
}

/// `PUT` `size` bytes of `file` to `url` as an Azure Put Blob.
pub fn put_blob(url: &str, file: &Path, size: u64) -> Result<(), BlobClientError> {
    let (mut stream, host, target) = connect(url)?;
    let head = format!(
        "PUT {target} HTTP/1.1\r\nHost: {host}\r\nx-ms-blob-type: BlockBlob\r\n\
         Content-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes())?;
    let sent = copy_through(&mut std::fs::File::open(file)?.take(size), &mut stream)?;
    if sent != size {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("sent {sent} of {size} bytes: the source file is shorter"),
        )
        .into());
    }
    let response = read_head(&mut BufReader::new(stream))?;
    match response.status {
        201 => Ok(()),
        s => Err(BlobClientError::Status(s)),
    }
}

/// Stage `size` bytes of `file` as blocks of `block` bytes, then commit them with a block
/// list: BuildKit's pattern (the Azure SDK's `UploadStream`, 1 MiB blocks one at a time,
/// ids of 64 bytes in base64), on one kept-alive connection as Go's client keeps it.
pub fn put_blocks(url: &str, file: &Path, size: u64, block: u64) -> Result<(), BlobClientError> {
    let (stream, host, target) = connect(url)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut source = std::fs::File::open(file)?;
    let prefix = uuid::Uuid::new_v4().hyphenated().to_string();
    let mut ids = Vec::new();
    let mut offset = 0;
    while offset < size {
        let len = block.min(size - offset);
        let id =
            base64::engine::general_purpose::STANDARD.encode(format!("{prefix}{:028}", ids.len()));
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("comp", "block")
            .append_pair("blockid", &id)
            .finish();
        let head = format!(
            "PUT {target}&{query} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len}\r\n\r\n"
        );
        writer.write_all(head.as_bytes())?;
        let sent = copy_through(&mut (&mut source).take(len), &mut writer)?;
        if sent != len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("sent {sent} of {len} bytes: the source file is shorter"),
            )
            .into());
        }
        expect_created(&mut reader)?;
        ids.push(id);
        offset += len;
    }
    let xml = crate::cache_client::block_list_xml(&ids);
    let head = format!(
        "PUT {target}&comp=blocklist HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
        xml.len()
    );
    writer.write_all(head.as_bytes())?;
    writer.write_all(xml.as_bytes())?;
    expect_created(&mut reader)
}

/// Read a `201 Created` and its body (skipped), leaving the connection at the next answer.
fn expect_created(reader: &mut BufReader<TcpStream>) -> Result<(), BlobClientError> {
    let response = read_head(reader)?;
    let body = response.content_length.unwrap_or(0);
    std::io::copy(&mut reader.by_ref().take(body), &mut std::io::sink())?;
    match response.status {
        201 => Ok(()),
        s => Err(BlobClientError::Status(s)),
    }
}

/// `GET` the blob at `url` into a new file `to`; returns the bytes received.
pub fn get_blob(url: &str, to: &Path) -> Result<u64, BlobClientError> {
    let (mut stream, host, target) = connect(url)?;
    let head = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let response = read_head(&mut reader)?;
    if response.status != 200 {
        return Err(BlobClientError::Status(response.status));
    }
    let len = response
        .content_length
        .ok_or_else(|| BlobClientError::Head("no Content-Length".into()))?;
    let mut file = std::fs::File::create(to)?;
    // What the head's reader read past the head is the body's start.
    let start = reader.buffer().to_vec();
    file.write_all(&start)?;
    let mut got = start.len() as u64;
    let mut stream = reader.into_inner();
    let mut buf = vec![0u8; RECV_BUFFER];
    while got < len {
        let want = (len - got).min(RECV_BUFFER as u64) as usize;
        // Fill the buffer before writing: fewer, larger page-cache writes.
        let mut filled = 0;
        while filled < want {
            match stream.read(&mut buf[filled..want])? {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            break;
        }
        file.write_all(&buf[..filled])?;
        got += filled as u64;
    }
    Ok(got)
}
