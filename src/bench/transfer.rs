//! `layercache-bench transfer`: what one cache-mount restore and save cost on an empty
//! builder, copying with `cp -a` in the stage's base image against copying with a static
//! layercache on `FROM scratch`, side by side in one run. Before each transfer the
//! daemon's build cache is pruned and the base image removed, as on a fresh runner, so
//! the base-image copy pays for its pull (docs/cache-mounts.md § Transfers).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cache_mounts::{CacheMount, Direction, Sharing, Transfers, copy_tool};
use crate::commands::CommandError;
use crate::engine::{DockerHost, Resolved};
use crate::plan::{BuildPlan, DriverChoice};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The daemon whose own BuildKit runs the transfers (`docker` driver).
    #[arg(long, env = "LAYERCACHE_TEST_DOCKER_HOST")]
    docker_host: String,
    /// The stage's base image, in a registry the daemon pulls from (removed before each
    /// transfer).
    #[arg(long)]
    base_image: String,
    /// A static layercache to copy with (default: this binary, when static).
    #[arg(long, env = "LAYERCACHE_MOUNT_TOOL")]
    tool: Option<PathBuf>,
    /// Rounds; each kind keeps its fastest.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
}

fn failed(e: impl std::fmt::Display) -> CommandError {
    CommandError::Failed(e.to_string())
}

pub async fn run(args: Args) -> Result<(), CommandError> {
    let host = DockerHost::parse(&args.docker_host).map_err(failed)?;
    let tool = copy_tool::static_self(args.tool.as_deref().and_then(|p| p.to_str()))
        .ok_or_else(|| failed("no static layercache to copy with: pass --tool"))?;
    let mut plan = BuildPlan::local(".");
    plan.driver = DriverChoice::Docker;
    let docker = host.docker().map_err(failed)?;
    let mut best: [(Duration, Duration); 2] = [(Duration::MAX, Duration::MAX); 2];
    for round in 0..args.rounds {
        for (kind, tool) in [None, Some(tool.clone())].into_iter().enumerate() {
            let transfers = Transfers::new(plan.clone(), Resolved::new(host.clone()), tool)
                .await
                .map_err(failed)?;
            let mount = CacheMount {
                id: format!("bench-{}", uuid::Uuid::new_v4().simple()),
                target: "/cache".into(),
                sharing: Sharing::Shared,
                uid: None,
                gid: None,
                mode: None,
                base: args.base_image.clone(),
                line: 1,
            };
            let mut took = Vec::new();
            for direction in [Direction::Restore, Direction::Save] {
                empty(&docker, &args.base_image).await?;
                let dir = tempfile::tempdir().map_err(failed)?;
                let content = dir.path().join("content");
                std::fs::create_dir_all(&content).map_err(failed)?;
                std::fs::write(
                    content.join("pip.lock"),
                    b"35 bytes of a small cache mount\n",
                )
                .map_err(failed)?;
                let started = Instant::now();
                transfers
                    .run(&mount, dir.path(), direction)
                    .await
                    .map_err(failed)?;
                took.push(started.elapsed());
            }
            let name = ["cp -a in the base image", "static layercache"][kind];
            println!(
                "round {round}: {name}: restore {:.2} s, save {:.2} s",
                took[0].as_secs_f64(),
                took[1].as_secs_f64()
            );
            best[kind].0 = best[kind].0.min(took[0]);
            best[kind].1 = best[kind].1.min(took[1]);
        }
    }
    let ratio = |a: Duration, b: Duration| b.as_secs_f64() / a.as_secs_f64().max(1e-9);
    println!(
        "restore: {:.2} s -> {:.2} s ({:.2}x); save: {:.2} s -> {:.2} s ({:.2}x)",
        best[0].0.as_secs_f64(),
        best[1].0.as_secs_f64(),
        ratio(best[0].0, best[1].0),
        best[0].1.as_secs_f64(),
        best[1].1.as_secs_f64(),
        ratio(best[0].1, best[1].1)
    );
    Ok(())
}

/// A fresh runner: no build cache, no base image, and none of the untagged images earlier
/// transfers left (on Engine 20.10 they hold the base image's layers).
async fn empty(docker: &bollard::Docker, image: &str) -> Result<(), CommandError> {
    docker
        .prune_build(Some(bollard::query_parameters::PruneBuildOptions {
            all: Some(true),
            ..Default::default()
        }))
        .await
        .map_err(failed)?;
    // Absent already is fine.
    let _ = docker
        .remove_image(
            image,
            Some(bollard::query_parameters::RemoveImageOptions {
                force: true,
                ..Default::default()
            }),
            None,
        )
        .await;
    docker
        .prune_images(Some(bollard::query_parameters::PruneImagesOptions {
            filters: Some([("dangling".to_owned(), vec!["true".to_owned()])].into()),
        }))
        .await
        .map_err(failed)?;
    Ok(())
}
