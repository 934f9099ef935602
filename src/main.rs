//! The `layercache` binary: start tracing, run the command, map the outcome to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    layercache::logging::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("layercache: failed to start the async runtime: {err}");
            return ExitCode::from(layercache::app::EXIT_INTERNAL);
        }
    };
    runtime.block_on(layercache::app::run(std::env::args_os()))
}
