//! `layercache action`: what the action's container runs. Inputs come from `INPUT_*`.

use super::CommandError;
use super::build::run_build;
use crate::action::env::Env;
use crate::action::inputs::Inputs;
use crate::action::names::INPUTS;
use crate::action::workflow::Style;
use crate::report::ProgressView;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Validate the inputs and show the plan (cache entries, scope) without building.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(args: Args) -> Result<(), CommandError> {
    let env = Env::from_process();
    let inputs = Inputs::from_env(INPUTS, &env);
    run_build(
        &env,
        &inputs,
        Style::GitHub,
        ProgressView::Plain,
        args.dry_run,
    )
    .await
}
