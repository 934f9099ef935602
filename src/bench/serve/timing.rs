//! `layercache-bench serve`'s measuring tools: the source file, the two copy baselines, and per-measure
//! wall and CPU time (this process and the service) taken from `/proc`.

use std::path::Path;
use std::time::Instant;

use super::{CommandError, failed};
use crate::storage::file_stream;

/// The service's peak resident memory (`VmHWM`), in KiB.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Start the service's `VmHWM` afresh from its current RSS (`clear_refs` 5, Linux 4.0+),
/// so a measure's peak is its own; `false` when the kernel refuses.
pub fn reset_hwm(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// A file of `size` pseudo-random bytes (incompressible, written in 1 MiB pieces).
/// With `durable`, it is synced to disk.
pub fn make_source(path: &Path, size: u64, durable: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut x: u64 = 0x2545F4914F6CDD1D;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for c in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    if durable {
        f.get_ref().sync_all()?;
    }
    Ok(())
}

/// Copy `from` to `to` through one buffer of the service's read size, a read then a whole
/// write per step; returns the bytes copied. The read/write baseline and the benchmark
/// client's upload both move bytes this way.
pub fn copy_through(
    from: &mut impl std::io::Read,
    to: &mut impl std::io::Write,
) -> std::io::Result<u64> {
    let mut buf = vec![0u8; file_stream::READ_CHUNK];
    let mut n = 0;
    loop {
        let k = from.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        to.write_all(&buf[..k])?;
        n += k as u64;
    }
}

/// A user-space read/write copy with the service's read size, as a second baseline.
pub fn rw_copy(from: &Path, to: &Path) -> std::io::Result<u64> {
    copy_through(
        &mut std::fs::File::open(from)?,
        &mut std::fs::File::create(to)?,
    )
}

/// Whether two files hold the same bytes.
pub fn same_contents(a: &Path, b: &Path) -> std::io::Result<bool> {
    let len = std::fs::metadata(a)?.len();
    same_start(a, b, len)
}

/// Whether `b` holds exactly the first `len` bytes of `a`.
pub fn same_start(a: &Path, b: &Path, len: u64) -> std::io::Result<bool> {
    use std::io::Read;
    let (mut a, mut b) = (std::fs::File::open(a)?.take(len), std::fs::File::open(b)?);
    let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = a.read(&mut x)?;
        if n == 0 {
            return Ok(b.read(&mut y[..1])? == 0);
        }
        b.read_exact(&mut y[..n])?;
        if x[..n] != y[..n] {
            return Ok(false);
        }
    }
}

/// CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`.
pub fn cpu_secs(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    // USER_HZ is 100 on every Linux the service targets.
    ticks as f64 / 100.0
}

/// What every timed measure starts from: no dirty pages (none pays for writing back the
/// one before it), and `ballast` bytes of page cache freed just before it starts.
///
/// The ballast is for VMs with free page reporting (virtio-balloon, as on the machines
/// this is developed on): memory the guest frees is handed back to the host within
/// seconds, and touching it again makes the host fault it in, which can cost ten times the
/// copy itself. Whichever measure happened to run next to freed memory would win. Each
/// measure therefore writes a ballast file of the size it will write, deletes it (its
/// dirty pages are dropped, never written back), and starts at once, on memory the host
/// backs, as every other measure does.
pub struct Stage {
    pub ballast: std::path::PathBuf,
    pub bytes: u64,
}

impl Stage {
    pub fn prepare(&self) -> std::io::Result<()> {
        let _ = std::process::Command::new("sync").status();
        if self.bytes > 0 {
            make_source(&self.ballast, self.bytes, false)?;
            std::fs::remove_file(&self.ballast)?;
        }
        Ok(())
    }
}

/// One measure's best wall time, and the CPU time of that best run: this process (the
/// client, or the copy) and the service; and the service's peak RSS over every run.
#[derive(Clone, Copy)]
pub struct Best {
    pub secs: f64,
    pub cpu: (f64, f64),
    /// KiB; 0 when the kernel could not restart the peak for the measure.
    pub peak_kib: u64,
}

impl Best {
    pub const NONE: Best = Best {
        secs: f64::MAX,
        cpu: (0.0, 0.0),
        peak_kib: 0,
    };

    /// Time `f`, counting this process's and the service's CPU time too.
    pub async fn time<F: std::future::Future<Output = Result<(), CommandError>>>(
        &mut self,
        pid: u32,
        stage: &Stage,
        f: F,
    ) -> Result<(), CommandError> {
        stage
            .prepare()
            .map_err(|e| failed("prepare the measure")(e.to_string()))?;
        let cpu = || (cpu_secs("self"), cpu_secs(&pid.to_string()));
        let fresh_peak = reset_hwm(pid);
        let (c0, t) = (cpu(), Instant::now());
        f.await?;
        let secs = t.elapsed().as_secs_f64();
        let peak_kib = if fresh_peak {
            vm_hwm_kib(pid).unwrap_or(0).max(self.peak_kib)
        } else {
            0
        };
        if secs < self.secs {
            let c1 = cpu();
            self.secs = secs;
            self.cpu = (c1.0 - c0.0, c1.1 - c0.1);
        }
        self.peak_kib = peak_kib;
        Ok(())
    }
}

pub fn copy_file(from: &Path, to: &Path, user_space: bool) -> Result<(), CommandError> {
    let r = if user_space {
        rw_copy(from, to)
    } else {
        std::fs::copy(from, to)
    };
    r.map(|_| ())
        .map_err(|e| failed("copy the file")(e.to_string()))
}
