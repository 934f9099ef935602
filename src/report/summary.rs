//! The job summary: one table per build with every Dockerfile step in Dockerfile order,
//! whether it came from cache and how long it took, then the totals people look for
//! (cached share, build time, and whether the cache import and export were done, partial
//! or failed, with BuildKit's own time for them and the layers they moved).

use std::fmt::Write as _;
use std::time::Duration;

use crate::engine::{CacheReport, CacheState, Outcome, StepRecord};
use crate::report::human_bytes;

/// Markdown for the job summary (`GITHUB_STEP_SUMMARY`).
pub fn summary_markdown(o: &Outcome) -> String {
    let mut md = String::new();
    let title = o.tags.first().map_or("image", String::as_str);
    let cached = o.cached_percent().map_or_else(
        || "no steps".to_owned(),
        |p| format!("{p:.0}% of steps cached"),
    );
    let _ = writeln!(
        md,
        "### Build `{}`: {}, {cached}\n",
        cell(title),
        secs(o.wall)
    );
    let _ = writeln!(md, "| Step | Result | Time |\n|---|---|---:|");
    for s in dockerfile_order(o) {
        let result = match (&s.error, s.cached) {
            (Some(_), _) => "❌ failed",
            (None, true) => "✅ cached",
            (None, false) if crate::engine::is_from_step(&s.name) => "base image",
            (None, false) => "built",
        };
        let time = if s.cached {
            "–".to_owned()
        } else {
            s.duration.map_or_else(|| "–".to_owned(), secs)
        };
        let _ = writeln!(
            md,
            "| `{}` | {result} | {time} |",
            cell(&short(&s.name, 90))
        );
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| Driver | {} |", o.driver);
    let _ = writeln!(md, "| BuildKit solve | {} |", secs(o.solve));
    let traffic = &o.cache_traffic;
    let fetched = layers(
        traffic.imported_layers(),
        traffic.imported_bytes(),
        "fetched",
    );
    let _ = writeln!(
        md,
        "| Cache import | {} |",
        cache_row(&o.cache_imports, o.cache_import_time(), fetched)
    );
    let _ = writeln!(
        md,
        "| Cache export | {} |",
        cache_row(
            &o.cache_exports,
            o.cache_export_time(),
            match &o.relay {
                // What reached the cache service, not what BuildKit handed the relay.
                Some(r) => r.figures(),
                None => written(&o.cache_exports),
            }
        )
    );
    if let Some(p) = o.push {
        let _ = writeln!(md, "| Push | {} |", secs(p));
    }
    let _ = writeln!(
        md,
        "| Context sent | {} files, {} |",
        o.context_files,
        human_bytes(o.context_bytes)
    );
    if let Some(d) = &o.digest {
        let _ = writeln!(md, "| Digest | `{d}` |");
    }
    for w in &o.warnings {
        let _ = writeln!(md, "\n> [!WARNING]\n> {}", cell(w));
    }
    md
}

/// Dockerfile steps by their line in the Dockerfile (BuildKit reports them as they run,
/// stages interleaved); steps whose line is unknown keep BuildKit's order, after the rest.
fn dockerfile_order(o: &Outcome) -> Vec<&StepRecord> {
    let mut steps: Vec<&StepRecord> = o.dockerfile_steps().collect();
    steps.sort_by_key(|s| s.line.unwrap_or(usize::MAX));
    steps
}

/// `done · 0.4 s · 2 layers fetched`, `failed · 6.6 s · 0 of 12 layers written, no index`.
fn cache_row(reports: &[CacheReport], time: Option<Duration>, detail: String) -> String {
    if reports.is_empty() {
        return "not used".to_owned();
    }
    let count = |st| reports.iter().filter(|r| r.state == st).count();
    let (done, failed, unreported) = (
        count(CacheState::Done),
        count(CacheState::Failed),
        count(CacheState::Unreported),
    );
    let state = match (failed, done + unreported) {
        (0, _) if done > 0 => "done",
        (0, _) => "not reported by BuildKit",
        (_, 0) => "❌ failed",
        _ => "⚠️ partial",
    };
    let mut row = state.to_owned();
    row.push_str(&format!(" · {}", time.map_or_else(|| "–".to_owned(), secs)));
    if !detail.is_empty() {
        row.push_str(&format!(" · {detail}"));
    }
    if reports.len() > 1 || failed > 0 {
        let names: Vec<String> = reports
            .iter()
            .map(|r| format!("{} {}", r.entry, state_word(r.state)))
            .collect();
        row.push_str(&format!(" ({})", cell(&names.join("; "))));
    }
    row
}

fn state_word(state: CacheState) -> &'static str {
    match state {
        CacheState::Done => "done",
        CacheState::Failed => "failed",
        CacheState::Unreported => "not reported",
    }
}

/// `3 layers written`, or `2 of 3 layers written, no index` when an export failed.
fn written(reports: &[CacheReport]) -> String {
    let begun: usize = reports.iter().map(|r| r.attempted.len()).sum();
    let done: usize = reports.iter().map(|r| r.written).sum();
    let noun = if begun == 1 { "layer" } else { "layers" };
    let lost = reports.iter().any(|r| r.state == CacheState::Failed);
    match (lost, begun) {
        (false, 0) => String::new(),
        (false, n) => format!("{n} {noun} written"),
        (true, 0) => "nothing written".to_owned(),
        (true, n) => format!("{done} of {n} {noun} written, no index"),
    }
}

/// `3 layers fetched (12.0 MiB)`, or nothing when no layer moved.
fn layers(count: usize, size: Option<u64>, verb: &str) -> String {
    let noun = if count == 1 { "layer" } else { "layers" };
    match (count, size) {
        (0, _) => String::new(),
        (n, Some(b)) => format!("{n} {noun} {verb} ({})", human_bytes(b)),
        (n, None) => format!("{n} {noun} {verb}"),
    }
}

pub(super) fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Text that stays inside one table cell and one code span.
pub(super) fn cell(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('`', "'")
        .replace(['\n', '\r'], " ")
}

fn short(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::StepRecord;
    use crate::plan::CacheType;

    /// Two 1.5 MiB layers fetched for a cached step.
    fn traffic() -> crate::engine::CacheTraffic {
        use bollard::moby::buildkit::v1::VertexStatus;
        let mut t = crate::engine::CacheTraffic::default();
        for id in ["sha256:aa", "sha256:bb"] {
            let s = VertexStatus {
                id: id.into(),
                total: 1536 * 1024,
                ..Default::default()
            };
            t.observe(&s, "[2/3] RUN echo a | tee b");
        }
        t
    }

    fn report(
        entry: &str,
        state: CacheState,
        ms: (u64, u64),
        layers: (usize, usize),
    ) -> CacheReport {
        CacheReport {
            entry: entry.into(),
            kind: CacheType::Gha,
            state,
            started_at: Some(Duration::from_millis(ms.0)),
            completed_at: Some(Duration::from_millis(ms.1)),
            attempted: (0..layers.1).map(|i| format!("sha256:{i}")).collect(),
            written: layers.0,
            error: None,
        }
    }

    fn step(name: &str, cached: bool, ms: u64, line: Option<usize>) -> StepRecord {
        StepRecord {
            name: name.into(),
            cached,
            duration: Some(Duration::from_millis(ms)),
            dockerfile_step: crate::engine::is_dockerfile_step(name),
            line,
            ..Default::default()
        }
    }

    fn outcome() -> Outcome {
        Outcome {
            driver: "docker",
            tags: vec!["r/app:1".into()],
            steps: vec![
                step("[internal] load remote build context", false, 5, None),
                step("[build 1/2] FROM base", true, 0, Some(1)),
                step("[stage-1 1/2] FROM base", true, 0, Some(4)),
                step("[stage-1 2/2] RUN make", false, 2500, Some(5)),
                step("[build 2/2] RUN echo a | tee b", true, 0, Some(2)),
            ],
            wall: Duration::from_millis(4000),
            solve: Duration::from_millis(3800),
            context_files: 3,
            context_bytes: 2048,
            warnings: vec!["cache export failed".into()],
            cache_traffic: traffic(),
            cache_imports: vec![report(
                "registry r/app:cache",
                CacheState::Done,
                (100, 500),
                (0, 0),
            )],
            cache_exports: vec![report(
                "gha scope web",
                CacheState::Done,
                (1000, 7600),
                (3, 3),
            )],
            ..Default::default()
        }
    }

    #[test]
    fn summary_lists_steps_in_dockerfile_order_with_cache_share_and_times() {
        let md = summary_markdown(&outcome());
        assert!(
            md.contains("### Build `r/app:1`: 4.0 s, 50% of steps cached"),
            "{md}"
        );
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| `[")).collect();
        assert_eq!(
            rows,
            [
                "| `[build 1/2] FROM base` | ✅ cached | – |",
                "| `[build 2/2] RUN echo a \\| tee b` | ✅ cached | – |",
                "| `[stage-1 1/2] FROM base` | ✅ cached | – |",
                "| `[stage-1 2/2] RUN make` | built | 2.5 s |",
            ],
            "{md}"
        );
        assert!(!md.contains("[internal]"), "{md}");
        assert!(
            md.contains("| Cache import | done · 0.4 s · 2 layers fetched (3.0 MiB) |")
                && md.contains("| Cache export | done · 6.6 s · 3 layers written |"),
            "{md}"
        );
        assert!(md.contains("| Context sent | 3 files, 2.0 KiB |"), "{md}");
        assert!(md.contains("> [!WARNING]\n> cache export failed"), "{md}");
    }

    #[test]
    fn failed_and_partial_cache_rows_say_so_with_counts() {
        let mut o = outcome();
        o.cache_exports = vec![report(
            "gha scope web",
            CacheState::Failed,
            (0, 6600),
            (0, 12),
        )];
        let md = summary_markdown(&o);
        assert!(
            md.contains("| Cache export | ❌ failed · 6.6 s · 0 of 12 layers written, no index (gha scope web failed) |"),
            "{md}"
        );
        o.cache_exports.push(report(
            "registry r/app:c",
            CacheState::Done,
            (0, 1000),
            (2, 2),
        ));
        let md = summary_markdown(&o);
        assert!(
            md.contains("| Cache export | ⚠️ partial · 6.6 s · 2 of 14 layers written, no index (gha scope web failed; registry r/app:c done) |"),
            "{md}"
        );
        o.cache_imports.clear();
        assert!(summary_markdown(&o).contains("| Cache import | not used |"));
        // An export that never ran (its driver could not use it) wrote nothing.
        o.cache_exports = vec![report("gha scope web", CacheState::Failed, (0, 0), (0, 0))];
        o.cache_exports[0].started_at = None;
        assert!(
            summary_markdown(&o).contains(
                "| Cache export | ❌ failed · – · nothing written (gha scope web failed) |"
            )
        );
    }

    #[test]
    fn the_export_row_gives_the_relays_figures() {
        let mut o = outcome();
        o.cache_exports = vec![report(
            "gha scope web",
            CacheState::Done,
            (0, 300),
            (12, 12),
        )];
        o.relay = Some(crate::relay::RelayReport {
            uploaded: 11,
            uploaded_bytes: 3 << 20,
            present: 1,
            retried: 4,
            retries: 6,
            after_build: Duration::from_millis(800),
            indexes: vec![crate::relay::IndexOutcome {
                written: Some("index-web-1-f921bd05#2".into()),
                ..Default::default()
            }],
            ..Default::default()
        });
        let md = summary_markdown(&o);
        assert!(
            md.contains("| Cache export | done · 0.3 s · relay: 11 layers (3.0 MiB) uploaded · 1 already there · 4 retried · 0 failed · index written · 0.8 s after the build |"),
            "{md}"
        );
    }
}
