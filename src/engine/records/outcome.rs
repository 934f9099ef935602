//! What a build produced, for the reports: image id, digest, BuildKit's exporter response,
//! every step with its cache hit and duration, and where the time went.

use std::collections::BTreeMap;
use std::time::Duration;

use super::cache_report::{self, CacheReport};
use super::cache_traffic::CacheTraffic;
use super::progress::{BuildEvent, BuildWarning, EventSink, StepRecord};
use crate::plan::BuildPlan;

#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// `docker`, `remote`, ...
    pub driver: &'static str,
    pub image_id: Option<String>,
    /// The manifest digest in the registry after a push.
    pub digest: Option<String>,
    pub tags: Vec<String>,
    /// BuildKit's `SolveResponse.exporter_response` (`containerimage.digest`, ...).
    pub exporter_response: BTreeMap<String, String>,
    pub build_ref: String,
    /// The BuildKit container this build ran in (`docker-container`), for the post step.
    pub builder: Option<String>,
    pub steps: Vec<StepRecord>,
    /// Layers fetched from and written to the layer cache.
    pub cache_traffic: CacheTraffic,
    /// Each `cache-from` entry, in input order, as BuildKit's importers told it.
    pub cache_imports: Vec<CacheReport>,
    /// Each `cache-to` entry, in input order, as BuildKit's exporters told it (from the
    /// first solve when a failed export made layercache solve again without exports).
    pub cache_exports: Vec<CacheReport>,
    /// Files and bytes BuildKit pulled from the local context: all of it the first time,
    /// then only what changed since (it keeps the previous transfer).
    pub context_bytes: u64,
    pub context_files: usize,
    /// Wall time of the whole engine run.
    pub wall: Duration,
    /// Time spent inside BuildKit's solve call.
    pub solve: Duration,
    pub push: Option<Duration>,
    pub warnings: Vec<String>,
    /// Warnings the frontend reported (Dockerfile build checks), with their place.
    pub build_warnings: Vec<BuildWarning>,
    /// The frontend's answer to a `call` other than build (`result.txt`, `result.json`,
    /// `result.statuscode`).
    pub frontend_result: BTreeMap<String, String>,
    /// The SLSA provenance predicate BuildKit recorded (`buildx.build.provenance`).
    pub provenance: Option<serde_json::Value>,
    /// What the cache relay got upstream, when the `gha` entries went through it.
    pub relay: Option<crate::relay::RelayReport>,
}

impl Outcome {
    /// Fill in what became of each cache entry of `req` after a successful solve. BuildKit
    /// carries on when an import fails (the build is just slower) and, with `ignore-error`,
    /// when an export fails: each is a warning of its own.
    pub fn report_caches(&mut self, req: &BuildPlan, sink: &mut dyn EventSink) {
        let outcome = self;
        outcome.cache_imports =
            cache_report::imports(&req.cache_from, &outcome.steps, &outcome.cache_traffic);
        outcome.cache_exports =
            cache_report::exports(&req.cache_to, &outcome.steps, &outcome.cache_traffic, true);
        let imports = outcome
            .cache_imports
            .iter()
            .filter_map(CacheReport::import_warning);
        let exports = outcome
            .cache_exports
            .iter()
            .filter_map(CacheReport::export_warning);
        let warnings: Vec<String> = imports.chain(exports).collect();
        for w in warnings {
            sink.event(BuildEvent::Warning(w.clone()));
            outcome.warnings.push(w);
        }
    }

    /// Dockerfile steps only (`[n/m] ...`).
    pub fn dockerfile_steps(&self) -> impl Iterator<Item = &StepRecord> {
        self.steps.iter().filter(|s| s.dockerfile_step)
    }

    /// Share of Dockerfile steps answered from cache, 0–100; `None` without steps. `FROM`
    /// steps are left out: BuildKit reports a base image as resolved, never as cached.
    pub fn cached_percent(&self) -> Option<f64> {
        let work = || {
            self.dockerfile_steps()
                .filter(|s| !s.name.contains("] FROM "))
        };
        let total = work().count();
        let cached = work().filter(|s| s.cached).count();
        (total > 0).then(|| cached as f64 * 100.0 / total as f64)
    }

    /// From the first importer's start to the last one's end, by BuildKit's clock.
    pub fn cache_import_time(&self) -> Option<Duration> {
        cache_report::span(&self.cache_imports)
    }

    /// From the first exporter's start to the last one's end, by BuildKit's clock.
    pub fn cache_export_time(&self) -> Option<Duration> {
        cache_report::span(&self.cache_exports)
    }

    /// Wall time not spent in BuildKit's solve: what layercache itself costs.
    pub fn overhead(&self) -> Duration {
        self.wall
            .saturating_sub(self.solve)
            .saturating_sub(self.push.unwrap_or_default())
    }
}
