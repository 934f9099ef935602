//! The cache-mount phases around the build (issue #15): restore alongside its start (its
//! steps held until the mounts are in place), save after a build that succeeded, each a
//! log group; trouble is a warning, never a failed build.

use crate::action::env::Env;
use crate::action::runtime::Runtime;
use crate::action::workflow::Workflow;
use crate::cache_mounts;
use crate::engine::StepHold;
use crate::plan::BuildPlan;
use crate::report;

/// Find the cache mounts (their notice and any trouble are printed). Trouble is a warning.
pub async fn prepare<W: std::io::Write>(
    plan: &BuildPlan,
    runtime: &Runtime,
    env: &Env,
    wf: &mut Workflow<W>,
) -> Option<cache_mounts::Keeper> {
    let keeper = match cache_mounts::prepare(plan, runtime, env).await {
        Ok(Some(k)) => k,
        Ok(None) => return None,
        Err(e) => {
            wf.warning(&format!("cache mounts are not kept: {e}"));
            return None;
        }
    };
    if let Some(notice) = &keeper.notice {
        wf.notice(notice);
    }
    (!keeper.outcomes().is_empty()).then_some(keeper)
}

/// Restore `keeper`'s mounts while `build` starts: `build` gets the hold that keeps its
/// steps from running before the mounts are in place (docs/cache-mounts.md § When the
/// restore runs). Without mounts, `build` runs unheld.
pub async fn restore_alongside<T>(
    keeper: Option<&mut cache_mounts::Keeper>,
    build: impl AsyncFnOnce(Option<StepHold>) -> T,
) -> T {
    let Some(keeper) = keeper else {
        return build(None).await;
    };
    let (signals, hold) = cache_mounts::hold();
    let ((), result) = tokio::join!(keeper.restore_holding(signals), build(Some(hold)));
    result
}

/// What the restore did, in a log group of its own (printed after the build it ran beside).
pub fn restored<W: std::io::Write>(keeper: &cache_mounts::Keeper, wf: &mut Workflow<W>) {
    wf.group("Restore cache mounts (alongside the build's start)");
    for o in keeper.outcomes() {
        wf.line(&report::mount_line(o));
        if let Some(w) = report::restore_warning(o) {
            wf.warning(&w);
        }
    }
    wf.end_group();
}

pub async fn save<W: std::io::Write>(keeper: &mut cache_mounts::Keeper, wf: &mut Workflow<W>) {
    wf.group("Save cache mounts");
    keeper.save().await;
    for o in keeper.outcomes() {
        wf.line(&report::mount_line(o));
        if let Some(w) = report::save_warning(o) {
            wf.warning(&w);
        }
    }
    wf.end_group();
}
