//! Housekeeping through octocrab against a loopback stand-in for GitHub's cache REST API
//! (`tests/housekeeping/stub.rs`; GitHub itself cannot be reached from here). The stub is
//! mounted as a GHES would be (`/api/v3`), so the tests also prove relative routes carry
//! the token there.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

#[path = "housekeeping/stub.rs"]
mod stub;

#[path = "housekeeping/scene.rs"]
mod scene;

#[path = "housekeeping/index_body.rs"]
mod index_body;
use index_body::index_body;

use std::collections::{BTreeSet, HashMap};

use futures::future::BoxFuture;
use layercache::cache_protocol;
use layercache::housekeeping::{
    self, ApiConfig, GithubCaches, IndexBodies, ListedCache, Reason, Referenced,
};
use layercache::secret::Secret;
use scene::*;
use stub::Entry;

#[tokio::test]
async fn listing_follows_pages_filters_and_sends_the_token_under_ghes_base() {
    let mut entries: Vec<Entry> = (0..230)
        .map(|i| blob(100 + i, &format!("{i:064x}"), MAIN, 3))
        .collect();
    entries.extend((0..20).map(|i| blob(400 + i, &format!("f{i:063x}"), PR, 3)));
    entries.extend(scene());
    let (base, shared) = stub::start(state(entries)).await;
    let caches = client(&base, TOKEN).await;

    let main_blobs = caches
        .list(cache_protocol::keys::BLOB_PREFIX, Some(MAIN))
        .await
        .unwrap();
    assert_eq!(main_blobs.len(), 230);
    assert_eq!(
        main_blobs
            .iter()
            .map(|e| e.id)
            .collect::<BTreeSet<_>>()
            .len(),
        230,
        "no duplicates across pages"
    );
    assert!(
        main_blobs
            .iter()
            .all(|e| e.git_ref.as_deref() == Some(MAIN))
    );
    let web = caches
        .list(&cache_protocol::keys::index_prefix("web"), None)
        .await
        .unwrap();
    assert_eq!(web.len(), 8, "prefix filter: web's 6 plus web-1-arm64's 2");

    // The stand-in pages as GitHub documents it: a Link header with next and last.
    let raw = reqwest::Client::new()
        .get(format!(
            "{base}/api/v3/repos/octo/app/actions/caches?per_page=100&key=buildkit-blob-1-"
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let link = raw.headers()["link"].to_str().unwrap().to_owned();
    assert!(
        link.contains("page=2>; rel=\"next\"") && link.contains("page=3>; rel=\"last\""),
        "{link}"
    );

    let st = shared.lock().unwrap();
    let pages: Vec<&String> = st
        .log
        .iter()
        .map(|(l, _)| l)
        .filter(|l| l.contains("buildkit-blob"))
        .collect();
    assert_eq!(
        pages.len(),
        4,
        "three pages by octocrab, one raw: {pages:?}"
    );
    assert!(
        pages[2].contains("page=3") && pages[0].contains("per_page=100"),
        "{pages:?}"
    );
    assert!(
        st.log.iter().all(|(_, authed)| *authed),
        "every request carried the token"
    );
}

#[tokio::test]
async fn dry_run_lists_superseded_indexes_and_deletes_nothing() {
    let (base, shared) = stub::start(state(scene())).await;
    let caches = client(&base, TOKEN).await;
    let report = housekeeping::prune(&caches, &policy(&["web"]), None, true)
        .await
        .unwrap();
    let ids: BTreeSet<i64> = report.deleted.iter().map(|d| d.entry.id).collect();
    assert_eq!(ids, BTreeSet::from([1, 2, 3, 5]));
    assert!(
        report
            .deleted
            .iter()
            .all(|d| matches!(d.reason, Reason::Superseded { .. }))
    );
    assert_eq!(report.indexes_seen, 6);
    let st = shared.lock().unwrap();
    assert_eq!(st.entries.len(), 11);
    assert!(!st.log.iter().any(|(l, _)| l.starts_with("DELETE")));
}

#[tokio::test]
async fn prune_keeps_the_newest_n_per_scope_and_ref_and_leaves_other_scopes() {
    let (base, shared) = stub::start(state(scene())).await;
    let caches = client(&base, TOKEN).await;
    let mut p = policy(&["web", "api"]);
    p.keep = 2;
    p.git_ref = Some(MAIN.into());
    let report = housekeeping::prune(&caches, &p, None, false).await.unwrap();
    assert_eq!(report.deleted.len(), 3);
    assert_eq!(report.bytes(), 1001 + 1002 + 1007);
    let left = keys_of(&shared.lock().unwrap().entries);
    assert_eq!(left, BTreeSet::from([3, 4, 5, 6, 8, 9, 10, 11]));
}

/// Index bodies as the cache service would return them; `None` marks an unreadable ref.
struct Bodies(HashMap<String, Option<Vec<u8>>>);

impl IndexBodies for Bodies {
    fn fetch<'a>(
        &'a self,
        entry: &'a ListedCache,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, String>> {
        let found = self
            .0
            .get(&entry.key)
            .cloned()
            .ok_or_else(|| format!("no body for {}", entry.key));
        Box::pin(async move { found })
    }
}

fn orphan_scene() -> (Vec<Entry>, Bodies) {
    let old = index(1, "web", MAIN, 1, 30);
    let new = index(2, "web", MAIN, 2, 20);
    let api = index(3, "api", MAIN, 1, 20);
    let pr = index(4, "web", PR, 1, 5);
    let bodies = Bodies(HashMap::from([
        (old.key.clone(), Some(index_body(&["cc"]))),
        (new.key.clone(), Some(index_body(&["aa", "bb"]))),
        (api.key.clone(), Some(index_body(&["dd"]))),
        (pr.key.clone(), Some(index_body(&["aa", "ee"]))),
    ]));
    let entries = vec![
        old,
        new,
        api,
        pr,
        blob(10, "aa", MAIN, 20),
        blob(11, "bb", MAIN, 20),
        blob(12, "cc", MAIN, 30),
        blob(13, "dd", MAIN, 20),
        blob(14, "ee", MAIN, 20),
        blob(15, "ff", MAIN, 30),
        blob(16, "99", MAIN, 0),
        blob(17, "cc", PR, 5),
    ];
    (entries, bodies)
}

#[tokio::test]
async fn orphans_are_blobs_no_live_index_of_any_scope_references() {
    let (entries, bodies) = orphan_scene();
    let (base, shared) = stub::start(state(entries)).await;
    let caches = client(&base, TOKEN).await;
    let mut p = policy(&["web"]);
    p.orphans = true;
    let report = housekeeping::prune(&caches, &p, Some(Referenced::Bodies(&bodies)), false)
        .await
        .unwrap();
    assert_eq!(report.orphans_skipped, None);
    let orphans: BTreeSet<i64> = report
        .deleted
        .iter()
        .filter(|d| d.reason == Reason::Orphan)
        .map(|d| d.entry.id)
        .collect();
    // cc was only in the superseded index; ff in none; 99 is too young; dd is api's and
    // ee the PR's (PR builds read main's blobs), so both stay.
    assert_eq!(orphans, BTreeSet::from([12, 15, 17]));
    assert_eq!(
        layercache::report::housekeeping_line(&report),
        "deleted 1 superseded index and 3 orphan blobs (2.9 MiB)"
    );
    let left = keys_of(&shared.lock().unwrap().entries);
    assert_eq!(left, BTreeSet::from([2, 3, 4, 10, 11, 13, 14, 16]));
}

#[tokio::test]
async fn an_unreadable_index_stops_orphan_deletion_but_not_index_pruning() {
    let (entries, mut bodies) = orphan_scene();
    let pr_key = entries[3].key.clone();
    bodies.0.insert(pr_key.clone(), None);
    let (base, shared) = stub::start(state(entries)).await;
    let caches = client(&base, TOKEN).await;
    let mut p = policy(&["web"]);
    p.orphans = true;
    let report = housekeeping::prune(&caches, &p, Some(Referenced::Bodies(&bodies)), false)
        .await
        .unwrap();
    let why = report.orphans_skipped.unwrap();
    assert!(
        why.contains(&pr_key) && why.contains("not readable"),
        "{why}"
    );
    assert_eq!(report.deleted.len(), 1);
    assert_eq!(shared.lock().unwrap().entries.len(), 11);
}

#[tokio::test]
async fn a_read_only_token_gets_one_line_naming_actions_write() {
    let mut st = state(scene());
    st.can_write = false;
    let (base, _) = stub::start(st).await;
    let caches = client(&base, TOKEN).await;
    let err = housekeeping::prune(&caches, &policy(&["web"]), None, false)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("403") && msg.contains("`actions: write`"),
        "{msg}"
    );
    assert!(
        msg.contains("Resource not accessible by integration"),
        "{msg}"
    );
    assert!(!msg.contains('\n') && !msg.contains(TOKEN), "{msg}");
}

#[tokio::test]
async fn unknown_repository_bad_token_and_vanished_entries() {
    let mut st = state(scene());
    st.vanished = vec![1];
    let (base, _) = stub::start(st).await;
    let other = GithubCaches::new(&ApiConfig {
        api_url: format!("{base}/api/v3/"),
        token: Secret::new(TOKEN),
        repository: "octo/missing".into(),
    })
    .unwrap();
    let msg = other.list("index-", None).await.unwrap_err().to_string();
    assert!(
        msg.contains("404") && msg.contains("repository name"),
        "{msg}"
    );

    let bad = client(&base, "wrong").await;
    let msg = bad.list("index-", None).await.unwrap_err().to_string();
    assert!(msg.contains("401") && !msg.contains("wrong"), "{msg}");

    let caches = client(&base, TOKEN).await;
    let report = housekeeping::prune(&caches, &policy(&["web"]), None, false)
        .await
        .unwrap();
    assert_eq!((report.deleted.len(), report.already_gone), (4, 1));
}

#[tokio::test]
async fn usage_reports_bytes_count_and_budget() {
    let (base, shared) = stub::start(state(scene())).await;
    let caches = client(&base, TOKEN).await;
    let u = caches.usage().await.unwrap();
    let bytes: u64 = scene().iter().map(|e| e.size).sum();
    assert_eq!((u.active_bytes, u.active_count), (bytes, 11));
    assert_eq!(
        (u.budget_bytes, u.budget_from_api),
        (housekeeping::DEFAULT_BUDGET_BYTES, false)
    );
    shared.lock().unwrap().storage_limit_gb = Some(25);
    let u = caches.usage().await.unwrap();
    assert_eq!((u.budget_bytes, u.budget_from_api), (25 << 30, true));
}

#[test]
fn bad_configuration_names_the_input() {
    let cfg = |repo: &str, url: &str, token: &str| ApiConfig {
        api_url: url.into(),
        token: Secret::new(token),
        repository: repo.into(),
    };
    let e = GithubCaches::new(&cfg("just-a-name", "https://api.github.com", "t")).unwrap_err();
    assert!(e.to_string().contains("GITHUB_REPOSITORY"), "{e}");
    let e = GithubCaches::new(&cfg("o/r", "ftp://x", "t")).unwrap_err();
    assert!(e.to_string().contains("GITHUB_API_URL"), "{e}");
    let e = GithubCaches::new(&cfg("o/r", "https://api.github.com", "")).unwrap_err();
    assert!(e.to_string().contains("GITHUB_TOKEN"), "{e}");
}

async fn run_cli(base: &str, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_layercache"))
        .arg("prune")
        .args(args)
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_REPOSITORY", "octo/app")
        .env("GITHUB_API_URL", format!("{base}/api/v3"))
        .env("LAYERCACHE_LOG", "trace")
        .env_remove("ACTIONS_RESULTS_URL")
        .env_remove("ACTIONS_RUNTIME_TOKEN")
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn prune_command_dry_run_and_usage() {
    let (base, shared) = stub::start(state(scene())).await;
    let out = run_cli(
        &base,
        &["--scope", "web", "--ref", MAIN, "--dry-run", "--usage"],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("would delete index-web-1-"))
            .count(),
        3,
        "{stdout}"
    );
    assert!(stdout.contains("superseded by #4"), "{stdout}");
    assert!(
        stdout.contains("usage: ") && stdout.contains("in 11 entries"),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("listed caches"),
        "trace logging is on: {stderr}"
    );
    assert!(!stderr.contains(TOKEN), "the token reached a log line");
    assert_eq!(shared.lock().unwrap().entries.len(), 11);

    let out = run_cli(&base, &["--scope", "web", "--orphans"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("--referenced-digests")
    );

    let dir = tempfile::tempdir().unwrap();
    let digests = dir.path().join("digests");
    std::fs::write(&digests, "# live\nsha256:aa\n").unwrap();
    shared.lock().unwrap().entries.push(blob(50, "aa", MAIN, 5));
    shared.lock().unwrap().entries.push(blob(51, "bb", MAIN, 5));
    let out = run_cli(
        &base,
        &[
            "--scope",
            "web",
            "--orphans",
            "--referenced-digests",
            digests.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let left = keys_of(&shared.lock().unwrap().entries);
    assert!(left.contains(&50) && !left.contains(&51) && !left.contains(&1));
}
