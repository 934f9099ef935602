//! The step log's own sections, composed for the user: the cache service and token the
//! runtime gave, the layer cache plan, cache advice, the frontend's answer to `call`, build
//! checks as warnings at their Dockerfile line, the step's outputs and cache housekeeping. Each writes through a [`Workflow`], so the same
//! text becomes workflow commands under the runner and plain lines in a terminal.

use std::io::Write;

use crate::action::env::Env;
use crate::action::runtime::Runtime;
use crate::action::workflow::{Level, Location, Workflow};
use crate::advice::Finding;
use crate::engine::Outcome;
use crate::housekeeping::PruneReport;
use crate::plan::BuildPlan;

use super::CallReport;

/// The frontend's answer in the log; `check` findings as warnings at their line.
pub fn call<W: Write>(
    plan: &BuildPlan,
    env: &Env,
    name: &str,
    answer: &CallReport,
    wf: &mut Workflow<W>,
) {
    wf.group(&format!("call: {name}"));
    wf.untrusted(&answer.text);
    wf.end_group();
    let annotate = !env
        .get("DOCKER_BUILD_CHECKS_ANNOTATIONS")
        .is_some_and(is_false);
    for finding in answer.findings.iter().filter(|_| annotate) {
        let at = Location {
            file: Some(plan.dockerfile.to_string_lossy().into_owned()),
            line: finding.line,
            title: Some("Build check".to_owned()),
            ..Default::default()
        };
        wf.annotate(Level::Warning, &finding.message, &at);
    }
}

/// The frontend's build checks as warnings at their Dockerfile line, as build-push-action
/// shows them; `DOCKER_BUILD_CHECKS_ANNOTATIONS=false` keeps them to log lines.
pub fn build_checks<W: Write>(
    plan: &BuildPlan,
    env: &Env,
    outcome: &Outcome,
    wf: &mut Workflow<W>,
) {
    let annotate = !env
        .get("DOCKER_BUILD_CHECKS_ANNOTATIONS")
        .is_some_and(is_false);
    for w in &outcome.build_warnings {
        let mut message = w.message.clone();
        if !w.url.is_empty() {
            message.push_str(&format!(" ({})", w.url));
        }
        if !annotate {
            wf.line(&format!("WARNING: {message}"));
            continue;
        }
        let at = Location {
            file: Some(plan.dockerfile.to_string_lossy().into_owned()),
            line: w.line,
            title: Some("Build check".to_owned()),
            ..Default::default()
        };
        wf.annotate(Level::Warning, &message, &at);
    }
}

/// `false` as build-push-action's `Util.parseBool` spells it.
pub fn is_false(v: &str) -> bool {
    matches!(v, "0" | "f" | "F" | "false" | "FALSE" | "False")
}

/// "Cache service" group: protocol, mode, and the token's readable/writable refs.
pub fn runtime<W: Write>(runtime: &Runtime, wf: &mut Workflow<W>) {
    wf.group("GitHub Actions cache");
    match &runtime.protocol {
        Some(p) => wf.line(&format!(
            "cache service: {p} at {}: {}",
            if p.version() == 2 {
                "ACTIONS_RESULTS_URL"
            } else {
                "ACTIONS_CACHE_URL"
            },
            runtime.protocol_why
        )),
        None => wf.line("cache service: none"),
    }
    wf.line(&format!("cache mode: {}", runtime.mode));
    for s in &runtime.scopes {
        let access = match (s.readable(), s.writable()) {
            (true, true) => "read/write",
            (true, false) => "read",
            (false, true) => "write",
            (false, false) => "none",
        };
        wf.line(&format!("token scope {}: {access}", s.scope));
    }
    wf.end_group();
    for w in &runtime.warnings {
        wf.warning(w);
    }
}

pub fn cache_plan<W: Write>(plan: &BuildPlan, wf: &mut Workflow<W>) {
    wf.group("Layer cache");
    wf.line(&format!("scope: {}", plan.scope));
    for e in &plan.cache_from {
        wf.line(&format!("import: {}", e.describe()));
    }
    for e in &plan.cache_to {
        wf.line(&format!("export: {}", e.describe()));
    }
    wf.end_group();
    for s in &plan.cache_skipped {
        let level = if s.warn {
            Level::Warning
        } else {
            Level::Notice
        };
        let msg = format!("{}: {} skipped: {}", s.input, s.entry, s.reason);
        wf.annotate(level, &msg, &Location::default());
    }
}

/// Cache advice as warnings at the Dockerfile line.
pub fn advice<W: Write>(findings: &[Finding], wf: &mut Workflow<W>) {
    for f in findings {
        let at = Location {
            file: Some(f.file.clone()),
            line: u32::try_from(f.line).ok(),
            title: Some(format!("layercache cache advice ({})", f.rule.code())),
            ..Location::default()
        };
        wf.annotate(Level::Warning, &f.message, &at);
    }
}

/// `cache-prune` did not run, and why.
pub fn prune_skipped<W: Write>(why: &str, wf: &mut Workflow<W>) {
    wf.warning(&format!("cache-prune: skipped: {why}"));
}

/// Cache housekeeping in its own group, with what it did.
pub async fn housekeeping<W: Write, E>(
    wf: &mut Workflow<W>,
    run: impl Future<Output = Result<PruneReport, E>>,
) -> Result<PruneReport, E> {
    wf.group("Cache housekeeping");
    let result = run.await;
    if let Ok(report) = &result {
        wf.line(&super::housekeeping_line(report));
    }
    wf.end_group();
    result
}

/// An output in the log, where the runner has no output file (a terminal); `metadata`
/// and empty values are left out.
pub fn output_line<W: Write>(name: &str, value: &str, wf: &mut Workflow<W>) {
    if name != "metadata" && !value.is_empty() {
        wf.line(&format!("{name}: {value}"));
    }
}

/// The runner files `expose` wrote, or why it could not.
pub fn exposed<W: Write>(result: Result<Vec<&str>, String>, wf: &mut Workflow<W>) {
    match result {
        Ok(names) if !names.is_empty() => {
            wf.line(&format!("exposed to later steps: {}", names.join(", ")))
        }
        Ok(_) => {}
        Err(err) => wf.warning(&format!(
            "could not expose the cache credentials to later steps: {err}"
        )),
    }
}

/// `layercache expose`: exposing is the command's whole job, so no service is a warning.
pub fn expose_command<W: Write>(runtime: &Runtime, wf: &mut Workflow<W>) {
    if runtime.protocol.is_none() {
        wf.warning("no GitHub Actions cache service (neither ACTIONS_RESULTS_URL nor ACTIONS_CACHE_URL is set); later steps get no cache credentials");
    }
}

/// What `layercache expose` handed on, nothing included.
pub fn exposed_all<W: Write>(names: &[&str], wf: &mut Workflow<W>) {
    let list = match names.is_empty() {
        true => "nothing (no cache variables are set)".to_owned(),
        false => names.join(", "),
    };
    wf.line(&format!("exposed to later steps: {list}"));
}
