//! How the `docker-container` driver's BuildKit container is created: buildx's container
//! settings (`driver-opts`), the BuildKit flags and config file, and the two security
//! profiles. `privileged` is buildx's default; the unprivileged profile grants what
//! BuildKit needs one piece at a time (every capability, unconfined seccomp, AppArmor and
//! system paths, a writable `/sys/fs/cgroup`), so a daemon that refuses `--privileged`
//! because it lacks a capability itself can still run BuildKit with that one dropped.

use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};

use crate::plan::{BuilderOptions, volume_destination};

/// The label on every BuildKit container layercache creates.
pub(in crate::engine) const LABEL: &str = "io.layercache.builder";

/// Where the container reads `buildkitd-config-inline` (BuildKit's default config path).
pub const CONFIG_PATH: &str = "/etc/buildkit/buildkitd.toml";

/// setup-buildx-action's default `buildkitd-flags`.
const DEFAULT_FLAGS: &[&str] = &[
    "--allow-insecure-entitlement=security.insecure",
    "--allow-insecure-entitlement=network.host",
];

/// Which security settings the container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profile {
    Privileged,
    /// Every capability except `drop` (besides the user's `cap-drop`), nothing confined.
    Unprivileged {
        drop: Vec<String>,
    },
}

impl Profile {
    /// The profile `options` ask for.
    pub fn requested(options: &BuilderOptions) -> Self {
        match options.privileged {
            true => Self::Privileged,
            false => Self::Unprivileged { drop: Vec::new() },
        }
    }

    /// What to try when the daemon refused `--privileged`: a daemon without
    /// `CAP_SYS_RESOURCE` cannot hand it to a container, and BuildKit runs without it.
    pub fn fallback() -> Self {
        Self::Unprivileged {
            drop: vec!["SYS_RESOURCE".to_owned()],
        }
    }

    /// For the log: what the container was started with.
    pub fn describe(&self) -> String {
        match self {
            Self::Privileged => "privileged".to_owned(),
            Self::Unprivileged { drop } if drop.is_empty() => {
                "unprivileged (all capabilities, unconfined)".to_owned()
            }
            Self::Unprivileged { drop } => format!(
                "unprivileged (all capabilities but {}, unconfined)",
                drop.join(", ")
            ),
        }
    }
}

/// The container `name` runs `image` as `options` and `profile` say.
pub fn container_body(
    image: &str,
    name: &str,
    options: &BuilderOptions,
    profile: &Profile,
) -> ContainerCreateBody {
    let env: Vec<String> = options
        .env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(buildkitd_args(options)),
        env: (!env.is_empty()).then_some(env),
        labels: Some([(LABEL.to_owned(), "1".to_owned())].into()),
        host_config: Some(host_config(name, options, profile)),
        ..Default::default()
    }
}

/// `buildkitd-flags` (or setup-buildx's default), then the config file when one is given.
pub fn buildkitd_args(options: &BuilderOptions) -> Vec<String> {
    let mut args: Vec<String> = match options.flags.is_empty() {
        true => DEFAULT_FLAGS.iter().map(|f| (*f).to_owned()).collect(),
        false => options.flags.clone(),
    };
    if options.config_toml.is_some() {
        args.extend(["--config".to_owned(), CONFIG_PATH.to_owned()]);
    }
    args
}

fn host_config(name: &str, o: &BuilderOptions, profile: &Profile) -> HostConfig {
    let mut binds = vec![format!("{name}_state:/var/lib/buildkit")];
    let mut host = HostConfig {
        init: Some(true),
        network_mode: o.network.clone(),
        cgroup_parent: o.cgroup_parent.clone(),
        memory: o.memory,
        memory_swap: o.memory_swap,
        cpu_quota: o.cpu_quota,
        cpu_period: o.cpu_period,
        cpu_shares: o.cpu_shares,
        cpuset_cpus: o.cpuset_cpus.clone(),
        cpuset_mems: o.cpuset_mems.clone(),
        restart_policy: o.restart_policy.as_ref().map(restart_policy),
        ..Default::default()
    };
    let mut cap_add = o.cap_add.clone();
    let mut cap_drop = o.cap_drop.clone();
    let mut security = Vec::new();
    match profile {
        Profile::Privileged => host.privileged = Some(true),
        Profile::Unprivileged { drop } => {
            cap_add.insert(0, "ALL".to_owned());
            cap_drop.extend(drop.iter().cloned());
            security.extend(["seccomp=unconfined", "apparmor=unconfined"].map(String::from));
            unconfine_system_paths(&mut host);
            // BuildKit creates a cgroup per RUN step (docker's default mounts it read-only).
            binds.push("/sys/fs/cgroup:/sys/fs/cgroup:rw".to_owned());
        }
    }
    for opt in &o.security_opt {
        // The CLI's `--security-opt systempaths=unconfined` is these two fields in the API.
        match opt.as_str() {
            "systempaths=unconfined" => unconfine_system_paths(&mut host),
            _ if !security.contains(opt) => security.push(opt.clone()),
            _ => {}
        }
    }
    dedup(&mut cap_add);
    dedup(&mut cap_drop);
    host.binds = Some(with_user_volumes(binds, &o.volumes));
    host.cap_add = (!cap_add.is_empty()).then_some(cap_add);
    host.cap_drop = (!cap_drop.is_empty()).then_some(cap_drop);
    host.security_opt = (!security.is_empty()).then_some(security);
    host
}

/// Our binds, then the user's `volume=` entries; where both mount one destination, only
/// the user's stays (Docker refuses a container with two: "Duplicate mount point").
fn with_user_volumes(ours: Vec<String>, user: &[String]) -> Vec<String> {
    let taken: Vec<_> = user.iter().map(|v| volume_destination(v)).collect();
    let mut binds: Vec<String> = ours
        .into_iter()
        .filter(|b| {
            let replaced = taken.contains(&volume_destination(b));
            if replaced {
                tracing::debug!(bind = %b, "driver-opts volume= mounts this destination; the user's bind replaces ours");
            }
            !replaced
        })
        .collect();
    binds.extend(user.iter().cloned());
    binds
}

fn unconfine_system_paths(host: &mut HostConfig) {
    host.masked_paths = Some(Vec::new());
    host.readonly_paths = Some(Vec::new());
}

fn dedup(list: &mut Vec<String>) {
    let mut seen = std::collections::BTreeSet::new();
    list.retain(|c| seen.insert(c.clone()));
}

fn restart_policy((name, retries): &(String, i64)) -> RestartPolicy {
    let name = match name.as_str() {
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => RestartPolicyNameEnum::NO,
    };
    RestartPolicy {
        name: Some(name),
        maximum_retry_count: (*retries > 0).then_some(*retries),
    }
}

/// `buildkitd-config-inline` as a tar with one file, for the container's archive endpoint.
pub fn config_archive(toml: &str) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(toml.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    let path = CONFIG_PATH.trim_start_matches('/');
    builder.append_data(&mut header, path, toml.as_bytes())?;
    builder.into_inner()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn privileged_is_the_default_and_flags_default_to_setup_buildx() {
        let o = BuilderOptions::default();
        let body = container_body("img", "b", &o, &Profile::requested(&o));
        let host = body.host_config.unwrap();
        assert_eq!(host.privileged, Some(true));
        assert_eq!(host.cap_add, None);
        assert_eq!(host.binds.unwrap(), ["b_state:/var/lib/buildkit"]);
        assert_eq!(body.cmd.unwrap(), DEFAULT_FLAGS);
    }

    #[test]
    fn the_unprivileged_profile_grants_what_buildkit_needs_and_honours_cap_drop() {
        let o = BuilderOptions {
            privileged: false,
            cap_drop: vec!["MKNOD".into()],
            security_opt: vec!["systempaths=unconfined".into(), "label=disable".into()],
            network: Some("host".into()),
            config_toml: Some("debug = true\n".into()),
            flags: vec!["--debug".into()],
            ..Default::default()
        };
        let body = container_body("img", "b", &o, &Profile::fallback());
        let host = body.host_config.unwrap();
        assert_eq!(host.privileged, None);
        assert_eq!(host.cap_add.unwrap(), ["ALL"]);
        assert_eq!(host.cap_drop.unwrap(), ["MKNOD", "SYS_RESOURCE"]);
        assert_eq!(
            host.security_opt.unwrap(),
            ["seccomp=unconfined", "apparmor=unconfined", "label=disable"]
        );
        assert_eq!(host.masked_paths, Some(vec![]));
        assert_eq!(host.readonly_paths, Some(vec![]));
        assert!(
            host.binds
                .unwrap()
                .contains(&"/sys/fs/cgroup:/sys/fs/cgroup:rw".to_owned())
        );
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert_eq!(body.cmd.unwrap(), ["--debug", "--config", CONFIG_PATH]);
    }

    #[test]
    fn a_users_volume_replaces_ours_on_the_same_destination() {
        let o = BuilderOptions {
            privileged: false,
            volumes: vec![
                "/srv/certs:/etc/certs:ro".into(),
                "/sys/fs/cgroup:/sys/fs/cgroup/:ro".into(),
                "cache:/var/lib/buildkit".into(),
            ],
            ..Default::default()
        };
        for profile in [Profile::requested(&o), Profile::fallback()] {
            let binds = container_body("img", "b", &o, &profile)
                .host_config
                .unwrap()
                .binds
                .unwrap();
            assert_eq!(binds, o.volumes, "{profile:?}");
        }
        // Without a volume of the user's there, ours stay.
        let o = BuilderOptions {
            privileged: false,
            volumes: vec!["/srv/certs:/etc/certs:ro".into()],
            ..Default::default()
        };
        let binds = container_body("img", "b", &o, &Profile::fallback())
            .host_config
            .unwrap()
            .binds
            .unwrap();
        assert_eq!(
            binds,
            [
                "b_state:/var/lib/buildkit",
                "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                "/srv/certs:/etc/certs:ro"
            ]
        );
    }

    #[test]
    fn the_config_archive_holds_the_toml_at_buildkits_path() {
        let bytes = config_archive("debug = true\n").unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(
            entry.path().unwrap().to_str(),
            Some("etc/buildkit/buildkitd.toml")
        );
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
        assert_eq!(text, "debug = true\n");
    }
}
