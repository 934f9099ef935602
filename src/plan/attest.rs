//! Attestation requests (`attests`, and the `provenance`/`sbom` shorthands), typed.
//!
//! Provenance follows build-push-action (`src/context.ts` `getAttestArgs`): with no
//! `provenance` input, no `attests` entry of that type and `BUILDX_NO_DEFAULT_ATTESTATIONS`
//! not true, `mode=max` on a public repository and `mode=min,inline-only=true` on a private
//! one (`repository.private` of the event payload), each naming the workflow run as
//! `builder-id`. Where the result is loaded into the daemon the action asks for none and
//! buildx adds its own `mode=min,inline-only=true` (buildx `build/opt.go`); the engine
//! applies that rule, as only it knows the exporters and what the BuildKit can attach.
use crate::action::InputError;
use crate::action::csv::{Attr, join_attrs, split_attrs};
use crate::action::env::Env;
use crate::action::names as n;
use crate::action::redact::excerpt;

/// What an attestation attests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestKind {
    Provenance,
    Sbom,
}

impl AttestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provenance => "provenance",
            Self::Sbom => "sbom",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "provenance" => Some(Self::Provenance),
            "sbom" => Some(Self::Sbom),
            _ => None,
        }
    }
}

/// One attestation request: its kind and its other attributes in the order given (keys
/// lower-cased, as buildx reads them; a bare key has no value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attest {
    pub kind: AttestKind,
    pub attrs: Vec<Attr>,
}

impl Attest {
    fn new(kind: AttestKind, attrs: Vec<Attr>) -> Self {
        Self { kind, attrs }
    }

    fn has(&self, key: &str) -> bool {
        self.attrs.iter().any(|a| a.key == key)
    }

    /// The frontend attribute value buildx sends (`Attests.ToMap`): `type=<kind>` then the
    /// other attributes sorted by key; `None` for `disabled=true`, which sends nothing.
    pub fn frontend_value(&self) -> Option<String> {
        let disabled = self
            .attrs
            .iter()
            .find(|a| a.key == "disabled")
            .and_then(|a| a.value.as_deref());
        if disabled.is_some_and(|v| parse_bool(v) == Some(true)) {
            return None;
        }
        let mut attrs: Vec<Attr> = self
            .attrs
            .iter()
            .filter(|a| a.key != "disabled")
            .cloned()
            .collect();
        attrs.sort_by(|a, b| a.key.cmp(&b.key));
        attrs.insert(0, attr("type", self.kind.as_str()));
        Some(join_attrs(&attrs))
    }
}

/// buildx's own default when nobody asked for provenance (buildx `build/opt.go`).
pub const BUILDX_DEFAULT_PROVENANCE: &str = "mode=min,inline-only=true";

/// `BUILDX_NO_DEFAULT_ATTESTATIONS`: no default provenance when true.
pub const NO_DEFAULT_ATTESTATIONS: &str = "BUILDX_NO_DEFAULT_ATTESTATIONS";

/// Whether the repository is private, from the event payload at `GITHUB_EVENT_PATH`; the
/// command reads the file and notes the answer here, so parsing does no I/O.
pub const REPOSITORY_PRIVATE: &str = "LAYERCACHE_REPOSITORY_PRIVATE";

/// `repository.private` of a GitHub event payload, when it says.
pub fn repository_private(payload: &str) -> Option<bool> {
    let v: serde_json::Value = serde_json::from_str(payload).ok()?;
    v.get("repository")?.get("private")?.as_bool()
}

/// Go's `strconv.ParseBool`, which buildx and build-push-action's `Util.parseBool` follow.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// `attests`, plus the `provenance`/`sbom` shorthands (`true`, `false`, or attributes).
pub fn attests(
    entries: &[String],
    provenance: Option<&str>,
    sbom: Option<&str>,
) -> Result<Vec<Attest>, InputError> {
    let mut out = Vec::new();
    for e in entries {
        let attrs = split_attrs(e)
            .map_err(|err| InputError::new(n::ATTESTS, format!("{}: {err}", excerpt(e))))?;
        let kind = attrs
            .iter()
            .find(|a| a.key == "type")
            .and_then(|a| a.value.as_deref())
            .and_then(AttestKind::parse)
            .ok_or_else(|| {
                InputError::new(
                    n::ATTESTS,
                    format!("{} needs type=provenance or type=sbom", excerpt(e)),
                )
            })?;
        out.push(Attest::new(
            kind,
            attrs.into_iter().filter(|a| a.key != "type").collect(),
        ));
    }
    for (input, kind, value) in [
        (n::PROVENANCE, AttestKind::Provenance, provenance),
        (n::SBOM, AttestKind::Sbom, sbom),
    ] {
        let Some(v) = value else { continue };
        out.retain(|a| a.kind != kind);
        let invalid = || {
            InputError::new(
                input,
                format!(
                    "invalid value {} (valid: true, false, or attributes like mode=max)",
                    excerpt(v)
                ),
            )
        };
        match v.to_ascii_lowercase().as_str() {
            "false" => {}
            "true" => out.push(Attest::new(kind, Vec::new())),
            _ if v.contains('=') => {
                let attrs = split_attrs(v).map_err(|_| invalid())?;
                out.push(Attest::new(kind, attrs));
            }
            _ => return Err(invalid()),
        }
    }
    Ok(out)
}

/// The default provenance request, or `None` when the user decided (`provenance` given,
/// or an `attests` entry of that type) or `BUILDX_NO_DEFAULT_ATTESTATIONS` is true.
/// On a runner it is build-push-action's (see the module doc); elsewhere buildx's own.
pub fn default_provenance(
    attests: &[Attest],
    provenance_input: Option<&str>,
    env: &Env,
) -> Result<Option<Attest>, InputError> {
    if let Some(v) = env.get(NO_DEFAULT_ATTESTATIONS).filter(|v| !v.is_empty()) {
        match parse_bool(v) {
            Some(true) => return Ok(None),
            Some(false) => {}
            None => {
                return Err(InputError::new(
                    NO_DEFAULT_ATTESTATIONS,
                    format!("invalid value {} (valid: true, false, 1, 0)", excerpt(v)),
                ));
            }
        }
    }
    if provenance_input.is_some() || attests.iter().any(|a| a.kind == AttestKind::Provenance) {
        return Ok(None);
    }
    if env.get("GITHUB_ACTIONS") != Some("true") {
        let attrs = vec![attr("mode", "min"), attr("inline-only", "true")];
        return Ok(Some(Attest::new(AttestKind::Provenance, attrs)));
    }
    // build-push-action: `payload.repository?.private ?? false`.
    let private = env.get(REPOSITORY_PRIVATE) == Some("true");
    let mut attrs = match private {
        true => vec![attr("mode", "min"), attr("inline-only", "true")],
        false => vec![attr("mode", "max")],
    };
    if let Some(id) = builder_id(env) {
        attrs.push(attr("builder-id", &id));
    }
    Ok(Some(Attest::new(AttestKind::Provenance, attrs)))
}

/// Add the run's `builder-id` to provenance requests that name none.
pub fn with_builder_id(mut attests: Vec<Attest>, env: &Env) -> Vec<Attest> {
    if let Some(id) = builder_id(env) {
        for a in &mut attests {
            if a.kind == AttestKind::Provenance && !a.has("builder-id") {
                a.attrs.push(attr("builder-id", &id));
            }
        }
    }
    attests
}

fn attr(key: &str, value: &str) -> Attr {
    Attr {
        key: key.to_owned(),
        value: Some(value.to_owned()),
    }
}

/// `https://github.com/OWNER/REPO/actions/runs/ID/attempts/N` on a runner.
fn builder_id(env: &Env) -> Option<String> {
    let server = env.get("GITHUB_SERVER_URL")?.trim_end_matches('/');
    let repo = env.get("GITHUB_REPOSITORY")?;
    let run = env.get("GITHUB_RUN_ID")?;
    let id = match env.get("GITHUB_RUN_ATTEMPT") {
        Some(attempt) => format!("{server}/{repo}/actions/runs/{run}/attempts/{attempt}"),
        None => format!("{server}/{repo}/actions/runs/{run}"),
    };
    Some(id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    fn text(a: &Attest) -> String {
        format!("{}:{}", a.kind.as_str(), join_attrs(&a.attrs))
    }

    const RUN: &[(&str, &str)] = &[
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "octo/app"),
        ("GITHUB_RUN_ID", "42"),
        ("GITHUB_RUN_ATTEMPT", "2"),
    ];
    const ID: &str = "https://github.com/octo/app/actions/runs/42/attempts/2";

    fn default_of(extra: &[(&str, &str)]) -> Option<String> {
        let mut pairs = RUN.to_vec();
        pairs.extend_from_slice(extra);
        default_provenance(&[], None, &env(&pairs))
            .unwrap()
            .and_then(|a| a.frontend_value())
    }

    #[test]
    fn the_default_follows_the_repository_visibility() {
        // Public (or unknown, as build-push-action reads `private ?? false`): mode=max.
        let public = format!("type=provenance,builder-id={ID},mode=max");
        assert_eq!(default_of(&[]), Some(public.clone()));
        assert_eq!(default_of(&[(REPOSITORY_PRIVATE, "false")]), Some(public));
        assert_eq!(
            default_of(&[(REPOSITORY_PRIVATE, "true")]),
            Some(format!(
                "type=provenance,builder-id={ID},inline-only=true,mode=min"
            ))
        );
        // Off a runner: buildx's own default.
        assert_eq!(
            default_provenance(&[], None, &env(&[]))
                .unwrap()
                .map(|a| text(&a)),
            Some("provenance:mode=min,inline-only=true".to_owned())
        );
        assert_eq!(
            repository_private(r#"{"repository":{"private":true}}"#),
            Some(true)
        );
        assert_eq!(repository_private(r#"{"action":"x"}"#), None);
        assert_eq!(repository_private("not json"), None);
    }

    #[test]
    fn buildx_no_default_attestations_is_honoured() {
        assert_eq!(default_of(&[(NO_DEFAULT_ATTESTATIONS, "1")]), None);
        assert_eq!(default_of(&[(NO_DEFAULT_ATTESTATIONS, "true")]), None);
        assert!(default_of(&[(NO_DEFAULT_ATTESTATIONS, "false")]).is_some());
        let mut pairs = RUN.to_vec();
        pairs.push((NO_DEFAULT_ATTESTATIONS, "yes"));
        let e = default_provenance(&[], None, &env(&pairs)).unwrap_err();
        assert_eq!(e.input, NO_DEFAULT_ATTESTATIONS);
    }

    #[test]
    fn an_explicit_choice_replaces_the_default() {
        let run = env(RUN);
        assert_eq!(default_provenance(&[], Some("false"), &run).unwrap(), None);
        let given = attests(&["type=provenance,mode=max".to_owned()], None, None).unwrap();
        assert_eq!(default_provenance(&given, None, &run).unwrap(), None);
        let with_id: Vec<String> = with_builder_id(given, &run)
            .iter()
            .filter_map(Attest::frontend_value)
            .collect();
        assert_eq!(
            with_id,
            [format!("type=provenance,builder-id={ID},mode=max")]
        );
        let sbom = attests(&["type=sbom".to_owned()], None, None).unwrap();
        assert_eq!(with_builder_id(sbom.clone(), &run), sbom);
        // disabled=true sends nothing, and still counts as a choice.
        let off = attests(&["type=provenance,disabled=true".to_owned()], None, None).unwrap();
        assert_eq!(off[0].frontend_value(), None);
        assert_eq!(default_provenance(&off, None, &run).unwrap(), None);
    }

    #[test]
    fn shorthands_replace_entries_of_their_kind() {
        let entries = [
            "TYPE=sbom,Generator=img:1".to_owned(),
            "type=provenance".to_owned(),
        ];
        let got = attests(&entries, Some("mode=max"), Some("false")).unwrap();
        assert_eq!(
            got.iter().map(text).collect::<Vec<_>>(),
            ["provenance:mode=max"]
        );
        let got = attests(&entries, None, None).unwrap();
        assert_eq!(
            got.iter().map(text).collect::<Vec<_>>(),
            ["sbom:generator=img:1", "provenance:"]
        );
        assert_eq!(
            got[0].frontend_value().as_deref(),
            Some("type=sbom,generator=img:1")
        );
        let quoted = attests(&[r#"type=sbom,"generator=a,b""#.to_owned()], None, None).unwrap();
        assert_eq!(quoted[0].attrs[0].value.as_deref(), Some("a,b"));
        assert!(attests(&[], Some("maybe"), None).is_err());
    }
}
