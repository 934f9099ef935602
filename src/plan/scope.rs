//! The cache scope of a build: given by the user, or derived from what names the image's
//! build (image, Dockerfile, target, platforms), so two images or two platforms never
//! overwrite each other's `gha` index (docs/gha-cache-layout.md § Parallel jobs and
//! scopes), and the scope stays the same from commit to commit. Tags other than the first
//! one's image name are left out on purpose: a per-PR tag must keep sharing the branch's
//! cache. `build-args` are left out too: their values often change every commit (a
//! version, a SHA, a date), BuildKit's cache keys already tell them apart, and the relay's
//! index merge keeps parallel legs of one scope.

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

/// The scope build-push-action's users have: BuildKit's own default when `scope` is unset.
/// A derived scope's imports read it too, so the first run after migrating is warm.
pub const BUILDX_DEFAULT_SCOPE: &str = "buildkit";

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
