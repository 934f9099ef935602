//! The job summary: the build's own table (`summary_markdown`), the cache mounts, then
//! what GitHub's API says about the repository's `gha` cache, cache housekeeping and the answer to `call`;
//! and what `layercache prune` prints.

use crate::cache_mounts::MountOutcome;
use crate::engine::Outcome;
use crate::housekeeping::{CacheUsage, PruneReport, Reason};

use super::CallReport;

/// What the job summary says about the repository's `gha` cache, read through GitHub's
/// REST API after the build.
#[derive(Debug, Default)]
pub struct RepositoryCache {
    pub usage: Option<CacheUsage>,
    /// Entries this build's ref created in the scopes it exported, since it started, and
    /// their bytes: BuildKit does not report the sizes it uploads.
    pub exported: Option<(usize, u64)>,
    /// Why GitHub's API could not answer, per call: told once, as a notice.
    pub unavailable: Vec<String>,
}

impl RepositoryCache {
    /// One notice for every call GitHub's API did not answer (none when all did).
    pub fn notice(&self) -> Option<String> {
        (!self.unavailable.is_empty()).then(|| {
            format!(
                "the job summary leaves out the repository's cache usage and this build's exported entries: GitHub's API did not answer ({})",
                self.unavailable.join("; ")
            )
        })
    }

    /// Markdown lines for the summary; empty when nothing is known.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        if let Some((entries, bytes)) = self.exported {
            let noun = if entries == 1 { "entry" } else { "entries" };
            md.push_str(&format!(
                "\n**Exported to the Actions cache:** {entries} new {noun}, {} (created since this build started)\n",
                super::human_bytes(bytes)
            ));
        }
        if let Some(usage) = &self.usage {
            md.push_str(&format!("\n**Repository cache:** {}\n", usage_line(usage)));
        }
        md
    }
}

/// The whole job summary, in the order the user reads it.
pub fn job_summary(
    outcome: &Outcome,
    mounts: &[MountOutcome],
    repository: &RepositoryCache,
    housekeeping: Option<&PruneReport>,
    call: Option<(&str, &CallReport)>,
) -> String {
    let mut summary = super::summary_markdown(outcome);
    summary.push_str(&super::mounts_markdown(mounts));
    summary.push_str(&repository.markdown());
    if let Some(report) = housekeeping {
        summary.push_str(&format!(
            "\n**Cache housekeeping:** {}\n",
            housekeeping_line(report)
        ));
    }
    if let Some((name, answer)) = call {
        summary.push_str(&answer.markdown(name));
    }
    summary
}

/// `layercache prune`: one line per entry, then the totals, then the usage if asked.
pub fn prune_text(report: &PruneReport, usage: Option<&CacheUsage>) -> String {
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut text = String::new();
    for d in &report.deleted {
        text.push_str(&format!("{verb} {d}\n"));
    }
    if let Some(why) = &report.orphans_skipped {
        text.push_str(&format!("orphans: skipped: {why}\n"));
    }
    let gone = match report.already_gone {
        0 => String::new(),
        n => format!(", {n} already gone"),
    };
    text.push_str(&format!(
        "{verb} {} entries, {} ({} index entries seen in the scopes{gone})\n",
        report.deleted.len(),
        super::human_bytes(report.bytes()),
        report.indexes_seen,
    ));
    if let Some(u) = usage {
        text.push_str(&format!("usage: {}\n", usage_line(u)));
    }
    text
}

/// `3.2 GiB of 10.0 GiB (32%) in 1234 entries`: the repository's cache against its budget.
pub fn usage_line(u: &CacheUsage) -> String {
    let pct = (u.active_bytes as f64 / u.budget_bytes.max(1) as f64) * 100.0;
    let source = if u.budget_from_api {
        ""
    } else {
        " (default budget)"
    };
    format!(
        "{} of {}{source} ({pct:.0}%) in {} entries",
        super::human_bytes(u.active_bytes),
        super::human_bytes(u.budget_bytes),
        u.active_count
    )
}

/// `deleted 3 superseded indexes and 1 orphan blob (2.0 MiB)`: what housekeeping did.
pub fn housekeeping_line(report: &PruneReport) -> String {
    let orphans = report
        .deleted
        .iter()
        .filter(|d| d.reason == Reason::Orphan)
        .count();
    let indexes = report.deleted.len() - orphans;
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut line = format!(
        "{verb} {} and {} ({})",
        plural(indexes, "superseded index", "superseded indexes"),
        plural(orphans, "orphan blob", "orphan blobs"),
        super::human_bytes(report.bytes())
    );
    if let Some(why) = &report.orphans_skipped {
        line.push_str(&format!("; blobs kept: {why}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::housekeeping::DEFAULT_BUDGET_BYTES;

    #[test]
    fn usage_reads_as_one_line() {
        let u = CacheUsage {
            active_bytes: 3 * 1024 * 1024 * 1024 + 200 * 1024 * 1024,
            active_count: 1234,
            budget_bytes: DEFAULT_BUDGET_BYTES,
            budget_from_api: false,
        };
        assert_eq!(
            usage_line(&u),
            "3.2 GiB of 10.0 GiB (default budget) (32%) in 1234 entries"
        );
    }
}
