//! How a build can fail. Messages are lowercase "failed to …" lines meant for a user; a
//! failing step carries the Dockerfile and line so the report can annotate it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("failed to find the build context {}: {reason}", path.display())]
    MissingContext { path: PathBuf, reason: String },
    #[error("failed to find the Dockerfile {}: {reason}", path.display())]
    MissingDockerfile { path: PathBuf, reason: String },
    #[error("failed to read the build context: {0}")]
    Context(String),
    #[error("failed to use docker host {host:?}: {reason}")]
    DockerHost { host: String, reason: String },
    #[error(
        "failed to reach the Docker daemon at {host} (set DOCKER_HOST to another socket?): {reason}"
    )]
    DaemonUnreachable { host: String, reason: String },
    #[error("failed to reach BuildKit at {endpoint}: {reason}")]
    BuildkitUnreachable { endpoint: String, reason: String },
    /// The chosen driver cannot do what the build asks for.
    #[error("failed to build with driver {driver}: {what}; {hint}")]
    Unsupported {
        driver: &'static str,
        what: String,
        hint: String,
    },
    #[error("failed to solve: {step}: {message}")]
    StepFailed {
        /// The step as BuildKit names it (`[2/3] RUN make`).
        step: String,
        message: String,
        dockerfile: PathBuf,
        /// 1-based line of the instruction in the Dockerfile, when it could be found.
        line: Option<usize>,
    },
    #[error("failed to solve: {0}")]
    Solve(String),
    #[error("failed to push {image}: {reason}")]
    Push { image: String, reason: String },
    #[error("failed to talk to the Docker daemon: {0}")]
    Docker(String),
    #[error("failed to run the build: {0}")]
    Internal(String),
}
