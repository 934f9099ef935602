//! The `layercache` binary: start tracing, run the command, map the outcome to an exit code.

use std::process::ExitCode;

// The libc allocators (musl's in the static action image, glibc's elsewhere) hand large
// freed blocks straight back to the kernel, so the cache service's request bodies, which
// are allocated and freed by the hundred KiB, fault fresh pages in over and over. jemalloc
// keeps them for reuse; docs/serve.md's benchmark shows the difference.
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    layercache::logging::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("layercache: failed to start the async runtime: {err}");
            return ExitCode::from(layercache::commands::EXIT_INTERNAL);
        }
    };
    runtime.block_on(layercache::app::run(std::env::args_os()))
}
