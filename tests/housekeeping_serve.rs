//! Housekeeping against `layercache serve` itself: entries are saved through the v2 cache
//! protocol with runtime tokens of two refs, listed and deleted through its GitHub-shaped
//! REST endpoints with octocrab, and index bodies are read back through v2 by
//! `CacheServiceBodies`, the client the action uses for the orphan check. The service lets
//! a token delete only entries of a ref it writes, so main's orphans go with a token that
//! writes main, not with a pull request's.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

#[path = "housekeeping/index_body.rs"]
mod index_body;
use index_body::index_body;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use chrono::{Duration, Utc};
use layercache::cache_protocol::Endpoint;
use layercache::cache_protocol::keys::ref_hash;
use layercache::cache_service::{self, RunningService, ServiceConfig};
use layercache::housekeeping::{
    self, ApiConfig, CacheServiceBodies, GithubCaches, HousekeepingError, PrunePolicy, Reason,
    Referenced,
};
use layercache::secret::Secret;
use layercache::storage::StorageConfig;

const VERSION: &str = "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2";
const MAIN: &str = "refs/heads/main";
const PR: &str = "refs/pull/7/merge";

async fn serve() -> RunningService {
    let config = ServiceConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), StorageConfig::Memory);
    cache_service::spawn(config).await.unwrap()
}

/// CreateCacheEntry, PUT to the signed URL, FinalizeCacheEntryUpload: what BuildKit does.
async fn save(svc: &RunningService, token: &Secret, key: &str, data: &[u8]) {
    let http = reqwest::Client::new();
    let twirp = |method: &str, body: serde_json::Value| {
        http.post(format!(
            "{}/twirp/github.actions.results.api.v1.CacheService/{method}",
            svc.base_url
        ))
        .bearer_auth(token.expose())
        .json(&body)
        .send()
    };
    let r: serde_json::Value = twirp(
        "CreateCacheEntry",
        serde_json::json!({"key": key, "version": VERSION}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(r["ok"], true, "{r}");
    let put = http
        .put(r["signed_upload_url"].as_str().unwrap())
        .header("x-ms-blob-type", "BlockBlob")
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{put:?}");
    let body =
        serde_json::json!({"key": key, "version": VERSION, "size_bytes": data.len().to_string()});
    let r: serde_json::Value = twirp("FinalizeCacheEntryUpload", body)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["ok"], true, "{r}");
}

fn index_key(scope: &str, git_ref: &str, seq: u64) -> String {
    format!("index-{scope}-1-{}#{seq}", ref_hash(git_ref))
}

/// main: web #1 → cc, web #2 → aa bb, blobs aa bb cc ff. PR: web #1 → aa ee, blob ee.
async fn populate(svc: &RunningService) -> (Secret, Secret) {
    let main = svc.token(MAIN);
    let pr = svc
        .issuer()
        .for_ref(PR, &[MAIN.to_owned()], Duration::hours(1));
    save(svc, &main, &index_key("web", MAIN, 1), &index_body(&["cc"])).await;
    save(
        svc,
        &main,
        &index_key("web", MAIN, 2),
        &index_body(&["aa", "bb"]),
    )
    .await;
    for d in ["aa", "bb", "cc", "ff"] {
        save(
            svc,
            &main,
            &format!("buildkit-blob-1-sha256:{d}"),
            d.as_bytes(),
        )
        .await;
    }
    save(
        svc,
        &pr,
        &index_key("web", PR, 1),
        &index_body(&["aa", "ee"]),
    )
    .await;
    save(svc, &pr, "buildkit-blob-1-sha256:ee", b"ee").await;
    (main, pr)
}

fn policy() -> PrunePolicy {
    PrunePolicy {
        scopes: vec!["web".into()],
        keep: 1,
        git_ref: None,
        orphans: true,
        default_ref: Some(MAIN.into()),
        // Everything here was just written; age is tested against the stand-in API.
        min_blob_age: Duration::zero(),
        now: Utc::now() + Duration::seconds(5),
    }
}

async fn keys(caches: &GithubCaches) -> BTreeSet<String> {
    caches
        .list("", None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect()
}

fn caches(svc: &RunningService, token: &Secret) -> GithubCaches {
    GithubCaches::new(&ApiConfig {
        api_url: svc.base_url.clone(),
        token: token.clone(),
        repository: "octo/app".into(),
    })
    .unwrap()
}

#[tokio::test]
async fn a_main_job_cannot_read_the_pr_index_so_no_blob_goes() {
    let svc = serve().await;
    let (main, _) = populate(&svc).await;
    let caches = caches(&svc, &main);
    let bodies = CacheServiceBodies::new(Endpoint::V2(svc.base_url.clone()), main.clone());
    let report = housekeeping::prune(&caches, &policy(), Some(Referenced::Bodies(&bodies)), false)
        .await
        .unwrap();
    let why = report.orphans_skipped.unwrap();
    assert!(
        why.contains(&index_key("web", PR, 1)) && why.contains("not readable"),
        "{why}"
    );
    assert_eq!(report.deleted.len(), 1);
    let left = keys(&caches).await;
    assert_eq!(left.len(), 7);
    assert!(!left.contains(&index_key("web", MAIN, 1)));
}

/// A token that writes main and reads the PR's ref (`serve token --ref refs/heads/main
/// --read refs/pull/7/merge`), as a maintenance job would hold.
fn maintainer(svc: &RunningService) -> Secret {
    svc.issuer()
        .for_ref(MAIN, &[PR.to_owned()], Duration::hours(1))
}

/// The PR job reads both indexes, but may not delete main's entries: its prune is refused
/// and deletes nothing. The maintainer reads both through `protocol` and deletes the
/// orphans.
async fn maintainer_deletes_the_orphans(v1: bool) {
    let svc = serve().await;
    let (_, pr) = populate(&svc).await;
    let bodies_for = |token: &Secret| {
        if v1 {
            CacheServiceBodies::new(Endpoint::V1(svc.base_url.clone()), token.clone())
        } else {
            CacheServiceBodies::new(Endpoint::V2(svc.base_url.clone()), token.clone())
        }
    };
    let refused = housekeeping::prune(
        &caches(&svc, &pr),
        &policy(),
        Some(Referenced::Bodies(&bodies_for(&pr))),
        false,
    )
    .await;
    assert!(
        matches!(refused, Err(HousekeepingError::Forbidden { .. })),
        "{refused:?}"
    );
    let token = maintainer(&svc);
    let caches = caches(&svc, &token);
    assert_eq!(
        keys(&caches).await.len(),
        8,
        "the refused prune deleted something"
    );
    let bodies = bodies_for(&token);

    let dry = housekeeping::prune(&caches, &policy(), Some(Referenced::Bodies(&bodies)), true)
        .await
        .unwrap();
    assert_eq!(keys(&caches).await.len(), 8, "a dry run deletes nothing");

    let report = housekeeping::prune(&caches, &policy(), Some(Referenced::Bodies(&bodies)), false)
        .await
        .unwrap();
    assert_eq!(report.orphans_skipped, None);
    let orphans: BTreeSet<&str> = report
        .deleted
        .iter()
        .filter(|d| d.reason == Reason::Orphan)
        .map(|d| d.entry.key.as_str())
        .collect();
    assert_eq!(
        orphans,
        BTreeSet::from(["buildkit-blob-1-sha256:cc", "buildkit-blob-1-sha256:ff"])
    );
    assert_eq!(
        dry.deleted, report.deleted,
        "the dry run listed exactly what went"
    );
    let left = keys(&caches).await;
    let want: BTreeSet<String> = [
        index_key("web", MAIN, 2),
        index_key("web", PR, 1),
        "buildkit-blob-1-sha256:aa".into(),
        "buildkit-blob-1-sha256:bb".into(),
        "buildkit-blob-1-sha256:ee".into(),
    ]
    .into_iter()
    .collect();
    assert_eq!(left, want);

    let usage = caches.usage().await.unwrap();
    assert_eq!(usage.active_count, 5);
}

#[tokio::test]
async fn a_maintainer_reads_both_indexes_through_v2_and_deletes_the_orphans() {
    maintainer_deletes_the_orphans(false).await;
}

#[tokio::test]
async fn a_maintainer_reads_both_indexes_through_v1_and_deletes_the_orphans() {
    maintainer_deletes_the_orphans(true).await;
}

#[tokio::test]
async fn the_prune_command_reads_indexes_through_the_cache_service() {
    let svc = serve().await;
    populate(&svc).await;
    let token = maintainer(&svc);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_layercache"))
        .args([
            "prune",
            "--scope",
            "web",
            "--default-ref",
            MAIN,
            "--orphans",
            "--min-blob-age",
            "0s",
        ])
        .env("GITHUB_TOKEN", token.expose())
        .env("GITHUB_REPOSITORY", "octo/app")
        .env("GITHUB_API_URL", &svc.base_url)
        .env("ACTIONS_RESULTS_URL", &svc.base_url)
        .env("ACTIONS_RUNTIME_TOKEN", token.expose())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("deleted buildkit-blob-1-sha256:cc")
            && stdout.contains("deleted buildkit-blob-1-sha256:ff"),
        "{stdout}"
    );
    assert!(stdout.contains("deleted 3 entries"), "{stdout}");
    assert!(!stdout.contains(token.expose()));
    assert_eq!(keys(&caches(&svc, &token)).await.len(), 5);
}

#[tokio::test]
async fn created_since_lists_only_this_refs_newer_entries() {
    let svc = serve().await;
    let (main, pr) = (svc.token(MAIN), svc.token(PR));
    save(&svc, &main, "buildkit-blob-1-sha256:old", b"old").await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let started = Utc::now();
    save(&svc, &main, "buildkit-blob-1-sha256:new", b"newer").await;
    save(&svc, &main, &index_key("web", MAIN, 1), b"{}").await;
    save(&svc, &pr, "buildkit-blob-1-sha256:pr", b"pr").await;

    let found = caches(&svc, &main)
        .created_since(started, Some(MAIN))
        .await
        .unwrap();
    let mut keys: Vec<_> = found.iter().map(|e| e.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "buildkit-blob-1-sha256:new",
            index_key("web", MAIN, 1).as_str()
        ]
    );
    assert_eq!(found.iter().map(|e| e.size_in_bytes).sum::<u64>(), 7);
}
