//! Target platforms (`platforms`), read as buildx and containerd read them: `local` is the
//! platform layercache runs on (buildx's `platforms.DefaultSpec()`), an OS alone or an
//! architecture alone takes the other half from that platform, and spellings are
//! normalised (`x86_64` → `amd64`, `aarch64` → `arm64`, `armhf` → `arm/v7`, `arm64/v8` →
//! `arm64`), as containerd's `platforms.Parse` and `Normalize` do. See docs/inputs.md.

use std::fmt;

use super::redact::excerpt;

/// A target platform such as `linux/arm/v7`, normalised.
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

impl Platform {
    /// The platform this program runs on, in containerd's words.
    pub fn host() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", None),
            "x86" => ("386", None),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "powerpc64" => ("ppc64", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Self {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }
}

/// containerd's `knownOS` list.
const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "windows",
    "zos",
];
/// containerd's `knownArch` list.
const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "ppc64",
    "ppc64le",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

fn normalize_os(os: &str) -> String {
    match os {
        "macos" => "darwin".to_owned(),
        other => other.to_owned(),
    }
}

/// containerd's `normalizeArch`: the canonical architecture and variant.
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let (a, v) = match (arch, variant) {
        ("i386", _) => ("386", ""),
        ("x86_64" | "x86-64" | "amd64", "v1") => ("amd64", ""),
        ("x86_64" | "x86-64" | "amd64", v) => ("amd64", v),
        ("aarch64" | "arm64", "8" | "v8" | "v8.0") => ("arm64", ""),
        ("aarch64" | "arm64", "9" | "9.0" | "v9.0") => ("arm64", "v9"),
        ("aarch64" | "arm64", v) => ("arm64", v),
        ("armhf", _) => ("arm", "v7"),
        ("armel", _) => ("arm", "v6"),
        ("arm", "5") => ("arm", "v5"),
        ("arm", "6") => ("arm", "v6"),
        ("arm", "7") => ("arm", "v7"),
        ("arm", "8") => ("arm", "v8"),
        (a, v) => (a, v),
    };
    (a.to_owned(), v.to_owned())
}

const VALID: &str =
    "os/arch[/variant] like linux/amd64 or linux/arm/v7, an os or arch alone, or local";

/// Parse one `platforms` entry.
pub fn parse_platform(input: &str) -> Result<Platform, String> {
    let spec = input.trim().to_ascii_lowercase();
    let bad = |why: &str| format!("invalid platform {}: {why} ({VALID})", excerpt(input));
    if spec == "local" {
        return Ok(Platform::host());
    }
    let parts: Vec<&str> = spec.split('/').collect();
    let component_ok = |p: &&str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    if !parts.iter().all(component_ok) {
        return Err(bad("empty part or unexpected character"));
    }
    let host = Platform::host();
    let (os, (arch, variant)) = match parts.as_slice() {
        [one] if KNOWN_OS.contains(one) => {
            let variant = host.variant.clone().unwrap_or_default();
            (
                normalize_os(one),
                normalize_arch(&host.architecture, &variant),
            )
        }
        [one] if KNOWN_ARCH.contains(&normalize_arch(one, "").0.as_str()) => {
            (host.os.clone(), normalize_arch(one, ""))
        }
        [_] => return Err(bad("not a known operating system or architecture")),
        [os, arch] => (normalize_os(os), normalize_arch(arch, "")),
        [os, arch, variant] => (normalize_os(os), normalize_arch(arch, variant)),
        _ => return Err(bad("too many parts")),
    };
    if !KNOWN_OS.contains(&os.as_str()) {
        return Err(bad(&format!(
            "unknown operating system {}; known: {}",
            excerpt(&os),
            KNOWN_OS.join(", ")
        )));
    }
    if !KNOWN_ARCH.contains(&arch.as_str()) {
        return Err(bad(&format!(
            "unknown architecture {}; known: {}",
            excerpt(&arch),
            KNOWN_ARCH.join(", ")
        )));
    }
    Ok(Platform {
        os,
        architecture: arch,
        variant: (!variant.is_empty()).then_some(variant),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_normalise_like_containerd() {
        let host = Platform::host();
        let host_arch = format!("{}/{}", host.os, host.architecture);
        let cases: &[(&str, &str)] = &[
            ("linux/amd64", "linux/amd64"),
            ("linux/x86_64", "linux/amd64"),
            ("Linux/AMD64", "linux/amd64"),
            ("linux/amd64/v1", "linux/amd64"),
            ("linux/amd64/v3", "linux/amd64/v3"),
            ("linux/aarch64", "linux/arm64"),
            ("linux/arm64/v8", "linux/arm64"),
            ("linux/arm64/9", "linux/arm64/v9"),
            ("linux/armhf", "linux/arm/v7"),
            ("linux/armel", "linux/arm/v6"),
            ("linux/arm/7", "linux/arm/v7"),
            ("linux/i386", "linux/386"),
            ("windows/amd64", "windows/amd64"),
            ("macos/arm64", "darwin/arm64"),
            ("local", &host.to_string()),
            (" linux ", &format!("linux/{}", host.architecture)),
            ("arm64", &format!("{}/arm64", host.os)),
            ("x86_64", &format!("{}/amd64", host.os)),
        ];
        for (input, want) in cases {
            let got = parse_platform(input).map(|p| p.to_string());
            assert_eq!(got.as_deref(), Ok(*want), "{input:?}");
        }
        assert!(host_arch.starts_with(std::env::consts::OS));
    }

    #[test]
    fn bad_platforms_say_what_is_valid() {
        for (bad, why) in [
            ("linux/amd65", "unknown architecture \"amd65\""),
            ("linx/amd64", "unknown operating system \"linx\""),
            ("lnux", "not a known operating system or architecture"),
            ("linux//amd64", "empty part"),
            ("linux/arm/v7/x", "too many parts"),
            ("linux/amd64 ", ""),
        ] {
            match parse_platform(bad) {
                Ok(p) if why.is_empty() => assert_eq!(p.to_string(), "linux/amd64"),
                Ok(p) => panic!("{bad:?} parsed as {p}"),
                Err(e) => {
                    assert!(e.contains(why) && e.contains("os/arch[/variant]"), "{e}")
                }
            }
        }
    }
}
