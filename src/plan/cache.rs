//! `cache-from` / `cache-to` entries in buildx's CSV syntax, checked per type, and the
//! `gha` attributes filled from the runtime (docs/gha-cache-layout.md § Attributes) under a
//! scope that does not collide by accident.

use std::collections::BTreeMap;
use std::fmt;

use crate::action::InputError;
use crate::action::csv::split_attrs;
use crate::action::redact::{SECRET_ATTRS, excerpt};
use crate::action::runtime::{CacheProtocol, Runtime};
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

/// One validated cache entry. Secret attributes live in `secrets`, never in `attrs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheOption {
    pub kind: CacheType,
    pub attrs: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, Secret>,
}

impl CacheOption {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).map(String::as_str)
    }

    /// `type=gha,scope=x,mode=max` without secret values, for logs and summaries.
    pub fn describe(&self) -> String {
        let mut s = format!("type={}", self.kind);
        for (k, v) in &self.attrs {
            s.push_str(&format!(",{k}={v}"));
        }
        for k in self.secrets.keys() {
            s.push_str(&format!(",{k}=***"));
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

/// Fill `url`, `url_v2`, `token`, `version`, `scope` (and `ignore-error=true` on export)
/// into a `gha` entry, or say why it cannot run.
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
    let has_url = entry.attrs.contains_key("url") || entry.attrs.contains_key("url_v2");
    if !has_url {
        match &runtime.protocol {
            Some(CacheProtocol::V2 { url }) => {
                entry.attrs.insert("url_v2".into(), url.clone());
                // BuildKit < 0.20 only reads `url`; give it the same service.
                entry.attrs.insert("url".into(), runtime.cache_url.clone().unwrap_or_else(|| url.clone()));
                entry.attrs.entry("version".into()).or_insert_with(|| "2".into());
            }
            Some(CacheProtocol::V1 { url }) => {
                entry.attrs.insert("url".into(), url.clone());
                entry.attrs.entry("version".into()).or_insert_with(|| "1".into());
            }
            None => return Err(skip("no GitHub Actions cache service in this environment (ACTIONS_RESULTS_URL and ACTIONS_CACHE_URL are unset)".into(), true)),
        }
    }
    if !entry.secrets.contains_key("token") {
        match &runtime.token {
            Some(t) => {
                entry.secrets.insert("token".into(), t.clone());
            }
            None => return Err(skip("ACTIONS_RUNTIME_TOKEN is not set".into(), true)),
        }
    }
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
