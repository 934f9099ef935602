//! `layercache action`: what the action's container runs. Inputs come from `INPUT_*`.

use std::io::Write;

use super::CommandError;
use super::build::run_build;
use crate::action::InputError;
use crate::action::env::Env;
use crate::action::inputs::Inputs;
use crate::action::names::{self as n, INPUTS};
use crate::action::workflow::{Style, Workflow};
use crate::plan::git_auth;
use crate::report::ProgressView;
use crate::runner_host::credentials::OwnPackage;
use crate::runner_host::{
    RegistryCredentials, RunnerHost, translate_agent_socket, translate_inputs,
};
use crate::secret::Secret;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Validate the inputs and show the plan (cache entries, scope) without building.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(args: Args) -> Result<(), CommandError> {
    let mut env = Env::from_process();
    let mut inputs = Inputs::from_env(INPUTS, &env);
    let mut wf = Workflow::stdout(Style::GitHub);
    prepare(&mut env, &mut inputs, &mut wf)
        .await
        .map_err(|e| CommandError::Usage(e.to_string()))?;
    run_build(
        &env,
        &inputs,
        Style::GitHub,
        ProgressView::Plain,
        args.dry_run,
    )
    .await
}

/// What build-push-action would have on the runner's host and a container action does
/// not: the default Git context, host paths inside entries made container paths, and the
/// registry credentials `docker/login-action` left on the host. Logs where each came from.
async fn prepare<W: Write>(
    env: &mut Env,
    inputs: &mut Inputs,
    wf: &mut Workflow<W>,
) -> Result<(), InputError> {
    let given = inputs.text(n::CONTEXT).is_some();
    if let Some(default) = git_auth::apply_default_context(inputs, env)?
        && !given
    {
        wf.line(&format!(
            "context: {default} (no `context` given: the repository's Git context, as build-push-action builds; no checkout needed)"
        ));
    }
    let host = RunnerHost::discover(env).await;
    if let Some(h) = &host {
        for line in translate_inputs(inputs, &h.mounts)? {
            wf.line(&line);
        }
        if let Some(line) = translate_agent_socket(inputs, env, &h.mounts)? {
            wf.line(&line);
        }
    }
    let own = own_package(inputs, env);
    let credentials = RegistryCredentials::find(env, host.as_ref(), own).await;
    for line in credentials.lines() {
        wf.line(&line);
    }
    env.set_docker_config(credentials.config_json().clone());
    Ok(())
}

/// `github-token` for the repository's own `ghcr.io` package, when the build names one.
fn own_package(inputs: &Inputs, env: &Env) -> Option<OwnPackage> {
    let repository = env.get(n::env::GITHUB_REPOSITORY)?.to_owned();
    let token = inputs.text(n::GITHUB_TOKEN)?;
    // Parse errors are the plan's to report, with every other input error.
    let mut images = inputs.list(n::TAGS).unwrap_or_default();
    for output in inputs.list(n::OUTPUTS).unwrap_or_default() {
        let attrs = crate::action::csv::split_attrs(&output).unwrap_or_default();
        let names = attrs
            .iter()
            .filter(|a| a.key == "name")
            .filter_map(|a| a.value.as_deref());
        images.extend(names.flat_map(|v| v.split(',').map(|s| s.trim().to_owned())));
    }
    Some(OwnPackage {
        repository,
        actor: env.get("GITHUB_ACTOR").map(str::to_owned),
        token: Secret::new(token),
        images,
    })
}
