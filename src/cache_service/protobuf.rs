//! Twirp's binary encoding (`application/protobuf`) of the three v2 messages, for clients
//! that send it (OpenDAL's `ghac` service, and so sccache). The messages are the prost
//! derives in [`crate::cache_protocol::wire`]; this file only maps a decode failure to the service's
//! error.

use prost::Message;

use super::error::ServiceError;
use crate::cache_protocol::wire::{
    CreateCacheEntryRequest, FinalizeCacheEntryUploadRequest, GetCacheEntryDownloadUrlRequest,
};

fn decode<M: Message + Default>(buf: &[u8]) -> Result<M, ServiceError> {
    M::decode(buf).map_err(|e| {
        ServiceError::Malformed(format!("failed to parse the protobuf request body: {e}"))
    })
}

pub fn create_request(buf: &[u8]) -> Result<CreateCacheEntryRequest, ServiceError> {
    decode(buf)
}

pub fn finalize_request(buf: &[u8]) -> Result<FinalizeCacheEntryUploadRequest, ServiceError> {
    decode(buf)
}

pub fn download_request(buf: &[u8]) -> Result<GetCacheEntryDownloadUrlRequest, ServiceError> {
    decode(buf)
}

/// Encode a response (proto3: default values are left out).
pub fn encode<M: Message>(m: &M) -> Vec<u8> {
    m.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_protocol::wire::FinalizeCacheEntryUploadResponse;

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
            entry_id: 300,
            message: String::new(),
        };
        assert_eq!(encode(&r), vec![0x08, 0x01, 0x10, 0xac, 0x02]);
    }
}
