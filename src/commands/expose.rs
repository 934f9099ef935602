//! `layercache expose`: only the runtime exposure (the `expose-runtime` action, a drop-in
//! for crazy-max/ghaction-github-runtime).

use super::CommandError;
use crate::action::env::Env;
use crate::action::expose::expose;
use crate::action::files::RunnerFiles;
use crate::action::inputs::Inputs;
use crate::action::names::{self, EXPOSE_INPUTS};
use crate::action::oidc;
use crate::action::workflow::{Style, Workflow};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> Result<(), CommandError> {
    let mut env = Env::from_process();
    let inputs = Inputs::from_env(EXPOSE_INPUTS, &env);
    if let Some(url) = inputs.text(names::CACHE_SERVICE_URL) {
        if let Err(e) = oidc::parse_url(Some(url)) {
            Workflow::stdout(Style::GitHub).error(&e.to_string());
            return Err(CommandError::Usage(e.to_string()));
        }
        super::build::oidc_cache_service(&inputs, &mut env, Style::GitHub).await;
    }
    let mut wf = Workflow::stdout(Style::GitHub);
    let mut runtime = crate::action::runtime::Runtime::from_env(&env);
    crate::action::masks::mask_runtime(&runtime, &mut wf);
    super::build::settle_protocol(&mut runtime).await;
    crate::report::step_log::runtime(&runtime, &mut wf);
    crate::report::step_log::expose_command(&runtime, &mut wf);
    match expose(&env, &runtime, &RunnerFiles::from_env(&env)) {
        Ok(names) => {
            crate::report::step_log::exposed_all(&names, &mut wf);
            Ok(())
        }
        Err(err) => Err(CommandError::Failed(err.to_string())),
    }
}
