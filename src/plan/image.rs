//! Image references (`tags`) and platforms, validated with Docker's grammar
//! (distribution/reference and containerd/platforms), so a typo fails before any build.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

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

/// Parse an image reference; the error says what is wrong in words a user can act on.
pub fn parse_image_ref(input: &str) -> Result<ImageRef, String> {
    let original = input.trim();
    if original.is_empty() {
        return Err("empty image reference".into());
    }
    let (rest, digest) = match original.split_once('@') {
        Some((r, d)) => {
            if !DIGEST.is_match(d) {
                return Err(format!(
                    "invalid digest {d:?} in {original:?} (expected sha256:<64 hex>)"
                ));
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
        return Err(format!(
            "invalid tag {tag:?} in {original:?} (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')"
        ));
    }
    let (registry, repository) = split_domain(name);
    if let Some(domain) = &registry
        && !DOMAIN.is_match(domain)
    {
        return Err(format!("invalid registry host {domain:?} in {original:?}"));
    }
    if repository.is_empty() {
        return Err(format!("missing repository name in {original:?}"));
    }
    for component in repository.split('/') {
        if component.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(format!("repository name must be lowercase in {original:?}"));
        }
        if !COMPONENT.is_match(component) {
            return Err(format!(
                "invalid repository component {component:?} in {original:?} (lowercase letters, digits and separators . _ __ -)"
            ));
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

/// A target platform such as `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

const KNOWN_OS: &[&str] = &[
    "linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "aix",
];
const KNOWN_ARCH: &[&str] = &[
    "amd64", "arm64", "arm", "386", "ppc64le", "ppc64", "s390x", "riscv64", "mips64le", "mips64",
    "mipsle", "mips", "loong64", "wasm",
];

/// Parse `os/arch[/variant]`, normalising the spellings containerd accepts (`x86_64`, `aarch64`).
pub fn parse_platform(input: &str) -> Result<Platform, String> {
    let lower = input.trim().to_ascii_lowercase();
    let parts: Vec<&str> = lower.split('/').collect();
    let valid = "expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8";
    let (os, arch, variant) = match parts.as_slice() {
        [os, arch] => (*os, *arch, None),
        [os, arch, variant] if !variant.is_empty() => (*os, *arch, Some((*variant).to_owned())),
        _ => return Err(format!("invalid platform {input:?} ({valid})")),
    };
    let arch = match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" | "i686" => "386",
        a => a,
    };
    if !KNOWN_OS.contains(&os) {
        return Err(format!(
            "unknown operating system {os:?} in platform {input:?} (valid: {})",
            KNOWN_OS.join(", ")
        ));
    }
    if !KNOWN_ARCH.contains(&arch) {
        return Err(format!(
            "unknown architecture {arch:?} in platform {input:?} (valid: {})",
            KNOWN_ARCH.join(", ")
        ));
    }
    Ok(Platform {
        os: os.to_owned(),
        architecture: arch.to_owned(),
        variant,
    })
}

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

    #[test]
    fn platforms_normalise_and_reject() {
        assert_eq!(
            parse_platform("linux/x86_64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            parse_platform("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert!(parse_platform("linux").is_err());
        assert!(
            parse_platform("linux/amd65")
                .unwrap_err()
                .contains("unknown architecture")
        );
    }
}
