//! The command line: one binary, one subcommand per job. Each subcommand lives in
//! `commands/` with its own clap arguments; this file only dispatches, shows a failure's
//! one message and maps it to an exit code.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::action::env::Env;
use crate::action::workflow::Style;
use crate::commands::{self, CommandError, EXIT_USAGE};
use crate::report;

#[derive(Debug, Parser)]
#[command(name = "layercache", version, about = "BuildKit builds with the GitHub Actions layer cache", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run as the GitHub Action: read INPUT_* and the runner environment (what the container runs).
    Action(commands::action::Args),
    /// Build an image from a terminal, with flags named like the action's inputs.
    Build(commands::build::Args),
    /// The action's post step: remove what the main step left behind.
    Post(commands::post::Args),
    /// Expose the runner's cache credentials to later steps (the expose-runtime action).
    Expose(commands::expose::Args),
    /// Print Dockerfile cache advice: patterns that throw layer cache away.
    Advise(commands::advise::Args),
    /// Delete superseded cache indexes (and unreferenced layer blobs) through GitHub's API.
    Prune(commands::prune::Args),
    /// Run a GitHub-compatible Actions cache service (v1, v2, Azure-like blobs, REST).
    Serve(Box<commands::serve::Args>),
    /// Inside a cache-mount transfer: copy a directory's contents (docs/cache-mounts.md).
    #[command(hide = true)]
    MountCopy(crate::cache_mounts::copy_tool::Args),
}

/// The name the image links the binary under for `runs.post-entrypoint`: the runner gives
/// the post container the main step's args, so the program name picks the post step.
pub const POST_ENTRYPOINT_NAME: &str = "layercache-post";

/// Parse `args` and run the chosen command.
pub async fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let mut args: Vec<OsString> = args.into_iter().collect();
    let invoked_as_post = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .is_some_and(|n| n == POST_ENTRYPOINT_NAME);
    if invoked_as_post {
        args = vec!["layercache".into(), "post".into()];
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    // The form a failure is shown in: workflow commands for what the runner starts, plain
    // lines for a terminal.
    let (style, result) = match cli.command {
        Command::Action(args) => (Style::GitHub, commands::action::run(args).await),
        Command::Build(args) => (
            commands::build::style(&Env::from_process()),
            commands::build::run(args).await,
        ),
        Command::Post(args) => (Style::GitHub, commands::post::run(args).await),
        Command::Expose(args) => (Style::GitHub, commands::expose::run(args).await),
        Command::Advise(args) => (Style::Plain, commands::advise::run(args).await),
        Command::Prune(args) => (Style::Plain, commands::prune::run(args).await),
        Command::Serve(args) => (Style::Plain, commands::serve::run(*args).await),
        Command::MountCopy(args) => (
            Style::Plain,
            crate::cache_mounts::copy_tool::run(&args)
                .map(|_| ())
                .map_err(|e| CommandError::Failed(e.to_string())),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let at = match &err {
                CommandError::FailedAt { at, .. } => Some(at),
                _ => None,
            };
            report::show_failure(style, &err.to_string(), at);
            ExitCode::from(err.exit_code())
        }
    }
}
