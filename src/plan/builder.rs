//! The BuildKit container's configuration, in setup-buildx-action's words: `driver-opts`
//! (buildx's `docker-container` keys plus the security controls restricted daemons need),
//! `buildkitd-config-inline` (checked as TOML here, so a typo fails before anything starts)
//! and `buildkitd-flags`. Only the `docker-container` driver (and `auto`, which may start
//! one) has a container to configure; the other drivers reject these inputs by name.

use std::collections::BTreeMap;

use crate::action::InputError;
use crate::action::names as n;

/// How the builder container is created. `Default` is buildx's: privileged, bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderOptions {
    /// `driver-opts: image=`; wins over `builder-image` (see [`DRIVER_OPT_KEYS`]).
    pub image: Option<String>,
    pub network: Option<String>,
    pub env: BTreeMap<String, String>,
    pub cgroup_parent: Option<String>,
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// `no`, `always`, `unless-stopped` or `on-failure` with its retry count.
    pub restart_policy: Option<(String, i64)>,
    /// `false` asks for the unprivileged profile (every capability, unconfined seccomp,
    /// AppArmor and system paths, `/sys/fs/cgroup` writable) instead of `--privileged`.
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// Docker `--security-opt` values (`seccomp=unconfined`, `systempaths=unconfined`).
    pub security_opt: Vec<String>,
    /// `SRC:DST[:ro|rw]` bind mounts or named volumes, one per destination. A destination
    /// layercache mounts itself (`/sys/fs/cgroup`, `/var/lib/buildkit`) is the user's then.
    pub volumes: Vec<String>,
    /// `buildkitd-config-inline`, already checked to be TOML.
    pub config_toml: Option<String>,
    /// `buildkitd-flags`, split as a shell would.
    pub flags: Vec<String>,
    /// `default-load=true`: a build that asks for no output is loaded into the daemon
    /// (buildx's driver feature `DefaultLoad`).
    pub default_load: bool,
}

impl Default for BuilderOptions {
    fn default() -> Self {
        Self {
            image: None,
            network: None,
            env: BTreeMap::new(),
            cgroup_parent: None,
            memory: None,
            memory_swap: None,
            cpu_quota: None,
            cpu_period: None,
            cpu_shares: None,
            cpuset_cpus: None,
            cpuset_mems: None,
            restart_policy: None,
            privileged: true,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            security_opt: Vec::new(),
            volumes: Vec::new(),
            config_toml: None,
            flags: Vec::new(),
            default_load: false,
        }
    }
}

impl BuilderOptions {
    /// Whether any builder input was given (drivers without a container reject them).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// The `driver-opts` keys the `docker-container` driver takes (`env.NAME` besides).
pub const DRIVER_OPT_KEYS: &[&str] = &[
    "image",
    "network",
    "env.<NAME>",
    "cgroup-parent",
    "memory",
    "memory-swap",
    "cpu-quota",
    "cpu-period",
    "cpu-shares",
    "cpuset-cpus",
    "cpuset-mems",
    "restart-policy",
    "privileged",
    "cap-add",
    "cap-drop",
    "security-opt",
    "volume",
    "default-load",
];

/// `driver-opts`, `buildkitd-config-inline` and `buildkitd-flags` → [`BuilderOptions`].
pub fn builder_options(
    driver_opts: &[String],
    config_inline: &str,
    flags: Option<&str>,
) -> Result<BuilderOptions, InputError> {
    let mut o = BuilderOptions::default();
    for raw in driver_opts {
        let (key, value) = raw.split_once('=').ok_or_else(|| {
            InputError::new(
                n::DRIVER_OPTS,
                format!(
                    "{raw:?} is not key=value (keys: {})",
                    DRIVER_OPT_KEYS.join(", ")
                ),
            )
        })?;
        driver_opt(&mut o, key.trim(), value.trim())
            .map_err(|m| InputError::new(n::DRIVER_OPTS, m))?;
    }
    if !config_inline.trim().is_empty() {
        check_toml(config_inline)?;
        o.config_toml = Some(config_inline.to_owned());
    }
    if let Some(f) = flags {
        o.flags = shlex::split(f).ok_or_else(|| {
            InputError::new(
                n::BUILDKITD_FLAGS,
                "unbalanced quotes (flags are split as a shell would)",
            )
        })?;
    }
    Ok(o)
}

fn driver_opt(o: &mut BuilderOptions, key: &str, value: &str) -> Result<(), String> {
    let text = || (!value.is_empty()).then(|| value.to_owned());
    match key {
        "image" => o.image = Some(nonempty(key, value)?),
        "network" => o.network = Some(nonempty(key, value)?),
        "cgroup-parent" => o.cgroup_parent = Some(nonempty(key, value)?),
        "memory" => o.memory = Some(bytes(key, value)?),
        "memory-swap" if value == "-1" => o.memory_swap = Some(-1),
        "memory-swap" => o.memory_swap = Some(bytes(key, value)?),
        "cpu-quota" => o.cpu_quota = Some(int(key, value)?),
        "cpu-period" => o.cpu_period = Some(int(key, value)?),
        "cpu-shares" => o.cpu_shares = Some(int(key, value)?),
        "cpuset-cpus" => o.cpuset_cpus = text(),
        "cpuset-mems" => o.cpuset_mems = text(),
        "restart-policy" => o.restart_policy = Some(restart_policy(value)?),
        "privileged" => o.privileged = bool_opt(key, value)?,
        "default-load" => o.default_load = bool_opt(key, value)?,
        "cap-add" => o.cap_add.push(capability(key, value)?),
        "cap-drop" => o.cap_drop.push(capability(key, value)?),
        "security-opt" => o.security_opt.push(nonempty(key, value)?),
        "volume" => {
            let v = volume(value)?;
            let dst = volume_destination(&v);
            if let Some(first) = o.volumes.iter().find(|w| volume_destination(w) == dst) {
                return Err(format!(
                    "volume={v:?} mounts the destination of volume={first:?} again (one volume per destination)"
                ));
            }
            o.volumes.push(v);
        }
        _ => match key.strip_prefix("env.") {
            Some(name) if !name.is_empty() => {
                o.env.insert(name.to_owned(), value.to_owned());
            }
            _ => {
                return Err(format!(
                    "unknown key {key:?} for driver docker-container (valid: {})",
                    DRIVER_OPT_KEYS.join(", ")
                ));
            }
        },
    }
    Ok(())
}

fn nonempty(key: &str, value: &str) -> Result<String, String> {
    match value {
        "" => Err(format!("{key} needs a value")),
        v => Ok(v.to_owned()),
    }
}

fn int(key: &str, value: &str) -> Result<i64, String> {
    value
        .parse()
        .map_err(|_| format!("{key}={value:?} is not a whole number"))
}

fn bool_opt(key: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{key}={value:?} (valid: true, false)")),
    }
}

/// A size as Docker reads `--memory`: a number with an optional `b k m g t` unit (and an
/// optional trailing `b`, as in `512mb`).
fn bytes(key: &str, value: &str) -> Result<i64, String> {
    let bad = || format!("{key}={value:?} is not a size (e.g. 512m, 2g)");
    let lower = value.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let factor: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0_f64.powi(4),
        _ => return Err(bad()),
    };
    let total = number * factor;
    if !(1.0..9.0e18).contains(&total) {
        return Err(bad());
    }
    Ok(total as i64)
}

fn restart_policy(value: &str) -> Result<(String, i64), String> {
    let (name, retries) = value.split_once(':').unwrap_or((value, ""));
    match (name, retries) {
        ("no" | "always" | "unless-stopped", "") => Ok((name.to_owned(), 0)),
        ("on-failure", "") => Ok((name.to_owned(), 0)),
        ("on-failure", n) => n
            .parse()
            .map(|n| (name.to_owned(), n))
            .map_err(|_| format!("restart-policy={value:?}: retry count is not a number")),
        _ => Err(format!(
            "restart-policy={value:?} (valid: no, always, unless-stopped, on-failure[:N])"
        )),
    }
}

/// `SYS_ADMIN`, `CAP_SYS_ADMIN` or `ALL`.
fn capability(key: &str, value: &str) -> Result<String, String> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    match ok {
        true => Ok(value.to_owned()),
        false => Err(format!(
            "{key}={value:?} is not a capability name (e.g. SYS_ADMIN, ALL)"
        )),
    }
}

fn volume(value: &str) -> Result<String, String> {
    let parts: Vec<&str> = value.split(':').collect();
    let ok = match parts.as_slice() {
        [src, dst] => !src.is_empty() && dst.starts_with('/'),
        [src, dst, mode] => !src.is_empty() && dst.starts_with('/') && matches!(*mode, "ro" | "rw"),
        _ => false,
    };
    match ok {
        true => Ok(value.to_owned()),
        false => Err(format!(
            "volume={value:?} (expected SRC:DST[:ro|rw] with an absolute DST)"
        )),
    }
}

/// The container path a checked `SRC:DST[:MODE]` volume mounts, as Docker compares them
/// (`/a/`, `/a//` and `/a` are one destination: Docker cleans the path first).
pub fn volume_destination(volume: &str) -> Option<std::path::PathBuf> {
    let dst = volume.split(':').nth(1)?;
    Some(std::path::Path::new(dst).components().collect())
}

/// Parse the TOML only to check it; BuildKit reads the text itself.
fn check_toml(text: &str) -> Result<(), InputError> {
    let Err(e) = text.parse::<toml::Table>() else {
        return Ok(());
    };
    let line = e
        .span()
        .and_then(|s| text.get(..s.start))
        .map(|before| before.matches('\n').count() + 1);
    let what = e.message().trim().replace('\n', " ");
    let at = line.map(|l| format!(" at line {l}")).unwrap_or_default();
    Err(InputError::new(
        n::BUILDKITD_CONFIG_INLINE,
        format!("invalid TOML{at}: {what}"),
    ))
}

#[cfg(test)]
#[path = "builder_tests.rs"]
mod tests;
