//! `layercache post`: the action's post step. It removes the BuildKit container the main
//! step created (driver `docker-container`), which the main step named in `GITHUB_STATE`
//! and the runner hands back as `STATE_builder`.

use super::CommandError;
use crate::action::env::Env;
use crate::action::workflow::{Style, Workflow};
use crate::engine::{self, DockerHost};

/// The `GITHUB_STATE` name the main step saves the builder container under.
pub const BUILDER_STATE: &str = "builder";

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> Result<(), CommandError> {
    let env = Env::from_process();
    let Some(name) = env.get(&format!("STATE_{BUILDER_STATE}")) else {
        return Ok(()); // the main step created nothing
    };
    let mut wf = Workflow::stdout(Style::GitHub);
    let host = DockerHost::from_env(&env);
    let removed = match host {
        Ok(host) => engine::remove_builder(&host, name).await,
        Err(e) => Err(e),
    };
    match removed {
        Ok(()) => wf.line(&format!("removed builder container {name}")),
        // Cleaning up is best effort: the runner removes the job's containers anyway.
        Err(e) => wf.warning(&format!("could not remove builder container {name}: {e}")),
    }
    Ok(())
}
