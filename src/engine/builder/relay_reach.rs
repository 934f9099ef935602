//! How BuildKit reaches the relay in this process (docs/relay.md § Reaching the relay).
//!
//! A BuildKit container (`docker-container` driver): through loopback when both share the
//! host's network, through this container's address on a network both are on (the BuildKit
//! container is connected to ours when it is not), or through the bridge's gateway when
//! this process runs on the host. The daemon's own BuildKit (`docker` driver) runs in the
//! daemon's network namespace, the host's: loopback from the host, this container's
//! address from a container (the host routes to its bridges).

use std::collections::HashMap;
use std::net::IpAddr;

use bollard::Docker;
use bollard::models::{EndpointSettings, NetworkConnectRequest};

use crate::engine::transport::DockerHost;
use crate::relay::Reach;

/// A container's networks (name → IP, gateway) and whether it uses the host's.
struct Nets {
    host: bool,
    by_name: HashMap<String, (Option<IpAddr>, Option<IpAddr>)>,
}

fn ip(s: &Option<String>) -> Option<IpAddr> {
    s.as_deref().and_then(|s| s.parse().ok())
}

async fn nets(docker: &Docker, container: &str) -> Option<Nets> {
    let c = docker.inspect_container(container, None).await.ok()?;
    let mode = c
        .host_config
        .and_then(|h| h.network_mode)
        .unwrap_or_default();
    let by_name = c
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, e): (String, EndpointSettings)| (name, (ip(&e.ip_address), ip(&e.gateway))))
        .collect();
    Some(Nets {
        host: mode == "host",
        by_name,
    })
}

/// This process's own container on `docker`, when it runs in one: Docker sets the hostname
/// to the container's short id.
async fn own_container(docker: &Docker) -> Option<(String, Nets)> {
    let hostname = std::fs::read_to_string("/etc/hostname").ok()?;
    let id = hostname.trim();
    if id.is_empty() || !std::path::Path::new("/.dockerenv").exists() {
        return None;
    }
    Some((id.to_owned(), nets(docker, id).await?))
}

fn at(ip: IpAddr) -> Reach {
    Reach::Address {
        listen: ip,
        advertise: ip.to_string(),
    }
}

/// Where the BuildKit container `builder` reaches this process.
pub async fn container_reach(docker: &Docker, builder: &str) -> Reach {
    let Some(b) = nets(docker, builder).await else {
        return Reach::Unreachable(format!("failed to inspect the builder container {builder}"));
    };
    let own = own_container(docker).await;
    match own {
        // On the host: the host's loopback, or the gateway of the builder's bridge.
        None if b.host => Reach::Loopback,
        None => match b.by_name.values().find_map(|(_, gw)| *gw) {
            Some(gw) => at(gw),
            None => Reach::Unreachable(format!(
                "builder container {builder} has no network gateway"
            )),
        },
        Some((_, me)) if me.host && b.host => Reach::Loopback,
        Some((id, me)) => {
            let mine = |name: &String| me.by_name.get(name).and_then(|(ip, _)| *ip);
            // The host's network reaches every bridge address; else a network we share.
            if b.host {
                return match me.by_name.values().find_map(|(ip, _)| *ip) {
                    Some(ip) => at(ip),
                    None => Reach::Unreachable("this container has no address".to_owned()),
                };
            }
            if let Some(ip) = b.by_name.keys().find_map(mine) {
                return at(ip);
            }
            let Some((net, ip)) = me
                .by_name
                .iter()
                .find_map(|(n, (ip, _))| Some((n.clone(), (*ip)?)))
            else {
                return Reach::Unreachable("this container has no address".to_owned());
            };
            let connect = NetworkConnectRequest {
                container: builder.to_owned(),
                endpoint_config: None,
            };
            match docker.connect_network(&net, connect).await {
                Ok(()) => at(ip),
                Err(e) => Reach::Unreachable(format!(
                    "failed to connect builder container {builder} to this container's network {net} (container {id}): {e}"
                )),
            }
        }
    }
}

/// Where the daemon's own BuildKit should reach this process; `own_network`: it runs in a
/// network namespace of its own (a rootless daemon's). Only a guess: `cache_relay` has
/// BuildKit fetch a probe from the relay at this address before any entry uses it.
pub async fn daemon_reach(docker: &Docker, host: &DockerHost, own_network: bool) -> Reach {
    if own_network {
        return Reach::Unreachable(
            "a rootless daemon's BuildKit has a network of its own".to_owned(),
        );
    }
    match own_container(docker).await {
        None if host.is_local() => Reach::Loopback,
        None => Reach::Unreachable("the Docker daemon runs on another host".to_owned()),
        Some((_, me)) if me.host => Reach::Loopback,
        Some((_, me)) => match me.by_name.values().find_map(|(ip, _)| *ip) {
            Some(ip) => at(ip),
            None => Reach::Unreachable("this container has no address".to_owned()),
        },
    }
}
