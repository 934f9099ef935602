//! `layercache-bench engine`: the engine measured against itself on one daemon in one run. It
//! builds a generated reference project cold (a fresh build arg, so nothing is cached),
//! then again with every step cached, and prints layercache's own overhead (wall time
//! minus BuildKit's solve time) and the warm/cold ratio next to their targets. With
//! `--buildx`, the fully cached build is then run by the `layercache` binary and by
//! `docker buildx build` on the same daemon, side by side ([`super::peer`]).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::commands::CommandError;
use crate::engine::{self, DockerHost, Outcome, Recorder, Resolved};
use crate::plan::{BuildPlan, image::parse_image_ref};

const OVERHEAD_TARGET: Duration = Duration::from_millis(300);
const RATIO_TARGET: f64 = 0.10;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Docker daemon (default: DOCKER_HOST, else /var/run/docker.sock).
    #[arg(long)]
    docker_host: Option<String>,
    /// The image the reference project builds FROM (must be present in the daemon or pullable).
    #[arg(long, default_value = "busybox:latest")]
    base_image: String,
    /// Source files in the generated context.
    #[arg(long, default_value_t = 300)]
    files: usize,
    /// Warm builds to average.
    #[arg(long, default_value_t = 3)]
    warm_runs: u32,
    #[command(flatten)]
    peer: super::peer::PeerArgs,
}

pub async fn run(args: Args) -> Result<(), CommandError> {
    let failed = |e: &dyn std::fmt::Display| CommandError::Failed(format!("bench: {e}"));
    let host = match &args.docker_host {
        Some(h) => DockerHost::parse(h),
        None => DockerHost::from_env(&crate::action::env::Env::from_process()),
    }
    .map_err(|e| failed(&e))?;
    let dir = tempfile::tempdir().map_err(|e| failed(&e))?;
    write_project(dir.path(), args.files).map_err(|e| failed(&e))?;
    let mut req = BuildPlan::local(dir.path());
    req.load = true;
    req.build_args
        .insert("BASE".into(), args.base_image.clone());
    req.build_args
        .insert("BENCH_ID".into(), uuid::Uuid::new_v4().simple().to_string());
    let tag = format!("layercache-bench:{}", &req.build_args["BENCH_ID"][..12]);
    req.tags = vec![parse_image_ref(&tag).map_err(|e| failed(&e))?];
    let io = Resolved::new(host);

    let cold = engine::run(&req, &io, &mut Recorder::default())
        .await
        .map_err(|e| failed(&e))?;
    let mut warm = Vec::new();
    for _ in 0..args.warm_runs.max(1) {
        warm.push(
            engine::run(&req, &io, &mut Recorder::default())
                .await
                .map_err(|e| failed(&e))?,
        );
    }
    let peer = args
        .peer
        .peer(args.docker_host.clone())
        .map_err(|e| failed(&e))?;
    let peers = match peer {
        Some(peer) => {
            let peer = super::peer::Peer {
                context: dir.path().to_owned(),
                build_args: req.build_args.clone().into_iter().collect(),
                tag: tag.clone(),
                runs: args.warm_runs,
                ..peer
            };
            Some(super::peer::compare(&peer).await.map_err(|e| failed(&e))?)
        }
        None => None,
    };
    if let Ok(docker) = io.host.docker() {
        let _ = docker
            .remove_image(
                &tag,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
    }
    println!("{}", table(&cold, &warm));
    if let Some(peers) = peers {
        println!("{peers}");
    }
    Ok(())
}

fn table(cold: &Outcome, warm: &[Outcome]) -> String {
    let n = warm.len().max(1) as u32;
    let avg = |f: fn(&Outcome) -> Duration| warm.iter().map(f).sum::<Duration>() / n;
    let (w_wall, w_solve, w_over) = (avg(|o| o.wall), avg(|o| o.solve), avg(Outcome::overhead));
    let ratio = w_wall.as_secs_f64() / cold.wall.as_secs_f64().max(f64::EPSILON);
    let warm_cached = warm.last().and_then(Outcome::cached_percent).unwrap_or(0.0);
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "layercache bench: driver {}, context {} files",
        cold.driver, cold.context_files
    );
    let _ = writeln!(out, "{:<28}{:>12}{:>12}", "", "cold", "warm (avg)");
    let _ = writeln!(
        out,
        "{:<28}{:>12}{:>12}",
        "wall time",
        ms(cold.wall),
        ms(w_wall)
    );
    let _ = writeln!(
        out,
        "{:<28}{:>12}{:>12}",
        "BuildKit solve",
        ms(cold.solve),
        ms(w_solve)
    );
    let _ = writeln!(
        out,
        "{:<28}{:>12}{:>12}",
        "layercache overhead",
        ms(cold.overhead()),
        ms(w_over)
    );
    let pct = |o: Option<f64>| format!("{:.0}%", o.unwrap_or(0.0));
    let _ = writeln!(
        out,
        "{:<28}{:>12}{:>12}",
        "steps cached",
        pct(cold.cached_percent()),
        pct(Some(warm_cached))
    );
    out.push_str(&verdicts(warm, w_over, ratio));
    out
}

/// Steps a warm build did not take from cache, and the two numbers against their targets.
fn verdicts(warm: &[Outcome], w_over: Duration, ratio: f64) -> String {
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    let mut out = String::new();
    if let Some(last) = warm.last() {
        for s in last
            .dockerfile_steps()
            .filter(|s| !s.cached && !s.name.contains("] FROM "))
        {
            let _ = writeln!(out, "not cached when warm: {}", s.name);
        }
    }
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    let _ = writeln!(
        out,
        "overhead (warm): {} (target < {}) {}",
        ms(w_over),
        ms(OVERHEAD_TARGET),
        verdict(w_over < OVERHEAD_TARGET)
    );
    let _ = write!(
        out,
        "warm/cold: {ratio:.3} (target < {RATIO_TARGET:.2}) {}",
        verdict(ratio < RATIO_TARGET)
    );
    out
}

/// A small multi-stage project: a few seconds of RUN work and a context of `files` files.
fn write_project(dir: &Path, files: usize) -> std::io::Result<()> {
    std::fs::write(
        dir.join("Dockerfile"),
        "ARG BASE=busybox:latest\n\
         FROM ${BASE} AS deps\n\
         ARG BENCH_ID\n\
         RUN dd if=/dev/urandom of=/deps.bin bs=1024 count=8192 2>/dev/null && sleep 1\n\
         COPY src /src\n\
         RUN find /src -type f | sort | xargs cat | md5sum > /src.sum && sleep 1\n\
         FROM ${BASE}\n\
         ARG BENCH_ID\n\
         COPY --from=deps /deps.bin /src.sum /out/\n\
         RUN ls -l /out > /out/listing && sleep 1\n",
    )?;
    std::fs::write(dir.join(".dockerignore"), "*.tmp\n")?;
    let src = dir.join("src");
    for i in 0..files {
        let sub = src.join(format!("mod{}", i % 10));
        std::fs::create_dir_all(&sub)?;
        std::fs::write(
            sub.join(format!("file{i}.rs")),
            format!("// file {i}\n{}\n", "x".repeat(i % 512)),
        )?;
        if i % 25 == 0 {
            std::fs::write(sub.join(format!("scratch{i}.tmp")), "ignored")?;
        }
    }
    Ok(())
}
