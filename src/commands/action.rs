//! `layercache action`.

use super::CommandError;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> Result<(), CommandError> {
    Err(CommandError::Failed("action: not implemented yet".into()))
}
