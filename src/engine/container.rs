//! The `docker-container` driver, kept thin: a BuildKit container started through the
//! daemon from the `builder-image` input, found again by name by later steps of the job,
//! its control API reached through `docker exec buildctl dial-stdio` (what buildx does),
//! and removed by the post step. Everything past the connection is shared with the other
//! drivers. Security options are an input because BuildKit needs privileges that some
//! hosts refuse (these test machines refuse `privileged`).

use std::io;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::moby::buildkit::v1::ListWorkersRequest;
use bollard::moby::buildkit::v1::control_client::ControlClient;
use bollard::models::{ContainerCreateBody, ExecConfig, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, RemoveContainerOptions,
};
use futures::StreamExt;
use hyper_util::rt::TokioIo;
use tokio_util::io::StreamReader;
use tonic::transport::{Channel, Endpoint, Uri};

use super::error::EngineError;
use super::transport::source_chain;

const LABEL: &str = "io.layercache.builder";

/// Make sure the builder container `name` runs (reusing it when an earlier step started
/// it) and return its control API. On failure nothing is left behind.
pub async fn builder(
    docker: &Docker,
    image: &str,
    name: &str,
    security_opts: &[String],
) -> Result<ControlClient<Channel>, EngineError> {
    let fail = |what: &str, e: &dyn std::fmt::Display, hint: &str| EngineError::Unsupported {
        driver: "docker-container",
        what: format!("failed to {what} builder container {name} from {image}: {e}"),
        hint: hint.to_owned(),
    };
    let (pull_hint, run_hint) = (
        "check builder-image and the registry it comes from, or use driver remote",
        "set builder security options the host allows, or use driver remote",
    );
    let running = match docker.inspect_container(name, None).await {
        Ok(c) => c.state.and_then(|s| s.running).unwrap_or(false),
        Err(_) => {
            pull_if_missing(docker, image)
                .await
                .map_err(|e| fail("pull the image for", &e, pull_hint))?;
            create(docker, image, name, security_opts)
                .await
                .map_err(|e| fail("create", &e, run_hint))?;
            false
        }
    };
    if !running && let Err(e) = docker.start_container(name, None).await {
        remove(docker, name).await;
        return Err(fail("start", &e, run_hint));
    }
    connect_when_ready(docker, name).await
}

/// The post step: remove the builder container `name` (and its state) if a step made one.
pub async fn remove_builder(
    host: &super::transport::DockerHost,
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

async fn pull_if_missing(docker: &Docker, image: &str) -> Result<(), bollard::errors::Error> {
    if docker.inspect_image(image).await.is_ok() {
        return Ok(());
    }
    let opts = CreateImageOptions {
        from_image: Some(image.to_owned()),
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(opts), None, None);
    while let Some(item) = stream.next().await {
        item?;
    }
    Ok(())
}

async fn create(
    docker: &Docker,
    image: &str,
    name: &str,
    security_opts: &[String],
) -> Result<(), bollard::errors::Error> {
    let mut host = HostConfig {
        binds: Some(vec![format!("{name}_state:/var/lib/buildkit")]),
        init: Some(true),
        ..Default::default()
    };
    let opts: Vec<String> = if security_opts.is_empty() {
        vec!["privileged".to_owned()]
    } else {
        security_opts.to_vec()
    };
    for opt in opts {
        if opt == "privileged" {
            host.privileged = Some(true);
        } else if let Some(cap) = opt.strip_prefix("cap-add=") {
            host.cap_add
                .get_or_insert_with(Vec::new)
                .push(cap.to_owned());
        } else {
            host.security_opt.get_or_insert_with(Vec::new).push(opt);
        }
    }
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(vec!["--allow-insecure-entitlement=network.host".to_owned()]),
        labels: Some([(LABEL.to_owned(), "1".to_owned())].into()),
        host_config: Some(host),
        ..Default::default()
    };
    let options = CreateContainerOptions {
        name: Some(name.to_owned()),
        ..Default::default()
    };
    docker
        .create_container(Some(options), body)
        .await
        .map(|_| ())
}

/// BuildKit needs a moment after start; retry until it lists its workers.
async fn connect_when_ready(
    docker: &Docker,
    name: &str,
) -> Result<ControlClient<Channel>, EngineError> {
    let mut last = String::new();
    for _ in 0..40 {
        match connect(docker, name).await {
            Ok(mut client) => match client.list_workers(ListWorkersRequest::default()).await {
                Ok(_) => return Ok(client),
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

async fn connect(docker: &Docker, name: &str) -> Result<ControlClient<Channel>, String> {
    let (docker, name) = (docker.clone(), name.to_owned());
    let connector = tower::service_fn(move |_: Uri| dial_stdio(docker.clone(), name.clone()));
    Endpoint::from_static("http://buildkit.invalid")
        .connect_with_connector(connector)
        .await
        .map(ControlClient::new)
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
