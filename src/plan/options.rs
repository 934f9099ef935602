//! Parsers for the smaller build options, each returning a [`InputError`] naming its input.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::build_plan::{Annotation, NetworkMode, Ulimit};
use crate::action::InputError;
use crate::action::env::Env;
use crate::action::names as n;
use crate::action::redact::excerpt;

pub(super) fn key_value<'a>(
    input: &str,
    entry: &'a str,
    what: &str,
) -> Result<(&'a str, &'a str), InputError> {
    match entry.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim(), v)),
        _ => Err(InputError::new(
            input,
            format!("{} is not {what}", excerpt(entry)),
        )),
    }
}

/// `build-args`: `KEY=value`, or a bare `KEY` taking its value from the environment (as
/// `docker build --build-arg KEY` does; skipped when unset).
pub fn build_args(entries: &[String], env: &Env) -> Result<BTreeMap<String, String>, InputError> {
    let mut out = BTreeMap::new();
    for e in entries {
        match e.split_once('=') {
            Some((k, _)) if k.trim().is_empty() => {
                return Err(InputError::new(
                    n::BUILD_ARGS,
                    format!("{} has an empty name (expected KEY=value)", excerpt(e)),
                ));
            }
            Some((k, v)) => {
                out.insert(k.trim().to_owned(), v.to_owned());
            }
            None => {
                if let Some(v) = env.get(e) {
                    out.insert(e.clone(), v.to_owned());
                }
            }
        }
    }
    Ok(out)
}

/// `labels`: `key=value`; a bare key is an empty label.
pub fn labels(entries: &[String]) -> Result<BTreeMap<String, String>, InputError> {
    let mut out = BTreeMap::new();
    for e in entries {
        let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
        if k.trim().is_empty() {
            return Err(InputError::new(
                n::LABELS,
                format!("{} has an empty key (expected key=value)", excerpt(e)),
            ));
        }
        out.insert(k.trim().to_owned(), v.to_owned());
    }
    Ok(out)
}

/// `annotations`: `[level:]key=value` as buildx takes them.
pub fn annotations(entries: &[String]) -> Result<Vec<Annotation>, InputError> {
    entries
        .iter()
        .map(|e| {
            let (key, value) = key_value(
                n::ANNOTATIONS,
                e,
                "key=value (optionally prefixed with manifest:, index:, ...)",
            )?;
            let (level, key) = match key.split_once(':') {
                Some((level, key)) => (Some(level.to_owned()), key),
                None => (None, key),
            };
            Ok(Annotation {
                level,
                key: key.to_owned(),
                value: value.to_owned(),
            })
        })
        .collect()
}

fn bad_host(entry: &str) -> InputError {
    InputError::new(
        n::ADD_HOSTS,
        format!(
            "{} is not host:ip or host=ip (e.g. docker:10.180.0.1; the ip may be host-gateway)",
            excerpt(entry)
        ),
    )
}

/// `add-hosts`: `host:ip` or `host=ip`; `ip` may be `host-gateway`.
pub fn add_hosts(entries: &[String]) -> Result<Vec<(String, String)>, InputError> {
    entries
        .iter()
        .map(|e| {
            let (host, ip) = e
                .split_once('=')
                .or_else(|| e.split_once(':'))
                .ok_or_else(|| bad_host(e))?;
            if host.is_empty() || (ip != "host-gateway" && ip.parse::<IpAddr>().is_err()) {
                return Err(bad_host(e));
            }
            Ok((host.to_owned(), ip.to_owned()))
        })
        .collect()
}

pub fn network(value: Option<&str>) -> Result<NetworkMode, InputError> {
    match value {
        None | Some("default") => Ok(NetworkMode::Default),
        Some("none") => Ok(NetworkMode::None),
        Some("host") => Ok(NetworkMode::Host),
        Some(other) => Err(InputError::new(
            n::NETWORK,
            format!(
                "unknown network {} (valid: default, none, host)",
                excerpt(other)
            ),
        )),
    }
}

/// `shm-size`: bytes with an optional `b/k/m/g` suffix (Docker's `RAMInBytes`).
pub fn shm_size(value: Option<&str>) -> Result<Option<u64>, InputError> {
    size(n::SHM_SIZE, value)
}

/// A size such as `64m`, `2g`, `1.5GiB`, `10 G` or a number of bytes, in binary units as
/// Docker's `RAMInBytes` reads them (`k` is 1024), any case: the one size grammar of inputs
/// and of `serve`'s options.
pub fn parse_bytes(v: &str) -> Option<u64> {
    let lower = v.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let mult: u64 = match unit.trim().trim_end_matches('b').trim_end_matches('i') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    let x = num
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)?;
    Some((x * mult as f64) as u64)
}

/// A size for input `name` ([`parse_bytes`]); zero is not one.
pub fn size(name: &'static str, value: Option<&str>) -> Result<Option<u64>, InputError> {
    let Some(v) = value else { return Ok(None) };
    match parse_bytes(v) {
        Some(n) if n > 0 => Ok(Some(n)),
        _ => Err(InputError::new(
            name,
            format!(
                "invalid size {} (e.g. 64m, 2g, or a number of bytes)",
                excerpt(v)
            ),
        )),
    }
}

const ULIMIT_NAMES: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// `ulimit`: `name=soft[:hard]`.
pub fn ulimits(entries: &[String]) -> Result<Vec<Ulimit>, InputError> {
    entries
        .iter()
        .map(|e| {
            let (name, limits) = key_value(n::ULIMIT, e, "name=soft[:hard]")?;
            if !ULIMIT_NAMES.contains(&name) {
                return Err(InputError::new(
                    n::ULIMIT,
                    format!(
                        "unknown ulimit {} (valid: {})",
                        excerpt(name),
                        ULIMIT_NAMES.join(", ")
                    ),
                ));
            }
            let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
            let num = |s: &str| {
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| {
                    InputError::new(
                        n::ULIMIT,
                        format!(
                            "{}: {} is not a number (name=soft[:hard] with whole numbers, -1 for unlimited)",
                            excerpt(e),
                            excerpt(s.trim())
                        ),
                    )
                })
            };
            let (soft, hard) = (num(soft)?, num(hard)?);
            if soft > hard && hard != -1 {
                return Err(InputError::new(
                    n::ULIMIT,
                    format!(
                        "{}: the soft limit is above the hard limit (soft <= hard, or hard -1)",
                        excerpt(e)
                    ),
                ));
            }
            Ok(Ulimit {
                name: name.to_owned(),
                soft,
                hard,
            })
        })
        .collect()
}

/// `build-contexts`: `name=path|url|docker-image://ref|target:stage`.
pub fn build_contexts(entries: &[String]) -> Result<BTreeMap<String, String>, InputError> {
    let mut out = BTreeMap::new();
    for e in entries {
        let (name, value) = key_value(
            n::BUILD_CONTEXTS,
            e,
            "name=path (or docker-image://, target:, a URL)",
        )?;
        if value.trim().is_empty() {
            return Err(InputError::new(
                n::BUILD_CONTEXTS,
                format!(
                    "{} has no source (expected name=path, docker-image://, target: or a URL)",
                    excerpt(e)
                ),
            ));
        }
        out.insert(name.to_owned(), value.trim().to_owned());
    }
    Ok(out)
}

const ENTITLEMENTS: &[&str] = &["network.host", "security.insecure", "device"];

pub fn allow(entries: &[String]) -> Result<Vec<String>, InputError> {
    for e in entries {
        let base = e.split('=').next().unwrap_or(e);
        if !ENTITLEMENTS.contains(&base) {
            return Err(InputError::new(
                n::ALLOW,
                format!(
                    "unknown entitlement {} (valid: {})",
                    excerpt(e),
                    ENTITLEMENTS.join(", ")
                ),
            ));
        }
    }
    Ok(entries.to_vec())
}

const CALLS: &[&str] = &["build", "check", "outline", "targets"];

pub fn call(value: Option<String>) -> Result<Option<String>, InputError> {
    match value {
        Some(v) if !CALLS.contains(&v.as_str()) => Err(InputError::new(
            n::CALL,
            format!("unknown call {} (valid: {})", excerpt(&v), CALLS.join(", ")),
        )),
        v => Ok(v.filter(|v| v != "build")),
    }
}
