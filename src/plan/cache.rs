//! `cache-from` / `cache-to` entries in buildx's CSV syntax, checked per type, and the
//! `gha` attributes filled from the runtime (docs/gha-cache-layout.md § Attributes) under a
//! scope that does not collide by accident.

use std::collections::BTreeMap;
use std::fmt;

use crate::action::InputError;
use crate::action::csv::split_attrs;
use crate::action::redact::{SECRET_ATTRS, excerpt};
use crate::action::runtime::Runtime;
use crate::cache_protocol::{Endpoint, Service};
use crate::secret::Secret;

/// A cache backend BuildKit knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CacheType {
    Gha,
    Registry,
    Inline,
    Local,
    S3,
    Azblob,
}

impl CacheType {
    pub const ALL: &[CacheType] = &[
        Self::Gha,
        Self::Registry,
        Self::Inline,
        Self::Local,
        Self::S3,
        Self::Azblob,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gha => "gha",
            Self::Registry => "registry",
            Self::Inline => "inline",
            Self::Local => "local",
            Self::S3 => "s3",
            Self::Azblob => "azblob",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }

    /// Attributes BuildKit reads for this type on the given side.
    pub(super) fn known_keys(self, direction: Direction) -> &'static [&'static str] {
        use Direction::{From, To};
        match (self, direction) {
            // `relay` is ours (docs/relay.md): removed before BuildKit sees the entry.
            (Self::Gha, From) => &[
                "url", "url_v2", "token", "scope", "timeout", "version", "relay",
            ],
            (Self::Gha, To) => &[
                "url",
                "url_v2",
                "token",
                "scope",
                "timeout",
                "version",
                "mode",
                "ignore-error",
                "repository",
                "ghtoken",
                "relay",
            ],
            (Self::Registry, From) => &["ref"],
            (Self::Registry, To) => &[
                "ref",
                "mode",
                "ignore-error",
                "oci-mediatypes",
                "image-manifest",
                "compression",
                "compression-level",
                "force-compression",
            ],
            (Self::Inline, _) => &[],
            (Self::Local, From) => &["src", "digest", "tag"],
            (Self::Local, To) => &[
                "dest",
                "tag",
                "mode",
                "ignore-error",
                "oci-mediatypes",
                "image-manifest",
                "compression",
                "compression-level",
                "force-compression",
            ],
            (Self::S3, _) => &[
                "region",
                "bucket",
                "name",
                "prefix",
                "blobs_prefix",
                "manifests_prefix",
                "endpoint_url",
                "use_path_style",
                "access_key_id",
                "secret_access_key",
                "session_token",
                "mode",
                "ignore-error",
                "touch_refresh",
                "upload_parallelism",
            ],
            (Self::Azblob, _) => &[
                "account_url",
                "name",
                "prefix",
                "blobs_prefix",
                "manifests_prefix",
                "secret_access_key",
                "mode",
                "ignore-error",
            ],
        }
    }

    pub(super) fn required(self, direction: Direction) -> &'static [&'static str] {
        match (self, direction) {
            (Self::Registry, _) => &["ref"],
            (Self::Local, Direction::From) => &["src"],
            (Self::Local, Direction::To) => &["dest"],
            (Self::S3, _) => &["bucket"],
            (Self::Azblob, _) => &["account_url"],
            _ => &[],
        }
    }
}

impl fmt::Display for CacheType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Import (`cache-from`) or export (`cache-to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    From,
    To,
}

impl Direction {
    pub fn input(self) -> &'static str {
        match self {
            Self::From => crate::action::names::CACHE_FROM,
            Self::To => crate::action::names::CACHE_TO,
        }
    }
}

/// BuildKit's attributes that name a `gha` entry's service: [`fill_gha`] reads them into
/// [`CacheOption::service`], and only the solve request writes them again.
pub const GHA_SERVICE_ATTRS: [&str; 3] = ["url", "url_v2", "version"];

/// One validated cache entry. Secret attributes live in `secrets`, never in `attrs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheOption {
    pub kind: CacheType,
    pub attrs: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, Secret>,
    /// A `gha` entry's cache service and token, once [`fill_gha`] has decided them.
    pub service: Option<Service>,
}

impl CacheOption {
    /// A `gha` entry for `service` with `attrs` (scope, mode, ...).
    pub fn gha(service: Service, attrs: &[(&str, &str)]) -> Self {
        Self {
            kind: CacheType::Gha,
            attrs: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            secrets: BTreeMap::new(),
            service: Some(service),
        }
    }

    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).map(String::as_str)
    }

    /// BuildKit's attributes that name the entry's service, but for its `token`: `url`,
    /// `url_v2` for v2 (BuildKit reads `url_v2` for v2 and `url` for v1; both name the one
    /// service), and `version`. Empty without a service.
    pub fn service_attrs(&self) -> Vec<(&'static str, String)> {
        let Some(service) = &self.service else {
            return Vec::new();
        };
        let url = service.endpoint.url().to_owned();
        let mut attrs = vec![("url", url.clone())];
        if let Endpoint::V2(_) = service.endpoint {
            attrs.push(("url_v2", url));
        }
        attrs.push(("version", service.endpoint.version().to_string()));
        attrs
    }

    /// `type=gha,scope=x,mode=max` without secret values, for logs and summaries: the
    /// attributes BuildKit will be given, the service's among them.
    pub fn describe(&self) -> String {
        let service = self.service_attrs();
        let mut attrs: BTreeMap<&str, &str> = self
            .attrs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(self.secrets.keys().map(|k| (k.as_str(), "***")))
            .chain(service.iter().map(|(k, v)| (*k, v.as_str())))
            .collect();
        if self.service.is_some() {
            attrs.insert("token", "***");
        }
        let mut s = format!("type={}", self.kind);
        for (k, v) in attrs {
            s.push_str(&format!(",{k}={v}"));
        }
        s
    }
}

/// Parse one entry of `cache-from` or `cache-to`. Errors quote at most a redacted
/// excerpt of the entry ([`excerpt`]): it may hold a token.
pub fn parse_cache_entry(entry: &str, direction: Direction) -> Result<CacheOption, InputError> {
    let input = direction.input();
    let quoted = excerpt(entry);
    let err = |m: String| InputError::new(input, format!("{quoted}: {m}"));
    let attrs = split_attrs(entry).map_err(|e| {
        err(format!(
            "{e} (close it; a value with commas is written \"key=a,b\")"
        ))
    })?;
    // buildx: an entry without '=' is a registry reference.
    if let [single] = attrs.as_slice()
        && single.value.is_none()
    {
        checks::check_registry_ref(&single.key).map_err(err)?;
        let mut attrs = BTreeMap::new();
        attrs.insert("ref".to_owned(), single.key.clone());
        return Ok(CacheOption {
            kind: CacheType::Registry,
            attrs,
            secrets: BTreeMap::new(),
            service: None,
        });
    }
    let mut kind = None;
    let mut map = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    for attr in &attrs {
        let Some(value) = &attr.value else {
            return Err(err(
                "a field is not key=value (e.g. type=gha,mode=max, or a registry reference alone)"
                    .into(),
            ));
        };
        if attr.key == "type" {
            let valid = CacheType::ALL
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            kind = Some(CacheType::parse(value).ok_or_else(|| {
                err(format!(
                    "unknown cache type {} (valid: {valid})",
                    excerpt(value)
                ))
            })?);
        } else if SECRET_ATTRS.contains(&attr.key.as_str()) {
            secrets.insert(attr.key.clone(), Secret::new(value.clone()));
        } else {
            map.insert(attr.key.clone(), value.clone());
        }
    }
    let kind = kind
        .ok_or_else(|| err("missing type= (e.g. type=gha or type=registry,ref=...)".to_owned()))?;
    if direction == Direction::From {
        drop_export_only(kind, &mut map, &mut secrets);
    }
    checks::check_keys(kind, direction, &map, &secrets).map_err(err)?;
    checks::check_values(kind, &map).map_err(err)?;
    Ok(CacheOption {
        kind,
        attrs: map,
        secrets,
        service: None,
    })
}

/// buildx hands every attribute to BuildKit, whose importers ignore the exporters' ones
/// (`cache-from: type=gha,mode=max` is common in real workflows): leave those out, saying so.
fn drop_export_only(
    kind: CacheType,
    map: &mut BTreeMap<String, String>,
    secrets: &mut BTreeMap<String, Secret>,
) {
    let (from, to) = (
        kind.known_keys(Direction::From),
        kind.known_keys(Direction::To),
    );
    let unused = |k: &String| !from.contains(&k.as_str()) && to.contains(&k.as_str());
    let keys: Vec<String> = map
        .keys()
        .chain(secrets.keys())
        .filter(|k| unused(k))
        .cloned()
        .collect();
    for key in keys {
        map.remove(&key);
        secrets.remove(&key);
        tracing::debug!(
            "cache-from type={kind}: {key}= is an export attribute; the import ignores it, as BuildKit does"
        );
    }
}

/// Why a `gha` entry was left out of the build (shown as a warning or notice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEntry {
    pub input: &'static str,
    pub entry: String,
    pub reason: String,
    /// A warning (something was lost) rather than a notice (policy said so).
    pub warn: bool,
}

/// Decide a `gha` entry's service (the user's `url`/`url_v2`/`version`/`token`, else the
/// runtime's) and fill `scope` (and `ignore-error=true` on export), or say why it cannot
/// run.
pub fn fill_gha(
    entry: &mut CacheOption,
    direction: Direction,
    runtime: &Runtime,
    scope: &str,
) -> Result<(), SkippedEntry> {
    let described = entry.describe();
    let skip = |reason: String, warn| SkippedEntry {
        input: direction.input(),
        entry: described.clone(),
        reason,
        warn,
    };
    match direction {
        Direction::From if !runtime.mode.may_import() => {
            return Err(skip(
                format!(
                    "ACTIONS_CACHE_MODE={} does not allow cache import",
                    runtime.mode
                ),
                false,
            ));
        }
        Direction::To if !runtime.mode.may_export() => {
            return Err(skip(
                format!(
                    "ACTIONS_CACHE_MODE={} does not allow cache export",
                    runtime.mode
                ),
                false,
            ));
        }
        Direction::To if !runtime.scopes.is_empty() && runtime.writable_scope().is_none() => {
            return Err(skip(
                "the runtime token has no writable ref, so nothing can be saved".to_owned(),
                false,
            ));
        }
        _ => {}
    }
    let endpoint = match users_endpoint(&entry.attrs).map_err(|why| skip(why, true))? {
        Some(endpoint) => endpoint,
        None => match &runtime.protocol {
            Some(endpoint) => endpoint.clone(),
            None => return Err(skip("no GitHub Actions cache service in this environment (ACTIONS_RESULTS_URL and ACTIONS_CACHE_URL are unset)".into(), true)),
        },
    };
    let token = match entry
        .secrets
        .remove("token")
        .or_else(|| runtime.token.clone())
    {
        Some(t) => t,
        None => return Err(skip("ACTIONS_RUNTIME_TOKEN is not set".into(), true)),
    };
    for k in GHA_SERVICE_ATTRS {
        entry.attrs.remove(k);
    }
    entry.service = Some(Service { endpoint, token });
    entry
        .attrs
        .entry("scope".into())
        .or_insert_with(|| scope.to_owned());
    if direction == Direction::To {
        entry
            .attrs
            .entry("ignore-error".into())
            .or_insert_with(|| "true".into());
    }
    Ok(())
}

/// The service a `gha` entry names itself, the one rule for reading BuildKit's attributes:
/// `version=1` speaks v1 at `url`, `version=2` v2 at `url_v2`; without `version`, `url_v2`
/// means v2 and `url` alone v1. `Ok(None)`: the entry names none (the runtime's is used).
fn users_endpoint(attrs: &BTreeMap<String, String>) -> Result<Option<Endpoint>, String> {
    let (url, url_v2) = (attrs.get("url"), attrs.get("url_v2"));
    match (attrs.get("version").map(String::as_str), url, url_v2) {
        (_, None, None) => Ok(None),
        (Some("1"), Some(u), _) | (None, Some(u), None) => Ok(Some(Endpoint::V1(u.clone()))),
        (Some("2") | None, _, Some(u)) => Ok(Some(Endpoint::V2(u.clone()))),
        (Some("1"), None, Some(_)) => {
            Err("version=1 speaks to url=, which the entry does not set (set url=, or version=2 for url_v2=)".to_owned())
        }
        _ => Err("version=2 speaks to url_v2=, which the entry does not set (set url_v2=, or version=1 for url=)".to_owned()),
    }
}

/// Let BuildKit list existing blobs in one REST call instead of one lookup per layer
/// (docs/gha-cache-layout.md § Export flow): `repository` and `ghtoken` on a `gha` export.
/// BuildKit sends that call to api.github.com only, so this is for github.com, and an
/// explicit attribute wins.
pub fn add_cache_api(entry: &mut CacheOption, repository: &str, token: &Secret) {
    if entry.kind != CacheType::Gha {
        return;
    }
    entry
        .attrs
        .entry("repository".into())
        .or_insert_with(|| repository.to_owned());
    entry
        .secrets
        .entry("ghtoken".into())
        .or_insert_with(|| token.clone());
}

#[path = "cache_checks.rs"]
mod checks;

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
