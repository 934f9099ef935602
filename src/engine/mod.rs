//! The build engine: the only code that knows bollard and BuildKit. It picks a driver,
//! serves the context, solves through BuildKit's control API with a session of our own,
//! streams progress as [`BuildEvent`]s, loads or pushes, and returns an [`Outcome`].
//!
//! Use: [`run_plan`]`(&plan, &env, &mut sink)` (or [`Resolved::from_env`] then
//! [`run`]); the typed `plan::BuildPlan` is the engine's input, with the I/O it needs
//! resolved apart ([`Resolved`]); print events with `report::PlainProgress`; turn the outcome into outputs,
//! summary and annotation with `report::{BuildOutputs, summary_markdown,
//! failure_annotation}`; the post step calls [`remove_builder`] for `docker-container`.
//!
//! Drivers: `docker` is the daemon's BuildKit through `/grpc` (Engine 20.10 here: registry
//! cache import, inline export, `moby`/`tar`/`local` exporters); `remote` is a buildkitd at
//! `tcp://`/`unix://`; `docker-container` starts one through the daemon. All three share
//! the session ([`session`]) and the solve request ([`frontend`]).

mod builder_config;
mod cache_relay;
mod cache_report;
mod cache_traffic;
mod container;
mod content_store;
mod context;
mod diff_copy;
pub mod dockerignore;
mod driver;
mod error;
mod file_send;
mod file_sync;
mod frontend;
mod fsutil;
mod gateway;
mod history;
mod image_pull;
mod load;
mod local_cache;
mod outcome;
mod progress;
mod push;
mod relay_probe;
mod relay_reach;
mod resolved;
mod run;
mod session;
mod solve;
mod solve_failure;
mod ssh_agent;
mod ssh_forward;
mod transport;
mod vertex;

use std::path::{Path, PathBuf};

/// The directory `path` is in: `.` for a bare file name, where `Path::parent` gives "".
fn containing_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

pub use cache_relay::StepHold;
pub use cache_report::{CacheReport, CacheState};
pub use cache_traffic::{CacheDirection, CacheTraffic};
pub use container::remove_builder;
pub use context::{ContextSource, is_local_build_context};
pub use driver::{Capabilities, DaemonFacts, choose};
pub use error::EngineError;
pub use frontend::{
    OutputDestination, SolveInputs, entry as cache_entry_for_buildkit, frontend_attrs,
    output_destination, output_destinations, solve_request,
};
pub use outcome::Outcome;
pub use progress::{BuildEvent, BuildWarning, EventSink, Recorder, StepRecord};
pub use push::{registry_host, split_tag};
pub use resolved::{RegistryAuth, Resolved, docker_config_auth, parse_docker_config};
pub use run::{prune_remote, run, run_held, run_plan, run_plan_held};
pub use transport::DockerHost;
pub use vertex::{is_dockerfile_step, is_from_step};
