//! Hooks that turn the service into the front of a relay (`crate::relay`): a local miss
//! may be answered from another service, and every finalized entry is announced, with the
//! file holding its bytes when the store is a directory.

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::index::StoredEntry;
use super::shared::data_key;
use crate::secret::Secret;
use crate::storage::StorageConfig;

/// An entry found elsewhere: its full key and a signed URL clients can read it from.
#[derive(Debug, Clone)]
pub struct ForeignHit {
    pub matched_key: String,
    pub url: Secret,
}

/// What a relay plugs into the service.
pub trait EntryHooks: Send + Sync + 'static {
    /// No local entry matched `keys` (primary first) and `version`: look elsewhere.
    fn lookup_miss<'a>(
        &'a self,
        keys: &'a [String],
        version: &'a str,
    ) -> BoxFuture<'a, Option<ForeignHit>>;

    /// `entry` was finalized; `data` is the file with its bytes on a directory store.
    fn finalized(&self, entry: &StoredEntry, data: Option<PathBuf>);
}

/// The hooks of one service, and where its directory store keeps entry bytes.
#[derive(Clone, Default)]
pub struct Hooks {
    pub(super) hooks: Option<Arc<dyn EntryHooks>>,
    pub(super) disk_root: Option<PathBuf>,
}

impl Hooks {
    pub fn new(hooks: Arc<dyn EntryHooks>, storage: &StorageConfig) -> Self {
        Self {
            hooks: Some(hooks),
            disk_root: match storage {
                StorageConfig::Disk(root) => Some(root.clone()),
                _ => None,
            },
        }
    }

    pub(super) async fn lookup_miss(&self, keys: &[String], version: &str) -> Option<ForeignHit> {
        match &self.hooks {
            Some(h) => h.lookup_miss(keys, version).await,
            None => None,
        }
    }

    pub(super) fn finalized(&self, entry: &StoredEntry) {
        if let Some(h) = &self.hooks {
            // The disk store's layout: `objects/<store key>` (storage::disk).
            let data = self
                .disk_root
                .as_ref()
                .map(|r| r.join("objects").join(data_key(entry.id)));
            h.finalized(entry, data);
        }
    }
}
