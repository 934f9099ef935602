//! Cache mounts in words: one summary row per mount (restored bytes and time; saved,
//! unchanged or over the cap) and the warnings that say what was lost.

use std::fmt::Write as _;

use super::summary::{cell, secs};
use crate::cache_mounts::{MountOutcome, Restore, Save};
use crate::report::human_bytes;

/// The summary table, empty when there are no mounts.
pub fn mounts_markdown(outcomes: &[MountOutcome]) -> String {
    if outcomes.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n**Cache mounts** (`RUN --mount=type=cache`, kept in the gha cache)\n\n| Mount | Restored | Saved |\n|---|---|---|\n",
    );
    for o in outcomes {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} |",
            cell(&o.id),
            restore_cell(&o.restore),
            save_cell(o.save.as_ref())
        );
    }
    md
}

fn restore_cell(r: &Restore) -> String {
    match r {
        Restore::Restored { bytes, took } => {
            format!("✅ {} in {}", human_bytes(*bytes), secs(*took))
        }
        Restore::Miss => "– nothing cached yet".to_owned(),
        Restore::Kept => "– the builder already had it".to_owned(),
        Restore::NotRun(why) => format!("– {}", cell(why)),
        Restore::Failed(_) => "⚠️ failed (see warnings)".to_owned(),
    }
}

fn save_cell(s: Option<&Save>) -> String {
    match s {
        None => "– not run (the build failed)".to_owned(),
        Some(Save::Saved { bytes, took }) => {
            format!("✅ saved {} in {}", human_bytes(*bytes), secs(*took))
        }
        Some(Save::Unchanged) => "✅ unchanged, not uploaded".to_owned(),
        Some(Save::Untouched) => "✅ unchanged (no step ran), not uploaded".to_owned(),
        Some(Save::OverCap { cap }) => format!("⚠️ skipped: over the cap ({})", human_bytes(*cap)),
        Some(Save::NotRun(why)) => format!("– {}", cell(why)),
        Some(Save::Failed(_)) => "⚠️ failed (see warnings)".to_owned(),
    }
}

/// One plain line per mount for the log.
pub fn mount_line(o: &MountOutcome) -> String {
    let save = match &o.save {
        None => String::new(),
        Some(s) => format!(
            "; {}",
            save_cell(Some(s)).trim_start_matches(['✅', '⚠', '️', '–', ' '])
        ),
    };
    format!(
        "cache mount {} ({}): {}{save}",
        o.id,
        o.target,
        restore_cell(&o.restore).trim_start_matches(['✅', '⚠', '️', '–', ' '])
    )
}

/// The warning for a failed restore: the mount, the cause, what it cost.
pub fn restore_warning(o: &MountOutcome) -> Option<String> {
    match &o.restore {
        Restore::Failed(e) => Some(format!(
            "cache mount {} was not restored, so the build ran with it empty: {e}",
            o.id
        )),
        _ => None,
    }
}

/// The warning for a save that failed or was over the cap.
pub fn save_warning(o: &MountOutcome) -> Option<String> {
    match &o.save {
        Some(Save::Failed(e)) => Some(format!(
            "cache mount {} was not saved, so the next build will not have this build's additions: {e}",
            o.id
        )),
        Some(Save::OverCap { cap }) => Some(format!(
            "cache mount {} was not saved: compressed, it is larger than the {} left for it (cache-mounts-max-size, cache-mounts-total-size)",
            o.id,
            human_bytes(*cap)
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn outcome(restore: Restore, save: Option<Save>) -> MountOutcome {
        MountOutcome {
            id: "pip".into(),
            target: "/root/.cache/pip".into(),
            restore,
            save,
        }
    }

    #[test]
    fn rows_and_warnings_say_what_happened() {
        let rows = [
            outcome(
                Restore::Restored {
                    bytes: 3 << 20,
                    took: Duration::from_millis(1500),
                },
                Some(Save::Unchanged),
            ),
            outcome(Restore::Miss, Some(Save::OverCap { cap: 1 << 30 })),
            outcome(
                Restore::Failed("lookup: 503".into()),
                Some(Save::NotRun(
                    "ACTIONS_CACHE_MODE=read does not allow cache export".into(),
                )),
            ),
        ];
        let md = mounts_markdown(&rows);
        assert!(
            md.contains("| `pip` | ✅ 3.0 MiB in 1.5 s | ✅ unchanged, not uploaded |"),
            "{md}"
        );
        assert!(md.contains("⚠️ skipped: over the cap (1.0 GiB)"), "{md}");
        assert!(
            md.contains("– ACTIONS_CACHE_MODE=read does not allow cache export"),
            "{md}"
        );
        assert_eq!(restore_warning(&rows[0]), None);
        assert_eq!(save_warning(&rows[0]), None);
        assert!(
            save_warning(&rows[1])
                .unwrap()
                .contains("larger than the 1.0 GiB")
        );
        assert!(
            restore_warning(&rows[2])
                .unwrap()
                .contains("ran with it empty: lookup: 503")
        );
        assert_eq!(save_warning(&rows[2]), None);
        assert_eq!(
            mount_line(&rows[0]),
            "cache mount pip (/root/.cache/pip): 3.0 MiB in 1.5 s; unchanged, not uploaded"
        );
        let untouched = outcome(Restore::Miss, Some(Save::Untouched));
        assert!(mounts_markdown(&[untouched]).contains("unchanged (no step ran)"));
        assert_eq!(mounts_markdown(&[]), "");
    }
}
