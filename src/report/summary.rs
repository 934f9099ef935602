//! The job summary: one table per build with every Dockerfile step, whether it came from
//! cache and how long it took, then the totals people look for (cached share, build time,
//! cache import and export time and layers).

use std::fmt::Write as _;
use std::time::Duration;

use crate::engine::Outcome;
use crate::housekeeping::human_bytes;

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
    for s in o.dockerfile_steps() {
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
    let imported = layers(
        traffic.imported_layers(),
        traffic.imported_bytes(),
        "fetched",
    );
    let exported = layers(traffic.exported_layers(), None, "written");
    let _ = writeln!(
        md,
        "| Cache import | {}{imported} |",
        secs(o.cache_import_time())
    );
    let _ = writeln!(
        md,
        "| Cache export | {}{exported} |",
        secs(o.cache_export_time())
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

/// `, 3 layers fetched (12.0 MiB)`, or nothing when no layer moved.
fn layers(count: usize, size: Option<u64>, verb: &str) -> String {
    let noun = if count == 1 { "layer" } else { "layers" };
    match (count, size) {
        (0, _) => String::new(),
        (n, Some(b)) => format!(", {n} {noun} {verb} ({})", human_bytes(b)),
        (n, None) => format!(", {n} {noun} {verb}"),
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Text that stays inside one table cell and one code span.
fn cell(s: &str) -> String {
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

    /// Two 1.5 MiB layers fetched for a cached step, one layer written by the exporter.
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
        let written = VertexStatus {
            id: "writing layer sha256:cc".into(),
            ..Default::default()
        };
        t.observe(&written, "exporting cache");
        t
    }

    #[test]
    fn summary_lists_steps_cache_share_and_times() {
        let step = |name: &str, cached, ms| StepRecord {
            name: name.into(),
            cached,
            duration: Some(Duration::from_millis(ms)),
            error: None,
            dockerfile_step: crate::engine::is_dockerfile_step(name),
        };
        let o = Outcome {
            driver: "docker",
            tags: vec!["r/app:1".into()],
            steps: vec![
                step("[internal] load remote build context", false, 5),
                step("[1/3] FROM base", true, 0),
                step("[2/3] RUN echo a | tee b", true, 0),
                step("[3/3] RUN make", false, 2500),
                step("importing cache manifest from r/app:cache", false, 400),
                step("exporting cache", false, 1200),
            ],
            wall: Duration::from_millis(4000),
            solve: Duration::from_millis(3800),
            context_files: 3,
            context_bytes: 2048,
            warnings: vec!["cache export failed".into()],
            cache_traffic: traffic(),
            ..Default::default()
        };
        let md = summary_markdown(&o);
        assert!(
            md.contains("### Build `r/app:1`: 4.0 s, 50% of steps cached"),
            "{md}"
        );
        assert!(
            md.contains("| `[2/3] RUN echo a \\| tee b` | ✅ cached | – |"),
            "{md}"
        );
        assert!(md.contains("| `[3/3] RUN make` | built | 2.5 s |"), "{md}");
        assert!(!md.contains("[internal]"), "{md}");
        assert!(
            md.contains("| Cache import | 0.4 s, 2 layers fetched (3.0 MiB) |")
                && md.contains("| Cache export | 1.2 s, 1 layer written |"),
            "{md}"
        );
        assert!(md.contains("| Context sent | 3 files, 2.0 KiB |"), "{md}");
        assert!(md.contains("> [!WARNING]\n> cache export failed"), "{md}");
    }
}
