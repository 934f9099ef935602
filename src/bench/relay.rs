//! `layercache-bench relay`: a fresh `mode=max` build of N layers exported to a `gha`
//! cache (a) by BuildKit directly and (b) through the relay, side by side in one run on
//! one BuildKit, against our own cache service made slow (`--latency-ms`) and flaky
//! (`--fail-share`, `--throttle-share`). Prints the ratio of step wall times and what
//! landed upstream. Targets (docs/relay.md § Benchmark): at most 0.35 of the direct step
//! at 100 ms per call; with 30% of calls failing, every layer and the index land.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::cache_client::CacheClient;
use crate::cache_config::CacheConfig;
use crate::cache_protocol::{Endpoint, Service, keys};
use crate::cache_service::{self, Faults, ServiceConfig};
use crate::commands::CommandError;
use crate::engine::{self, DockerHost, Outcome, Recorder, Resolved};
use crate::plan::{BuildPlan, CacheOption, DriverChoice};
use crate::secret::Secret;
use crate::storage::StorageConfig;

const VERSION: &str = "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2";
const RATIO_TARGET: f64 = 0.35;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The BuildKit to build on (`tcp://127.0.0.1:PORT` or `unix://…`, on this machine).
    #[arg(
        long,
        env = "LAYERCACHE_TEST_BUILDKIT_ADDR",
        required_unless_present = "docker"
    )]
    buildkit: Option<String>,
    /// Build with the `docker` driver on this daemon instead (its own BuildKit, e.g. the
    /// Docker 28 lane's `unix://…/docker.sock`); the relay is used when the probe passes.
    #[arg(long, conflicts_with = "buildkit")]
    docker: Option<String>,
    /// The image the builds start FROM, pullable by that BuildKit.
    #[arg(long)]
    base_image: String,
    /// Layers of the build (one RUN step each).
    #[arg(long, default_value_t = 12)]
    layers: usize,
    /// KiB of random data per layer.
    #[arg(long, default_value_t = 512)]
    layer_kib: usize,
    /// Delay of every cache-service call, in ms.
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    /// Share of cache-service calls answered 503.
    #[arg(long, default_value_t = 0.0)]
    fail_share: f64,
    /// Share of cache-service calls answered 429 (Retry-After: 1).
    #[arg(long, default_value_t = 0.0)]
    throttle_share: f64,
    /// Rounds of the three builds; each keeps its fastest.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// With `--docker`: also the same export by the `layercache` binary and by `docker
    /// buildx build` on that daemon (a fresh build of as many RUN layers each run).
    #[command(flatten)]
    peer: super::peer::PeerArgs,
}

/// One measured build and what landed upstream for it.
struct Measured {
    outcome: Outcome,
    /// (layers the build has, of them upstream, index found).
    landed: (usize, usize, bool),
}

pub async fn run(args: Args) -> Result<(), CommandError> {
    let failed = |e: &dyn std::fmt::Display| CommandError::Failed(format!("bench relay: {e}"));
    let dir = tempfile::tempdir().map_err(|e| failed(&e))?;
    let ctx = dir.path().join("context");
    write_project(&ctx, args.layers, args.layer_kib).map_err(|e| failed(&e))?;
    let mut config = ServiceConfig::new(
        ([127, 0, 0, 1], 0).into(),
        StorageConfig::Disk(dir.path().join("store")),
    );
    let faults = Faults {
        latency: Duration::from_millis(args.latency_ms),
        fail_share: args.fail_share,
        throttle_share: args.throttle_share,
        retry_after_secs: 1,
        counts: Default::default(),
    };
    config.faults = faults.clone();
    let svc = cache_service::spawn(config).await.map_err(|e| failed(&e))?;
    let url = format!("{}/", svc.base_url);
    let token = svc.token("refs/heads/main");
    let daemon = args
        .docker
        .as_deref()
        .unwrap_or("unix:///var/run/docker.sock");
    let host = DockerHost::parse(daemon).map_err(|e| failed(&e))?;
    let io = Resolved::new(host);
    let mut base = BuildPlan::local(&ctx);
    base.driver = match (&args.docker, &args.buildkit) {
        (Some(_), _) => DriverChoice::Docker,
        (None, Some(endpoint)) => DriverChoice::Remote {
            endpoint: endpoint.clone(),
        },
        (None, None) => return Err(failed(&"give --buildkit or --docker")),
    };
    base.build_args
        .insert("BASE".to_owned(), args.base_image.clone());
    // Pull the base image once, so neither measured build pays for it.
    engine::run(&base, &io, &mut Recorder::default())
        .await
        .map_err(|e| failed(&e))?;
    // Rounds alternate the three builds; each column keeps its fastest round (a shared
    // machine is noisy, and every build gets the same number of tries).
    let mut results: Vec<Option<Measured>> = vec![None, None, None];
    for _ in 0..args.rounds.max(1) {
        for (i, m) in measure_round(&args, &base, &ctx, (&url, &token), &io)
            .await?
            .into_iter()
            .enumerate()
        {
            let better = results[i]
                .as_ref()
                .is_none_or(|b| m.outcome.wall < b.outcome.wall);
            if better {
                results[i] = Some(m);
            }
        }
    }
    let results: Vec<Measured> = results.into_iter().flatten().collect();
    println!("{}", table(&args, &results));
    let (f, t) = faults.injected();
    println!("injected: {f} × 503, {t} × 429");
    if let Some(daemon) = &args.docker {
        let peer = args
            .peer
            .peer(Some(daemon.clone()))
            .map_err(|e| failed(&e))?;
        if let Some(peer) = peer {
            let ctx = dir.path().join("peer-context");
            write_run_project(&ctx, args.layers, args.layer_kib).map_err(|e| failed(&e))?;
            let peer = super::peer::Peer {
                context: ctx,
                build_args: vec![("BASE".to_owned(), args.base_image.clone())],
                tag: format!(
                    "layercache-bench-relay:{}",
                    &uuid::Uuid::new_v4().simple().to_string()[..12]
                ),
                runs: args.rounds.max(1) as u32,
                export: Some(format!(
                    "type=gha,url_v2={url},version=2,token={},mode=max,ignore-error=true",
                    token.expose()
                )),
                ..peer
            };
            println!(
                "{}",
                super::peer::compare(&peer).await.map_err(|e| failed(&e))?
            );
        }
    }
    svc.shutdown().await;
    Ok(())
}

/// (a) direct, (b) through the relay, (c) no cache export at all: the floor.
async fn measure_round(
    args: &Args,
    base: &BuildPlan,
    ctx: &Path,
    (url, token): (&str, &Secret),
    io: &Resolved,
) -> Result<Vec<Measured>, CommandError> {
    let failed = |e: &dyn std::fmt::Display| CommandError::Failed(format!("bench relay: {e}"));
    let mut results = Vec::new();
    for mode in [Some(false), Some(true), None] {
        let scope = format!("bench-{}", uuid::Uuid::new_v4().simple());
        write_project(ctx, args.layers, args.layer_kib).map_err(|e| failed(&e))?;
        let mut req = base.clone();
        req.cache_to = mode
            .map(|relay| entry(url, token, &scope, relay))
            .into_iter()
            .collect();
        let outcome = engine::run(&req, io, &mut Recorder::default())
            .await
            .map_err(|e| failed(&e))?;
        let client = CacheClient::new(Endpoint::V2(url.to_owned()), token.clone());
        let landed = landed(&client, &scope, args.layers).await;
        results.push(Measured { outcome, landed });
    }
    Ok(results)
}

fn entry(url: &str, token: &Secret, scope: &str, relay: bool) -> CacheOption {
    let service = Service {
        endpoint: Endpoint::V2(url.to_owned()),
        token: token.clone(),
    };
    CacheOption::gha(
        service,
        &[
            ("scope", scope),
            ("mode", "max"),
            ("ignore-error", "true"),
            ("relay", if relay { "true" } else { "false" }),
        ],
    )
}

/// What the scope's newest index upstream names, and how many of those blobs are there.
async fn landed(client: &CacheClient, scope: &str, layers: usize) -> (usize, usize, bool) {
    let Ok(Some(hit)) = client
        .lookup(&keys::index_prefix(scope), &[], VERSION)
        .await
    else {
        return (layers, count_blobs(client, &[]).await, false);
    };
    let body = client.read(&hit, 64 << 20).await.unwrap_or_default();
    let config = CacheConfig::from_slice(&body).unwrap_or_default();
    let blobs: Vec<String> = config.blobs().map(str::to_owned).collect();
    let n = count_blobs(client, &blobs).await;
    (blobs.len(), n, true)
}

async fn count_blobs(client: &CacheClient, blobs: &[String]) -> usize {
    let mut n = 0;
    for b in blobs {
        let key = format!("buildkit-blob-1-{b}");
        if let Ok(Some(h)) = client.lookup(&key, &[], VERSION).await
            && h.matched_key == key
        {
            n += 1;
        }
    }
    n
}

/// A Dockerfile of `layers` COPY steps, each of a file of fresh random bytes (so nothing
/// is cached, and the build itself costs little next to the export: no RUN container
/// starts on a loaded machine).
fn write_project(dir: &Path, layers: usize, kib: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut df = String::from("ARG BASE\nFROM ${BASE}\n");
    for i in 0..layers {
        let bytes: Vec<u8> = (0..kib * 1024).map(|_| rand::random::<u8>()).collect();
        std::fs::write(dir.join(format!("layer{i}")), bytes)?;
        let _ = writeln!(df, "COPY layer{i} /layer{i}");
    }
    std::fs::write(dir.join("Dockerfile"), df)
}

/// `layers` RUN steps that each write `kib` KiB of fresh random bytes, all of them run
/// again when the `RUN_ID` build argument changes.
fn write_run_project(dir: &Path, layers: usize, kib: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut df = String::from("ARG BASE\nFROM ${BASE}\nARG RUN_ID\n");
    for i in 0..layers {
        let _ = writeln!(df, "RUN head -c {} /dev/urandom > /layer{i}", kib * 1024);
    }
    std::fs::write(dir.join("Dockerfile"), df)
}

fn table(args: &Args, r: &[Measured]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "layercache bench relay ({}): {} layers of {} KiB, mode=max, {} ms per call, {:.0}% 503, {:.0}% 429",
        match &args.docker {
            Some(d) => format!("docker driver on {d}"),
            None => format!("remote BuildKit {}", args.buildkit.as_deref().unwrap_or("")),
        },
        args.layers,
        args.layer_kib,
        args.latency_ms,
        args.fail_share * 100.0,
        args.throttle_share * 100.0
    );
    let _ = writeln!(
        out,
        "{:<34}{:>14}{:>14}{:>14}",
        "", "direct", "relay", "no export"
    );
    let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    let row = |name: &str, f: &dyn Fn(&Measured) -> String| {
        format!(
            "{name:<34}{:>14}{:>14}{:>14}\n",
            f(&r[0]),
            f(&r[1]),
            f(&r[2])
        )
    };
    out.push_str(&row("step wall time", &|m| secs(m.outcome.wall)));
    out.push_str(&row("BuildKit solve", &|m| secs(m.outcome.solve)));
    out.push_str(&row("after the build (relay)", &|m| {
        m.outcome
            .relay
            .as_ref()
            .map_or("–".to_owned(), |x| secs(x.after_build))
    }));
    out.push_str(&row("index upstream", &|m| {
        if m.landed.2 { "yes" } else { "no" }.to_owned()
    }));
    out.push_str(&row("layers upstream / in index", &|m| {
        format!("{} / {}", m.landed.1, m.landed.0)
    }));
    match &r[1].outcome.relay {
        Some(rep) => {
            let _ = writeln!(out, "{}", rep.figures());
        }
        // The probe failed: the "relay" column exported directly too.
        None => out.push_str("the relay was NOT used: BuildKit did not reach it\n"),
    }
    let ratio = r[1].outcome.wall.as_secs_f64() / r[0].outcome.wall.as_secs_f64().max(f64::EPSILON);
    let all = r[1].outcome.relay.is_some() && r[1].landed.2 && r[1].landed.1 == r[1].landed.0;
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    let _ = writeln!(
        out,
        "relay/direct step wall time: {ratio:.2} (target ≤ {RATIO_TARGET} at 100 ms per call: {})",
        verdict(ratio <= RATIO_TARGET)
    );
    let _ = writeln!(out, "everything landed through the relay: {}", verdict(all));
    out
}
