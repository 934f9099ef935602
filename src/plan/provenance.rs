//! Provenance as build-push-action asks buildx for it: with no `provenance` input and no
//! `attests` entry of that type, a minimal provenance attestation (`mode=min`, kept inline)
//! whenever the BuildKit can attach one; `provenance: false` turns it off; every provenance
//! request carries a `builder-id` naming the workflow run when the run is known.

use crate::action::env::Env;

/// The attributes of the default provenance request, or `None` when the user decided
/// (`provenance` given, or an `attests` entry `type=provenance`).
pub fn default_provenance(
    attests: &[String],
    provenance_input: Option<&str>,
    env: &Env,
) -> Option<String> {
    if provenance_input.is_some() || attests.iter().any(|a| is_provenance(a)) {
        return None;
    }
    let mut attrs = "mode=min,inline-only=true".to_owned();
    if let Some(id) = builder_id(env) {
        attrs.push_str(&format!(",builder-id={id}"));
    }
    Some(attrs)
}

/// Add the run's `builder-id` to provenance entries that name none.
pub fn with_builder_id(attests: Vec<String>, env: &Env) -> Vec<String> {
    let Some(id) = builder_id(env) else {
        return attests;
    };
    attests
        .into_iter()
        .map(|a| match is_provenance(&a) && !a.contains("builder-id=") {
            true => format!("{a},builder-id={id}"),
            false => a,
        })
        .collect()
}

fn is_provenance(entry: &str) -> bool {
    entry.split(',').any(|f| f.trim() == "type=provenance")
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
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
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
            default_provenance(&[], None, &env(RUN)).as_deref(),
            Some(
                "mode=min,inline-only=true,builder-id=https://github.com/octo/app/actions/runs/42/attempts/2"
            )
        );
        assert_eq!(
            default_provenance(&[], None, &env(&[])).as_deref(),
            Some("mode=min,inline-only=true")
        );
    }

    #[test]
    fn an_explicit_choice_replaces_the_default() {
        assert_eq!(default_provenance(&[], Some("false"), &env(RUN)), None);
        let given = vec!["type=provenance,mode=max".to_owned()];
        assert_eq!(default_provenance(&given, None, &env(RUN)), None);
        assert_eq!(
            with_builder_id(given, &env(RUN)),
            [
                "type=provenance,mode=max,builder-id=https://github.com/octo/app/actions/runs/42/attempts/2"
            ]
        );
        let sbom = vec!["type=sbom".to_owned()];
        assert_eq!(with_builder_id(sbom.clone(), &env(RUN)), sbom);
    }
}
