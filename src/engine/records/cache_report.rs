//! What became of each cache entry of a build, told from BuildKit's own progress: the
//! importing and exporting vertices (their start, end and error) and the layers each
//! exporter began to write. An export that fails under `ignore-error` leaves the solve
//! green; only its vertex says so, and this is where that is turned into a report the
//! summary and a warning can state (docs/cache-reports.md has the BuildKit facts).

use std::time::Duration;

use super::cache_traffic::{CacheTraffic, is_cache_export};
use super::progress::StepRecord;
use crate::plan::{CacheOption, CacheType};

/// How one cache entry fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheState {
    Done,
    Failed,
    /// BuildKit reported no vertex for the entry.
    Unreported,
}

/// One `cache-from` or `cache-to` entry after the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheReport {
    /// `gha scope web-1a2b3c4d`, `registry r/app:cache`: the entry, without secrets.
    pub entry: String,
    pub kind: CacheType,
    pub state: CacheState,
    pub started_at: Option<Duration>,
    pub completed_at: Option<Duration>,
    /// Export: the layers BuildKit began to write, in order (for `gha`, `s3` and `azblob`
    /// only those the cache did not already hold).
    pub attempted: Vec<String>,
    /// Export: how many of `attempted` were written.
    pub written: usize,
    pub error: Option<String>,
}

impl CacheReport {
    fn new(entry: &CacheOption) -> Self {
        Self {
            entry: name(entry),
            kind: entry.kind,
            state: CacheState::Unreported,
            started_at: None,
            completed_at: None,
            attempted: Vec::new(),
            written: 0,
            error: None,
        }
    }

    /// The warning for a failed export: the entry, what was lost, what it means next time.
    pub fn export_warning(&self) -> Option<String> {
        if self.state != CacheState::Failed {
            return None;
        }
        let index = match self.kind {
            CacheType::Registry => "no cache manifest pushed",
            CacheType::Inline => "no cache metadata in the image",
            _ => "no index written",
        };
        let layers = match self.attempted.len() {
            0 => "before any layer was written".to_owned(),
            n => format!("{} of {n} {} written", self.written, plural(n, "layer")),
        };
        let why = self
            .error
            .as_deref()
            .map_or_else(String::new, |e| format!(" ({})", short(e)));
        Some(format!(
            "cache export to {} failed: {layers} and {index}; the next run will not find this build's cache{why}",
            self.entry
        ))
    }

    /// The warning for a failed import (the build goes on without that cache).
    pub fn import_warning(&self) -> Option<String> {
        (self.state == CacheState::Failed).then(|| {
            let why = self
                .error
                .as_deref()
                .map_or_else(String::new, |e| format!(": {}", short(e)));
            format!(
                "cache import from {} failed, building without that cache{why}",
                self.entry
            )
        })
    }
}

/// The warnings for the exports a failed solve lost (`error`: that solve's error, said
/// when no export vertex tells more).
pub fn lost_exports(exports: &[CacheReport], error: &dyn std::fmt::Display) -> Vec<String> {
    let warnings: Vec<String> = exports
        .iter()
        .filter_map(CacheReport::export_warning)
        .collect();
    if warnings.is_empty() {
        return vec![format!(
            "cache export failed, the build continues without it: {error}"
        )];
    }
    warnings
}

/// Failed reports for the entries of `asked` the build ran without (`kept` lacks them):
/// the summary must not call a cache that was never used "not used". The warning that
/// dropped them has been given already.
pub fn dropped(asked: &[CacheOption], kept: &[CacheOption], why: &str) -> Vec<CacheReport> {
    asked
        .iter()
        .filter(|e| !kept.contains(e))
        .map(|e| CacheReport {
            state: CacheState::Failed,
            error: Some(why.to_owned()),
            ..CacheReport::new(e)
        })
        .collect()
}

/// How an entry is named in warnings and the summary: its type and what locates it.
pub fn name(entry: &CacheOption) -> String {
    let attr = |k: &str| entry.attr(k).unwrap_or("?");
    match entry.kind {
        CacheType::Gha => format!("gha scope {}", attr("scope")),
        CacheType::Registry => format!("registry {}", attr("ref")),
        CacheType::Local if entry.attr("dest").is_some() => format!("local {}", attr("dest")),
        CacheType::Local => format!("local {}", attr("src")),
        CacheType::Inline => "inline (in the image)".to_owned(),
        _ => entry.describe(),
    }
}

/// Reports for `entries` (`cache-to`), from the steps and writes of one solve. `solve_ok`
/// is false when that solve failed; an export it never finished is then lost.
pub fn exports(
    entries: &[CacheOption],
    steps: &[StepRecord],
    traffic: &CacheTraffic,
    solve_ok: bool,
) -> Vec<CacheReport> {
    let vertices: Vec<&StepRecord> = steps.iter().filter(|s| is_cache_export(&s.name)).collect();
    let matched = assign(entries, &vertices, |e, v| {
        exporter_kind(&v.name) == Some(e.kind)
    });
    entries
        .iter()
        .zip(matched)
        .map(|(entry, vertex)| {
            let mut r = CacheReport::new(entry);
            let Some(v) = vertex else {
                // Inline cache is written into the image config by the image exporter
                // (Engine 20.10 shows no vertex for it): done when the solve is.
                r.state = match (solve_ok, entry.kind) {
                    (true, CacheType::Inline) => CacheState::Done,
                    (true, _) => CacheState::Unreported,
                    (false, _) => CacheState::Failed,
                };
                return r;
            };
            fill_times(&mut r, v, traffic);
            r.attempted = traffic.writes(&v.digest).to_vec();
            let finished = v.completed_at.is_some() || v.error.is_some();
            r.state = match (&v.error, finished || solve_ok) {
                (None, true) => CacheState::Done,
                _ => CacheState::Failed,
            };
            r.error.clone_from(&v.error);
            // Layers are written one after another and the first failure ends the export:
            // the last one begun is the one that failed when the error is a layer write.
            let layer_failed = v.error.as_deref().is_some_and(|e| e.contains("layer"));
            r.written = match (r.state, layer_failed) {
                (CacheState::Failed, true) => r.attempted.len().saturating_sub(1),
                _ => r.attempted.len(),
            };
            r
        })
        .collect()
}

/// Reports for `entries` (`cache-from`).
pub fn imports(
    entries: &[CacheOption],
    steps: &[StepRecord],
    traffic: &CacheTraffic,
) -> Vec<CacheReport> {
    let vertices: Vec<&StepRecord> = steps
        .iter()
        .filter(|s| s.name.starts_with("importing cache"))
        .collect();
    let matched = assign(entries, &vertices, |e, v| {
        locator(e).is_some_and(|l| v.name.contains(l))
    });
    entries
        .iter()
        .zip(matched)
        .map(|(entry, vertex)| {
            let mut r = CacheReport::new(entry);
            if let Some(v) = vertex {
                fill_times(&mut r, v, traffic);
                r.error.clone_from(&v.error);
                r.state = match v.error {
                    Some(_) => CacheState::Failed,
                    None => CacheState::Done,
                };
            }
            r
        })
        .collect()
}

/// From the first start to the last end of `reports`: imports (and exports) run side by
/// side, so their times are a span, not a sum.
pub fn span(reports: &[CacheReport]) -> Option<Duration> {
    let start = reports.iter().filter_map(|r| r.started_at).min()?;
    let end = reports.iter().filter_map(|r| r.completed_at).max()?;
    end.checked_sub(start)
}

fn fill_times(r: &mut CacheReport, v: &StepRecord, traffic: &CacheTraffic) {
    let (first, last) = traffic.status_span(&v.digest);
    r.started_at = match (v.started_at, first) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    r.completed_at = v.completed_at.max(last);
}

/// Pair each entry with a vertex: first one that `fits`, then any vertex that names no
/// type (old BuildKit calls every exporter `exporting cache`), each vertex used once.
fn assign<'a>(
    entries: &[CacheOption],
    vertices: &[&'a StepRecord],
    fits: impl Fn(&CacheOption, &StepRecord) -> bool,
) -> Vec<Option<&'a StepRecord>> {
    let mut used = vec![false; vertices.len()];
    let mut out: Vec<Option<&StepRecord>> = vec![None; entries.len()];
    for (i, e) in entries.iter().enumerate() {
        if let Some(j) = (0..vertices.len()).find(|&j| !used[j] && fits(e, vertices[j])) {
            used[j] = true;
            out[i] = Some(vertices[j]);
        }
    }
    for (i, e) in entries.iter().enumerate() {
        if out[i].is_some() || e.kind == CacheType::Inline {
            continue;
        }
        if let Some(j) = (0..vertices.len()).find(|&j| !used[j]) {
            used[j] = true;
            out[i] = Some(vertices[j]);
        }
    }
    out
}

/// The cache type an exporting vertex names (BuildKit ≥ 0.11 names its exporters).
fn exporter_kind(name: &str) -> Option<CacheType> {
    // BuildKit's gha backend names its vertex `exporting to GitHub Actions Cache`.
    let rest = name
        .strip_prefix("exporting cache to ")
        .or_else(|| name.strip_prefix("exporting to "));
    match rest {
        Some(r) if r.contains("GitHub Actions") => Some(CacheType::Gha),
        Some(r) if r.contains("registry") => Some(CacheType::Registry),
        Some(r) if r.contains("client directory") || r.contains("local") => Some(CacheType::Local),
        Some(r) if r.contains("S3") => Some(CacheType::S3),
        Some(r) if r.contains("Azure") => Some(CacheType::Azblob),
        _ if name.starts_with("preparing layers for inline cache") => Some(CacheType::Inline),
        _ => None,
    }
}

/// What an importing vertex's name carries for `entry` (`importing cache manifest from X`).
fn locator(entry: &CacheOption) -> Option<&str> {
    entry
        .attr("ref")
        .or_else(|| entry.attr("scope"))
        .or_else(|| entry.attr("src"))
        .or_else(|| entry.attr("name"))
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        noun.to_owned()
    } else {
        format!("{noun}s")
    }
}

/// BuildKit's error, on one line and not endless, with URL queries cut: a cache backend's
/// error can quote a signed upload URL, whose signature is a credential.
fn short(e: &str) -> String {
    let one_line = e
        .split_whitespace()
        .map(|w| match (w.contains("://"), w.split_once('?')) {
            (true, Some((base, _))) => format!("{base}?…"),
            _ => w.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    match one_line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

#[cfg(test)]
#[path = "cache_report_tests.rs"]
mod tests;
