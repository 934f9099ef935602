//! `layercache-bench engine --buildx DOCKER` and `relay --buildx DOCKER`: buildx beside
//! us. The same build on the same daemon (the fully cached one, or a fresh one exporting
//! to a `gha` cache), run by the `layercache` binary and by `docker buildx build` (its
//! default builder: the daemon's own BuildKit, like our `docker` driver), each as a child
//! process under GNU time, which takes the child's resource usage from `wait3`: wall time,
//! client CPU (user + system of the CLI and of what it waited for, buildx's plugin process
//! included) and peak resident memory. Runs alternate so both see the same daemon state;
//! the figures are means (peak memory: the highest), printed as layercache / buildx.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The options of a benchmark that runs buildx beside us.
#[derive(Debug, Clone, clap::Args)]
pub struct PeerArgs {
    /// A docker CLI with the buildx plugin (e.g. $LAYERCACHE_TEST_DOCKER28_BUILDX): run the
    /// same build with `docker buildx build` too and print layercache / buildx.
    #[arg(long)]
    pub buildx: Option<PathBuf>,
    /// The `layercache` binary run beside buildx (default: the one next to this binary).
    #[arg(long)]
    pub layercache: Option<PathBuf>,
    /// GNU time, which reads each client's CPU time and peak memory from wait3.
    #[arg(long, default_value = "/usr/bin/time")]
    pub gnu_time: PathBuf,
}

impl PeerArgs {
    /// The two clients, when `--buildx` names one, with nothing to build yet (set
    /// `context`, `build_args`, `tag`, `runs`, `export`).
    pub fn peer(&self, docker_host: Option<String>) -> Result<Option<Peer>, PeerError> {
        let Some(buildx) = &self.buildx else {
            return Ok(None);
        };
        let layercache = match &self.layercache {
            Some(path) => path.clone(),
            None => std::env::current_exe()
                .map_err(PeerError::NoBinary)?
                .with_file_name("layercache"),
        };
        Ok(Some(Peer {
            buildx: buildx.clone(),
            layercache,
            gnu_time: self.gnu_time.clone(),
            docker_host,
            context: PathBuf::new(),
            build_args: Vec::new(),
            tag: String::new(),
            runs: 1,
            export: None,
        }))
    }
}

/// What both clients build, and with what.
#[derive(Debug, Clone)]
pub struct Peer {
    /// A docker CLI with the buildx plugin (the Docker 28 lane's wrapper).
    pub buildx: PathBuf,
    /// The `layercache` binary.
    pub layercache: PathBuf,
    /// GNU time (Debian's `time` package).
    pub gnu_time: PathBuf,
    /// `DOCKER_HOST` for both, when not the environment's.
    pub docker_host: Option<String>,
    pub context: PathBuf,
    pub build_args: Vec<(String, String)>,
    pub tag: String,
    pub runs: u32,
    /// Measure an export instead of a cached build: every run gets a fresh `RUN_ID` build
    /// argument (so its steps run) and this `--cache-to` entry with a scope of its own.
    pub export: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("failed to run {what} under {time}: {source}")]
    Spawn {
        what: &'static str,
        time: String,
        source: std::io::Error,
    },
    #[error("{what} failed ({status}); its log ends: {tail}")]
    Failed {
        what: &'static str,
        status: std::process::ExitStatus,
        tail: String,
    },
    #[error("failed to read GNU time's report for {what}: {detail}")]
    Report { what: &'static str, detail: String },
    #[error("failed to make a scratch directory: {0}")]
    Scratch(std::io::Error),
    #[error("failed to find this binary (for the layercache beside it): {0}")]
    NoBinary(std::io::Error),
}

/// One run of one client.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Usage {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: u64,
    cached: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Layercache,
    Buildx,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Self::Layercache => "layercache build",
            Self::Buildx => "docker buildx build",
        }
    }
}

/// One untimed run of each (the cache warmed for both), then `runs` timed runs of each,
/// alternating. Returns the table.
pub async fn compare(peer: &Peer) -> Result<String, PeerError> {
    let scratch = tempfile::tempdir().map_err(PeerError::Scratch)?;
    let mut seen = (Vec::new(), Vec::new());
    for round in 0..=peer.runs.max(1) {
        for client in [Client::Layercache, Client::Buildx] {
            let run_id = uuid::Uuid::new_v4().simple().to_string();
            let usage = run_once(peer, client, &run_id, scratch.path()).await?;
            tracing::debug!(client = client.name(), round, ?usage, "bench run");
            if round > 0 {
                match client {
                    Client::Layercache => seen.0.push(usage),
                    Client::Buildx => seen.1.push(usage),
                }
            }
        }
    }
    let what = match peer.export {
        Some(_) => "a fresh build exporting to the gha cache",
        None => "the fully cached build",
    };
    Ok(table(what, &seen.0, &seen.1))
}

fn command_line(peer: &Peer, client: Client, run_id: &str) -> (PathBuf, Vec<OsString>) {
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |a: &str| args.push(a.into());
    let mut build_args = peer.build_args.clone();
    let mut cache_to = None;
    if let Some(entry) = &peer.export {
        build_args.push(("RUN_ID".to_owned(), run_id.to_owned()));
        cache_to = Some(format!("{entry},scope=bench-{run_id}"));
    }
    match client {
        Client::Layercache => {
            for a in [
                "build",
                "--progress",
                "plain",
                "--load",
                "--cache-advice=false",
            ] {
                push(a);
            }
            push("--tags");
            push(&peer.tag);
            for (k, v) in &build_args {
                push("--build-args");
                push(&format!("{k}={v}"));
            }
            if let Some(entry) = &cache_to {
                push("--cache-to");
                push(entry);
            }
        }
        Client::Buildx => {
            for a in ["buildx", "build", "--progress", "plain", "--load"] {
                push(a);
            }
            push("--tag");
            push(&peer.tag);
            for (k, v) in &build_args {
                push("--build-arg");
                push(&format!("{k}={v}"));
            }
            if let Some(entry) = &cache_to {
                push("--cache-to");
                push(entry);
            }
        }
    }
    args.push(peer.context.clone().into_os_string());
    let program = match client {
        Client::Layercache => peer.layercache.clone(),
        Client::Buildx => peer.buildx.clone(),
    };
    (program, args)
}

async fn run_once(
    peer: &Peer,
    client: Client,
    run_id: &str,
    scratch: &Path,
) -> Result<Usage, PeerError> {
    let what = client.name();
    let report = scratch.join("time");
    let log_path = scratch.join("log");
    let log = std::fs::File::create(&log_path).map_err(PeerError::Scratch)?;
    let log_err = log.try_clone().map_err(PeerError::Scratch)?;
    let (program, args) = command_line(peer, client, run_id);
    let mut cmd = tokio::process::Command::new(&peer.gnu_time);
    cmd.arg("--format=%U %S %M")
        .arg("--output")
        .arg(&report)
        .arg(&program)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log_err);
    if let Some(host) = &peer.docker_host {
        cmd.env("DOCKER_HOST", host);
    }
    tracing::debug!(program = %program.display(), ?args, "bench client");
    let start = Instant::now();
    let status = cmd.status().await.map_err(|source| PeerError::Spawn {
        what,
        time: peer.gnu_time.display().to_string(),
        source,
    })?;
    let wall = start.elapsed();
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(PeerError::Failed {
            what,
            status,
            tail: tail.join(" | "),
        });
    }
    let report = std::fs::read_to_string(&report).map_err(|e| PeerError::Report {
        what,
        detail: e.to_string(),
    })?;
    let (cpu, max_rss_kib) = parse_report(&report).ok_or_else(|| PeerError::Report {
        what,
        detail: format!("{:?} is not \"USER SYSTEM MAXRSS\"", report.trim()),
    })?;
    Ok(Usage {
        wall,
        cpu,
        max_rss_kib,
        cached: cached_steps(&text),
    })
}

/// GNU time's `%U %S %M`: user and system seconds, peak resident KiB. Its last line: a
/// child killed by a signal gets a line before it.
fn parse_report(text: &str) -> Option<(Duration, u64)> {
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let mut parts = line.split_whitespace();
    let user: f64 = parts.next()?.parse().ok()?;
    let system: f64 = parts.next()?.parse().ok()?;
    let rss: u64 = parts.next()?.parse().ok()?;
    Some((Duration::try_from_secs_f64(user + system).ok()?, rss))
}

/// Steps a plain progress log shows as `#N CACHED` (both clients print buildx's format).
fn cached_steps(log: &str) -> usize {
    let mut ids: Vec<&str> = log
        .lines()
        .filter_map(|l| l.strip_suffix(" CACHED"))
        .filter(|id| id.starts_with('#') && id[1..].chars().all(|c| c.is_ascii_digit()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.len()
}

fn table(what: &str, ours: &[Usage], theirs: &[Usage]) -> String {
    let mean = |u: &[Usage], f: fn(&Usage) -> Duration| {
        u.iter().map(f).sum::<Duration>() / (u.len().max(1) as u32)
    };
    let peak = |u: &[Usage]| u.iter().map(|u| u.max_rss_kib).max().unwrap_or(0);
    let ratio = |a: f64, b: f64| a / b.max(f64::EPSILON);
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    let mib = |k: u64| format!("{:.1} MiB", k as f64 / 1024.0);
    let cached = |u: &[Usage]| u.last().map(|u| u.cached).unwrap_or(0).to_string();
    let (w0, w1) = (mean(ours, |u| u.wall), mean(theirs, |u| u.wall));
    let (c0, c1) = (mean(ours, |u| u.cpu), mean(theirs, |u| u.cpu));
    let (m0, m1) = (peak(ours), peak(theirs));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "buildx beside us: {what}, {} runs each, as child processes",
        ours.len()
    );
    let _ = writeln!(
        out,
        "{:<28}{:>14}{:>14}{:>10}",
        "", "layercache", "buildx", "ratio"
    );
    let row = |out: &mut String, name: &str, a: String, b: String, r: f64| {
        let _ = writeln!(out, "{name:<28}{a:>14}{b:>14}{r:>10.2}");
    };
    let secs = |d: Duration| d.as_secs_f64();
    row(
        &mut out,
        "wall time",
        ms(w0),
        ms(w1),
        ratio(secs(w0), secs(w1)),
    );
    row(
        &mut out,
        "client CPU (user+sys)",
        ms(c0),
        ms(c1),
        ratio(secs(c0), secs(c1)),
    );
    row(
        &mut out,
        "client peak memory",
        mib(m0),
        mib(m1),
        ratio(m0 as f64, m1 as f64),
    );
    let _ = write!(
        out,
        "{:<28}{:>14}{:>14}",
        "steps CACHED",
        cached(ours),
        cached(theirs)
    );
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn gnu_times_report_is_read_from_its_last_line() {
        assert_eq!(
            parse_report("0.41 0.07 48212\n"),
            Some((Duration::from_millis(480), 48212))
        );
        assert_eq!(
            parse_report("Command terminated by signal 9\n1.00 0.50 10\n"),
            Some((Duration::from_millis(1500), 10))
        );
        assert_eq!(parse_report("oops"), None);
    }

    #[test]
    fn cached_steps_count_each_step_once() {
        let log = "#5 [2/3] RUN x\n#5 CACHED\n#6 CACHED\n#6 CACHED\nnot #7 CACHED\n#x CACHED\n";
        assert_eq!(cached_steps(log), 2);
    }

    #[test]
    fn both_clients_get_the_same_build() {
        let peer = Peer {
            buildx: "docker".into(),
            layercache: "layercache".into(),
            gnu_time: "/usr/bin/time".into(),
            docker_host: None,
            context: "/ctx".into(),
            build_args: vec![("BASE".into(), "busybox".into())],
            tag: "t:1".into(),
            runs: 1,
            export: None,
        };
        let (_, ours) = command_line(&peer, Client::Layercache, "r1");
        let (_, theirs) = command_line(&peer, Client::Buildx, "r1");
        let text = |a: Vec<OsString>| {
            a.iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            text(ours),
            "build --progress plain --load --cache-advice=false --tags t:1 --build-args BASE=busybox /ctx"
        );
        assert_eq!(
            text(theirs),
            "buildx build --progress plain --load --tag t:1 --build-arg BASE=busybox /ctx"
        );

        // An export: a fresh run id and a scope of its own for each run.
        let peer = Peer {
            export: Some("type=gha,url_v2=http://s/,version=2,mode=max".into()),
            ..peer
        };
        let (_, theirs) = command_line(&peer, Client::Buildx, "r2");
        assert_eq!(
            text(theirs),
            "buildx build --progress plain --load --tag t:1 --build-arg BASE=busybox --build-arg RUN_ID=r2 --cache-to type=gha,url_v2=http://s/,version=2,mode=max,scope=bench-r2 /ctx"
        );
    }
}
