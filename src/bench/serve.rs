//! `layercache-bench serve`: measure the cache service against a plain file copy on the
//! same disk, in one run, and print side-by-side ratios.
//!
//! The service runs as a child process (`layercache serve`), so its peak memory (VmHWM in
//! `/proc/<pid>/status`) is its own, and is restarted before each measure (`clear_refs`),
//! so each upload pattern's peak is its own. Uploads go both ways real clients send them:
//! one Put Blob, and BuildKit's 1 MiB blocks plus a block list; then several such uploads
//! and downloads at once. Targets (docs/serve.md § Benchmark): upload and download at
//! least 0.7 of copy speed, at least 500 small entries per second, under 64 MiB peak RSS
//! whatever the size, with 8 transfers in flight.

mod blob_client;
mod timing;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;

use crate::cache_service::TokenIssuer;
use crate::commands::CommandError;
use crate::secret::Secret;
use timing::{Best, Stage, copy_file, make_source, same_contents, same_start, vm_hwm_kib};

const TWIRP: &str = "/twirp/github.actions.results.api.v1.CacheService";
const VERSION: &str = "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Working directory (the service's store and the copies go here; same disk).
    #[arg(long, default_value = ".layercache-bench")]
    dir: PathBuf,
    /// Size of the large entry, in MiB.
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// Block size of the blocks + block list upload, in KiB (BuildKit's Azure client
    /// stages 1 MiB blocks).
    #[arg(long, default_value_t = 1024)]
    block_kib: u64,
    /// Uploads (then downloads) in flight at once in the concurrent measure.
    #[arg(long, default_value_t = 8)]
    parallel: usize,
    /// Size of each concurrent upload, in MiB (at most --size-mib).
    #[arg(long, default_value_t = 256)]
    parallel_mib: u64,
    /// Number of small entries.
    #[arg(long, default_value_t = 1000)]
    small: usize,
    /// Concurrent requests for the small entries.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Rounds of the large-entry measures; the best of each is reported (shared machines
    /// are noisy, and every measure gets the same number of tries).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Run this `layercache` binary as the service instead of the one installed beside this
    /// benchmark (compares two builds of the service with the same client and baselines).
    /// of the service with the same client and baselines.
    #[arg(long)]
    service_bin: Option<PathBuf>,
    /// Service instances on the one store (1 or 2). With 2, every Twirp call goes to one
    /// instance and the blob bytes to the other, and the small entries alternate.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    instances: u8,
}

fn failed(what: &str) -> impl FnOnce(String) -> CommandError + '_ {
    move |e| CommandError::Failed(format!("serve: failed to {what}: {e}"))
}

struct Child {
    proc: tokio::process::Child,
    base: String,
}

async fn start_service(
    dir: &Path,
    secret: &str,
    bin: Option<&Path>,
) -> Result<Child, CommandError> {
    let secret_file = dir.join("secret");
    std::fs::write(&secret_file, secret).map_err(|e| failed("write the secret")(e.to_string()))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| failed("pick a port")(e.to_string()))?
        .port();
    let exe = match bin {
        Some(b) => b.to_path_buf(),
        None => {
            service_beside_this_binary().map_err(|e| failed("find the layercache binary")(e))?
        }
    };
    let proc = tokio::process::Command::new(exe)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--store"])
        .arg(dir.join("store"))
        .arg("--secret-file")
        .arg(&secret_file)
        .env("LAYERCACHE_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed("start the service")(e.to_string()))?;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(Child {
                proc,
                base: format!("http://127.0.0.1:{port}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(failed("start the service")(
        "it did not listen within 5 s".into(),
    ))
}

/// The `layercache` binary installed in the same directory as this benchmark (cargo and
/// the release both put them side by side).
fn service_beside_this_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = exe.with_file_name(format!("layercache{}", std::env::consts::EXE_SUFFIX));
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} does not exist; pass --service-bin",
            bin.display()
        ))
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    /// Where blob bytes go instead of `base` (another instance on the same store).
    blob_base: Option<String>,
    token: Secret,
}

impl Client {
    async fn twirp(
        &self,
        method: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, CommandError> {
        let resp = self
            .http
            .post(format!("{}{TWIRP}/{method}", self.base))
            .bearer_auth(self.token.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| failed(method)(e.to_string()))?;
        let status = resp.status();
        let v: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| failed(method)(e.to_string()))?;
        if !status.is_success() || v["ok"] != true {
            return Err(failed(method)(format!("status {status}, body {v}")));
        }
        Ok(v)
    }

    /// Call `method` for `key` and take the signed URL in its answer's `field`.
    async fn signed_url(
        &self,
        method: &'static str,
        field: &str,
        key: &str,
    ) -> Result<String, CommandError> {
        let v = self
            .twirp(method, json!({"key": key, "version": VERSION}))
            .await?;
        let url = v[field]
            .as_str()
            .ok_or_else(|| failed(method)(format!("the answer has no {field}")))?;
        Ok(match &self.blob_base {
            Some(other) => url.replacen(&self.base, other, 1),
            None => url.to_owned(),
        })
    }

    async fn create(&self, key: &str) -> Result<String, CommandError> {
        self.signed_url("CreateCacheEntry", "signed_upload_url", key)
            .await
    }

    async fn finalize(&self, key: &str, size: u64) -> Result<(), CommandError> {
        let fin = json!({"key": key, "version": VERSION, "size_bytes": size.to_string()});
        self.twirp("FinalizeCacheEntryUpload", fin)
            .await
            .map(|_| ())
    }

    async fn download_url(&self, key: &str) -> Result<String, CommandError> {
        self.signed_url("GetCacheEntryDownloadURL", "signed_download_url", key)
            .await
    }

    /// Save a small entry the way cache clients do: create, one Put Blob, finalize.
    async fn save_small(&self, key: &str, data: Vec<u8>) -> Result<(), CommandError> {
        let size = data.len() as u64;
        let url = self.create(key).await?;
        let resp = self
            .http
            .put(url)
            .header("x-ms-blob-type", "BlockBlob")
            .body(data)
            .send()
            .await
            .map_err(|e| failed("upload")(e.without_url().to_string()))?;
        if resp.status() != reqwest::StatusCode::CREATED {
            return Err(failed("upload")(format!("status {}", resp.status())));
        }
        self.finalize(key, size).await
    }

    /// Save `size` bytes of the file `src` under `key`: one Put Blob, or (with `block`)
    /// blocks of that size and a block list.
    async fn save_file(
        &self,
        key: &str,
        src: &Path,
        size: u64,
        block: Option<u64>,
    ) -> Result<(), CommandError> {
        let url = self.create(key).await?;
        let src = src.to_path_buf();
        tokio::task::spawn_blocking(move || match block {
            Some(b) => blob_client::put_blocks(&url, &src, size, b),
            None => blob_client::put_blob(&url, &src, size),
        })
        .await
        .map_err(|e| failed("upload")(e.to_string()))?
        .map_err(|e| failed("upload")(e.to_string()))?;
        self.finalize(key, size).await
    }

    /// Restore `key` into the new file `to`; returns its size.
    async fn restore_file(&self, key: &str, to: &Path) -> Result<u64, CommandError> {
        let url = self.download_url(key).await?;
        let to = to.to_path_buf();
        tokio::task::spawn_blocking(move || blob_client::get_blob(&url, &to))
            .await
            .map_err(|e| failed("download")(e.to_string()))?
            .map_err(|e| failed("download")(e.to_string()))
    }
}

pub async fn run(args: Args) -> Result<(), CommandError> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir).map_err(|e| failed("create the bench dir")(e.to_string()))?;
    let secret = hex::encode(rand::random::<[u8; 16]>());
    let mut children = Vec::new();
    for _ in 0..args.instances.max(1) {
        children.push(start_service(dir, &secret, args.service_bin.as_deref()).await?);
    }
    let pid = children[0].proc.id().unwrap_or_default();
    let token = TokenIssuer::new(Secret::new(secret.as_str())).for_ref(
        "refs/heads/bench",
        &[],
        chrono::Duration::hours(1),
    );
    let bases: Vec<String> = children.iter().map(|c| c.base.clone()).collect();
    let clients: Vec<Client> = (0..bases.len())
        .map(|i| Client {
            http: reqwest::Client::new(),
            base: bases[i].clone(),
            blob_base: (bases.len() > 1).then(|| bases[(i + 1) % bases.len()].clone()),
            token: token.clone(),
        })
        .collect();
    let result = measure(&args, &clients, pid).await;
    for child in &mut children {
        let _ = child.proc.kill().await;
    }
    for f in [
        "source.bin",
        "copy.bin",
        "rwcopy.bin",
        "download.bin",
        "ballast.bin",
        "secret",
    ] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let _ = std::fs::remove_dir_all(dir.join("store"));
    result
}

/// The large-entry measures, in rounds: copy, read/write copy, upload by Put Blob, upload
/// by blocks + block list, download.
async fn large(
    args: &Args,
    client: &Client,
    pid: u32,
    src: &Path,
    size: u64,
) -> Result<[Best; 5], CommandError> {
    let dir = &args.dir;
    let block = Some(args.block_kib.max(1) << 10);
    let mut best = [Best::NONE; 5];
    let stage = Stage {
        ballast: dir.join("ballast.bin"),
        bytes: size,
    };
    for round in 0..args.rounds.max(1) {
        let (copy, rwcopy) = (dir.join("copy.bin"), dir.join("rwcopy.bin"));
        best[0]
            .time(pid, &stage, async { copy_file(src, &copy, false) })
            .await?;
        best[1]
            .time(pid, &stage, async { copy_file(src, &rwcopy, true) })
            .await?;
        let key = format!("bench-large-{round}");
        best[2]
            .time(pid, &stage, client.save_file(&key, src, size, None))
            .await?;
        let blocks_key = format!("bench-blocks-{round}");
        best[3]
            .time(pid, &stage, client.save_file(&blocks_key, src, size, block))
            .await?;
        best[4]
            .time(pid, &stage, async {
                let got = client.restore_file(&key, &dir.join("download.bin")).await?;
                if got != size {
                    return Err(failed("download")(format!("got {got} bytes of {size}")));
                }
                Ok(())
            })
            .await?;
        // Untimed: a fast wrong answer is no result. The blocks' entry too.
        check_same(src, &dir.join("download.bin"), size)?;
        let got = client
            .restore_file(&blocks_key, &dir.join("download.bin"))
            .await?;
        if got != size {
            return Err(failed("download")(format!("got {got} bytes of {size}")));
        }
        check_same(src, &dir.join("download.bin"), size)?;
        for f in ["copy.bin", "rwcopy.bin", "download.bin"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
    }
    Ok(best)
}

/// Fail unless `got` holds exactly the first `len` bytes of `src`.
fn check_same(src: &Path, got: &Path, len: u64) -> Result<(), CommandError> {
    let same = if std::fs::metadata(src).map(|m| m.len()).ok() == Some(len) {
        same_contents(src, got)
    } else {
        same_start(src, got, len)
    };
    match same {
        Ok(true) => Ok(()),
        Ok(false) => Err(failed("download")(
            "the downloaded entry differs from what was uploaded".into(),
        )),
        Err(e) => Err(failed("compare the download")(e.to_string())),
    }
}

/// `--parallel` uploads at once in blocks + block list, each of `--parallel-mib` (from the
/// start of the source), then as many downloads at once: one run each, timed as a whole.
async fn concurrent(
    args: &Args,
    client: &Client,
    pid: u32,
    src: &Path,
    size: u64,
) -> Result<[Best; 2], CommandError> {
    let dir = &args.dir;
    let each = (args.parallel_mib << 20).min(size);
    let n = args.parallel.max(1);
    let block = Some(args.block_kib.max(1) << 10);
    let stage = Stage {
        ballast: dir.join("ballast.bin"),
        bytes: each * n as u64,
    };
    let mut best = [Best::NONE; 2];
    best[0]
        .time(pid, &stage, async {
            let saves = (0..n).map(|i| async move {
                let key = format!("bench-par-{i}");
                client.save_file(&key, src, each, block).await
            });
            futures::future::try_join_all(saves).await.map(|_| ())
        })
        .await?;
    let to = |i: usize| dir.join(format!("download-{i}.bin"));
    best[1]
        .time(pid, &stage, async {
            let gets = (0..n).map(|i| async move {
                let got = client
                    .restore_file(&format!("bench-par-{i}"), &to(i))
                    .await?;
                if got != each {
                    return Err(failed("download")(format!("got {got} bytes of {each}")));
                }
                Ok(())
            });
            futures::future::try_join_all(gets).await.map(|_| ())
        })
        .await?;
    for i in 0..n {
        let checked = check_same(src, &to(i), each);
        let _ = std::fs::remove_file(to(i));
        checked?;
    }
    Ok(best)
}

/// Seconds for `call(i)` for every small entry `i`, `--concurrency` at a time; the first
/// error fails the measure.
async fn timed_calls<F, Fut>(args: &Args, call: F) -> Result<f64, CommandError>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), CommandError>>,
{
    let t = Instant::now();
    let results = futures::stream::iter(0..args.small)
        .map(call)
        .buffer_unordered(args.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    let secs = t.elapsed().as_secs_f64();
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    Ok(secs)
}

async fn measure(args: &Args, clients: &[Client], pid: u32) -> Result<(), CommandError> {
    let client = &clients[0];
    let dir = &args.dir;
    let size = args.size_mib << 20;
    let src = dir.join("source.bin");
    make_source(&src, size, true).map_err(|e| failed("write the source file")(e.to_string()))?;
    let idle_kib = vm_hwm_kib(pid).unwrap_or(0);
    let [copy, rwcopy, upload, blocks, download] = large(args, client, pid, &src, size).await?;
    let [par_up, par_down] = concurrent(args, client, pid, &src, size).await?;
    let peak_kib = [upload, blocks, download, par_up, par_down]
        .iter()
        .map(|b| b.peak_kib)
        .chain(vm_hwm_kib(pid))
        .max()
        .unwrap_or(0);

    Stage {
        ballast: dir.join("ballast.bin"),
        bytes: 0,
    }
    .prepare()
    .map_err(|e| failed("prepare the measure")(e.to_string()))?;
    let small_secs = timed_calls(args, |i| async move {
        let data = vec![(i % 251) as u8; 1024];
        let client = &clients[i % clients.len()];
        client.save_small(&format!("small-{i}"), data).await
    })
    .await?;
    let per_sec = args.small as f64 / small_secs;
    // Lookups of the entries just saved, through the other instance when there are two:
    // each lists `meta/` first (so an entry another instance saved is seen at once), which
    // this rate prices.
    let lookup_secs = timed_calls(args, |i| async move {
        let client = &clients[(i + 1) % clients.len()];
        client.download_url(&format!("small-{i}")).await.map(|_| ())
    })
    .await?;

    let mib = size as f64 / (1u64 << 20) as f64;
    let par_mib = ((args.parallel_mib << 20).min(size) * args.parallel.max(1) as u64) as f64
        / (1u64 << 20) as f64;
    // Ratios are of rates, so the concurrent rows (more bytes) compare like the others.
    let row = |name: &str, b: Best, moved: f64, target: &str, peak: bool| {
        let rate = moved / b.secs;
        println!(
            "{name:<40} {:>8.2} {:>8.0} {:>9.2} {:>9.2} {target:>8} {:>11} {:>9}",
            b.secs,
            rate,
            rate / (mib / copy.secs),
            rate / (mib / rwcopy.secs),
            format!("{:.2}+{:.2}", b.cpu.0, b.cpu.1),
            if peak && b.peak_kib > 0 {
                format!("{:.1}", b.peak_kib as f64 / 1024.0)
            } else {
                String::new()
            }
        );
    };
    println!(
        "layercache-bench serve: {} MiB entry (best of {} rounds; before each measure, dirty \
         pages written back and as much page cache freed as it writes), {} small entries, \
         store in {}{}",
        args.size_mib,
        args.rounds.max(1),
        args.small,
        dir.display(),
        if clients.len() > 1 {
            "; two instances on the store: calls to one, blob bytes to the other (CPU s and \
             RSS are the first instance's)"
        } else {
            ""
        }
    );
    println!(
        "{:<40} {:>8} {:>8} {:>9} {:>9} {:>8} {:>11} {:>9}",
        "measure", "seconds", "MiB/s", "vs copy", "vs r/w", "target", "CPU s", "peak MiB"
    );
    row("plain file copy (std::fs::copy)", copy, mib, "", false);
    row("read/write copy (1 MiB buffer)", rwcopy, mib, "", false);
    row(
        "upload via service (v2 Put Blob)",
        upload,
        mib,
        ">=0.70",
        true,
    );
    let blocks_name = format!("upload, {} KiB blocks + block list", args.block_kib.max(1));
    row(&blocks_name, blocks, mib, ">=0.70", true);
    row("download via service (GET)", download, mib, ">=0.70", true);
    let par_name = |what: &str| {
        format!(
            "{} {what} of {} MiB at once",
            args.parallel.max(1),
            (args.parallel_mib << 20).min(size) >> 20
        )
    };
    row(&par_name("block uploads"), par_up, par_mib, "", true);
    row(&par_name("downloads"), par_down, par_mib, "", true);
    println!(
        "{:<40} {small_secs:>8.2} {:>8} {:>19} {:>8}",
        "small entries create+put+finalize",
        "",
        format!("{per_sec:.0} entries/s"),
        ">=500/s"
    );
    println!(
        "{:<40} {lookup_secs:>8.2} {:>8} {:>19} {:>8}",
        "lookups of those entries",
        "",
        format!("{:.0} lookups/s", args.small as f64 / lookup_secs),
        ""
    );
    println!(
        "{:<40} {:>8} {:>8} {:>19} {:>8}",
        "service peak RSS (VmHWM)",
        "",
        "",
        format!(
            "{:.1} MiB (idle {:.1})",
            peak_kib as f64 / 1024.0,
            idle_kib as f64 / 1024.0
        ),
        "<64 MiB"
    );
    println!(
        "(CPU s: user + system seconds of the best run, this process + the service: the \
         client or the copy, then the service; dirty-page writeback is not counted. peak MiB: \
         the service's VmHWM over that measure's runs, restarted before each; concurrent \
         rows: MiB/s of all transfers together)"
    );
    Ok(())
}
