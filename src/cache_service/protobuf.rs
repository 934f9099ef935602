//! Twirp's binary encoding (`application/protobuf`) of the three v2 messages, for clients
//! that send it (OpenDAL's `ghac` service, and so sccache). Field numbers follow
//! `github.actions.results.api.v1` (the toolkit's `generated/results/api/v1/cache.ts`).
//! Unknown fields, including `metadata` (field 1), are skipped as proto3 requires.

use super::error::ServiceError;
use super::protocol::{
    CreateCacheEntryRequest, CreateCacheEntryResponse, FinalizeCacheEntryUploadRequest,
    FinalizeCacheEntryUploadResponse, GetCacheEntryDownloadUrlRequest,
    GetCacheEntryDownloadUrlResponse,
};

/// One decoded field: its number and value.
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

fn malformed(what: &str) -> ServiceError {
    ServiceError::Malformed(format!("failed to parse the protobuf request body: {what}"))
}

fn varint(buf: &mut &[u8]) -> Result<u64, ServiceError> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf
            .split_first()
            .ok_or_else(|| malformed("truncated varint"))?;
        *buf = rest;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err(malformed("varint too long"))
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], ServiceError> {
    if buf.len() < n {
        return Err(malformed("truncated field"));
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

/// Every field of a message, in order.
fn fields(mut buf: &[u8]) -> Result<Vec<(u64, Value<'_>)>, ServiceError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let tag = varint(&mut buf)?;
        let value = match tag & 7 {
            0 => Value::Varint(varint(&mut buf)?),
            1 => take(&mut buf, 8).map(|_| Value::Other)?,
            2 => {
                let n = usize::try_from(varint(&mut buf)?).map_err(|_| malformed("length"))?;
                Value::Bytes(take(&mut buf, n)?)
            }
            5 => take(&mut buf, 4).map(|_| Value::Other)?,
            _ => return Err(malformed("unsupported wire type")),
        };
        out.push((tag >> 3, value));
    }
    Ok(out)
}

fn string(v: &Value<'_>) -> Result<String, ServiceError> {
    match v {
        Value::Bytes(b) => {
            String::from_utf8(b.to_vec()).map_err(|_| malformed("string is not UTF-8"))
        }
        _ => Err(malformed("expected a string")),
    }
}

pub fn create_request(buf: &[u8]) -> Result<CreateCacheEntryRequest, ServiceError> {
    let mut r = CreateCacheEntryRequest::default();
    for (n, v) in fields(buf)? {
        match n {
            2 => r.key = string(&v)?,
            3 => r.version = string(&v)?,
            _ => {}
        }
    }
    Ok(r)
}

pub fn finalize_request(buf: &[u8]) -> Result<FinalizeCacheEntryUploadRequest, ServiceError> {
    let mut r = FinalizeCacheEntryUploadRequest::default();
    for (n, v) in fields(buf)? {
        match (n, &v) {
            (2, _) => r.key = string(&v)?,
            // int64 is two's complement in a varint; the cast keeps negative values negative.
            (3, Value::Varint(x)) => r.size_bytes = *x as i64,
            (3, _) => return Err(malformed("size_bytes is not a varint")),
            (4, _) => r.version = string(&v)?,
            _ => {}
        }
    }
    Ok(r)
}

pub fn download_request(buf: &[u8]) -> Result<GetCacheEntryDownloadUrlRequest, ServiceError> {
    let mut r = GetCacheEntryDownloadUrlRequest::default();
    for (n, v) in fields(buf)? {
        match n {
            2 => r.key = string(&v)?,
            3 => r.restore_keys.push(string(&v)?),
            4 => r.version = string(&v)?,
            _ => {}
        }
    }
    Ok(r)
}

/// A protobuf message writer; proto3 leaves out default values.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn uint(&mut self, field: u64, v: u64) -> &mut Self {
        if v != 0 {
            self.varint(field << 3);
            self.varint(v);
        }
        self
    }
    fn string(&mut self, field: u64, s: &str) -> &mut Self {
        if !s.is_empty() {
            self.varint((field << 3) | 2);
            self.varint(s.len() as u64);
            self.0.extend_from_slice(s.as_bytes());
        }
        self
    }
}

pub fn create_response(r: &CreateCacheEntryResponse) -> Vec<u8> {
    let mut w = Writer::default();
    w.uint(1, u64::from(r.ok))
        .string(2, &r.signed_upload_url)
        .string(3, &r.message);
    w.0
}

pub fn finalize_response(r: &FinalizeCacheEntryUploadResponse) -> Vec<u8> {
    let mut w = Writer::default();
    let id = r.entry_id.parse::<u64>().unwrap_or(0);
    w.uint(1, u64::from(r.ok)).uint(2, id).string(3, &r.message);
    w.0
}

pub fn download_response(r: &GetCacheEntryDownloadUrlResponse) -> Vec<u8> {
    let mut w = Writer::default();
    w.uint(1, u64::from(r.ok))
        .string(2, &r.signed_download_url)
        .string(3, &r.matched_key);
    w.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_requests_and_skips_metadata() {
        // metadata {repository_id: 5}, key "k", restore_keys ["a","b"], version "v"
        let buf = [
            0x0a, 0x02, 0x08, 0x05, 0x12, 0x01, b'k', 0x1a, 0x01, b'a', 0x1a, 0x01, b'b', 0x22,
            0x01, b'v',
        ];
        let r = download_request(&buf).unwrap_or_default();
        assert_eq!((r.key.as_str(), r.version.as_str()), ("k", "v"));
        assert_eq!(r.restore_keys, vec!["a", "b"]);
        let fin = finalize_request(&[0x12, 0x01, b'k', 0x18, 0xac, 0x02, 0x22, 0x01, b'v'])
            .unwrap_or_default();
        assert_eq!(fin.size_bytes, 300);
        assert!(
            create_request(&[0x12, 0x05, b'k']).is_err(),
            "truncated field accepted"
        );
    }

    #[test]
    fn encodes_responses() {
        let r = FinalizeCacheEntryUploadResponse {
            ok: true,
            entry_id: "300".into(),
            message: String::new(),
        };
        assert_eq!(finalize_response(&r), vec![0x08, 0x01, 0x10, 0xac, 0x02]);
    }
}
