//! The build engine: the only code that knows bollard and BuildKit. It picks a driver,
//! packs the context, solves through BuildKit's control API with a session of our own,
//! streams progress as [`BuildEvent`]s, loads or pushes, and returns an [`Outcome`].

mod container;
mod context;
mod dockerfile;
pub mod dockerignore;
mod driver;
mod error;
mod from_plan;
mod frontend;
mod load;
mod outcome;
mod progress;
mod push;
mod request;
mod run;
mod session;
mod solve;
mod transport;

pub use container::remove_builder;
pub use context::{PackedContext, pack};
pub use dockerfile::locate_step;
pub use driver::{Capabilities, DaemonFacts, choose};
pub use error::EngineError;
pub use from_plan::{docker_config_auth, run_plan};
pub use frontend::{
    SolveInputs, TarDestination, entry as cache_entry_for_buildkit, frontend_attrs, solve_request,
    tar_destination,
};
pub use outcome::Outcome;
pub use progress::{BuildEvent, EventSink, Recorder, StepRecord, is_dockerfile_step};
pub use push::{registry_host, split_tag};
pub use request::{
    BuildRequest, BuilderSpec, CacheEntry, CacheType, DriverChoice, Output, RegistryAuth,
};
pub use run::{prune_remote, run};
pub use transport::DockerHost;
