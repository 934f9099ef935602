//! `layercache-bench drivers`: the daemon's BuildKit (`docker`) against a BuildKit
//! container (`docker-container`) on one Docker daemon, side by side in one run, for what
//! decides `driver: auto` (docs/buildkit.md § Which driver `auto` picks). Per driver, on
//! an emptied builder (a fresh runner: no build cache, no base image, no builder
//! container): a cold build loaded into the daemon and exporting to a `gha` cache, the same build again on that
//! builder (every step cached), and the same build on a builder emptied again with only
//! the `gha` cache to import (what every later job of a hosted runner does). The cache is
//! our own service answering each call after `--latency-ms`; both drivers go through the
//! relay when their BuildKit reaches it.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::cache_protocol::{Endpoint, Service};
use crate::cache_service::{self, Faults, ServiceConfig};
use crate::commands::CommandError;
use crate::engine::{self, DockerHost, Outcome, Recorder, Resolved};
use crate::plan::image::parse_image_ref;
use crate::plan::{BuildPlan, BuilderSpec, CacheOption, DriverChoice};
use crate::storage::StorageConfig;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Docker daemon both drivers use (e.g. the Docker 28 lane's
    /// `unix://…/docker.sock`).
    #[arg(long, env = "LAYERCACHE_TEST_DOCKER28_HOST")]
    docker: String,
    /// The BuildKit image of the `docker-container` driver, present in that daemon.
    #[arg(long, env = "LAYERCACHE_TEST_BUILDKIT_IMAGE")]
    builder_image: String,
    /// The image the builds start FROM, pullable by both BuildKits (a registry on
    /// loopback: the builder container runs on the host's network).
    #[arg(long)]
    base_image: String,
    /// Layers of the build (one COPY step each, of fresh random data), then one RUN step.
    #[arg(long, default_value_t = 8)]
    layers: usize,
    /// KiB of random data per layer.
    #[arg(long, default_value_t = 512)]
    layer_kib: usize,
    /// Delay of every cache-service call, in ms.
    #[arg(long, default_value_t = 30)]
    latency_ms: u64,
    /// Rounds; each cell keeps its fastest.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
}

/// The three builds of one driver, in one round.
#[derive(Clone)]
struct Round {
    cold: Outcome,
    cached: Outcome,
    from_gha: Outcome,
}

const DRIVERS: [&str; 2] = ["docker", "docker-container"];

pub async fn run(args: Args) -> Result<(), CommandError> {
    let failed = |e: &dyn std::fmt::Display| CommandError::Failed(format!("bench drivers: {e}"));
    let dir = tempfile::tempdir().map_err(|e| failed(&e))?;
    let mut config = ServiceConfig::new(
        ([127, 0, 0, 1], 0).into(),
        StorageConfig::Disk(dir.path().join("store")),
    );
    config.faults = Faults {
        latency: Duration::from_millis(args.latency_ms),
        ..Faults::default()
    };
    let svc = cache_service::spawn(config).await.map_err(|e| failed(&e))?;
    let service = Service {
        endpoint: Endpoint::V2(format!("{}/", svc.base_url)),
        token: svc.token("refs/heads/main"),
    };
    let host = DockerHost::parse(&args.docker).map_err(|e| failed(&e))?;
    let io = Resolved::new(host);
    let builder = BuilderSpec {
        image: args.builder_image.clone(),
        name: format!(
            "layercache-bench-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        ),
        ..BuilderSpec::default()
    };
    let mut best: [Option<Round>; 2] = [None, None];
    for _ in 0..args.rounds.max(1) {
        for (i, driver) in DRIVERS.iter().enumerate() {
            let ctx = dir.path().join(format!("context-{driver}"));
            let mut req = BuildPlan::local(&ctx);
            req.build_args
                .insert("BASE".to_owned(), args.base_image.clone());
            // What a workflow that uses the image next asks for: the docker driver stores
            // it in the daemon anyway, docker-container sends it there.
            req.load = true;
            // Tagged as the bench's images are, so emptying the builder removes it.
            let tag = format!("{}drivers", super::project_setup::TAG_PREFIX);
            req.tags = vec![parse_image_ref(&tag).map_err(|e| failed(&e))?];
            req.driver = match *driver {
                "docker" => DriverChoice::Docker,
                _ => DriverChoice::DockerContainer,
            };
            req.builder = builder.clone();
            // The host's network: the base image's registry is on loopback. Unprivileged:
            // this machine's daemon refuses privileged containers (DESIGN.md).
            req.builder.options.network = Some("host".to_owned());
            req.builder.options.privileged = false;
            let round = measure(&args, &req, &ctx, &service, &io)
                .await
                .map_err(|e| failed(&format!("{driver}: {e}")))?;
            let cell = &mut best[i];
            *cell = Some(match cell.take() {
                None => round,
                Some(b) => Round {
                    cold: faster(b.cold, round.cold),
                    cached: faster(b.cached, round.cached),
                    from_gha: faster(b.from_gha, round.from_gha),
                },
            });
        }
    }
    let _ = engine::remove_builder(&io.host, &builder.name).await;
    svc.shutdown().await;
    match best {
        [Some(docker), Some(container)] => {
            println!("{}", table(&args, &docker, &container));
            Ok(())
        }
        _ => Err(failed(&"no round ran")),
    }
}

fn faster(a: Outcome, b: Outcome) -> Outcome {
    if b.wall < a.wall { b } else { a }
}

/// One round of one driver: cold, cached, and from the gha cache alone.
async fn measure(
    args: &Args,
    base: &BuildPlan,
    ctx: &Path,
    service: &Service,
    io: &Resolved,
) -> Result<Round, String> {
    write_project(ctx, args.layers, args.layer_kib).map_err(|e| e.to_string())?;
    let scope = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let entry = CacheOption::gha(
        service.clone(),
        &[("scope", &scope), ("mode", "max"), ("ignore-error", "true")],
    );
    let mut req = base.clone();
    req.cache_from = vec![entry.clone()];
    req.cache_to = vec![entry];
    let build = async || {
        engine::run(&req, io, &mut Recorder::default())
            .await
            .map_err(|e| e.to_string())
    };
    empty(base, io, &args.base_image).await?;
    let cold = build().await?;
    let cached = build().await?;
    empty(base, io, &args.base_image).await?;
    let from_gha = build().await?;
    Ok(Round {
        cold,
        cached,
        from_gha,
    })
}

/// A fresh runner for `req`'s driver: the daemon without build cache or base image, and
/// no builder container.
async fn empty(req: &BuildPlan, io: &Resolved, base_image: &str) -> Result<(), String> {
    let docker = io.host.docker().map_err(|e| e.to_string())?;
    super::project_setup::empty_builder(&docker, base_image).await?;
    engine::remove_builder(&io.host, &req.builder.name)
        .await
        .map_err(|e| e.to_string())
}

/// `layers` COPY steps of fresh random bytes, then a RUN step that reads them all.
fn write_project(dir: &Path, layers: usize, kib: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut df = String::from("ARG BASE\nFROM ${BASE}\n");
    for i in 0..layers {
        let bytes: Vec<u8> = (0..kib * 1024).map(|_| rand::random::<u8>()).collect();
        std::fs::write(dir.join(format!("layer{i}")), bytes)?;
        let _ = writeln!(df, "COPY layer{i} /layer{i}");
    }
    df.push_str("RUN cat /layer* | wc -c > /total\n");
    std::fs::write(dir.join("Dockerfile"), df)
}

fn table(args: &Args, docker: &Round, container: &Round) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "layercache bench drivers on {}: {} layers of {} KiB + a RUN step, gha cache at {} ms per call, best of {} rounds",
        args.docker,
        args.layers,
        args.layer_kib,
        args.latency_ms,
        args.rounds.max(1)
    );
    let _ = writeln!(
        out,
        "{:<44}{:>10}{:>18}{:>8}",
        "", "docker", "docker-container", "ratio"
    );
    let secs = |d: Duration| d.as_secs_f64();
    let mut row = |name: &str, f: &dyn Fn(&Round) -> Option<Duration>| {
        let (a, b) = (f(docker), f(container));
        let cell =
            |d: Option<Duration>| d.map_or("–".to_owned(), |d| format!("{:.2} s", secs(d)));
        let ratio = match (a, b) {
            (Some(a), Some(b)) => format!("{:.2}", secs(b) / secs(a).max(f64::EPSILON)),
            _ => "–".to_owned(),
        };
        let _ = writeln!(out, "{name:<44}{:>10}{:>18}{ratio:>8}", cell(a), cell(b));
    };
    row("cold step (emptied builder, gha export)", &|r| {
        Some(r.cold.wall)
    });
    row("  of it: cache export (BuildKit's clock)", &|r| {
        r.cold.cache_export_time()
    });
    row("  of it: relay after the build", &|r| {
        r.cold.relay.as_ref().map(|x| x.after_build)
    });
    row("fully cached step (same builder)", &|r| Some(r.cached.wall));
    row("from gha alone (emptied builder)", &|r| {
        Some(r.from_gha.wall)
    });
    let relayed = |r: &Round| if r.cold.relay.is_some() { "yes" } else { "no" };
    let _ = writeln!(
        out,
        "relay used: docker {}, docker-container {}; ratio = docker-container / docker",
        relayed(docker),
        relayed(container)
    );
    let cached = |r: &Round| r.from_gha.cached_percent().unwrap_or(0.0);
    let _ = writeln!(
        out,
        "steps cached from gha alone: docker {:.0}%, docker-container {:.0}%",
        cached(docker),
        cached(container)
    );
    out
}
