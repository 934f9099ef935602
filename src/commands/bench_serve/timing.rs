//! `bench-serve`'s measuring tools: the source file, the two copy baselines, and per-measure
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

/// A file of `size` pseudo-random bytes (incompressible, written in 1 MiB pieces).
pub fn make_source(path: &Path, size: u64) -> std::io::Result<()> {
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
    f.get_ref().sync_all()
}

/// A user-space read/write copy with the service's read size, as a second baseline.
pub fn rw_copy(from: &Path, to: &Path) -> std::io::Result<u64> {
    use std::io::{Read, Write};
    let mut src = std::fs::File::open(from)?;
    let mut dst = std::fs::File::create(to)?;
    let mut buf = vec![0u8; file_stream::READ_CHUNK];
    let mut n = 0;
    loop {
        let k = src.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        dst.write_all(&buf[..k])?;
        n += k as u64;
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

/// Write back every dirty page before a timed measure, so none pays for the one before it
/// (the kernel starts background writeback once enough is dirty, and it shares the CPUs).
pub fn settle() {
    let _ = std::process::Command::new("sync").status();
}

/// One measure's best wall time, and the CPU time of that best run: this process (the
/// client, or the copy) and the service.
#[derive(Clone, Copy)]
pub struct Best {
    pub secs: f64,
    pub cpu: (f64, f64),
}

impl Best {
    pub const NONE: Best = Best {
        secs: f64::MAX,
        cpu: (0.0, 0.0),
    };

    /// Time `f`, counting this process's and the service's CPU time too.
    pub async fn time<F: std::future::Future<Output = Result<(), CommandError>>>(
        &mut self,
        pid: u32,
        f: F,
    ) -> Result<(), CommandError> {
        settle();
        let cpu = || (cpu_secs("self"), cpu_secs(&pid.to_string()));
        let (c0, t) = (cpu(), Instant::now());
        f.await?;
        let secs = t.elapsed().as_secs_f64();
        if secs < self.secs {
            let c1 = cpu();
            *self = Best {
                secs,
                cpu: (c1.0 - c0.0, c1.1 - c0.1),
            };
        }
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
