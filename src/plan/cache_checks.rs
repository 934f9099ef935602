//! The checks of a cache entry's attributes: keys BuildKit reads for the type and side,
//! required ones present and not empty, and values BuildKit would refuse at build time.

use std::collections::BTreeMap;

use super::{CacheType, Direction};
use crate::action::redact::excerpt;
use crate::plan::image::parse_image_ref;
use crate::secret::Secret;

/// Every key is one BuildKit reads for this type and side; the required ones are there
/// and not empty.
pub(super) fn check_keys(
    kind: CacheType,
    direction: Direction,
    map: &BTreeMap<String, String>,
    secrets: &BTreeMap<String, Secret>,
) -> Result<(), String> {
    let known = kind.known_keys(direction);
    for key in map.keys().chain(secrets.keys()) {
        if !known.contains(&key.as_str()) {
            let valid = if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            };
            return Err(format!(
                "unknown key {} for type={kind} (valid: {valid})",
                excerpt(key)
            ));
        }
    }
    for key in kind.required(direction) {
        let empty = map
            .get(*key)
            .map(|v| v.trim().is_empty())
            .or_else(|| secrets.get(*key).map(Secret::is_empty));
        match empty {
            None => return Err(format!("type={kind} needs {key}=")),
            Some(true) => return Err(format!("type={kind} needs a value for {key}=")),
            Some(false) => {}
        }
    }
    Ok(())
}

/// Values BuildKit would refuse at build time, refused now.
pub(super) fn check_values(kind: CacheType, map: &BTreeMap<String, String>) -> Result<(), String> {
    if let Some(mode) = map.get("mode")
        && !matches!(mode.as_str(), "min" | "max")
    {
        return Err(format!("invalid mode {} (valid: min, max)", excerpt(mode)));
    }
    if let Some(v) = map.get("ignore-error")
        && !matches!(v.to_ascii_lowercase().as_str(), "true" | "false")
    {
        return Err(format!(
            "invalid ignore-error {} (valid: true, false)",
            excerpt(v)
        ));
    }
    if kind == CacheType::Gha
        && let Some(v) = map.get("version")
        && !matches!(v.as_str(), "1" | "2")
    {
        return Err(format!(
            "invalid version {} for type=gha (valid: 1, 2)",
            excerpt(v)
        ));
    }
    if let Some(v) = map.get("relay")
        && !matches!(v.as_str(), "true" | "false")
    {
        return Err(format!("invalid relay {} (valid: true, false)", excerpt(v)));
    }
    if kind == CacheType::Registry
        && let Some(r) = map.get("ref")
    {
        check_registry_ref(r)?;
    }
    Ok(())
}

/// A registry cache `ref` by the distribution reference grammar, like a tag.
pub(super) fn check_registry_ref(reference: &str) -> Result<(), String> {
    parse_image_ref(reference)
        .map(|_| ())
        .map_err(|e| format!("ref {e}"))
}
