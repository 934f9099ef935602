//! `layercache-bench`: the benchmarks, in a binary of their own so the action image does
//! not carry them. Each prints ratios measured side by side in one run.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use layercache::bench;
use layercache::commands::{CommandError, EXIT_INTERNAL};

#[derive(Debug, Parser)]
#[command(name = "layercache-bench", version, about = "Benchmarks for layercache", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure the engine: a reference build cold, then cached, on one daemon.
    Engine(bench::engine::Args),
    /// Measure the docker driver against docker-container on one daemon: cold, fully
    /// cached, and from the gha cache alone, each on an emptied builder.
    Drivers(bench::drivers::Args),
    /// Measure a restored cache mount against none: step time and bytes fetched.
    Mounts(bench::mounts::Args),
    /// Measure the cache service against a plain file copy on the same disk.
    Serve(bench::serve::Args),
    /// Measure a gha export through the relay against BuildKit's own, on one BuildKit.
    Relay(bench::relay::Args),
    /// Measure a cache-mount restore and save copying in the base image against a static layercache.
    Transfer(bench::transfer::Args),
    /// Measure a Python project's builds (cold, no change, source change, dependency
    /// change) by layercache and by `docker buildx build`, each on an emptied builder.
    Project(bench::project::Args),
}

fn main() -> ExitCode {
    layercache::logging::init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("layercache-bench: failed to start the async runtime: {err}");
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    let result: Result<(), CommandError> = runtime.block_on(async {
        match cli.command {
            Command::Engine(args) => bench::engine::run(args).await,
            Command::Drivers(args) => bench::drivers::run(args).await,
            Command::Mounts(args) => bench::mounts::run(args).await,
            Command::Serve(args) => bench::serve::run(args).await,
            Command::Relay(args) => bench::relay::run(args).await,
            Command::Transfer(args) => bench::transfer::run(args).await,
            Command::Project(args) => bench::project::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
