//! Attestation requests (`attests`, and the `provenance`/`sbom` shorthands), typed.
//!
//! Provenance follows build-push-action: with no `provenance` input and no `attests` entry
//! of that type, a minimal provenance attestation (`mode=min`, kept inline) whenever the
//! BuildKit can attach one; `provenance: false` turns it off; every provenance request
//! carries a `builder-id` naming the workflow run when the run is known.

use crate::action::InputError;
use crate::action::csv::{Attr, split_attrs};
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
/// or an `attests` entry of that type).
pub fn default_provenance(
    attests: &[Attest],
    provenance_input: Option<&str>,
    env: &Env,
) -> Option<Attest> {
    if provenance_input.is_some() || attests.iter().any(|a| a.kind == AttestKind::Provenance) {
        return None;
    }
    let mut attrs = vec![attr("mode", "min"), attr("inline-only", "true")];
    if let Some(id) = builder_id(env) {
        attrs.push(attr("builder-id", &id));
    }
    Some(Attest::new(AttestKind::Provenance, attrs))
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
    use crate::action::csv::join_attrs;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    fn text(a: &Attest) -> String {
        format!("{}:{}", a.kind.as_str(), join_attrs(&a.attrs))
    }

    const RUN: &[(&str, &str)] = &[
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "octo/app"),
        ("GITHUB_RUN_ID", "42"),
        ("GITHUB_RUN_ATTEMPT", "2"),
    ];

    #[test]
    fn the_default_is_min_with_the_run_as_builder_id() {
        assert_eq!(
            default_provenance(&[], None, &env(RUN))
                .map(|a| text(&a))
                .as_deref(),
            Some(
                "provenance:mode=min,inline-only=true,builder-id=https://github.com/octo/app/actions/runs/42/attempts/2"
            )
        );
        assert_eq!(
            default_provenance(&[], None, &env(&[]))
                .map(|a| text(&a))
                .as_deref(),
            Some("provenance:mode=min,inline-only=true")
        );
    }

    #[test]
    fn an_explicit_choice_replaces_the_default() {
        assert_eq!(default_provenance(&[], Some("false"), &env(RUN)), None);
        let given = attests(&["type=provenance,mode=max".to_owned()], None, None).unwrap();
        assert_eq!(default_provenance(&given, None, &env(RUN)), None);
        let with_id: Vec<String> = with_builder_id(given, &env(RUN)).iter().map(text).collect();
        assert_eq!(
            with_id,
            [
                "provenance:mode=max,builder-id=https://github.com/octo/app/actions/runs/42/attempts/2"
            ]
        );
        let sbom = attests(&["type=sbom".to_owned()], None, None).unwrap();
        assert_eq!(with_builder_id(sbom.clone(), &env(RUN)), sbom);
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
        let quoted = attests(&[r#"type=sbom,"generator=a,b""#.to_owned()], None, None).unwrap();
        assert_eq!(quoted[0].attrs[0].value.as_deref(), Some("a,b"));
        assert!(attests(&[], Some("maybe"), None).is_err());
    }
}
