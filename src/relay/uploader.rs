//! Sending what BuildKit exported upstream: every blob as soon as it is finalized locally,
//! at most `parallelism` at a time, each retried by the client; every index once each
//! layer it names has landed, merged with the scope's index upstream and saved under the
//! next free `#N` (docs/gha-cache-layout.md § Export flow does the same for BuildKit).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::index_merge::{self, MergeLimits};
use super::report::{IndexOutcome, Lost, RelayReport};
use crate::cache_client::{CacheClient, SaveOutcome, Saved};
use crate::cache_config::CacheConfig;
use crate::cache_config::chains::covers;
use crate::cache_protocol::keys;
use crate::cache_service::StoredEntry;

/// An index is JSON of a few KiB to a few MiB.
const MAX_INDEX_BYTES: usize = 64 << 20;
/// Tries at a free `#N` when other writers take the numbers first.
const INDEX_TRIES: u32 = 5;

/// An index written upstream.
struct WrittenIndex {
    key: String,
    /// The upstream index merged in.
    merged_with: Option<String>,
    /// Why it was written as BuildKit wrote it although there was one to merge with.
    unmerged: Option<String>,
    /// Not written: `key`, upstream already, holds everything this build's index does.
    unchanged: bool,
}

/// Where one blob is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Landing {
    Pending,
    Landed,
    Failed(String),
}

#[derive(Default)]
struct State {
    blobs: HashMap<String, (watch::Receiver<Landing>, u64)>,
    indexes: Vec<Arc<Mutex<IndexOutcome>>>,
    tasks: JoinSet<()>,
    report: RelayReport,
}

pub(super) struct Uploader {
    client: CacheClient,
    permits: Semaphore,
    merge: bool,
    state: Mutex<State>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Updates are single assignments that cannot panic halfway.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Uploader {
    pub(super) fn new(client: CacheClient, parallelism: usize, merge: bool) -> Arc<Self> {
        Arc::new(Self {
            client,
            permits: Semaphore::new(parallelism.max(1)),
            merge,
            state: Mutex::new(State::default()),
        })
    }

    /// A finalized local entry: start sending it upstream.
    pub(super) fn submit(self: &Arc<Self>, entry: &StoredEntry, data: Option<PathBuf>) {
        let Some(path) = data else {
            tracing::warn!(key = %entry.key, "cache relay: the local store is not a directory");
            return;
        };
        let (key, version) = (entry.key.clone(), entry.version.clone());
        let me = self.clone();
        let mut st = lock(&self.state);
        if keys::is_index(&key) {
            let slot = Arc::new(Mutex::new(IndexOutcome {
                local_key: key.clone(),
                ..Default::default()
            }));
            st.indexes.push(slot.clone());
            st.tasks
                .spawn(async move { me.index(key, version, path, slot).await });
        } else {
            let (tx, rx) = watch::channel(Landing::Pending);
            st.blobs.insert(key.clone(), (rx, entry.size));
            st.tasks
                .spawn(async move { me.blob(key, version, path, tx).await });
        }
    }

    async fn blob(
        self: Arc<Self>,
        key: String,
        version: String,
        path: PathBuf,
        tx: watch::Sender<Landing>,
    ) {
        let Ok(_permit) = self.permits.acquire().await else {
            return;
        };
        let result = self.client.save_file(&key, &version, &path).await;
        let landing = match result {
            Ok(s) if s.outcome == SaveOutcome::AlreadyExists && s.retries > 0 => {
                // A retried create may have reserved the key itself and then failed: only
                // a committed entry counts.
                match self.client.lookup(&key, &[], &version).await {
                    Ok(Some(hit)) if hit.matched_key == key => self.landed(s),
                    _ => Landing::Failed("reserved upstream but never committed".to_owned()),
                }
            }
            Ok(s) => self.landed(s),
            Err(e) => Landing::Failed(e.to_string()),
        };
        if let Landing::Failed(why) = &landing {
            let bytes = lock(&self.state).blobs.get(&key).map_or(0, |b| b.1);
            lock(&self.state).report.lost.push(Lost {
                key: key.clone(),
                bytes,
                why: why.clone(),
            });
        }
        let _ = tx.send(landing);
    }

    fn landed(&self, s: Saved) -> Landing {
        let mut st = lock(&self.state);
        let r = &mut st.report;
        match s.outcome {
            SaveOutcome::Saved => {
                r.uploaded += 1;
                r.uploaded_bytes += s.bytes;
            }
            SaveOutcome::AlreadyExists => r.present += 1,
        }
        if s.retries > 0 {
            r.retried += 1;
            r.retries += s.retries;
        }
        Landing::Landed
    }

    async fn index(
        self: Arc<Self>,
        key: String,
        version: String,
        path: PathBuf,
        slot: Arc<Mutex<IndexOutcome>>,
    ) {
        let result = self.write_index(&key, &version, &path).await;
        let mut s = lock(&slot);
        match result {
            Ok(written) => {
                s.written = Some(written.key);
                s.merged_with = written.merged_with;
                s.unmerged = written.unmerged;
                s.unchanged = written.unchanged;
            }
            Err(e) => s.error = Some(e),
        }
    }

    /// Wait for the index's layers, merge, save.
    async fn write_index(
        &self,
        key: &str,
        version: &str,
        path: &PathBuf,
    ) -> Result<WrittenIndex, String> {
        let body = tokio::fs::read(path)
            .await
            .map_err(|e| format!("failed to read the local index: {e}"))?;
        let ours = CacheConfig::from_slice(&body)
            .map_err(|e| format!("the index BuildKit wrote cannot be read: {e}"))?;
        let base = key.rsplit_once('#').map_or(key, |(b, _)| b).to_owned() + "#";
        let (upstream, missing) =
            tokio::join!(self.upstream_index(&base, version), self.wait_layers(&ours));
        if missing > 0 {
            return Err(format!("{missing} of its layers did not land"));
        }
        let mut retries = 0;
        let (mut next, mut theirs) = upstream?;
        // A build that changed nothing: the index upstream already holds all of it.
        if let Some((their_key, t)) = &theirs
            && covers(t, &ours)
        {
            return Ok(WrittenIndex {
                key: their_key.clone(),
                merged_with: None,
                unmerged: None,
                unchanged: true,
            });
        }
        for _ in 0..INDEX_TRIES {
            let (bytes, merged_with, unmerged) = self.merged_body(&body, &ours, theirs);
            let target = format!("{base}{next}");
            let saved = self
                .client
                .save_bytes(&target, version, bytes)
                .await
                .map_err(|e| e.to_string())?;
            retries += saved.retries;
            if saved.outcome == SaveOutcome::Saved {
                self.count_index_retries(retries);
                return Ok(WrittenIndex {
                    key: target,
                    merged_with,
                    unmerged,
                    unchanged: false,
                });
            }
            // Another writer took that number: merge with theirs, take the next.
            (next, theirs) = self.upstream_index(&base, version).await?;
        }
        Err(format!("no free index number after {INDEX_TRIES} tries"))
    }

    /// The body to write: ours merged with theirs, or BuildKit's own bytes when there is
    /// nothing to merge or the merge fails (the reason is the third value).
    fn merged_body(
        &self,
        body: &[u8],
        ours: &CacheConfig,
        theirs: Option<(String, CacheConfig)>,
    ) -> (Bytes, Option<String>, Option<String>) {
        let own = || Bytes::copy_from_slice(body);
        let Some((their_key, theirs)) = theirs.filter(|_| self.merge) else {
            return (own(), None, None);
        };
        let merged = index_merge::merge(ours, &theirs, &MergeLimits::default(), chrono::Utc::now())
            .and_then(|m| Ok(m.to_vec()?));
        match merged {
            Ok(bytes) => (Bytes::from(bytes), Some(their_key), None),
            Err(e) => {
                tracing::warn!(index = %their_key, "cache relay: not merged with the index upstream: {e}");
                (
                    own(),
                    None,
                    Some(format!("not merged with {their_key}: {e}")),
                )
            }
        }
    }

    fn count_index_retries(&self, retries: u32) {
        if retries > 0 {
            let mut st = lock(&self.state);
            st.report.retried += 1;
            st.report.retries += retries;
        }
    }

    /// The next free number under `base` and the newest index there (key, body).
    async fn upstream_index(
        &self,
        base: &str,
        version: &str,
    ) -> Result<(u64, Option<(String, CacheConfig)>), String> {
        let hit = self
            .client
            .lookup(base, &[], version)
            .await
            .map_err(|e| e.to_string())?;
        let Some(hit) = hit else { return Ok((1, None)) };
        let n = hit
            .matched_key
            .strip_prefix(base)
            .and_then(|n| n.parse::<u64>().ok());
        let Some(n) = n else { return Ok((1, None)) };
        let body = self
            .client
            .read(&hit, MAX_INDEX_BYTES)
            .await
            .map_err(|e| e.to_string())?;
        // An unreadable index upstream is replaced rather than merged.
        let theirs = CacheConfig::from_slice(&body)
            .ok()
            .map(|c| (hit.matched_key, c));
        Ok((n + 1, theirs))
    }

    /// How many of the index's layers failed (a layer not exported in this run was found
    /// in the local store, so it was uploaded in this run too).
    async fn wait_layers(&self, ours: &CacheConfig) -> usize {
        let mut missing = 0;
        for blob in ours.blobs() {
            let rx = lock(&self.state)
                .blobs
                .get(&keys::blob_key(blob))
                .map(|b| b.0.clone());
            let Some(mut rx) = rx else { continue };
            match rx.wait_for(|l| *l != Landing::Pending).await {
                Ok(l) if *l == Landing::Landed => {}
                _ => missing += 1,
            }
        }
        missing
    }

    /// Wait for every upload, at most `deadline`; what is still under way then is lost.
    pub(super) async fn finish(&self, deadline: Duration) -> RelayReport {
        let started = Instant::now();
        let mut tasks = std::mem::take(&mut lock(&self.state).tasks);
        let drained = tokio::time::timeout(deadline, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
        }
        let mut st = lock(&self.state);
        let pending: Vec<Lost> = st
            .blobs
            .iter()
            .filter(|(_, (rx, _))| *rx.borrow() == Landing::Pending)
            .map(|(k, (_, size))| Lost {
                key: k.clone(),
                bytes: *size,
                why: "still uploading at the deadline".to_owned(),
            })
            .collect();
        st.report.lost.extend(pending);
        let indexes: Vec<IndexOutcome> = st
            .indexes
            .iter()
            .map(|i| {
                let mut o = lock(i).clone();
                if o.written.is_none() && o.error.is_none() {
                    o.error = Some("not written by the deadline".to_owned());
                }
                o
            })
            .collect();
        let mut report = st.report.clone();
        report.lost.sort_by(|a, b| a.key.cmp(&b.key));
        report.indexes = indexes;
        report.after_build = started.elapsed();
        report
    }
}
