//! `layercache-bench mounts`: what a restored cache mount saves, side by side in one run.
//!
//! A loopback HTTP server plays the package registry (a few hundred files); the
//! Dockerfile's cache-mounted step downloads every file its cache mount lacks. A build
//! primes the gha cache (our cache service, in-process); then, each on a builder whose
//! build cache was pruned (a fresh runner) and with the step's layer busted (a changed
//! lock file), the step runs once without cache mounts kept and once with the mount
//! restored. Printed: step time, bytes and requests the server saw, and the restore's
//! own cost, with ratios.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::action::env::Env;
use crate::action::inputs::Inputs;
use crate::action::names::INPUTS;
use crate::action::runtime::Runtime;
use crate::cache_mounts::{Restore, prepare};
use crate::commands::CommandError;
use crate::engine::{self, Outcome, Recorder};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The BuildKit daemon to build on (remote driver): `tcp://` or `unix://`. Its build
    /// cache is pruned between builds.
    #[arg(long)]
    endpoint: String,
    /// The image the Dockerfile builds FROM, pullable by that BuildKit (needs `sh`, `wget`).
    #[arg(long)]
    base_image: String,
    /// Files the "package registry" serves and the step downloads.
    #[arg(long, default_value_t = 300)]
    files: usize,
    /// Bytes per file.
    #[arg(long, default_value_t = 32 * 1024)]
    file_size: usize,
    /// Delay before each answer, as a registry across the internet adds (0: loopback speed).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

/// What the package server saw.
#[derive(Debug, Default)]
struct Served {
    requests: AtomicU64,
    bytes: AtomicU64,
}

/// One measured build.
#[derive(Debug)]
struct Measured {
    step: Duration,
    /// The whole build (base image pull, context, export included).
    wall: Duration,
    requests: u64,
    bytes: u64,
    restore: Option<(u64, Duration)>,
}

pub async fn run(args: Args) -> Result<(), CommandError> {
    let failed = |e: &dyn std::fmt::Display| CommandError::Failed(format!("bench: {e}"));
    let served = Arc::new(Served::default());
    let latency = Duration::from_millis(args.latency_ms);
    let port = package_server(served.clone(), args.file_size, latency)
        .await
        .map_err(|e| failed(&e))?;
    let store = tempfile::tempdir().map_err(|e| failed(&e))?;
    let config = crate::cache_service::ServiceConfig::new(
        ([127, 0, 0, 1], 0).into(),
        crate::storage::StorageConfig::Disk(store.path().to_owned()),
    );
    let service = crate::cache_service::spawn(config)
        .await
        .map_err(|e| failed(&e))?;
    let context = tempfile::tempdir().map_err(|e| failed(&e))?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    std::fs::write(
        context.path().join("Dockerfile"),
        dockerfile(&id[..12], port, args.files),
    )
    .map_err(|e| failed(&e))?;
    let bench = Bench {
        args: &args,
        context: context.path(),
        url: format!("{}/", service.base_url),
        token: service.token("refs/heads/main").expose().to_owned(),
        served: &served,
    };
    // Prime: the first build fills the mount and saves it.
    bench.build("prime", true).await.map_err(|e| failed(&e))?;
    let cold = bench.build("cold", false).await.map_err(|e| failed(&e))?;
    let warm = bench.build("warm", true).await.map_err(|e| failed(&e))?;
    service.shutdown().await;
    println!("{}", table(&args, &cold, &warm));
    Ok(())
}

struct Bench<'a> {
    args: &'a Args,
    context: &'a std::path::Path,
    url: String,
    token: String,
    served: &'a Served,
}

impl Bench<'_> {
    /// Prune the builder, then build with the step busted, keeping mounts or not.
    async fn build(&self, run: &str, mounts: bool) -> Result<Measured, String> {
        engine::prune_remote(&self.args.endpoint)
            .await
            .map_err(|e| e.to_string())?;
        let pairs = [
            ("context", self.context.display().to_string()),
            ("driver", "remote".to_owned()),
            ("endpoint", self.args.endpoint.clone()),
            (
                "build-args",
                format!(
                    "BASE={}\nLOCK={run}-{}",
                    self.args.base_image,
                    uuid::Uuid::new_v4().simple()
                ),
            ),
            ("cache-to", "type=gha,mode=max".to_owned()),
            ("cache-mounts", mounts.to_string()),
        ];
        let inputs = Inputs::from_pairs(INPUTS, pairs.iter().map(|(k, v)| (*k, v.clone())))
            .map_err(|e| e.to_string())?;
        let env = Env::from_pairs([
            ("ACTIONS_RESULTS_URL", self.url.as_str()),
            ("ACTIONS_RUNTIME_TOKEN", self.token.as_str()),
        ]);
        let runtime = Runtime::from_env(&env);
        let plan = crate::plan::parse(&inputs, &runtime, &env).map_err(|e| e.to_string())?;
        let mut keeper = prepare(&plan, &runtime, &env).await?;
        if let Some(k) = keeper.as_mut() {
            k.restore().await;
        }
        let (requests, bytes) = (self.served.requests.load(SEQ), self.served.bytes.load(SEQ));
        let outcome = engine::run_plan(&plan, &env, &mut Recorder::default())
            .await
            .map_err(|e| e.to_string())?;
        let requests = self.served.requests.load(SEQ) - requests;
        let bytes = self.served.bytes.load(SEQ) - bytes;
        if let Some(k) = keeper.as_mut() {
            k.saw_build(&outcome);
            k.save().await;
        }
        let restore = keeper
            .as_ref()
            .and_then(|k| k.outcomes().first().cloned())
            .and_then(|o| match o.restore {
                Restore::Restored { bytes, took } => Some((bytes, took)),
                _ => None,
            });
        Ok(Measured {
            step: fetch_step(&outcome)?,
            wall: outcome.wall,
            requests,
            bytes,
            restore,
        })
    }
}

const SEQ: Ordering = Ordering::SeqCst;

/// The time of the step that downloads.
fn fetch_step(outcome: &Outcome) -> Result<Duration, String> {
    outcome
        .steps
        .iter()
        .find(|s| s.name.contains("--mount=type=cache") && !s.cached)
        .and_then(|s| s.duration)
        .ok_or_else(|| "the download step did not run".to_owned())
}

/// The step fetches each file its cache mount lacks, as a package manager does.
fn dockerfile(id: &str, port: u16, files: usize) -> String {
    format!(
        "ARG BASE\nFROM $BASE\nARG LOCK\nRUN --mount=type=cache,id=bench-{id},target=/var/cache/pkgs \\\n    echo \"$LOCK\" > /lock && i=0 && while [ $i -lt {files} ]; do \\\n      f=/var/cache/pkgs/$i.pkg; [ -s $f ] || wget -q -O $f http://127.0.0.1:{port}/pkg/$i || exit 1; \\\n      i=$((i+1)); done\n"
    )
}

/// A loopback server of `size`-byte files at `/pkg/<n>`, counting what it sends.
async fn package_server(
    served: Arc<Served>,
    size: usize,
    latency: Duration,
) -> std::io::Result<u16> {
    use axum::extract::{Path, State};
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let port = listener.local_addr()?.port();
    let app = axum::Router::new()
        .route(
            "/pkg/{n}",
            axum::routing::get(
                move |State(s): State<Arc<Served>>, Path(n): Path<u64>| async move {
                    tokio::time::sleep(latency).await;
                    s.requests.fetch_add(1, SEQ);
                    s.bytes.fetch_add(size as u64, SEQ);
                    // Not compressible, like real packages: the archive gains nothing for free.
                    let mut seed = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    (0..size)
                        .map(|_| {
                            seed ^= seed << 13;
                            seed ^= seed >> 7;
                            seed ^= seed << 17;
                            seed as u8
                        })
                        .collect::<Vec<u8>>()
                },
            ),
        )
        .with_state(served);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(port)
}

fn table(args: &Args, cold: &Measured, warm: &Measured) -> String {
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let (restored, restore_time) = warm.restore.unwrap_or_default();
    let warm_total = warm.step + restore_time;
    let mut out = format!(
        "cache mounts: {} files of {} from a loopback server ({} ms per request); step layer busted, builder pruned\n\n",
        args.files,
        crate::report::human_bytes(args.file_size as u64),
        args.latency_ms
    );
    out.push_str("| | without the mount | mount restored | ratio |\n|---|---:|---:|---:|\n");
    let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    let rows = [
        (
            "step time",
            secs(cold.step),
            secs(warm.step),
            ratio(warm.step.as_secs_f64(), cold.step.as_secs_f64()),
        ),
        (
            "step + restore time",
            secs(cold.step),
            secs(warm_total),
            ratio(warm_total.as_secs_f64(), cold.step.as_secs_f64()),
        ),
        (
            "build + restore time",
            secs(cold.wall),
            secs(warm.wall + restore_time),
            ratio(
                (warm.wall + restore_time).as_secs_f64(),
                cold.wall.as_secs_f64(),
            ),
        ),
        (
            "bytes fetched",
            crate::report::human_bytes(cold.bytes),
            crate::report::human_bytes(warm.bytes),
            ratio(warm.bytes as f64, cold.bytes as f64),
        ),
        (
            "requests",
            cold.requests.to_string(),
            warm.requests.to_string(),
            ratio(warm.requests as f64, cold.requests as f64),
        ),
    ];
    for (what, a, b, r) in rows {
        out.push_str(&format!("| {what} | {a} | {b} | {r:.3} |\n"));
    }
    out.push_str(&format!(
        "\nrestore: {} from the cache in {}\n",
        crate::report::human_bytes(restored),
        secs(restore_time)
    ));
    out
}
