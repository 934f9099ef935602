//! The cache scope of a build: given by the user, or derived from what makes builds
//! different, so two images, two platforms or two matrix legs with different `build-args`
//! never overwrite each other's `gha` index (anchors.md §4 item 3). Tags other than the
//! first one's image name are left out on purpose: a per-PR tag must keep sharing the
//! branch's cache.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// What a scope is derived from when the user gives none.
#[derive(Debug, Clone, Default)]
pub struct ScopeSeed {
    /// Full image name (`registry/repository`) of the first tag, if any.
    pub image: Option<String>,
    /// Short image name (last path component), or the context directory's name.
    pub short: String,
    pub dockerfile: String,
    pub target: Option<String>,
    pub platforms: Vec<String>,
    /// The `build-args`, by name (so their order in the input does not matter). Those whose
    /// name says they carry a credential are left out (see [`is_secret_like`]).
    pub build_args: BTreeMap<String, String>,
}

/// A readable scope that differs whenever image, Dockerfile, target, platforms or the
/// non-secret build args differ: `<short>[-<target>][-<platforms>]-<8 hex of all of them>`.
pub fn derive_scope(seed: &ScopeSeed) -> String {
    let mut h = Sha256::new();
    for part in [
        seed.image.as_deref().unwrap_or(&seed.short),
        &seed.dockerfile,
        seed.target.as_deref().unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(seed.platforms.join(",").as_bytes());
    // Appended only when there are any, so a build without build-args keeps the scope it
    // had before build-args counted (its cache stays found after an upgrade).
    for (name, value) in seed.build_args.iter().filter(|(k, _)| !is_secret_like(k)) {
        h.update([0]);
        h.update(name.as_bytes());
        h.update([b'=']);
        h.update(value.as_bytes());
    }
    let hash = hex::encode(h.finalize());
    let mut readable = vec![seed.short.clone()];
    readable.extend(seed.target.clone());
    if !seed.platforms.is_empty() {
        readable.push(seed.platforms.join("+"));
    }
    let readable: String = readable
        .join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(80)
        .collect();
    format!("{readable}-{}", &hash[..8])
}

/// A build arg whose name says it holds a credential (`NPM_TOKEN`, `DB_PASSWORD`,
/// `GITHUB_AUTH`...). Such values change from run to run (a job's token does), so hashing
/// them would give every run a new scope and no run would find the last one's cache; and
/// even a hash of a secret has no place in a cache key. `AUTH` and `APIKEY` count as whole
/// words only (`AUTHOR` is no credential).
pub fn is_secret_like(name: &str) -> bool {
    const PARTS: &[&str] = &[
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "API_KEY",
        "PRIVATE_KEY",
        "ACCESS_KEY",
    ];
    const WORDS: &[&str] = &["AUTH", "APIKEY"];
    let upper = name.to_ascii_uppercase();
    PARTS.iter().any(|p| upper.contains(p))
        || upper
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| WORDS.contains(&w))
}
