//! The scene the housekeeping tests share: cache entries as BuildKit's `gha` backend
//! names them, the stub's state, a client and a policy.

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use layercache::cache_protocol::keys::ref_hash;
use layercache::housekeeping::{ApiConfig, GithubCaches, PrunePolicy};
use layercache::secret::Secret;

use super::stub::{Entry, State};

pub const TOKEN: &str = "ghs_canary_token_123";
pub const MAIN: &str = "refs/heads/main";
pub const PR: &str = "refs/pull/7/merge";

pub fn index(id: i64, scope: &str, git_ref: &str, seq: u64, hours_ago: i64) -> Entry {
    let t = Utc::now() - Duration::hours(hours_ago);
    Entry {
        id,
        key: format!("index-{scope}-1-{}#{seq}", ref_hash(git_ref)),
        git_ref: git_ref.into(),
        size: 1000 + id as u64,
        created_at: t,
        last_accessed_at: t,
    }
}

pub fn blob(id: i64, digest: &str, git_ref: &str, hours_ago: i64) -> Entry {
    let t = Utc::now() - Duration::hours(hours_ago);
    Entry {
        id,
        key: format!("buildkit-blob-1-sha256:{digest}"),
        git_ref: git_ref.into(),
        size: 1_000_000,
        created_at: t,
        last_accessed_at: t,
    }
}

pub fn state(entries: Vec<Entry>) -> State {
    State {
        repository: "octo/app".into(),
        token: TOKEN.into(),
        can_write: true,
        entries,
        ..Default::default()
    }
}

pub async fn client(base: &str, token: &str) -> GithubCaches {
    GithubCaches::new(&ApiConfig {
        api_url: format!("{base}/api/v3"),
        token: Secret::new(token),
        repository: "octo/app".into(),
    })
    .unwrap()
}

pub fn policy(scopes: &[&str]) -> PrunePolicy {
    PrunePolicy {
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        keep: 1,
        git_ref: None,
        orphans: false,
        default_ref: Some(MAIN.into()),
        min_blob_age: Duration::hours(1),
        now: Utc::now(),
    }
}

/// The layered scene most tests share: scope `web` with 4 indexes on main and 2 on a PR,
/// scope `api` with 3 on main, and scope `web-1-arm64` whose keys share `web`'s prefix.
pub fn scene() -> Vec<Entry> {
    vec![
        index(1, "web", MAIN, 1, 50),
        index(2, "web", MAIN, 2, 40),
        index(3, "web", MAIN, 3, 30),
        index(4, "web", MAIN, 4, 20),
        index(5, "web", PR, 1, 10),
        index(6, "web", PR, 2, 5),
        index(7, "api", MAIN, 1, 30),
        index(8, "api", MAIN, 2, 20),
        index(9, "api", MAIN, 3, 10),
        index(10, "web-1-arm64", MAIN, 1, 30),
        index(11, "web-1-arm64", MAIN, 2, 20),
    ]
}

pub fn keys_of(entries: &[Entry]) -> BTreeSet<i64> {
    entries.iter().map(|e| e.id).collect()
}
