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

mod builder;
mod error;
mod images;
mod records;
mod resolved;
mod run;
mod session;
mod solve;
mod transport;

use std::path::{Path, PathBuf};

/// The directory `path` is in: `.` for a bare file name, where `Path::parent` gives "".
fn containing_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

pub use builder::cache_relay::StepHold;
pub use builder::container::remove_builder;
pub use builder::driver::{Capabilities, DaemonFacts, choose};
pub use error::EngineError;
pub use images::push::{registry_host, split_tag};
pub use records::cache_report::{CacheReport, CacheState};
pub use records::cache_traffic::{CacheDirection, CacheTraffic};
pub use records::outcome::Outcome;
pub use records::progress::{BuildEvent, BuildWarning, EventSink, Recorder, StepRecord};
pub use records::vertex::{is_dockerfile_step, is_from_step};
pub use resolved::{RegistryAuth, Resolved, docker_config_auth, parse_docker_config};
pub use run::{prune_remote, run, run_held, run_plan, run_plan_held};
pub use solve::context::{ContextSource, is_local_build_context};
pub use solve::frontend::{
    OutputDestination, SolveInputs, entry as cache_entry_for_buildkit, frontend_attrs,
    output_destination, output_destinations, solve_request,
};
pub use transport::DockerHost;
