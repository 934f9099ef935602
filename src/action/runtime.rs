//! What the runner gives the action for caching: the runtime token and its `ac` claim,
//! the cache service URLs, the protocol version we choose, and `ACTIONS_CACHE_MODE`.
//!
//! The version rule (docs/cache-protocol.md § Choosing a protocol version): an explicit
//! choice wins; GitHub Enterprise Server uses v1; with only one of `ACTIONS_RESULTS_URL`
//! (v2) and `ACTIONS_CACHE_URL` (v1), that one; with both (container actions never receive
//! `ACTIONS_CACHE_SERVICE_V2`), the service is asked once per step ([`Runtime::settle`]):
//! act and the Gitea/Forgejo runners serve artifacts at `ACTIONS_RESULTS_URL` but the cache
//! over v1 only.

use std::fmt;

use super::env::Env;
use super::names::env as names;
use crate::cache_protocol::{AccessScope, Endpoint, decode_scopes};
use crate::secret::Secret;

/// `ACTIONS_CACHE_MODE`: which of import and export the job may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    Read,
    #[default]
    Write,
    WriteOnly,
    None,
}

impl CacheMode {
    pub fn may_import(self) -> bool {
        matches!(self, Self::Read | Self::Write)
    }
    pub fn may_export(self) -> bool {
        matches!(self, Self::Write | Self::WriteOnly)
    }
}

impl fmt::Display for CacheMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::WriteOnly => "write-only",
            Self::None => "none",
        })
    }
}

/// The runner's cache-related environment, decided once at start-up.
#[derive(Debug, Clone, Default)]
pub struct Runtime {
    pub token: Option<Secret>,
    pub runtime_url: Option<String>,
    pub cache_url: Option<String>,
    pub results_url: Option<String>,
    pub id_token_request_url: Option<String>,
    pub id_token_request_token: Option<Secret>,
    pub protocol: Option<Endpoint>,
    /// Why `protocol` was chosen, for the log (`ACTIONS_CACHE_SERVICE_V2=true`, ...).
    pub protocol_why: String,
    /// Both URLs are set and nothing chose between them: `protocol` is v2 until
    /// [`Runtime::settle`] asks the service.
    pub undecided: bool,
    pub mode: CacheMode,
    /// Decoded `ac` claim; empty when the token has none or could not be read.
    pub scopes: Vec<AccessScope>,
    pub is_ghes: bool,
    /// Things worth a warning that did not stop anything (shown by the caller).
    pub warnings: Vec<String>,
}

impl Runtime {
    pub fn from_env(env: &Env) -> Self {
        let mut warnings = Vec::new();
        let token = env.get(names::ACTIONS_RUNTIME_TOKEN).map(Secret::from);
        let cache_url = env.get(names::ACTIONS_CACHE_URL).map(str::to_owned);
        let results_url = env.get(names::ACTIONS_RESULTS_URL).map(str::to_owned);
        let is_ghes = is_ghes(
            env.get(names::GITHUB_SERVER_URL)
                .unwrap_or("https://github.com"),
        );
        let mode = match env.get(names::ACTIONS_CACHE_MODE).map(str::trim) {
            None => CacheMode::Write,
            Some(m) => parse_cache_mode(m).unwrap_or_else(|| {
                warnings.push(format!(
                    "ignoring ACTIONS_CACHE_MODE={m:?} (valid: read, write, write-only, none)"
                ));
                CacheMode::Write
            }),
        };
        let scopes = match &token {
            Some(t) => decode_scopes(t).unwrap_or_else(|why| {
                warnings.push(format!(
                    "could not read the cache scopes of ACTIONS_RUNTIME_TOKEN: {why}"
                ));
                Vec::new()
            }),
            None => Vec::new(),
        };
        let forced = forced_version(env, &mut warnings);
        let (protocol, protocol_why) = choose_protocol(
            forced,
            is_ghes,
            cache_url.as_deref(),
            results_url.as_deref(),
        );
        let undecided =
            forced.is_none() && !is_ghes && cache_url.is_some() && results_url.is_some();
        if let Some((v, _)) = forced.filter(|_| protocol.is_none()) {
            warnings.push(format!(
                "cache protocol v{v} was requested but its URL is not set; the GitHub Actions cache is unavailable"
            ));
        }
        Self {
            token,
            runtime_url: env.get(names::ACTIONS_RUNTIME_URL).map(str::to_owned),
            cache_url,
            results_url,
            id_token_request_url: env
                .get(names::ACTIONS_ID_TOKEN_REQUEST_URL)
                .map(str::to_owned),
            id_token_request_token: env
                .get(names::ACTIONS_ID_TOKEN_REQUEST_TOKEN)
                .map(Secret::from),
            protocol,
            protocol_why,
            undecided,
            mode,
            scopes,
            is_ghes,
            warnings,
        }
    }

    /// Decide between v1 and v2 when both URLs are set and nothing chose: `speaks_v2`
    /// answers whether the service at `ACTIONS_RESULTS_URL` speaks the v2 cache protocol
    /// (`Err`: it could not be asked, and v2, GitHub's, stays). Called once per step.
    pub async fn settle<F, Fut>(&mut self, speaks_v2: F)
    where
        F: FnOnce(Endpoint, Secret) -> Fut,
        Fut: std::future::Future<Output = Result<bool, String>>,
    {
        let (Some(results), Some(cache), Some(token)) =
            (&self.results_url, &self.cache_url, &self.token)
        else {
            return;
        };
        if !self.undecided {
            return;
        }
        self.undecided = false;
        match speaks_v2(Endpoint::V2(results.clone()), token.clone()).await {
            Ok(true) => {
                self.protocol_why =
                    "the service at ACTIONS_RESULTS_URL answers the v2 cache protocol".to_owned();
            }
            Ok(false) => {
                self.protocol = Some(Endpoint::V1(cache.clone()));
                self.protocol_why = "the service at ACTIONS_RESULTS_URL does not answer the v2 cache protocol (act, Gitea and Forgejo runners serve the cache over v1)".to_owned();
            }
            Err(why) => {
                self.protocol_why = format!(
                    "ACTIONS_RESULTS_URL is set; asking it which protocol it speaks failed ({why})"
                );
            }
        }
    }

    /// The cache service is usable: a protocol was chosen and there is a token.
    pub fn cache_available(&self) -> bool {
        self.protocol.is_some() && self.token.is_some()
    }

    /// The token may write to at least one ref (BuildKit writes to the last writable one).
    pub fn writable_scope(&self) -> Option<&AccessScope> {
        self.scopes.iter().rev().find(|s| s.writable())
    }
}

fn parse_cache_mode(m: &str) -> Option<CacheMode> {
    match m.to_ascii_lowercase().as_str() {
        "read" => Some(CacheMode::Read),
        "write" => Some(CacheMode::Write),
        "write-only" => Some(CacheMode::WriteOnly),
        "none" => Some(CacheMode::None),
        _ => None,
    }
}

/// Lenient boolean: `1/true/yes/on` and `0/false/no/off`, any case.
pub fn parse_lenient_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The version the environment forces, and which variable forces it.
fn forced_version(env: &Env, warnings: &mut Vec<String>) -> Option<(u8, &'static str)> {
    if let Some(v) = env.get(names::ACTIONS_CACHE_API_FORCE_VERSION) {
        let by = names::ACTIONS_CACHE_API_FORCE_VERSION;
        match v.trim().to_ascii_lowercase().as_str() {
            "v1" | "1" => return Some((1, by)),
            "v2" | "2" => return Some((2, by)),
            _ => warnings.push(format!(
                "ignoring ACTIONS_CACHE_API_FORCE_VERSION={v:?} (valid: v1, v2)"
            )),
        }
    }
    let v = env.get(names::ACTIONS_CACHE_SERVICE_V2)?;
    match parse_lenient_bool(v) {
        Some(true) => Some((2, names::ACTIONS_CACHE_SERVICE_V2)),
        Some(false) => Some((1, names::ACTIONS_CACHE_SERVICE_V2)),
        None => {
            warnings.push(format!(
                "ignoring ACTIONS_CACHE_SERVICE_V2={v:?} (valid: true or false)"
            ));
            None
        }
    }
}

/// The protocol before any question to the service, and why.
fn choose_protocol(
    forced: Option<(u8, &'static str)>,
    ghes: bool,
    cache_url: Option<&str>,
    results_url: Option<&str>,
) -> (Option<Endpoint>, String) {
    let v1 = || cache_url.map(|u| Endpoint::V1(u.to_owned()));
    let v2 = || results_url.map(|u| Endpoint::V2(u.to_owned()));
    match forced {
        Some((1, by)) => (v1(), format!("{by} asks for v1")),
        Some((_, by)) => (v2(), format!("{by} asks for v2")),
        None if ghes => (v1(), "GitHub Enterprise Server speaks v1".to_owned()),
        None => match (v2(), v1()) {
            (Some(p), Some(_)) => (Some(p), "ACTIONS_RESULTS_URL is set".to_owned()),
            (Some(p), None) => (Some(p), "only ACTIONS_RESULTS_URL is set".to_owned()),
            (None, Some(p)) => (Some(p), "only ACTIONS_CACHE_URL is set".to_owned()),
            (None, None) => (
                None,
                "neither ACTIONS_RESULTS_URL nor ACTIONS_CACHE_URL is set".to_owned(),
            ),
        },
    }
}

/// The toolkit's `isGhes()`: any host but github.com, *.ghe.com and *.localhost.
pub fn is_ghes(server_url: &str) -> bool {
    let host = url::Url::parse(server_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
        .trim()
        .to_ascii_uppercase();
    !(host == "GITHUB.COM" || host.ends_with(".GHE.COM") || host.ends_with(".LOCALHOST"))
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    pub(crate) fn token_with_ac(ac: &str) -> String {
        let claims = serde_json::json!({ "ac": ac, "exp": 4102444800u64 });
        format!(
            "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    fn runtime(pairs: &[(&str, &str)]) -> Runtime {
        Runtime::from_env(&Env::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn protocol_choice_follows_the_rule() {
        let results = ("ACTIONS_RESULTS_URL", "https://results/");
        let cache = ("ACTIONS_CACHE_URL", "https://cache/");
        let tok = ("ACTIONS_RUNTIME_TOKEN", "a.b.c");
        let v = |p: &[(&str, &str)]| runtime(p).protocol.map(|p| p.version());
        assert_eq!(v(&[results, cache, tok]), Some(2), "results URL means v2");
        assert!(
            runtime(&[results, cache, tok]).undecided,
            "with both URLs the service is asked"
        );
        assert!(!runtime(&[results, tok]).undecided);
        assert!(!runtime(&[results, cache, ("ACTIONS_CACHE_SERVICE_V2", "true")]).undecided);
        assert_eq!(v(&[cache, tok]), Some(1), "only a cache URL means v1");
        assert_eq!(
            v(&[results, cache, ("GITHUB_SERVER_URL", "https://ghes.corp")]),
            Some(1),
            "GHES is v1"
        );
        assert_eq!(
            v(&[results, cache, ("ACTIONS_CACHE_SERVICE_V2", "off")]),
            Some(1),
            "explicit false"
        );
        assert_eq!(
            v(&[
                results,
                cache,
                ("ACTIONS_CACHE_API_FORCE_VERSION", "v2"),
                ("GITHUB_SERVER_URL", "https://ghes.corp")
            ]),
            Some(2)
        );
        assert_eq!(
            v(&[cache, ("ACTIONS_CACHE_SERVICE_V2", "true")]),
            None,
            "forced v2 without its URL"
        );
        let none = runtime(&[]);
        assert!(
            none.protocol.is_none() && none.warnings.is_empty(),
            "no service is not a problem until gha is asked for"
        );
        let forced = runtime(&[("ACTIONS_CACHE_SERVICE_V2", "true")]);
        assert!(
            forced
                .warnings
                .iter()
                .any(|w| w.contains("v2 was requested"))
        );
    }

    #[test]
    fn ghes_detection() {
        assert!(!is_ghes("https://github.com"));
        assert!(!is_ghes("https://acme.ghe.com"));
        assert!(!is_ghes("http://github.localhost"));
        assert!(is_ghes("https://git.example.com"));
    }

    #[test]
    fn ac_claim_is_a_json_string() {
        let t = token_with_ac(
            r#"[{"Scope":"refs/heads/main","Permission":1},{"Scope":"refs/pull/7/merge","Permission":3}]"#,
        );
        let rt = runtime(&[
            ("ACTIONS_RUNTIME_TOKEN", &t),
            ("ACTIONS_RESULTS_URL", "https://r/"),
        ]);
        assert_eq!(rt.scopes.len(), 2);
        assert!(rt.scopes[0].readable() && !rt.scopes[0].writable());
        assert_eq!(
            rt.writable_scope().map(|s| s.scope.as_str()),
            Some("refs/pull/7/merge")
        );
        let bad = runtime(&[("ACTIONS_RUNTIME_TOKEN", "not-a-jwt")]);
        assert!(bad.scopes.is_empty() && bad.warnings.iter().any(|w| w.contains("scopes")));
        assert!(
            !bad.warnings.iter().any(|w| w.contains("not-a-jwt")),
            "warnings never quote the token"
        );
    }

    #[test]
    fn cache_mode() {
        assert_eq!(
            runtime(&[("ACTIONS_CACHE_MODE", "write-only")]).mode,
            CacheMode::WriteOnly
        );
        let odd = runtime(&[("ACTIONS_CACHE_MODE", "sometimes")]);
        assert_eq!(odd.mode, CacheMode::Write);
        assert!(
            odd.warnings
                .iter()
                .any(|w| w.contains("ACTIONS_CACHE_MODE"))
        );
        assert!(CacheMode::Read.may_import() && !CacheMode::Read.may_export());
        assert!(!CacheMode::WriteOnly.may_import() && CacheMode::WriteOnly.may_export());
    }
}
