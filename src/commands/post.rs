//! `layercache post`: the action's post step. It removes what the main step left behind
//! (a BuildKit container it created), named in the step's saved state.

use super::CommandError;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> Result<(), CommandError> {
    // The main step saves nothing to clean up yet: the docker-container driver is what
    // creates a builder, and it records the container in GITHUB_STATE when it does.
    Ok(())
}
