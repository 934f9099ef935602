//! The cache key layout: BuildKit's `gha` entries (docs/gha-cache-layout.md § Key layout),
//! index entries `index-<scope>-1-<h8>[-sig]#<N>` and layer blobs `buildkit-blob-1-<digest>`,
//! and the cache-mount archives layercache keeps beside them.

use sha2::{Digest, Sha256};

/// Key prefix of every layer blob entry.
pub const BLOB_PREFIX: &str = "buildkit-blob-1-";
/// Key prefix of every index entry.
pub const INDEX_PREFIX: &str = "index-";
/// Key prefix of every cache-mount archive layercache keeps (`cache_mounts::store`).
pub const MOUNT_PREFIX: &str = "layercache-mount-";

/// A parsed index key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexKey {
    /// The `scope` attribute of the cache entry (may itself contain `-`).
    pub scope: String,
    /// First 8 hex chars of `sha256(<token scope ref>)`.
    pub ref_hash: String,
    /// `-sig`: the signed-index variant.
    pub signed: bool,
    /// The `#N` sequence number; the newest index has the highest.
    pub seq: u64,
}

impl IndexKey {
    /// Parse `index-<scope>-1-<h8>[-sig]#<N>`. The scope is everything between `index-`
    /// and the last `-1-<h8>`, so scopes containing `-1-` still parse.
    pub fn parse(key: &str) -> Option<Self> {
        let rest = key.strip_prefix(INDEX_PREFIX)?;
        let (base, seq) = rest.rsplit_once('#')?;
        let seq = seq.parse().ok()?;
        let (base, signed) = match base.strip_suffix("-sig") {
            Some(b) => (b, true),
            None => (base, false),
        };
        let (scope, ref_hash) = base.rsplit_once("-1-")?;
        let hex = ref_hash.len() == 8 && ref_hash.bytes().all(|b| b.is_ascii_hexdigit());
        (hex && !scope.is_empty()).then(|| Self {
            scope: scope.to_owned(),
            ref_hash: ref_hash.to_owned(),
            signed,
            seq,
        })
    }
}

/// The key of the layer blob `digest` (`sha256:…`).
pub fn blob_key(digest: &str) -> String {
    format!("{BLOB_PREFIX}{digest}")
}

/// Whether `key` names an index entry (as opposed to a layer blob).
pub fn is_index(key: &str) -> bool {
    key.starts_with(INDEX_PREFIX)
}

/// The key prefix all index entries of `scope` share (a server-side `key` filter).
pub fn index_prefix(scope: &str) -> String {
    format!("{INDEX_PREFIX}{scope}-1-")
}

/// The `<h8>` BuildKit puts in index keys for a token scope such as `refs/heads/main`.
pub fn ref_hash(git_ref: &str) -> String {
    hex::encode(Sha256::digest(git_ref.as_bytes()))[..8].to_owned()
}

/// The digest of a layer blob key (`sha256:…`), or `None` for other keys and for index
/// signature blobs (`…-sig`), which housekeeping never treats as layers.
pub fn blob_digest(key: &str) -> Option<&str> {
    let digest = key.strip_prefix(BLOB_PREFIX)?;
    (!digest.ends_with("-sig") && digest.contains(':')).then_some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_parse_from_the_end() {
        let k = IndexKey::parse("index-web-1-arm64-1-f921bd05#12").unwrap();
        assert_eq!(
            (k.scope.as_str(), k.ref_hash.as_str(), k.signed, k.seq),
            ("web-1-arm64", "f921bd05", false, 12)
        );
        let k = IndexKey::parse("index-buildkit-1-f921bd05-sig#1").unwrap();
        assert!(k.signed);
        assert_eq!(IndexKey::parse("index-buildkit-1-f921bd05"), None);
        assert_eq!(IndexKey::parse("index-buildkit-1-xyz#1"), None);
        assert_eq!(IndexKey::parse("buildkit-blob-1-sha256:ab"), None);
    }

    #[test]
    fn ref_hash_matches_buildkit_example() {
        // docs/gha-cache-layout.md § Key layout: scope `buildkit`, ref `refs/heads/main` →
        // index-buildkit-1-f921bd05.
        assert_eq!(ref_hash("refs/heads/main"), "f921bd05");
    }

    #[test]
    fn blob_digests_skip_signatures() {
        assert_eq!(
            blob_digest("buildkit-blob-1-sha256:abc"),
            Some("sha256:abc")
        );
        assert_eq!(blob_digest("buildkit-blob-1-sha256:abc-sig"), None);
        assert_eq!(blob_digest("index-x-1-f921bd05#1"), None);
    }
}
