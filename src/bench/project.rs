//! `layercache-bench project`: the benchmark users would run (issue #24). A Python project
//! on a Debian bookworm base with python3-pip, ~20 wheels installed from a package index
//! with cacheable answers in `RUN --mount=type=cache,target=/root/.cache/pip`, then its
//! source copied and compiled. Four scenarios (cold, no change, source change, dependency
//! change), each built on an emptied builder (build cache pruned, images removed: a fresh
//! hosted runner) by `layercache build` and by `docker buildx build`, on the same BuildKit
//! (the daemon's own), with `type=gha` cache in the same service answering each call after
//! `--service-latency-ms`. Printed: one table, seconds and ratios, side by side in one run.
//!
//! `scripts/bench-project.sh` makes the base image (debootstrap, never pulled) and the
//! wheels (pip download, once) and runs this on the Docker 28 lane.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::package_index::{self, Distance, Served};
use crate::cache_service::{self, Faults, ServiceConfig};
use crate::commands::CommandError;
use crate::engine::DockerHost;
use crate::storage::StorageConfig;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Docker daemon whose BuildKit both clients build on (Docker 28, containerd store).
    #[arg(long, env = "LAYERCACHE_TEST_DOCKER28_HOST")]
    docker_host: String,
    /// A docker CLI with the buildx plugin (the lane's wrapper).
    #[arg(long, env = "LAYERCACHE_TEST_DOCKER28_BUILDX")]
    buildx: PathBuf,
    /// The bookworm + python3-pip image, in a registry the daemon pulls from (removed
    /// before each build, as a fresh runner has none).
    #[arg(long)]
    base_image: String,
    /// The wheels the package index serves (a `pip download` directory).
    #[arg(long)]
    wheels: PathBuf,
    /// The `layercache` binary (default: the one next to this binary).
    #[arg(long)]
    layercache: Option<PathBuf>,
    /// Another `layercache` binary (an earlier version) to measure in the same run, as a
    /// column of its own.
    #[arg(long)]
    before: Option<PathBuf>,
    /// Delay of every cache-service call, in ms.
    #[arg(long, default_value_t = 30)]
    service_latency_ms: u64,
    /// Delay of every package-index answer, in ms (PyPI is across the internet).
    #[arg(long, default_value_t = 50)]
    index_latency_ms: u64,
    /// The package index's bandwidth, in KiB/s (0: no cap).
    #[arg(long, default_value_t = 4096)]
    index_kib_per_s: u64,
    /// Rounds of all scenarios; each cell keeps its fastest.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
}

/// The requirements, as the base of the dependency-change scenario, and what it adds.
const REQUIREMENTS: &[&str] = &[
    "requests",
    "flask",
    "pyyaml",
    "python-dateutil",
    "attrs",
    "packaging",
    "rich",
    "sqlalchemy",
];
const ADDED: &str = "tabulate";
const SCENARIOS: [&str; 4] = ["cold", "no change", "source change", "dependency change"];
const SOURCE_FILES: usize = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Buildx,
    Layercache,
    Before,
}

/// One build: wall time, and what the package index sent during it.
#[derive(Debug, Clone, Copy)]
struct Measured {
    wall: Duration,
    index_requests: u64,
    index_bytes: u64,
}

fn failed(e: impl std::fmt::Display) -> CommandError {
    CommandError::Failed(format!("bench project: {e}"))
}

pub async fn run(args: Args) -> Result<(), CommandError> {
    let host = DockerHost::parse(&args.docker_host).map_err(failed)?;
    let docker = host.docker().map_err(failed)?;
    let layercache = match &args.layercache {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(failed)?
            .with_file_name("layercache"),
    };
    // Without a static layercache to copy with, restores would pull the base image (and
    // measure that): docs/cache-mounts.md § Transfers.
    let tool = std::env::var("LAYERCACHE_MOUNT_TOOL").ok();
    if crate::cache_mounts::copy_tool::static_self(tool.as_deref().or(layercache.to_str()))
        .is_none()
    {
        return Err(failed(format!(
            "{} is not statically linked: set LAYERCACHE_MOUNT_TOOL to a static layercache \
             (cargo build --release --target x86_64-unknown-linux-musl)",
            layercache.display()
        )));
    }
    // RUN steps live in the daemon's bridge network: the index listens on its gateway.
    let gateway = super::project_setup::bridge_gateway(&docker)
        .await
        .map_err(failed)?;
    let served = Arc::new(Served::default());
    let distance = Distance {
        latency: Duration::from_millis(args.index_latency_ms),
        bytes_per_sec: args.index_kib_per_s * 1024,
    };
    let index = package_index::serve(&args.wheels, (gateway, 0).into(), distance, served.clone())
        .await
        .map_err(failed)?;
    let dir = tempfile::tempdir().map_err(failed)?;
    let mut config = ServiceConfig::new(
        ([127, 0, 0, 1], 0).into(),
        StorageConfig::Disk(dir.path().join("store")),
    );
    config.faults = Faults {
        latency: Duration::from_millis(args.service_latency_ms),
        ..Faults::default()
    };
    let svc = cache_service::spawn(config).await.map_err(failed)?;
    let base_size = super::project_setup::image_size(&docker, &args.base_image)
        .await
        .map_err(failed)?;
    let bench = Bench {
        args: &args,
        docker: &docker,
        layercache,
        url: format!("{}/", svc.base_url),
        token: svc.token("refs/heads/main").expose().to_owned(),
        served: &served,
        index_line: format!(
            "--index-url http://{index}/simple/\n--trusted-host {}\n",
            index.ip()
        ),
    };
    let clients: Vec<Client> = [Client::Buildx, Client::Layercache]
        .into_iter()
        .chain(args.before.as_ref().map(|_| Client::Before))
        .collect();
    let mut best: Vec<Vec<Option<Measured>>> = vec![vec![None; clients.len()]; SCENARIOS.len()];
    for round in 0..args.rounds.max(1) {
        let results = bench.round(dir.path(), round, &clients).await?;
        for (cell, m) in best.iter_mut().zip(results) {
            for (slot, m) in cell.iter_mut().zip(m) {
                if slot.is_none_or(|s| m.wall < s.wall) {
                    *slot = Some(m);
                }
            }
        }
    }
    svc.shutdown().await;
    println!("{}", table(&args, base_size, &clients, &best));
    Ok(())
}

struct Bench<'a> {
    args: &'a Args,
    docker: &'a bollard::Docker,
    layercache: PathBuf,
    url: String,
    token: String,
    served: &'a Served,
    index_line: String,
}

impl Bench<'_> {
    /// Every scenario once per client, on a fresh project and fresh cache scopes.
    async fn round(
        &self,
        work: &Path,
        round: usize,
        clients: &[Client],
    ) -> Result<Vec<Vec<Measured>>, CommandError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let ctx = work.join(format!("project-{round}"));
        write_project(&ctx, &self.args.base_image, &self.index_line).map_err(failed)?;
        let mut out = Vec::new();
        for (i, scenario) in SCENARIOS.iter().enumerate() {
            match i {
                2 => change_source(&ctx).map_err(failed)?,
                3 => add_requirement(&ctx).map_err(failed)?,
                _ => {}
            }
            // Rotate who goes first, so none always meets another's leftovers.
            let mut cell = vec![None; clients.len()];
            for k in 0..clients.len() {
                let at = (k + i + round) % clients.len();
                let client = clients[at];
                super::project_setup::empty_builder(self.docker, &self.args.base_image)
                    .await
                    .map_err(failed)?;
                let m = self.build(client, &ctx, &id, scenario).await?;
                tracing::info!(scenario, ?client, ?m, "bench project build");
                cell[at] = Some(m);
            }
            out.push(cell.into_iter().flatten().collect());
        }
        Ok(out)
    }

    async fn build(
        &self,
        client: Client,
        ctx: &Path,
        id: &str,
        scenario: &str,
    ) -> Result<Measured, CommandError> {
        let name = match client {
            Client::Buildx => "buildx",
            Client::Layercache => "layercache",
            Client::Before => "before",
        };
        let scope = format!("bench-{}-{name}", &id[..12]);
        let tag = format!("layercache-bench-project:{name}-{}", &id[..12]);
        let from = format!("type=gha,scope={scope}");
        let to = format!("type=gha,scope={scope},mode=max");
        let mut cmd = match client {
            Client::Buildx => {
                let mut c = tokio::process::Command::new(&self.args.buildx);
                c.args(["buildx", "build", "--progress", "plain", "--load", "--tag"])
                    .arg(&tag)
                    .args(["--cache-from", &from, "--cache-to", &to])
                    .env("ACTIONS_CACHE_SERVICE_V2", "true")
                    .env("ACTIONS_CACHE_URL", &self.url);
                c
            }
            Client::Layercache | Client::Before => {
                let binary = match (client, &self.args.before) {
                    (Client::Before, Some(before)) => before,
                    _ => &self.layercache,
                };
                let mut c = tokio::process::Command::new(binary);
                c.args(["build", "--progress", "plain", "--load", "--tags"])
                    .arg(&tag)
                    .args([
                        "--cache-advice=false",
                        "--cache-from",
                        &from,
                        "--cache-to",
                        &to,
                    ]);
                c
            }
        };
        cmd.arg(ctx)
            .env("DOCKER_HOST", &self.args.docker_host)
            .env("ACTIONS_RESULTS_URL", &self.url)
            .env("ACTIONS_RUNTIME_TOKEN", &self.token)
            .stdin(std::process::Stdio::null());
        let before = self.served.snapshot();
        let started = Instant::now();
        let output = cmd.output().await.map_err(failed)?;
        let wall = started.elapsed();
        let after = self.served.snapshot();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        tracing::debug!(name, scenario, "{log}");
        if !output.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(8).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(failed(format!(
                "{name} ({scenario}) failed ({}): {}",
                output.status,
                tail.join(" | ")
            )));
        }
        Ok(Measured {
            wall,
            index_requests: after.0 - before.0,
            index_bytes: after.1 - before.1,
        })
    }
}

/// The project: a Dockerfile, requirements.txt pointing at the local index, and source.
fn write_project(dir: &Path, base: &str, index_line: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("app"))?;
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM {base}\n\
             WORKDIR /app\n\
             COPY requirements.txt .\n\
             RUN --mount=type=cache,target=/root/.cache/pip \\\n    \
             pip install --break-system-packages --root-user-action=ignore -r requirements.txt\n\
             COPY app/ app/\n\
             RUN python3 -m compileall -q app\n"
        ),
    )?;
    let mut reqs = index_line.to_owned();
    for r in REQUIREMENTS {
        reqs.push_str(r);
        reqs.push('\n');
    }
    std::fs::write(dir.join("requirements.txt"), reqs)?;
    for i in 0..SOURCE_FILES {
        std::fs::write(dir.join(format!("app/mod{i}.py")), random_module(i))?;
    }
    std::fs::write(dir.join("app/__init__.py"), "")
}

/// A module of random constants and functions: every write has new content.
fn random_module(i: usize) -> String {
    let mut s = format!("\"\"\"Module {i}.\"\"\"\n\nimport math\n\n");
    for f in 0..40 {
        let (a, b): (u32, u32) = (rand::random(), rand::random());
        let _ = write!(
            s,
            "def f{f}_{a:x}(x):\n    \"\"\"Scale x.\"\"\"\n    return math.sqrt(abs(x * {a} - {b})) + {f}\n\n"
        );
    }
    s
}

fn change_source(dir: &Path) -> std::io::Result<()> {
    std::fs::write(dir.join("app/mod0.py"), random_module(0))
}

fn add_requirement(dir: &Path) -> std::io::Result<()> {
    let path = dir.join("requirements.txt");
    let mut text = std::fs::read_to_string(&path)?;
    text.push_str(ADDED);
    text.push('\n');
    std::fs::write(path, text)
}

fn table(
    args: &Args,
    base_size: u64,
    clients: &[Client],
    best: &[Vec<Option<Measured>>],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "project bench: bookworm + python3-pip base image of {} (compressed; pulled by each \
         build), {} requirements (+{ADDED}), {} source files; each build on an emptied \
         builder; gha cache answering each call after {} ms; package index {} ms per answer, \
         {} KiB/s; measured side by side in one run, best of {}",
        crate::report::human_bytes(base_size),
        REQUIREMENTS.len(),
        SOURCE_FILES,
        args.service_latency_ms,
        args.index_latency_ms,
        args.index_kib_per_s,
        args.rounds.max(1)
    );
    let before = clients.contains(&Client::Before);
    out.push_str("\n| scenario | buildx s | layercache s | ratio | goal |");
    if before {
        out.push_str(" before s | before ratio |");
    }
    out.push_str(" index MiB (buildx / layercache) |\n|---|---:|---:|---:|---:|");
    if before {
        out.push_str("---:|---:|");
    }
    out.push_str("---:|\n");
    let goals = [1.0, 0.8, 1.0, 0.5];
    for ((scenario, cell), goal) in SCENARIOS.iter().zip(best).zip(goals) {
        let (Some(Some(b)), Some(Some(l))) = (cell.first(), cell.get(1)) else {
            continue;
        };
        let ratio = |m: &Measured| m.wall.as_secs_f64() / b.wall.as_secs_f64().max(f64::EPSILON);
        let verdict = if ratio(l) <= goal { "ok" } else { "MISSED" };
        let _ = write!(
            out,
            "| {scenario} | {:.2} | {:.2} | {:.2} | ≤ {goal:.1} {verdict} |",
            b.wall.as_secs_f64(),
            l.wall.as_secs_f64(),
            ratio(l),
        );
        if let Some(Some(p)) = cell.get(2) {
            let _ = write!(out, " {:.2} | {:.2} |", p.wall.as_secs_f64(), ratio(p));
        }
        let mib = |m: &Measured| m.index_bytes as f64 / (1024.0 * 1024.0);
        let _ = writeln!(
            out,
            " {:.1} / {:.1} ({} / {} requests) |",
            mib(b),
            mib(l),
            b.index_requests,
            l.index_requests
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_change_what_they_say() {
        let dir = tempfile::tempdir().unwrap();
        write_project(dir.path(), "base:1", "--index-url http://x/simple/\n").unwrap();
        let df = std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap();
        assert!(df.starts_with("FROM base:1\n"), "{df}");
        assert!(df.contains("RUN --mount=type=cache,target=/root/.cache/pip"));
        let reqs = || std::fs::read_to_string(dir.path().join("requirements.txt")).unwrap();
        let before = reqs();
        assert!(before.starts_with("--index-url http://x/simple/\n"));
        let src = || std::fs::read_to_string(dir.path().join("app/mod0.py")).unwrap();
        let old = src();
        change_source(dir.path()).unwrap();
        assert_ne!(src(), old);
        assert_eq!(reqs(), before);
        add_requirement(dir.path()).unwrap();
        assert_eq!(reqs(), format!("{before}{ADDED}\n"));
    }
}
