//! What the build moved through its layer cache, read from BuildKit's status stream:
//! layers fetched for cached steps (`pulling sha256:…` on Engine 20.10, `sha256:…` with a
//! size on newer BuildKit) and layers a cache exporter wrote (`writing layer sha256:…`).
//! BuildKit gives sizes only for downloads, and only from 0.10 on; export sizes come from
//! the cache service's listing instead (`commands::phases`).

use std::collections::{BTreeMap, BTreeSet};

use bollard::moby::buildkit::v1::VertexStatus;

/// Layers fetched, with their sizes (0: BuildKit did not say), and layers written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheTraffic {
    imported: BTreeMap<String, u64>,
    exported: BTreeSet<String>,
}

impl CacheTraffic {
    /// Take one status line of the vertex named `vertex_name`.
    pub fn observe(&mut self, status: &VertexStatus, vertex_name: &str) {
        let size = u64::try_from(status.total).unwrap_or(0);
        if let Some(digest) = status.id.strip_prefix("writing layer ") {
            self.exported.insert(digest.to_owned());
            return;
        }
        // A `FROM` step's downloads are the base image, not cache.
        if super::progress::is_from_step(vertex_name) || !is_cache_step(vertex_name) {
            return;
        }
        let digest = status.id.strip_prefix("pulling ").unwrap_or(&status.id);
        if digest.starts_with("sha256:") {
            record(&mut self.imported, digest, size);
        }
    }

    pub fn imported_layers(&self) -> usize {
        self.imported.len()
    }

    /// Bytes downloaded from the cache, when BuildKit reported sizes.
    pub fn imported_bytes(&self) -> Option<u64> {
        sum(&self.imported)
    }

    pub fn exported_layers(&self) -> usize {
        self.exported.len()
    }
}

/// Which way a cache layer moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheDirection {
    /// Downloaded from an imported cache.
    Import,
    /// Written by a cache exporter.
    Export,
}

/// The cache layer a status line is about, and which way it moves: the rules of
/// [`CacheTraffic::observe`], for the live progress view.
pub fn cache_layer<'a>(
    status: &'a VertexStatus,
    vertex_name: &str,
) -> Option<(CacheDirection, &'a str)> {
    if let Some(digest) = status.id.strip_prefix("writing layer ") {
        return Some((CacheDirection::Export, digest));
    }
    if super::progress::is_from_step(vertex_name) || !is_cache_step(vertex_name) {
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
    super::progress::is_dockerfile_step(name) || name.starts_with("importing cache")
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
    fn cache_exporters_write_layers() {
        let mut t = CacheTraffic::default();
        t.observe(&status("writing layer sha256:aa", 0), "exporting cache");
        t.observe(
            &status("writing layer sha256:bb", 0),
            "exporting cache to GitHub Actions Cache",
        );
        t.observe(&status("writing config sha256:cc", 0), "exporting cache");
        t.observe(
            &status("preparing build cache for export", 0),
            "exporting cache",
        );
        assert_eq!(t.exported_layers(), 2);
        assert_eq!(t.imported_layers(), 0);
    }
}
