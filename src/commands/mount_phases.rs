//! The cache-mount phases around the build (issue #15): restore before it, save after a
//! build that succeeded, each a log group; trouble is a warning, never a failed build.

use crate::action::env::Env;
use crate::action::runtime::Runtime;
use crate::action::workflow::Workflow;
use crate::cache_mounts;
use crate::plan::BuildPlan;
use crate::report;

/// Find the cache mounts and restore them (a log group of its own). Trouble is a warning.
pub async fn restore<W: std::io::Write>(
    plan: &BuildPlan,
    runtime: &Runtime,
    env: &Env,
    wf: &mut Workflow<W>,
) -> Option<cache_mounts::Keeper> {
    let mut keeper = match cache_mounts::prepare(plan, runtime, env).await {
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
    if keeper.outcomes().is_empty() {
        return None;
    }
    wf.group("Restore cache mounts");
    keeper.restore().await;
    for o in keeper.outcomes() {
        wf.line(&report::mount_line(o));
        if let Some(w) = report::restore_warning(o) {
            wf.warning(&w);
        }
    }
    wf.end_group();
    Some(keeper)
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
