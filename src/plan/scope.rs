//! The cache scope of a build: given by the user, or derived from what makes builds
//! different, so two images or two platforms never overwrite each other's `gha` index
//! (anchors.md §4 item 3).

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
}

/// A readable scope that differs whenever image, Dockerfile, target or platforms differ:
/// `<short>[-<target>][-<platforms>]-<8 hex of all of them>`.
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
