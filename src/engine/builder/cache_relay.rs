//! Where the engine meets the cache relay (`crate::relay`): before the solve, the `gha`
//! entries are pointed at a relay in this process when BuildKit can reach it; after the
//! build, the relay's report goes into the outcome and, when something did not land, a
//! warning (docs/relay.md).

use std::time::Duration;

use bollard::Docker;
use bollard::moby::buildkit::v1::control_client::ControlClient;
use tonic::transport::Channel;

use super::driver::Capabilities;
use crate::engine::records::cache_report::CacheState;
use crate::engine::records::outcome::Outcome;
use crate::engine::records::progress::{BuildEvent, EventSink};
use crate::engine::transport::DockerHost;
use crate::plan::{CacheOption, DriverChoice};
use crate::relay::{Engaged, Reach, engage};

/// How long the step waits for uploads after the build (BuildKit's own gha `timeout`
/// default is the same ten minutes).
const DEADLINE: Duration = Duration::from_secs(600);

/// How the chosen BuildKit reaches this process, or why it cannot.
async fn reach(
    driver: &DriverChoice,
    caps: &Capabilities,
    docker: Option<&Docker>,
    (host, builder): (&DockerHost, &str),
) -> Reach {
    match (driver, caps.driver, docker) {
        (DriverChoice::Remote { endpoint }, _, _) if local_endpoint(endpoint) => Reach::Loopback,
        (DriverChoice::Remote { .. }, _, _) => Reach::Unreachable(
            "a remote BuildKit on another host may not reach this machine".to_owned(),
        ),
        (_, "docker-container", Some(docker)) => {
            super::relay_reach::container_reach(docker, builder).await
        }
        (_, "docker", Some(docker)) => {
            super::relay_reach::daemon_reach(docker, host, caps.own_network).await
        }
        _ => Reach::Unreachable(format!(
            "the relay is not yet reachable from the {} driver's BuildKit",
            caps.driver
        )),
    }
}

/// `unix://…` or `tcp://` on a loopback address: BuildKit shares our loopback.
fn local_endpoint(endpoint: &str) -> bool {
    endpoint.starts_with("unix://")
        || endpoint
            .strip_prefix("tcp://")
            .is_some_and(crate::engine::transport::is_loopback_addr)
}

/// How long the probe may take: a fetch on a working address takes tens of milliseconds.
const PROBE_WITHIN: Duration = Duration::from_secs(3);

/// The daemon's BuildKit is told `address` instead of the guess; it listens where the
/// guess says (the probe finds out whether the two meet).
fn advertised(reach: Reach, address: Option<&str>) -> Reach {
    match (reach, address) {
        (Reach::Loopback, Some(a)) => Reach::Address {
            listen: std::net::IpAddr::from([127, 0, 0, 1]),
            advertise: a.to_owned(),
        },
        (Reach::Address { listen, .. }, Some(a)) => Reach::Address {
            listen,
            advertise: a.to_owned(),
        },
        (reach, _) => reach,
    }
}

/// Start a relay for the build's `gha` entries and rewrite them; `None` when none runs.
/// For the daemon's BuildKit, whose network is guessed, BuildKit itself fetches a probe
/// from the relay first; when it cannot, the entries stay direct.
pub async fn start(
    cache_from: &mut [CacheOption],
    cache_to: &mut [CacheOption],
    (driver, caps, control): (&DriverChoice, &Capabilities, &ControlClient<Channel>),
    (docker, host, builder): (Option<&Docker>, &DockerHost, &str),
    relay_address: Option<&str>,
    sink: &mut dyn EventSink,
) -> Option<Engaged> {
    let wanted = cache_from
        .iter()
        .chain(cache_to.iter())
        .any(|e| e.kind == crate::plan::cache::CacheType::Gha);
    if !wanted {
        return None;
    }
    let mut reach = reach(driver, caps, docker, (host, builder)).await;
    let probed = caps.driver == "docker" && !matches!(reach, Reach::Unreachable(_));
    if probed {
        reach = advertised(reach, relay_address);
    }
    // The entries as asked, to go back to when the probe fails.
    let asked = probed.then(|| (cache_from.to_vec(), cache_to.to_vec()));
    let (mut engaged, mut notices) = engage(cache_from, cache_to, reach).await;
    if let (Some((from, to)), Some(e)) = (asked, &engaged) {
        let url = super::relay_probe::probe_url(e.export_url());
        match super::relay_probe::probe(control, &url, PROBE_WITHIN).await {
            Ok(took) => {
                tracing::debug!(ms = took.as_millis() as u64, %url, "cache relay: probe answered");
                notices.push(format!(
                    "cache relay: the daemon's BuildKit reached it at {} ({} ms probe)",
                    e.export_url(),
                    took.as_millis()
                ));
            }
            Err(why) => {
                if let Some(e) = engaged.take() {
                    e.finish(Duration::ZERO).await;
                }
                cache_from.clone_from_slice(&from);
                cache_to.clone_from_slice(&to);
                let why = format!(
                    "the probe failed, the daemon's BuildKit did not reach {}: {why}",
                    url.split('?').next().unwrap_or(&url)
                );
                (engaged, notices) = engage(cache_from, cache_to, Reach::Unreachable(why)).await;
            }
        }
    }
    for n in notices {
        sink.event(BuildEvent::Notice(n));
    }
    engaged
}

/// What must happen before a build's steps run (cache mounts restored alongside its
/// start, docs/cache-mounts.md § When the restore runs). Each opens by turning true, or
/// when its sender is dropped.
#[derive(Debug, Clone)]
pub struct StepHold {
    /// The solve may start: whatever else runs on this BuildKit no longer needs its
    /// scheduler to get going (each restore's copy has started, or ended).
    pub solve: tokio::sync::watch::Receiver<bool>,
    /// Steps may run (every restore has ended).
    pub steps: tokio::sync::watch::Receiver<bool>,
}

/// Wait until the build may go on, holding its steps as long as `hold` says. When an
/// import goes through the relay, the relay holds it: BuildKit resolves its cache imports
/// before it runs any step, so the session, the Dockerfile and the base image's config go
/// ahead meanwhile. That wait blocks BuildKit's one scheduler, which every solve on it
/// shares, so the solve starts only once the restores' copies no longer need it (`solve`).
/// Without an import through the relay (or with `no-cache`, where BuildKit skips its
/// cache) the build waits here for `steps`.
pub async fn hold_steps(req: &crate::plan::BuildPlan, relay: Option<&Engaged>, hold: StepHold) {
    let StepHold {
        mut solve,
        mut steps,
    } = hold;
    let held_by_relay = relay.filter(|r| imports_through(req, r.import_url()));
    match held_by_relay {
        Some(r) => {
            r.hold_imports(steps);
            let _ = solve.wait_for(|open| *open).await;
        }
        None => {
            let _ = steps.wait_for(|open| *open).await;
        }
    }
}

/// Whether BuildKit reads a cache import of `req` from the relay at `import_url` (and
/// does not skip its cache).
fn imports_through(req: &crate::plan::BuildPlan, import_url: &str) -> bool {
    !req.no_cache
        && req.no_cache_filters.is_empty()
        && req.cache_from.iter().any(|e| {
            e.kind == crate::plan::cache::CacheType::Gha
                && e.service.as_ref().map(|s| s.endpoint.url()) == Some(import_url)
        })
}

/// Wait for the relay's uploads, then report what landed.
pub async fn finish(engaged: Option<Engaged>, outcome: &mut Outcome, sink: &mut dyn EventSink) {
    let Some(engaged) = engaged else { return };
    sink.event(BuildEvent::Phase(
        "cache relay: waiting for the uploads to the cache service".to_owned(),
    ));
    let report = engaged.finish(DEADLINE).await;
    sink.event(BuildEvent::Notice(report.figures()));
    if let Some(w) = report.warning() {
        sink.event(BuildEvent::Warning(w.clone()));
        outcome.warnings.push(w);
        // BuildKit's export to the relay went well; the summary must say the cache did not.
        for r in outcome.cache_exports.iter_mut() {
            if r.kind == crate::plan::cache::CacheType::Gha && r.state == CacheState::Done {
                r.state = CacheState::Failed;
                r.error = Some("not everything reached the cache service".to_owned());
            }
        }
    }
    outcome.relay = Some(report);
}

#[cfg(test)]
mod tests {
    use super::{imports_through, local_endpoint};
    use crate::cache_protocol::{Endpoint, Service};
    use crate::plan::BuildPlan;
    use crate::plan::cache::CacheOption;
    use crate::secret::Secret;

    #[test]
    fn an_import_rewritten_to_the_relay_is_held_by_it() {
        let relay = "http://127.0.0.1:4000/import/";
        let at = |url: &str| Service {
            endpoint: Endpoint::V2(url.to_owned()),
            token: Secret::new("t".to_owned()),
        };
        let mut req = BuildPlan::local(".");
        req.cache_from = vec![CacheOption::gha(at("http://upstream/"), &[])];
        assert!(!imports_through(&req, relay));
        req.cache_from
            .push(CacheOption::gha(at(relay), &[("scope", "s")]));
        assert!(imports_through(&req, relay));
        req.no_cache = true;
        assert!(!imports_through(&req, relay));
    }

    #[test]
    fn local_endpoints() {
        assert!(local_endpoint("unix:///run/buildkit/buildkitd.sock"));
        assert!(local_endpoint("tcp://127.0.0.1:1234"));
        assert!(local_endpoint("tcp://[::1]:1234"));
        assert!(local_endpoint("tcp://localhost:1234"));
        assert!(!local_endpoint("tcp://10.0.0.5:1234"));
    }
}
