//! The `docker-container` driver, kept thin: a BuildKit container started through the
//! daemon from the `builder-image` input, found again by name by later steps of the job,
//! its control API reached through `docker exec buildctl dial-stdio` (what buildx does),
//! and removed by the post step. Everything past the connection is shared with the other
//! drivers. How the container is configured is [`super::builder_config`]; a daemon that
//! refuses `privileged` (one that lacks a capability itself) gets the unprivileged profile.

use std::io;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::moby::buildkit::v1::ListWorkersRequest;
use bollard::moby::buildkit::v1::control_client::ControlClient;
use bollard::models::ExecConfig;
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, UploadToContainerOptions,
};
use futures::StreamExt;
use hyper_util::rt::TokioIo;
use tokio_util::io::StreamReader;
use tonic::transport::{Channel, Endpoint, Uri};

use std::collections::BTreeMap;

use super::builder_config::{Profile, config_archive, container_body};
use crate::engine::error::EngineError;
use crate::engine::images::image_pull::{self, BuilderImage};
use crate::engine::records::progress::{BuildEvent, EventSink};
use crate::engine::resolved::RegistryAuth;
use crate::engine::transport::source_chain;
use crate::plan::BuilderSpec;

/// A running builder and how it came to run (for the log).
pub struct Builder {
    /// The connection to its BuildKit (control API and gateway bridge).
    pub channel: Channel,
    /// Set when this step created the container (else an earlier step of the job had).
    pub created: Option<Created>,
}

pub struct Created {
    pub image: BuilderImage,
    pub profile: Profile,
    /// Why the requested profile was not used, when the daemon refused it.
    pub refused: Option<String>,
}

/// Which image (and digest) the builder runs and with which security settings.
impl Builder {
    pub fn report(&self, sink: &mut dyn EventSink) {
        let Some(created) = &self.created else {
            sink.event(BuildEvent::Notice(
                "reusing the builder container an earlier step started".to_owned(),
            ));
            return;
        };
        let pulled = match created.image.pulled_after {
            Some(1) => ", pulled",
            Some(_) => ", pulled after retries",
            None => "",
        };
        sink.event(BuildEvent::Notice(format!(
            "builder image {} ({}{pulled}), {}",
            created.image.image,
            created.image.digest,
            created.profile.describe()
        )));
        if let Some(refused) = &created.refused {
            sink.event(BuildEvent::Warning(format!(
            "the daemon refused a privileged builder container ({refused}); it runs {} instead (driver-opts privileged=false skips the first try)",
            created.profile.describe()
        )));
        }
    }
}

/// Held while this process looks for a builder container and makes it.
static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Make sure the builder container `spec.name` runs (reusing it when an earlier step
/// started it) and return its control API. On failure nothing is left behind.
pub async fn builder(
    docker: &Docker,
    spec: &BuilderSpec,
    auth: &BTreeMap<String, RegistryAuth>,
) -> Result<Builder, EngineError> {
    let (name, image) = (&spec.name, &spec.image);
    let fail = |what: &str, e: &dyn std::fmt::Display, hint: &str| EngineError::Unsupported {
        driver: "docker-container",
        what: format!("failed to {what} builder container {name} from {image}: {e}"),
        hint: hint.to_owned(),
    };
    let run_hint = "set driver-opts the host allows (privileged=false, cap-drop=CAP, security-opt=...), or use driver remote";
    // A cache-mount restore asks for the builder while the build does: one of them makes
    // it, the other finds it (two creators would collide on the name, and the loser's
    // clean-up would remove the winner's container).
    let _one_creator = CREATING.lock().await;
    let running = match docker.inspect_container(name, None).await {
        Ok(c) => c.state.and_then(|s| s.running).unwrap_or(false),
        Err(_) => {
            let pulled = image_pull::ensure(docker, image, auth).await.map_err(|e| {
                fail(
                    "pull the image for",
                    &e,
                    "check builder-image (or driver-opts image=), the registry and its credentials",
                )
            })?;
            let created = start_new(docker, spec)
                .await
                .map_err(|e| fail("start", &e, run_hint))?;
            // A container whose BuildKit never answers is of no use to a later step.
            let channel = match connect_when_ready(docker, name).await {
                Ok(channel) => channel,
                Err(e) => {
                    remove(docker, name).await;
                    return Err(e);
                }
            };
            return Ok(Builder {
                channel,
                created: Some(Created {
                    image: pulled,
                    profile: created.0,
                    refused: created.1,
                }),
            });
        }
    };
    if !running && let Err(e) = docker.start_container(name, None).await {
        remove(docker, name).await;
        return Err(fail("start", &e, run_hint));
    }
    Ok(Builder {
        channel: connect_when_ready(docker, name).await?,
        created: None,
    })
}

/// Create and start the container with the profile asked for; when that is `privileged`
/// and the daemon refuses it, once more with [`Profile::fallback`]. Returns the profile
/// that runs and the refusal, if any.
async fn start_new(
    docker: &Docker,
    spec: &BuilderSpec,
) -> Result<(Profile, Option<String>), String> {
    let requested = Profile::requested(&spec.options);
    let err = match create_and_start(docker, spec, &requested).await {
        Ok(()) => return Ok((requested, None)),
        Err(e) => e,
    };
    remove(docker, &spec.name).await;
    if requested != Profile::Privileged {
        return Err(err);
    }
    let fallback = Profile::fallback();
    tracing::debug!(builder = %spec.name, error = %err, "the daemon refused a privileged builder; trying {}", fallback.describe());
    match create_and_start(docker, spec, &fallback).await {
        Ok(()) => Ok((fallback, Some(err))),
        Err(second) => {
            remove(docker, &spec.name).await;
            Err(format!(
                "{err}; {} also failed: {second}",
                fallback.describe()
            ))
        }
    }
}

async fn create_and_start(
    docker: &Docker,
    spec: &BuilderSpec,
    profile: &Profile,
) -> Result<(), String> {
    let body = container_body(&spec.image, &spec.name, &spec.options, profile);
    let options = CreateContainerOptions {
        name: Some(spec.name.clone()),
        ..Default::default()
    };
    docker
        .create_container(Some(options), body)
        .await
        .map_err(|e| format!("create: {e}"))?;
    if let Some(toml) = &spec.options.config_toml {
        let archive = config_archive(toml).map_err(|e| format!("buildkitd-config-inline: {e}"))?;
        let opts = UploadToContainerOptions {
            path: "/".to_owned(),
            ..Default::default()
        };
        docker
            .upload_to_container(&spec.name, Some(opts), bollard::body_full(archive.into()))
            .await
            .map_err(|e| format!("copy buildkitd-config-inline into it: {e}"))?;
    }
    docker
        .start_container(&spec.name, None)
        .await
        .map_err(|e| e.to_string())?;
    // A container that starts but whose buildkitd exits at once (a bad flag or config, a
    // missing capability) is refused as well: say so with its last log lines.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let state = docker
        .inspect_container(&spec.name, None)
        .await
        .ok()
        .and_then(|c| c.state);
    if state.as_ref().and_then(|s| s.running) == Some(false) {
        let code = state.and_then(|s| s.exit_code).unwrap_or_default();
        return Err(format!(
            "buildkitd exited with code {code}: {}",
            last_log_line(docker, &spec.name).await
        ));
    }
    Ok(())
}

/// The last line buildkitd wrote (its error, when it exited at once).
async fn last_log_line(docker: &Docker, name: &str) -> String {
    let opts = LogsOptions {
        stdout: true,
        stderr: true,
        tail: "200".to_owned(),
        ..Default::default()
    };
    let mut text = String::new();
    let mut stream = docker.logs(name, Some(opts));
    while let Some(Ok(item)) = stream.next().await {
        text.push_str(&item.to_string());
    }
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // A usage error is followed by the whole help text: the error line is what matters.
    let error = lines.iter().rev().find(|l| {
        let l = l.to_ascii_lowercase();
        ["error", "fatal", "incorrect usage", "not defined"]
            .iter()
            .any(|w| l.contains(w))
    });
    error
        .or(lines.last())
        .map_or("no output", |l| *l)
        .to_owned()
}

/// The post step: remove the builder container `name` (and its state) if a step made one.
pub async fn remove_builder(
    host: &crate::engine::transport::DockerHost,
    name: &str,
) -> Result<(), EngineError> {
    remove(&host.docker()?, name).await;
    Ok(())
}

/// Remove the builder container and its state volume.
async fn remove(docker: &Docker, name: &str) {
    let opts = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    if let Err(e) = docker.remove_container(name, Some(opts)).await {
        tracing::debug!(error = %e, %name, "failed to remove builder container");
    }
    let _ = docker
        .remove_volume(
            &format!("{name}_state"),
            None::<bollard::query_parameters::RemoveVolumeOptions>,
        )
        .await;
}

/// BuildKit needs a moment after start; retry until it lists its workers.
async fn connect_when_ready(docker: &Docker, name: &str) -> Result<Channel, EngineError> {
    let mut last = String::new();
    for _ in 0..40 {
        match connect(docker, name).await {
            Ok(channel) => match ControlClient::new(channel.clone())
                .list_workers(ListWorkersRequest::default())
                .await
            {
                Ok(_) => return Ok(channel),
                Err(s) => last = s.message().to_owned(),
            },
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(EngineError::BuildkitUnreachable {
        endpoint: format!("docker-container://{name}"),
        reason: last,
    })
}

async fn connect(docker: &Docker, name: &str) -> Result<Channel, String> {
    let (docker, name) = (docker.clone(), name.to_owned());
    let connector = tower::service_fn(move |_: Uri| dial_stdio(docker.clone(), name.clone()));
    Endpoint::from_static("http://buildkit.invalid")
        .connect_with_connector(connector)
        .await
        .map_err(|e| source_chain(&e))
}

/// `buildctl dial-stdio` inside the container: its stdin/stdout are BuildKit's socket.
async fn dial_stdio(
    docker: Docker,
    name: String,
) -> io::Result<TokioIo<impl tokio::io::AsyncRead + tokio::io::AsyncWrite>> {
    let config = ExecConfig {
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        cmd: Some(vec!["buildctl".to_owned(), "dial-stdio".to_owned()]),
        ..Default::default()
    };
    let exec = docker
        .create_exec(&name, config)
        .await
        .map_err(io::Error::other)?;
    let opts = StartExecOptions {
        detach: false,
        tty: false,
        output_capacity: Some(64 * 1024),
    };
    match docker
        .start_exec(&exec.id, Some(opts))
        .await
        .map_err(io::Error::other)?
    {
        StartExecResults::Attached { output, input } => {
            // Frames are demultiplexed (tty off), so stdout is BuildKit's bytes exactly.
            let stdout = output.filter_map(|item| async move {
                match item {
                    Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                        Some(Ok(message))
                    }
                    Ok(_) => None,
                    Err(e) => Some(Err(io::Error::other(e))),
                }
            });
            Ok(TokioIo::new(tokio::io::join(
                StreamReader::new(Box::pin(stdout)),
                input,
            )))
        }
        StartExecResults::Detached => Err(io::Error::other("exec started detached")),
    }
}
