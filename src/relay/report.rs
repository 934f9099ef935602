//! What the relay got upstream, for the summary's export row and the warning about what
//! did not land.

use std::time::Duration;

use crate::cache_protocol::keys;

/// An index the relay wrote (or could not).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexOutcome {
    /// The key BuildKit wrote locally (`index-<scope>-1-<h8>#N`).
    pub local_key: String,
    /// The key written upstream, when it was (or the one upstream that already held it
    /// all, when `unchanged`).
    pub written: Option<String>,
    /// Nothing written: the index upstream already held everything of this build's.
    pub unchanged: bool,
    /// The upstream index it was merged with.
    pub merged_with: Option<String>,
    /// Why it was written as BuildKit wrote it although an upstream index was there to
    /// merge with.
    pub unmerged: Option<String>,
    pub error: Option<String>,
}

/// One entry that did not reach upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lost {
    pub key: String,
    pub bytes: u64,
    pub why: String,
}

/// Everything the relay did for one build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayReport {
    /// Blobs (layers) this relay created upstream, and their bytes.
    pub uploaded: usize,
    pub uploaded_bytes: u64,
    /// Blobs upstream already had.
    pub present: usize,
    /// Entries (blobs and indexes) that needed at least one retry, and the retries.
    pub retried: usize,
    pub retries: u32,
    /// Blobs that failed or were still under way at the deadline.
    pub lost: Vec<Lost>,
    pub indexes: Vec<IndexOutcome>,
    /// Time from the end of the build until everything landed (or the deadline).
    pub after_build: Duration,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

impl RelayReport {
    pub fn complete(&self) -> bool {
        self.lost.is_empty() && self.indexes.iter().all(|i| i.written.is_some())
    }

    /// `12 layers (40.1 MiB) uploaded · 0 already there · 3 retried · 0 failed · index
    /// written · 0.4 s after the build`.
    pub fn figures(&self) -> String {
        let index = match (
            self.indexes.len(),
            self.indexes.iter().filter(|i| i.written.is_some()).count(),
        ) {
            (0, _) => "no index".to_owned(),
            (n, _) if self.indexes.iter().all(|i| i.unchanged) => {
                if n == 1 {
                    "index unchanged".to_owned()
                } else {
                    format!("{n} indexes unchanged")
                }
            }
            (n, w) if n == w && w == 1 => "index written".to_owned(),
            (n, w) => format!("{w} of {n} indexes written"),
        };
        format!(
            "relay: {} layers ({}) uploaded · {} already there · {} retried · {} failed · {index} · {:.1} s after the build",
            self.uploaded,
            mib(self.uploaded_bytes),
            self.present,
            self.retried,
            self.lost.len(),
            self.after_build.as_secs_f64()
        )
    }

    /// The warning when not everything landed (which layers, which index, how many bytes),
    /// or an index was written without the upstream one merged in.
    pub fn warning(&self) -> Option<String> {
        let unmerged: Vec<String> = self
            .indexes
            .iter()
            .filter(|i| i.written.is_some())
            .filter_map(|i| {
                Some(format!(
                    "index {} written unmerged ({})",
                    i.local_key,
                    i.unmerged.as_deref()?
                ))
            })
            .collect();
        if self.complete() {
            return (!unmerged.is_empty()).then(|| {
                format!(
                    "cache relay: {}; builds only the upstream index held (parallel jobs of this scope) are not in it",
                    unmerged.join("; ")
                )
            });
        }
        let mut parts = unmerged;
        if !self.lost.is_empty() {
            let bytes: u64 = self.lost.iter().map(|l| l.bytes).sum();
            let names: Vec<String> = self
                .lost
                .iter()
                .take(5)
                .map(|l| format!("{} ({})", short_key(&l.key), l.why))
                .collect();
            let more = match self.lost.len() {
                n if n > 5 => format!(" and {} more", n - 5),
                _ => String::new(),
            };
            parts.push(format!(
                "{} {} ({}) did not reach the cache: {}{more}",
                self.lost.len(),
                if self.lost.len() == 1 {
                    "layer"
                } else {
                    "layers"
                },
                mib(bytes),
                names.join(", ")
            ));
        }
        for i in self.indexes.iter().filter(|i| i.written.is_none()) {
            parts.push(format!(
                "index {} was not written ({})",
                i.local_key,
                i.error.as_deref().unwrap_or("unknown reason")
            ));
        }
        Some(format!(
            "cache relay: {}; the next run will not find this build's cache in full",
            parts.join("; ")
        ))
    }
}

/// `buildkit-blob-1-sha256:0123456789ab…` → `sha256:0123456789ab`.
fn short_key(key: &str) -> String {
    let k = key.strip_prefix(keys::BLOB_PREFIX).unwrap_or(key);
    k.chars().take(19).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_names_what_was_lost() {
        let mut r = RelayReport {
            uploaded: 11,
            indexes: vec![IndexOutcome {
                local_key: "index-web-1-f921bd05#1".into(),
                written: Some("index-web-1-f921bd05#3".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(r.warning().is_none());
        r.lost.push(Lost {
            key: "buildkit-blob-1-sha256:0123456789abcdef0123".into(),
            bytes: 3 << 20,
            why: "gave up after 8 attempts".into(),
        });
        r.indexes[0].written = None;
        r.indexes[0].error = Some("1 of its layers did not land".into());
        let w = r.warning().unwrap_or_default();
        assert!(w.contains("1 layer (3.0 MiB) did not reach the cache: sha256:0123456789ab (gave up after 8 attempts)"), "{w}");
        assert!(
            w.contains(
                "index index-web-1-f921bd05#1 was not written (1 of its layers did not land)"
            ),
            "{w}"
        );
    }
}
