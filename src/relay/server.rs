//! The relay's front: two instances of our cache service on one local directory store,
//! with hooks. The import side answers local misses from upstream; the export side answers
//! only from what this run uploaded (so BuildKit's per-layer existence checks cost nothing
//! upstream) and hands every finalized entry to the [`Uploader`].

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::report::RelayReport;
use super::uploader::Uploader;
use crate::cache_client::{CacheClient, Outage, RetryPolicy};
use crate::cache_protocol::AccessScope;
use crate::cache_protocol::Endpoint;
use crate::cache_service::{
    self, EntryHooks, ForeignHit, Hooks, RunningService, ServiceConfig, ServiceError, StoredEntry,
    TokenIssuer,
};
use crate::secret::Secret;
use crate::storage::StorageConfig;

/// What a relay needs.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub upstream: Endpoint,
    /// The runtime token: used upstream only.
    pub token: Secret,
    /// The refs of the runtime token's `ac` claim, mirrored into the relay's token so
    /// BuildKit names and finds indexes exactly as it would upstream.
    pub scopes: Vec<AccessScope>,
    /// Where to listen (loopback for a local BuildKit).
    pub listen: IpAddr,
    /// The host BuildKit reaches the listener at (`127.0.0.1`, or an address of this
    /// container for a BuildKit container).
    pub advertise: String,
    /// Uploads in flight upstream at most.
    pub parallelism: usize,
    /// Merge with the index upstream instead of replacing it.
    pub merge: bool,
    /// The local store (a fresh directory; removed with the relay).
    pub dir: PathBuf,
}

/// A running relay.
pub struct Relay {
    /// The URL BuildKit imports through (`url` / `url_v2` of `cache-from` entries).
    pub import_url: String,
    /// The URL BuildKit exports to (`cache-to` entries).
    pub export_url: String,
    /// The token BuildKit gets.
    pub token: Secret,
    uploader: Arc<Uploader>,
    services: Vec<RunningService>,
    hold: ImportHold,
}

struct ImportSide {
    client: CacheClient,
    hold: ImportHold,
}

/// Lookups upstream wait until this opens (see [`Relay::hold_imports`]).
type ImportHold = Arc<std::sync::Mutex<Option<tokio::sync::watch::Receiver<bool>>>>;

impl EntryHooks for ImportSide {
    fn lookup_miss<'a>(
        &'a self,
        keys: &'a [String],
        version: &'a str,
    ) -> BoxFuture<'a, Option<ForeignHit>> {
        Box::pin(async move {
            let hold = self.hold.lock().ok().and_then(|h| h.clone());
            if let Some(mut hold) = hold {
                // A dropped sender opens it too.
                let _ = hold.wait_for(|open| *open).await;
            }
            let (key, rest) = keys.split_first()?;
            match self.client.lookup(key, rest, version).await {
                Ok(hit) => hit.map(|h| ForeignHit {
                    matched_key: h.matched_key,
                    url: h.url,
                }),
                Err(e) => {
                    // A failed lookup is a miss, as BuildKit treats it.
                    tracing::warn!(error = %e, "cache relay: upstream lookup failed");
                    None
                }
            }
        })
    }

    fn finalized(&self, _entry: &StoredEntry, _data: Option<PathBuf>) {}
}

struct ExportSide {
    uploader: Arc<Uploader>,
}

impl EntryHooks for ExportSide {
    fn lookup_miss<'a>(&'a self, _: &'a [String], _: &'a str) -> BoxFuture<'a, Option<ForeignHit>> {
        Box::pin(async { None })
    }

    fn finalized(&self, entry: &StoredEntry, data: Option<PathBuf>) {
        self.uploader.submit(entry, data);
    }
}

impl Relay {
    pub async fn start(config: RelayConfig) -> Result<Self, ServiceError> {
        let secret = Secret::new(hex::encode(rand::random::<[u8; 32]>()));
        // Uploads have until the step's deadline: more tries than one call would get, unless
        // the service has refused everything for seconds and taken nothing.
        let client = CacheClient::new(config.upstream.clone(), config.token.clone()).with_policy(
            RetryPolicy {
                max_attempts: 12,
                outage: Some(Outage::new(6, Duration::from_secs(3))),
                ..Default::default()
            },
        );
        let uploader = Uploader::new(client.clone(), config.parallelism, config.merge);
        let storage = StorageConfig::Disk(config.dir.clone());
        let mut sc = ServiceConfig::new(SocketAddr::new(config.listen, 0), storage.clone());
        sc.secret = Some(secret.clone());
        // A build waits on each lookup: a few quick tries, then a miss.
        let lookups = client.clone().with_policy(RetryPolicy {
            max_attempts: 3,
            max_delay: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(5),
            ..Default::default()
        });
        let hold = ImportHold::default();
        let import = cache_service::spawn_with(
            sc.clone(),
            Hooks::new(
                Arc::new(ImportSide {
                    client: lookups,
                    hold: hold.clone(),
                }),
                &storage,
            ),
        )
        .await?;
        let export = cache_service::spawn_with(
            sc,
            Hooks::new(
                Arc::new(ExportSide {
                    uploader: uploader.clone(),
                }),
                &storage,
            ),
        )
        .await?;
        let advertised = |s: &RunningService| {
            let port = s.base_url.rsplit(':').next().unwrap_or("0").to_owned();
            format!("http://{}:{port}/", bracket(&config.advertise))
        };
        let token = TokenIssuer::new(secret).issue(&config.scopes, chrono::Duration::hours(12));
        Ok(Self {
            import_url: advertised(&import),
            export_url: advertised(&export),
            token,
            uploader,
            services: vec![import, export],
            hold,
        })
    }

    /// Answer no lookup that goes upstream before `open` turns true (or its sender is
    /// dropped). BuildKit resolves its cache imports before it runs any step, so this
    /// holds every step of the build (`engine::builder::cache_relay::hold_steps`).
    pub fn hold_imports(&self, open: tokio::sync::watch::Receiver<bool>) {
        if let Ok(mut h) = self.hold.lock() {
            *h = Some(open);
        }
    }

    /// Wait until upstream has everything BuildKit exported, or `deadline` passes; then
    /// stop the listeners and say what landed.
    pub async fn finish(self, deadline: Duration) -> RelayReport {
        let report = self.uploader.finish(deadline).await;
        for s in self.services {
            s.shutdown().await;
        }
        report
    }
}

/// An IPv6 address goes into a URL in brackets.
fn bracket(host: &str) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => host.to_owned(),
    }
}
