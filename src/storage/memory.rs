//! In-memory storage: for tests and throwaway services. Holds every object in RAM.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::future::BoxFuture;

use super::blob_store::{BlobStore, ByteStream, StorageError, check_range};

/// Objects in a map; `put` collects the stream first so a failed body stores nothing.
#[derive(Default)]
pub struct MemoryStore {
    objects: Mutex<HashMap<String, Bytes>>,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bytes>> {
        // A panic while holding the lock cannot leave the map half-updated (every update is
        // one insert or remove), so a poisoned lock is still safe to use.
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl BlobStore for MemoryStore {
    fn put(&self, key: &str, mut body: ByteStream) -> BoxFuture<'_, Result<u64, StorageError>> {
        let key = key.to_owned();
        Box::pin(async move {
            let mut buf = BytesMut::new();
            while let Some(chunk) = body.next().await {
                buf.extend_from_slice(&chunk.map_err(StorageError::Body)?);
            }
            let len = buf.len() as u64;
            self.lock().insert(key, buf.freeze());
            Ok(len)
        })
    }

    fn put_if_absent(&self, key: &str, body: Bytes) -> BoxFuture<'_, Result<bool, StorageError>> {
        let created = match self.lock().entry(key.to_owned()) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(body);
                true
            }
        };
        Box::pin(async move { Ok(created) })
    }

    fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> BoxFuture<'_, Result<Option<ByteStream>, StorageError>> {
        let found = self.lock().get(key).cloned();
        Box::pin(async move {
            let Some(data) = found else { return Ok(None) };
            let r = check_range(range, data.len() as u64)?;
            let slice = data.slice(r.start as usize..r.end as usize);
            // Hand it out in pieces, as the other backends do, so consumers see real streams.
            let pieces: Vec<Result<Bytes, std::io::Error>> = (0..slice.len())
                .step_by(64 * 1024)
                .map(|i| Ok(slice.slice(i..(i + 64 * 1024).min(slice.len()))))
                .collect();
            Ok(Some(futures::stream::iter(pieces).boxed()))
        })
    }

    fn size(&self, key: &str) -> BoxFuture<'_, Result<Option<u64>, StorageError>> {
        let size = self.lock().get(key).map(|b| b.len() as u64);
        Box::pin(async move { Ok(size) })
    }

    fn delete(&self, key: &str) -> BoxFuture<'_, Result<bool, StorageError>> {
        let removed = self.lock().remove(key).is_some();
        Box::pin(async move { Ok(removed) })
    }

    fn list(&self, prefix: &str) -> BoxFuture<'_, Result<Vec<String>, StorageError>> {
        let keys = self
            .lock()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        Box::pin(async move { Ok(keys) })
    }
}
