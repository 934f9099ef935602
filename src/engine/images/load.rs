//! `load` with a BuildKit outside the daemon (`docker-container`, `remote`): BuildKit
//! exports a `docker` tar through the session into a temporary file, which is streamed
//! into the daemon's `/images/load` and deleted, whatever happens.

use std::path::Path;

use bollard::Docker;
use bollard::query_parameters::ImportImageOptions;
use futures::StreamExt;
use tokio_util::io::ReaderStream;

use crate::engine::error::EngineError;

/// The temporary tar the exporter writes; removed when dropped.
pub struct LoadTarget(tempfile::NamedTempFile);

impl LoadTarget {
    pub fn new() -> Result<Self, EngineError> {
        tempfile::Builder::new()
            .prefix("layercache-load-")
            .suffix(".tar")
            .tempfile()
            .map(Self)
            .map_err(|e| {
                EngineError::Internal(format!("failed to create a temporary file for load: {e}"))
            })
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// Load the image tar at `path` into the daemon.
pub async fn load(docker: &Docker, path: &Path) -> Result<(), EngineError> {
    let fail = |reason: String| {
        EngineError::Docker(format!(
            "failed to load the image into the daemon: {reason}"
        ))
    };
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let options = ImportImageOptions {
        quiet: true,
        ..Default::default()
    };
    let mut stream = docker.import_image_stream(options, ReaderStream::new(file), None);
    while let Some(item) = stream.next().await {
        item.map_err(|e| fail(e.to_string()))?;
    }
    Ok(())
}
