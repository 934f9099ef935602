//! The engine's one call: given the build's cache entries and how BuildKit reaches this
//! process, start a relay for the `gha` entries that have a real upstream and point them
//! at it (docs/relay.md § When the relay is used).

use std::net::IpAddr;
use std::time::Duration;

use super::report::RelayReport;
use super::server::{Relay, RelayConfig};
use crate::cache_protocol::{AccessScope, Endpoint, Service, decode_scopes};
use crate::plan::cache::{CacheOption, CacheType};
use crate::secret::Secret;

/// The attribute that turns the relay off for an entry (`relay=false`).
pub const OPT_OUT_ATTR: &str = "relay";
/// Uploads in flight upstream at most.
const PARALLELISM: usize = 8;

/// How BuildKit reaches this process.
#[derive(Debug, Clone)]
pub enum Reach {
    /// BuildKit shares this machine's loopback (a local `remote` BuildKit, host networking).
    Loopback,
    /// Listen on `listen`; BuildKit connects to `advertise`.
    Address { listen: IpAddr, advertise: String },
    /// BuildKit cannot reach this process: export directly.
    Unreachable(String),
}

/// A relay the build uses; [`Engaged::finish`] after the build.
pub struct Engaged {
    relay: Relay,
    _dir: tempfile::TempDir,
}

impl Engaged {
    /// The URL import entries were pointed at.
    pub fn import_url(&self) -> &str {
        &self.relay.import_url
    }

    /// See [`Relay::hold_imports`].
    pub fn hold_imports(&self, open: tokio::sync::watch::Receiver<bool>) {
        self.relay.hold_imports(open);
    }

    /// The base URL BuildKit exports through (`http://host:port/`), for the probe.
    pub fn export_url(&self) -> &str {
        &self.relay.export_url
    }

    /// Wait until upstream has everything (or `deadline`), then report.
    pub async fn finish(self, deadline: Duration) -> RelayReport {
        self.relay.finish(deadline).await
    }
}

fn is_gha(e: &CacheOption) -> bool {
    e.kind == CacheType::Gha
}

/// Start a relay and rewrite the `gha` entries to use it. Returns the relay (when one
/// runs) and notices for the log. Entries with `relay=false`, or another upstream than the
/// first entry's, stay direct; the attribute is removed from every entry either way.
pub async fn engage(
    cache_from: &mut [CacheOption],
    cache_to: &mut [CacheOption],
    reach: Reach,
) -> (Option<Engaged>, Vec<String>) {
    let wanted = wanted(cache_from, cache_to);
    let first = wanted.first().and_then(|i| {
        cache_from
            .iter()
            .chain(cache_to.iter())
            .nth(*i)
            .and_then(|e| e.service.clone())
    });
    let Some(Service { endpoint, token }) = first else {
        return (None, Vec::new());
    };
    // Without the relay's merge, the last writer of a scope's index wins.
    let last_writer = if cache_to.iter().any(is_gha) {
        "; a parallel job exporting to the same scope replaces this build's index (the last writer's wins)"
    } else {
        ""
    };
    let direct = |why: &dyn std::fmt::Display| {
        vec![format!(
            "cache relay not used, BuildKit exports to the cache directly: {why}{last_writer}"
        )]
    };
    let listen = match reach {
        Reach::Unreachable(why) => return (None, direct(&why)),
        Reach::Loopback => (IpAddr::from([127, 0, 0, 1]), "127.0.0.1".to_owned()),
        Reach::Address { listen, advertise } => (listen, advertise),
    };
    let scopes = match decode_scopes(&token) {
        Ok(s) if !s.is_empty() => s,
        _ => return (None, direct(&"the runtime token names no refs")),
    };
    match start(endpoint.clone(), token.clone(), scopes, listen).await {
        Ok((relay, dir)) => {
            let upstream = Service { endpoint, token };
            let n = rewrite(cache_from, cache_to, &wanted, &upstream, &relay);
            let notice = format!(
                "cache relay: {n} gha {} through this process to the cache service ({})",
                if n == 1 { "entry goes" } else { "entries go" },
                upstream.endpoint
            );
            (Some(Engaged { relay, _dir: dir }), vec![notice])
        }
        Err(e) => (None, direct(&e)),
    }
}

/// Positions (imports first, then exports) of the entries the relay may take; removes the
/// opt-out attribute from all.
fn wanted(cache_from: &mut [CacheOption], cache_to: &mut [CacheOption]) -> Vec<usize> {
    let mut wanted = Vec::new();
    for (i, e) in cache_from.iter_mut().chain(cache_to.iter_mut()).enumerate() {
        let opted_out = e.attrs.remove(OPT_OUT_ATTR).is_some_and(|v| v == "false");
        // A strict export must fail the build when it fails: BuildKit's own does.
        let strict = e.attr("ignore-error") == Some("false");
        if is_gha(e) && !opted_out && !strict {
            wanted.push(i);
        }
    }
    wanted
}

async fn start(
    upstream: Endpoint,
    token: Secret,
    scopes: Vec<AccessScope>,
    (listen, advertise): (IpAddr, String),
) -> Result<(Relay, tempfile::TempDir), String> {
    let dir = tempfile::Builder::new()
        .prefix("layercache-relay-")
        .tempdir()
        .map_err(|e| format!("failed to make its directory: {e}"))?;
    let config = RelayConfig {
        upstream,
        token,
        scopes,
        listen,
        advertise,
        parallelism: PARALLELISM,
        merge: true,
        dir: dir.path().to_owned(),
    };
    let relay = Relay::start(config).await.map_err(|e| e.to_string())?;
    Ok((relay, dir))
}

/// Point the wanted entries that share the relay's upstream at it; returns how many.
fn rewrite(
    cache_from: &mut [CacheOption],
    cache_to: &mut [CacheOption],
    wanted: &[usize],
    upstream: &Service,
    relay: &Relay,
) -> usize {
    let n_from = cache_from.len();
    let mut n = 0;
    let all = cache_from.iter_mut().chain(cache_to.iter_mut()).enumerate();
    for (i, e) in all.filter(|(i, _)| wanted.contains(i)) {
        if e.service.as_ref() != Some(upstream) {
            continue;
        }
        let url = if i < n_from {
            &relay.import_url
        } else {
            &relay.export_url
        };
        // The relay speaks both versions; BuildKit keeps the upstream's.
        let endpoint = match upstream.endpoint {
            Endpoint::V1(_) => Endpoint::V1(url.clone()),
            Endpoint::V2(_) => Endpoint::V2(url.clone()),
        };
        e.service = Some(Service {
            endpoint,
            token: relay.token.clone(),
        });
        if i >= n_from {
            // The relay knows what upstream has; BuildKit's REST listing would only
            // carry a GitHub token into BuildKit.
            e.attrs.remove("repository");
            e.secrets.remove("ghtoken");
        }
        n += 1;
    }
    n
}
