//! `layercache expose`: only the runtime exposure (the `expose-runtime` action, a drop-in
//! for crazy-max/ghaction-github-runtime).

use super::CommandError;
use super::build::{mask_runtime, report_runtime};
use crate::action::env::Env;
use crate::action::expose::expose;
use crate::action::files::RunnerFiles;
use crate::action::workflow::{Style, Workflow};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> Result<(), CommandError> {
    let env = Env::from_process();
    let mut wf = Workflow::stdout(Style::GitHub);
    let runtime = crate::action::runtime::Runtime::from_env(&env);
    mask_runtime(&runtime, &mut wf);
    report_runtime(&runtime, &mut wf);
    if runtime.protocol.is_none() {
        // Exposing is this command's whole job: say why it has nothing to hand on.
        wf.warning("no GitHub Actions cache service (neither ACTIONS_RESULTS_URL nor ACTIONS_CACHE_URL is set); later steps get no cache credentials");
    }
    match expose(&env, &runtime, &RunnerFiles::from_env(&env)) {
        Ok(names) => {
            wf.line(&format!(
                "exposed to later steps: {}",
                if names.is_empty() {
                    "nothing (no cache variables are set)".to_owned()
                } else {
                    names.join(", ")
                }
            ));
            Ok(())
        }
        Err(err) => Err(CommandError::Failed(err.to_string())),
    }
}
