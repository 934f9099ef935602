//! What the build moved through its layer cache, read from BuildKit's status stream:
//! layers fetched for cached steps (`pulling sha256:…` on Engine 20.10, `sha256:…` with a
//! size on newer BuildKit) and the layers each cache exporter set out to write
//! (`writing layer sha256:…`, one status line per layer, in order, announced before the
//! write: a failed write is announced too, see docs/cache-reports.md). BuildKit gives sizes
//! only for downloads, and only from 0.10 on; export sizes come from the cache service's
//! listing instead (`commands::phases`).

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::moby::buildkit::v1::VertexStatus;

use super::vertex::{is_dockerfile_step, is_from_step, since_epoch};

/// Layers fetched, with their sizes (0: BuildKit did not say), and per exporting vertex the
/// layers it began to write, with the span of its status lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheTraffic {
    imported: BTreeMap<String, u64>,
    writes: BTreeMap<String, Vec<String>>,
    spans: BTreeMap<String, (Option<Duration>, Option<Duration>)>,
}

impl CacheTraffic {
    /// Take one status line of the vertex named `vertex_name`.
    pub fn observe(&mut self, status: &VertexStatus, vertex_name: &str) {
        let size = u64::try_from(status.total).unwrap_or(0);
        if is_cache_vertex(vertex_name) {
            self.stretch(status);
        }
        match cache_layer(status, vertex_name) {
            Some((CacheDirection::Export, digest)) => {
                let layers = self.writes.entry(status.vertex.clone()).or_default();
                if !layers.iter().any(|l| l == digest) {
                    layers.push(digest.to_owned());
                }
            }
            Some((CacheDirection::Import, digest)) => record(&mut self.imported, digest, size),
            None => {}
        }
    }

    pub fn imported_layers(&self) -> usize {
        self.imported.len()
    }

    /// Bytes downloaded from the cache, when BuildKit reported sizes.
    pub fn imported_bytes(&self) -> Option<u64> {
        sum(&self.imported)
    }

    /// The layers the exporting vertex `digest` began to write, in order.
    pub fn writes(&self, vertex: &str) -> &[String] {
        self.writes.get(vertex).map_or(&[], Vec::as_slice)
    }

    /// Earliest start and latest end among the status lines of vertex `digest`.
    pub fn status_span(&self, vertex: &str) -> (Option<Duration>, Option<Duration>) {
        self.spans.get(vertex).copied().unwrap_or_default()
    }

    fn stretch(&mut self, status: &VertexStatus) {
        let started = status
            .started
            .as_ref()
            .and_then(|t| since_epoch(t.seconds, t.nanos));
        let ended = status
            .completed
            .as_ref()
            .or(status.timestamp.as_ref())
            .and_then(|t| since_epoch(t.seconds, t.nanos));
        let span = self.spans.entry(status.vertex.clone()).or_default();
        span.0 = match (span.0, started) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        span.1 = span.1.max(ended);
    }
}

/// Vertices whose time is cache time: BuildKit's importers and exporters.
pub fn is_cache_vertex(name: &str) -> bool {
    name.starts_with("importing cache") || is_cache_export(name)
}

/// BuildKit's names for its cache export steps (`exporting cache to registry`, ...; the gha
/// backend of newer BuildKit says `exporting to GitHub Actions Cache`).
pub fn is_cache_export(name: &str) -> bool {
    name.starts_with("exporting cache")
        || name.starts_with("exporting to GitHub Actions Cache")
        || name.starts_with("preparing layers for inline cache")
}

/// Which way a cache layer moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheDirection {
    /// Downloaded from an imported cache.
    Import,
    /// Written by a cache exporter.
    Export,
}

/// The cache layer a status line is about, and which way it moves (for
/// [`CacheTraffic::observe`] and the live progress view).
pub fn cache_layer<'a>(
    status: &'a VertexStatus,
    vertex_name: &str,
) -> Option<(CacheDirection, &'a str)> {
    if let Some(digest) = status.id.strip_prefix("writing layer ") {
        return Some((CacheDirection::Export, digest));
    }
    // A `FROM` step's downloads are the base image, not cache.
    if is_from_step(vertex_name) || !is_cache_step(vertex_name) {
        return None;
    }
    let digest = status.id.strip_prefix("pulling ").unwrap_or(&status.id);
    digest
        .starts_with("sha256:")
        .then_some((CacheDirection::Import, digest))
}

/// Steps whose downloads come from an imported cache: Dockerfile steps other than `FROM`
/// (their layers are fetched when BuildKit answers them from cache) and the importer itself.
fn is_cache_step(name: &str) -> bool {
    is_dockerfile_step(name) || name.starts_with("importing cache")
}

fn record(layers: &mut BTreeMap<String, u64>, digest: &str, size: u64) {
    let known = layers.entry(digest.to_owned()).or_default();
    *known = (*known).max(size);
}

fn sum(layers: &BTreeMap<String, u64>) -> Option<u64> {
    let bytes: u64 = layers.values().sum();
    (bytes > 0).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: &str, total: i64) -> VertexStatus {
        VertexStatus {
            id: id.to_owned(),
            total,
            ..Default::default()
        }
    }

    #[test]
    fn engine_20_10_pulls_count_layers_without_sizes() {
        let mut t = CacheTraffic::default();
        let step = "[4/4] RUN make";
        t.observe(&status("pulling sha256:aa", 0), step);
        t.observe(&status("pulling sha256:aa", 0), step);
        t.observe(&status("pulling sha256:bb", 0), step);
        assert_eq!(t.imported_layers(), 2);
        assert_eq!(t.imported_bytes(), None);
    }

    #[test]
    fn newer_buildkit_downloads_carry_sizes_and_base_images_do_not_count() {
        let mut t = CacheTraffic::default();
        t.observe(&status("sha256:aa", 1000), "[2/3] RUN make");
        t.observe(&status("sha256:aa", 1000), "[2/3] RUN make");
        t.observe(&status("extracting sha256:aa", 0), "[2/3] RUN make");
        t.observe(&status("sha256:bb", 24), "[3/3] COPY . .");
        t.observe(
            &status("sha256:base", 5_000_000),
            "[1/3] FROM docker.io/library/debian",
        );
        t.observe(&status("sha256:cc", 7), "exporting to image");
        assert_eq!(t.imported_layers(), 2);
        assert_eq!(t.imported_bytes(), Some(1024));
    }

    fn on(vertex: &str, id: &str, started: i64, completed: Option<i64>) -> VertexStatus {
        let mut st = VertexStatus {
            vertex: vertex.to_owned(),
            id: id.to_owned(),
            started: Some(Default::default()),
            ..Default::default()
        };
        if let Some(t) = st.started.as_mut() {
            t.seconds = started;
        }
        if let Some(c) = completed {
            let mut t = st.started.unwrap_or_default();
            t.seconds = c;
            st.completed = Some(t);
        }
        st
    }

    #[test]
    fn status_lines_name_the_layer_and_its_direction() {
        let import = status("pulling sha256:aa", 0);
        assert_eq!(
            cache_layer(&import, "[4/4] RUN make"),
            Some((CacheDirection::Import, "sha256:aa"))
        );
        let export = status("writing layer sha256:bb", 0);
        assert_eq!(
            cache_layer(&export, "exporting cache"),
            Some((CacheDirection::Export, "sha256:bb"))
        );
        let base = status("sha256:cc", 10);
        assert_eq!(
            cache_layer(&base, "[1/3] FROM docker.io/library/debian"),
            None
        );
        assert_eq!(
            cache_layer(&status("extracting sha256:aa", 0), "[2/3] RUN make"),
            None
        );
    }

    #[test]
    fn each_exporter_keeps_the_layers_it_began_to_write_and_its_span() {
        let mut t = CacheTraffic::default();
        let gha = "exporting cache to GitHub Actions Cache";
        t.observe(&on("v1", "writing layer sha256:aa", 100, Some(101)), gha);
        t.observe(&on("v1", "writing layer sha256:bb", 101, None), gha);
        t.observe(&on("v1", "writing layer sha256:bb", 101, Some(107)), gha);
        t.observe(
            &on("v2", "writing layer sha256:aa", 100, Some(102)),
            "exporting cache",
        );
        t.observe(
            &on("v2", "writing config sha256:cc", 102, Some(103)),
            "exporting cache",
        );
        assert_eq!(t.writes("v1"), ["sha256:aa", "sha256:bb"]);
        assert_eq!(t.writes("v2"), ["sha256:aa"]);
        assert_eq!(t.writes("v3"), [] as [String; 0]);
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(t.status_span("v1"), (secs(100), secs(107)));
        assert_eq!(t.status_span("v2"), (secs(100), secs(103)));
        assert_eq!(t.imported_layers(), 0);
    }
}
