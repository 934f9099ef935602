//! Image references (`tags`, registry cache `ref=`), validated with Docker's grammar
//! (distribution/reference), so a typo fails before any build. Platforms live in
//! [`super::platform`].

use std::fmt;
use std::sync::LazyLock;

use regex_lite::Regex;

use crate::action::redact::excerpt;

/// A validated image reference such as `ghcr.io/owner/app:1.2` (the tag defaults to `latest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host (`docker.io` when none was written).
    pub registry: String,
    /// Repository path below the registry, e.g. `owner/app` (`library/x` for Docker Hub names).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    /// The reference exactly as written, which is what BuildKit gets.
    pub original: String,
}

impl ImageRef {
    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The last path component (`app` for `ghcr.io/owner/app:1`).
    pub fn short_name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

static COMPONENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$").unwrap_or_else(|e| panic!("{e}"))
});
static TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").unwrap_or_else(|e| panic!("{e}"))
});
static DIGEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")
        .unwrap_or_else(|e| panic!("{e}"))
});
static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$")
        .unwrap_or_else(|e| panic!("{e}"))
});

/// distribution/reference: a repository name (all its components, with the registry) is
/// at most 255 characters.
const NAME_MAX: usize = 255;

/// Parse an image reference; the error starts with an excerpt of the reference and says
/// what is wrong in words a user can act on.
pub fn parse_image_ref(input: &str) -> Result<ImageRef, String> {
    let original = input.trim();
    let fail = |problem: String| format!("{}: {problem}", excerpt(original));
    if original.is_empty() {
        return Err("empty image reference (e.g. ghcr.io/owner/app:1.0)".into());
    }
    let (rest, digest) = match original.split_once('@') {
        Some((r, d)) => {
            if !DIGEST.is_match(d) {
                return Err(fail(format!(
                    "invalid digest {} (expected sha256: and 64 hex digits)",
                    excerpt(d)
                )));
            }
            (r, Some(d.to_owned()))
        }
        None => (original, None),
    };
    // A tag is after the last ':' that comes after the last '/'.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag
        && !TAG.is_match(tag)
    {
        return Err(fail(format!(
            "invalid tag {} (letters, digits, '_', '.', '-', at most 128 characters, not starting with '.' or '-')",
            excerpt(tag)
        )));
    }
    if name.len() > NAME_MAX {
        return Err(fail(format!(
            "the repository name is {} characters long (at most {NAME_MAX})",
            name.len()
        )));
    }
    let (registry, repository) = split_domain(name);
    if let Some(domain) = &registry
        && !DOMAIN.is_match(domain)
    {
        return Err(fail(format!(
            "invalid registry host {} (a host name or IP, with an optional :port)",
            excerpt(domain)
        )));
    }
    if repository.is_empty() {
        return Err(fail("missing repository name".into()));
    }
    for component in repository.split('/') {
        if component.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(fail(
                "repository name must be lowercase (a tag after ':' may use capitals)".into(),
            ));
        }
        if !COMPONENT.is_match(component) {
            return Err(fail(format!(
                "invalid repository component {} (lowercase letters, digits and separators . _ __ -)",
                excerpt(component)
            )));
        }
    }
    let registry = registry.unwrap_or_else(|| "docker.io".to_owned());
    let repository = if registry == "docker.io" && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository.to_owned()
    };
    Ok(ImageRef {
        registry,
        repository,
        tag: tag.map(str::to_owned),
        digest,
        original: original.to_owned(),
    })
}

/// Docker's rule: the first component is a registry when it has a '.' or ':' or is `localhost`.
fn split_domain(name: &str) -> (Option<String>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (Some(first.to_owned()), rest)
        }
        _ => (None, name),
    }
}

pub use super::platform::{Platform, parse_platform};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_like_docker() {
        let r = parse_image_ref("ghcr.io/owner/app:1.2").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("ghcr.io", "owner/app", Some("1.2"))
        );
        let r = parse_image_ref("127.0.0.1:5000/app").unwrap();
        assert_eq!((r.registry.as_str(), r.tag), ("127.0.0.1:5000", None));
        let r = parse_image_ref("alpine").unwrap();
        assert_eq!(r.name(), "docker.io/library/alpine");
        assert_eq!(r.short_name(), "alpine");
        assert!(parse_image_ref("localhost/x:y@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").is_ok());
    }

    #[test]
    fn bad_references_say_why() {
        for (bad, why) in [
            ("User/App:1", "lowercase"),
            ("app:", "invalid tag"),
            ("app:-x", "invalid tag"),
            ("app@sha256:xyz", "invalid digest"),
            ("a//b", "invalid repository component"),
            ("", "empty"),
        ] {
            let err = parse_image_ref(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }
}
