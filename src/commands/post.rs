//! `layercache post`.

use super::CommandError;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> Result<(), CommandError> {
    Err(CommandError::Failed("post: not implemented yet".into()))
}
