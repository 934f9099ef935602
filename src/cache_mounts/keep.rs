//! The two phases around the build: [`Keeper::restore`] before it, [`Keeper::save`] after
//! it. Each mount is handled on its own; whatever goes wrong becomes that mount's outcome
//! and the build goes on.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::watch;

use super::archive::{self, ArchiveError};
use super::discover::{BuildFacts, CacheMount, discover};
use super::outcome::{MountOutcome, Restore, Save};
use super::store::{self, Access};
use super::transfer::{CopyStage, Direction as Way, Transfers};
use crate::action::env::Env;
use crate::action::runtime::Runtime;
use crate::cache_client::SaveOutcome;
use crate::engine::{Outcome, StepHold};
use crate::plan::cache::Direction;
use crate::plan::image::Platform;
use crate::plan::{BuildContext, BuildPlan};

/// Mounts restored, copied out or uploaded at the same time.
const AT_ONCE: usize = 4;

/// A mount copied out and packed, waiting for its upload.
struct Pending {
    dir: PathBuf,
    archive: PathBuf,
    hash: String,
    /// Compressed bytes.
    size: u64,
    started: Instant,
}

/// Cache mounts of one build, between its restore and save phases.
pub struct Keeper {
    mounts: Vec<CacheMount>,
    /// Content hash of what was restored, per mount (same order).
    restored: Vec<Option<String>>,
    outcomes: Vec<MountOutcome>,
    scope: String,
    version: String,
    read: Access,
    write: Access,
    transfers: Result<Transfers, String>,
    max_size: u64,
    total_size: u64,
    /// Set by [`Keeper::saw_build`] when the build ran no `RUN` step.
    untouched: bool,
    work: tempfile::TempDir,
    /// Mounts that will not be kept, in one line (unidentified, excluded).
    pub notice: Option<String>,
}

/// Find the build's cache mounts and what may be done with them. `Ok(None)`: nothing to
/// do (turned off, no `gha` export, no cache mount). `Err`: a warning, the build goes on.
pub async fn prepare(
    plan: &BuildPlan,
    runtime: &Runtime,
    env: &Env,
) -> Result<Option<Keeper>, String> {
    if !plan.cache_mounts.enabled || !store::wanted(plan) {
        return Ok(None);
    }
    let BuildContext::Local(_) = &plan.context else {
        return Ok(None);
    };
    let (mounts, notice) = mounts_of(plan)?;
    if mounts.is_empty() {
        return Ok(Some(Keeper::empty(notice)?));
    }
    let transfers = Transfers::for_plan(plan, env)
        .await
        .map_err(|e| e.to_string());
    let outcomes = mounts
        .iter()
        .map(|m| MountOutcome {
            id: m.id.clone(),
            target: m.target.clone(),
            restore: Restore::Miss,
            save: None,
        })
        .collect();
    Ok(Some(Keeper {
        restored: vec![None; mounts.len()],
        mounts,
        outcomes,
        scope: store::scope(plan),
        version: store::version(),
        read: store::access(plan, runtime, Direction::From),
        write: store::access(plan, runtime, Direction::To),
        transfers,
        max_size: plan.cache_mounts.max_size,
        total_size: plan.cache_mounts.total_size,
        untouched: false,
        work: tempdir()?,
        notice,
    }))
}

/// The mounts to keep, and the one notice naming those that will not be kept.
fn mounts_of(plan: &BuildPlan) -> Result<(Vec<CacheMount>, Option<String>), String> {
    let text = std::fs::read_to_string(&plan.dockerfile)
        .map_err(|e| format!("could not read {}: {e}", plan.dockerfile.display()))?;
    let platform = match plan.platforms.as_slice() {
        [one] => one.to_string(),
        _ => Platform::host().to_string(),
    };
    let facts = BuildFacts {
        build_args: plan.build_args.clone(),
        target: plan.target.as_deref(),
        platform: Some(&platform),
    };
    let found = discover(&text, &facts);
    let mut notice = found.notice();
    let exclude = &plan.cache_mounts.exclude;
    let (excluded, kept): (Vec<CacheMount>, Vec<CacheMount>) = found
        .mounts
        .into_iter()
        .partition(|m| exclude.contains(&m.id));
    if !excluded.is_empty() {
        let ids: Vec<&str> = excluded.iter().map(|m| m.id.as_str()).collect();
        let line = format!("excluded by cache-mounts-exclude: {}", ids.join(", "));
        notice = Some(notice.map_or(line.clone(), |n| format!("{n}; {line}")));
    }
    Ok((kept, notice))
}

fn tempdir() -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix("layercache-mounts-")
        .tempdir()
        .map_err(|e| format!("could not make a working directory: {e}"))
}

impl Keeper {
    fn empty(notice: Option<String>) -> Result<Self, String> {
        Ok(Self {
            mounts: Vec::new(),
            restored: Vec::new(),
            outcomes: Vec::new(),
            scope: String::new(),
            version: String::new(),
            read: Err(String::new()),
            write: Err(String::new()),
            transfers: Err(String::new()),
            max_size: 0,
            total_size: 0,
            untouched: false,
            work: tempdir()?,
            notice,
        })
    }

    pub fn outcomes(&self) -> &[MountOutcome] {
        &self.outcomes
    }

    /// Put each mount's newest cache entry into BuildKit's cache mount, a few mounts at
    /// a time (downloads dominate on a hosted runner; BuildKit runs the copies side by side).
    pub async fn restore(&mut self) {
        let (signals, _hold) = hold();
        self.restore_holding(signals).await;
    }

    /// [`Keeper::restore`] alongside the build's start: `signals` open the build's
    /// [`StepHold`]: `solve` once every copy has started (or its restore ended), `steps`
    /// once every copy has finished (docs/cache-mounts.md § When the restore runs).
    pub async fn restore_holding(&mut self, signals: RestoreSignals) {
        use futures::StreamExt as _;
        let n = self.mounts.len();
        let countdown = (
            Countdown::new(n, signals.solve),
            Countdown::new(n, signals.steps),
        );
        let this = &*self;
        let results: Vec<_> = futures::stream::iter(0..n)
            .map(|i| {
                let progress = MountProgress {
                    countdown: &countdown,
                    started: AtomicBool::new(false),
                    finished: AtomicBool::new(false),
                };
                async move {
                    let result = this.restore_one(i, &progress).await;
                    drop(progress);
                    result
                }
            })
            .buffered(AT_ONCE)
            .collect()
            .await;
        for (i, result) in results.into_iter().enumerate() {
            let (restore, hash) = match result {
                Ok(Some((bytes, hash, started))) => (
                    Restore::Restored {
                        bytes,
                        took: started.elapsed(),
                    },
                    Some(hash),
                ),
                Ok(None) => (Restore::Miss, None),
                Err(outcome) => (outcome, None),
            };
            self.outcomes[i].restore = restore;
            self.restored[i] = hash;
        }
    }

    async fn restore_one(
        &self,
        i: usize,
        progress: &MountProgress<'_>,
    ) -> Result<Option<(u64, String, Instant)>, Restore> {
        let client = self.read.as_ref().map_err(|r| Restore::NotRun(r.clone()))?;
        let transfers = self
            .transfers
            .as_ref()
            .map_err(|e| Restore::Failed(e.clone()))?;
        let mount = &self.mounts[i];
        let started = Instant::now();
        let prefix = store::key_prefix(&self.scope, &mount.id);
        let failed = |e: String| Restore::Failed(e);
        let Some(hit) = client
            .lookup(&prefix, std::slice::from_ref(&prefix), &self.version)
            .await
            .map_err(|e| failed(e.to_string()))?
        else {
            return Ok(None);
        };
        let dir = self.dir(i, "restore").map_err(failed)?;
        let archive = dir.join("mount.tgz");
        let bytes = client
            .download_to(&hit, &archive)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let content = dir.join("content");
        let unpacked = archive.clone();
        tokio::task::spawn_blocking(move || archive::unpack(&unpacked, &content))
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(|e| failed(e.to_string()))?;
        let _ = std::fs::remove_file(&archive);
        let fetched = started.elapsed();
        // An empty entry puts nothing into the mount whatever it holds: no transfer.
        let copied = is_empty_dir(&dir.join("content"))
            || transfers
                .run_telling(mount, &dir, Way::Restore, &|stage| progress.reached(stage))
                .await
                .map_err(|e| failed(e.to_string()))?;
        let _ = std::fs::remove_dir_all(&dir);
        tracing::debug!(mount = %mount.id, bytes, ?fetched, copy = ?started.elapsed() - fetched, "restored");
        if !copied {
            return Err(Restore::Kept);
        }
        let hash = store::content_hash(&prefix, &hit.matched_key).unwrap_or_default();
        Ok(Some((bytes, hash.to_owned(), started)))
    }

    /// Learn from the build's outcome whether a step that mounts anything ran: cache
    /// mounts exist only in `RUN --mount` steps (the flag is in the step's name as
    /// written), so when every such step came from the layer cache, no mount changed.
    pub fn saw_build(&mut self, outcome: &Outcome) {
        self.untouched = !outcome.steps.iter().any(|s| {
            s.dockerfile_step && !s.cached && s.name.contains(" RUN ") && s.name.contains("--mount")
        });
    }

    /// Save each mount whose contents changed, within the caps.
    pub async fn save(&mut self) {
        use futures::StreamExt as _;
        let this = &*self;
        // Copy out and pack side by side, each within the cap of one mount.
        let packed: Vec<Result<Pending, Save>> = futures::stream::iter(0..this.mounts.len())
            .map(|i| this.pack_one(i))
            .buffered(AT_ONCE)
            .collect()
            .await;
        // The total cap in Dockerfile order: the first mounts are kept.
        let mut used = 0;
        let mut uploads = Vec::new();
        let mut done = Vec::new();
        for (i, result) in packed.into_iter().enumerate() {
            match result {
                Ok(p) if used + p.size > this.total_size => {
                    let cap = this.total_size.saturating_sub(used).min(this.max_size);
                    done.push((i, Save::OverCap { cap }));
                }
                Ok(p) => {
                    used += p.size;
                    uploads.push((i, p));
                }
                Err(save) => done.push((i, save)),
            }
        }
        let uploaded: Vec<(usize, Save)> = futures::stream::iter(uploads)
            .map(|(i, p)| async move { (i, this.upload(i, p).await) })
            .buffered(AT_ONCE)
            .collect()
            .await;
        for (i, save) in done.into_iter().chain(uploaded) {
            self.outcomes[i].save = Some(save);
        }
    }

    /// Copy mount `i` out of the builder and pack it; `Err` is its outcome when nothing is
    /// left to upload.
    async fn pack_one(&self, i: usize) -> Result<Pending, Save> {
        self.write.as_ref().map_err(|r| Save::NotRun(r.clone()))?;
        if self.untouched && self.restored[i].is_some() {
            return Err(Save::Untouched);
        }
        let transfers = self
            .transfers
            .as_ref()
            .map_err(|e| Save::Failed(e.clone()))?;
        let mount = &self.mounts[i];
        let started = Instant::now();
        let failed = |e: String| Save::Failed(e);
        let dir = self.dir(i, "save").map_err(failed)?;
        transfers
            .run(mount, &dir, Way::Save)
            .await
            .map_err(|e| failed(e.to_string()))?;
        tracing::debug!(mount = %mount.id, copy = ?started.elapsed(), "copied out of the builder");
        let (out, archive) = (dir.join("out"), dir.join("mount.tgz"));
        let (packing, cap) = (archive.clone(), self.max_size);
        let packed = tokio::task::spawn_blocking(move || archive::pack(&out, &packing, cap))
            .await
            .map_err(|e| failed(e.to_string()))?;
        let packed = match packed {
            Ok(p) => p,
            Err(ArchiveError::OverCap { cap }) => return Err(Save::OverCap { cap }),
            Err(e) => return Err(failed(e.to_string())),
        };
        if self.restored[i].as_deref() == Some(packed.hash.as_str()) {
            return Err(Save::Unchanged);
        }
        Ok(Pending {
            dir,
            archive,
            hash: packed.hash,
            size: packed.size,
            started,
        })
    }

    async fn upload(&self, i: usize, p: Pending) -> Save {
        let Ok(client) = self.write.as_ref() else {
            return Save::NotRun(String::new());
        };
        let key = format!(
            "{}{}",
            store::key_prefix(&self.scope, &self.mounts[i].id),
            p.hash
        );
        let saved = client.save_file(&key, &self.version, &p.archive).await;
        let _ = std::fs::remove_dir_all(&p.dir);
        match saved {
            Ok(s) if s.outcome == SaveOutcome::Saved => Save::Saved {
                bytes: s.bytes,
                took: p.started.elapsed(),
            },
            Ok(_) => Save::Unchanged,
            Err(e) => Save::Failed(e.to_string()),
        }
    }

    /// A fresh working directory for mount `i`'s transfer.
    fn dir(&self, i: usize, what: &str) -> Result<PathBuf, String> {
        let dir = self.work.path().join(format!("{i}-{what}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("content"))
            .map_err(|e| format!("could not make {}: {e}", dir.display()))?;
        Ok(dir)
    }

    /// The working directory (tests look that nothing is left behind).
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }
}

/// The senders of a build's [`StepHold`], for [`Keeper::restore_holding`].
pub struct RestoreSignals {
    solve: watch::Sender<bool>,
    steps: watch::Sender<bool>,
}

/// A closed [`StepHold`] and what opens it.
pub fn hold() -> (RestoreSignals, StepHold) {
    let (solve, solve_rx) = watch::channel(false);
    let (steps, steps_rx) = watch::channel(false);
    (
        RestoreSignals { solve, steps },
        StepHold {
            solve: solve_rx,
            steps: steps_rx,
        },
    )
}

/// Counts down the mounts that reached a stage; at zero its hold opens.
struct Countdown {
    left: AtomicUsize,
    open: watch::Sender<bool>,
}

impl Countdown {
    fn new(mounts: usize, open: watch::Sender<bool>) -> Self {
        if mounts == 0 {
            let _ = open.send(true);
        }
        Self {
            left: AtomicUsize::new(mounts),
            open,
        }
    }

    fn one(&self) {
        if self.left.fetch_sub(1, Ordering::SeqCst) == 1 {
            let _ = self.open.send(true);
        }
    }
}

/// One mount's share of the two countdowns (copy started, copy finished): each counted
/// once, at the latest when the mount's restore ends (a miss, an error, no copy needed).
struct MountProgress<'a> {
    countdown: &'a (Countdown, Countdown),
    started: AtomicBool,
    finished: AtomicBool,
}

impl MountProgress<'_> {
    fn reached(&self, stage: CopyStage) {
        if !self.started.swap(true, Ordering::SeqCst) {
            self.countdown.0.one();
        }
        if stage == CopyStage::Finished && !self.finished.swap(true, Ordering::SeqCst) {
            self.countdown.1.one();
        }
    }
}

impl Drop for MountProgress<'_> {
    fn drop(&mut self) {
        self.reached(CopyStage::Finished);
    }
}

/// A directory with no entries (an unreadable one is not known to be empty).
fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::StepRecord;

    #[test]
    fn the_hold_opens_when_every_mount_reached_the_stage() {
        let (signals, hold) = hold();
        let countdown = (
            Countdown::new(2, signals.solve),
            Countdown::new(2, signals.steps),
        );
        let progress = |_: ()| MountProgress {
            countdown: &countdown,
            started: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        };
        let (a, b) = (progress(()), progress(()));
        a.reached(CopyStage::Started);
        a.reached(CopyStage::Started);
        assert!(!*hold.solve.borrow(), "one of two copies started, twice");
        // A mount with nothing to copy counts as both when its restore ends.
        drop(b);
        assert!(*hold.solve.borrow());
        assert!(!*hold.steps.borrow());
        a.reached(CopyStage::Finished);
        assert!(*hold.steps.borrow());
        drop(a);
        assert_eq!(
            countdown.1.left.load(Ordering::SeqCst),
            0,
            "counted once each"
        );
        let (none, hold) = hold_for_nothing();
        drop(none);
        assert!(*hold.solve.borrow() && *hold.steps.borrow());
    }

    fn hold_for_nothing() -> ((Countdown, Countdown), StepHold) {
        let (signals, hold) = hold();
        (
            (
                Countdown::new(0, signals.solve),
                Countdown::new(0, signals.steps),
            ),
            hold,
        )
    }

    #[test]
    fn only_a_mount_step_that_ran_touches_the_mounts() {
        let step = |name: &str, cached: bool| StepRecord {
            name: name.to_owned(),
            cached,
            dockerfile_step: true,
            ..Default::default()
        };
        let mut keeper = Keeper::empty(None).unwrap();
        let outcome = |steps| Outcome {
            steps,
            ..Default::default()
        };
        keeper.saw_build(&outcome(vec![
            step(
                "[2/5] RUN --mount=type=cache,target=/root/.cache/pip pip install",
                true,
            ),
            step("[5/5] RUN python3 -m compileall -q app", false),
        ]));
        assert!(keeper.untouched, "a compile after a source change");
        keeper.saw_build(&outcome(vec![step(
            "[2/5] RUN --mount=type=cache,target=/root/.cache/pip pip install",
            false,
        )]));
        assert!(!keeper.untouched);
    }

    #[test]
    fn an_empty_entry_needs_no_copy() {
        let dir = tempfile::tempdir().unwrap();
        assert!(is_empty_dir(dir.path()));
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        assert!(!is_empty_dir(dir.path()));
        assert!(!is_empty_dir(&dir.path().join("missing")));
    }
}
