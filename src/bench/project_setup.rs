//! The daemon side of `layercache-bench project`: where RUN steps reach the host (the
//! bridge's gateway), the base image's size, and emptying the builder before each build
//! as a fresh hosted runner has it (no build cache, no images of the project or its base).

use std::net::IpAddr;

use bollard::Docker;
use bollard::query_parameters::{
    InspectNetworkOptions, ListImagesOptions, PruneBuildOptions, PruneImagesOptions,
    RemoveImageOptions,
};

/// Tags the bench gives its images.
pub const TAG_PREFIX: &str = "layercache-bench-project:";

/// The default bridge's gateway: an address of this host that RUN steps (bridge network)
/// reach.
pub async fn bridge_gateway(docker: &Docker) -> Result<IpAddr, String> {
    let net = docker
        .inspect_network("bridge", None::<InspectNetworkOptions>)
        .await
        .map_err(|e| format!("failed to inspect the daemon's bridge network: {e}"))?;
    net.ipam
        .and_then(|i| i.config)
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.gateway.as_deref())
        .find_map(|g| g.parse::<IpAddr>().ok().filter(IpAddr::is_ipv4))
        .ok_or_else(|| "the daemon's bridge network has no IPv4 gateway".to_owned())
}

/// The image's size as the daemon reports it.
pub async fn image_size(docker: &Docker, image: &str) -> Result<u64, String> {
    let info = docker.inspect_image(image).await.map_err(|e| {
        format!("{image} is not in the daemon ({e}); make it with scripts/bench-project.sh")
    })?;
    Ok(info.size.unwrap_or(0).max(0) as u64)
}

/// A fresh runner: no build cache, neither the base image nor any image the bench built.
pub async fn empty_builder(docker: &Docker, base: &str) -> Result<(), String> {
    let listed = docker
        .list_images(Some(ListImagesOptions {
            all: true,
            ..Default::default()
        }))
        .await
        .map_err(|e| format!("failed to list images: {e}"))?;
    let mut remove: Vec<String> = listed
        .iter()
        .flat_map(|i| i.repo_tags.iter())
        .filter(|t| t.starts_with(TAG_PREFIX))
        .cloned()
        .collect();
    remove.push(base.to_owned());
    for tag in remove {
        // Absent already is fine.
        let _ = docker
            .remove_image(
                &tag,
                Some(RemoveImageOptions {
                    force: true,
                    ..Default::default()
                }),
                None,
            )
            .await;
    }
    docker
        .prune_images(Some(PruneImagesOptions {
            filters: Some([("dangling".to_owned(), vec!["true".to_owned()])].into()),
        }))
        .await
        .map_err(|e| format!("failed to prune images: {e}"))?;
    docker
        .prune_build(Some(PruneBuildOptions {
            all: Some(true),
            ..Default::default()
        }))
        .await
        .map_err(|e| format!("failed to prune the build cache: {e}"))?;
    Ok(())
}
