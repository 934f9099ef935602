//! GitHub's REST cache-management endpoints and housekeeping (size budget, max age), on
//! the memory backend via `oneshot`; who may list and delete what, with tokens the OIDC
//! exchange mints for jobs of two repositories, on `layercache serve` as a process.
#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod cache_service_common;
mod oidc_support;

use axum::body::Body;
use axum::http::StatusCode;
use cache_service_common::*;
use layercache::cache_service::TokenIssuer;
use layercache::secret::Secret;
use oidc_support::serve::Serve;
use oidc_support::{Issuer, TestKey, claims};
use reqwest::Method;
use serde_json::{Value, json};

const MAIN: &str = "refs/heads/main";

#[tokio::test]
async fn rest_listing_paging_filters_usage_and_delete() {
    let s = service().await;
    let main = s.token(MAIN, &[]);
    let feat = s.token("refs/heads/feat", &[]);
    for i in 0..5 {
        s.save(&main, &format!("npm-{i}"), &vec![b'x'; i + 1]).await;
    }
    s.save(&feat, "npm-0", b"f").await;
    s.save(&feat, "cargo-0", b"ff").await;
    let hd = vec![
        ("authorization", format!("Bearer {main}")),
        ("accept", "application/vnd.github+json".into()),
    ];
    let base = "/repos/o/r/actions";
    let all = call(&s, "GET", &format!("{base}/caches"), &hd, Body::empty()).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.json()["total_count"], 7);
    let page = call(
        &s,
        "GET",
        &format!("{base}/caches?per_page=2&page=2&sort=size_in_bytes&direction=asc&ref={MAIN}"),
        &hd,
        Body::empty(),
    )
    .await;
    let sizes: Vec<u64> = page.json()["actions_caches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["size_in_bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, vec![3, 4]);
    let first = &page.json()["actions_caches"][0];
    for field in [
        "id",
        "ref",
        "key",
        "version",
        "last_accessed_at",
        "created_at",
        "size_in_bytes",
    ] {
        assert!(!first[field].is_null(), "REST cache lacks {field}");
    }
    let by_key = call(
        &s,
        "GET",
        &format!("{base}/caches?key=npm-"),
        &hd,
        Body::empty(),
    )
    .await;
    assert_eq!(by_key.json()["total_count"], 6);
    let usage = call(
        &s,
        "GET",
        &format!("{base}/cache/usage"),
        &hd,
        Body::empty(),
    )
    .await;
    assert_eq!(usage.json()["active_caches_count"], 7);
    assert_eq!(usage.json()["active_caches_size_in_bytes"], 15 + 1 + 2);
    assert_eq!(usage.json()["full_name"], "o/r");
    let bad = call(
        &s,
        "GET",
        &format!("{base}/caches?sort=name"),
        &hd,
        Body::empty(),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Deleting needs write on the entry's ref: main's token may not delete feat's `npm-0`,
    // so a delete by key that matches both deletes neither.
    let del = call(
        &s,
        "DELETE",
        &format!("{base}/caches?key=npm-0"),
        &hd,
        Body::empty(),
    )
    .await;
    assert_eq!(del.status, StatusCode::FORBIDDEN, "{}", del.text());
    assert_eq!(s.stored().await.len(), 7);
    let feat_id = s
        .stored()
        .await
        .iter()
        .find(|e| e.2 == "refs/heads/feat")
        .unwrap()
        .0;
    let del = call(
        &s,
        "DELETE",
        &format!("{base}/caches/{feat_id}"),
        &hd,
        Body::empty(),
    )
    .await;
    assert_eq!(del.status, StatusCode::FORBIDDEN, "{}", del.text());
    // Delete by key (+ref) with feat's token, then by id with main's.
    let feat_hd = vec![("authorization", format!("Bearer {feat}"))];
    let del = call(
        &s,
        "DELETE",
        &format!("{base}/caches?key=npm-0&ref=refs/heads/feat"),
        &feat_hd,
        Body::empty(),
    )
    .await;
    assert_eq!(del.status, StatusCode::OK);
    assert_eq!(del.json()["total_count"], 1);
    assert_eq!(s.stored().await.len(), 6);
    let id = s.stored().await[0].0;
    let del = call(
        &s,
        "DELETE",
        &format!("{base}/caches/{id}"),
        &hd,
        Body::empty(),
    )
    .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let again = call(
        &s,
        "DELETE",
        &format!("{base}/caches/{id}"),
        &hd,
        Body::empty(),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let noauth = s
        .call("GET", &format!("{base}/caches"), &[], Body::empty())
        .await;
    assert_eq!(noauth.status, StatusCode::UNAUTHORIZED);
    let ro = vec![(
        "authorization",
        format!("Bearer {}", s.read_only_token(&[MAIN])),
    )];
    let denied = call(
        &s,
        "DELETE",
        &format!("{base}/caches?key=npm-1"),
        &ro,
        Body::empty(),
    )
    .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(s.stored().await.len(), 5);
}

#[tokio::test]
async fn size_budget_evicts_least_recently_used() {
    let mut c = config();
    c.limits.max_total_bytes = Some(25);
    let s = service_with(c).await;
    let t = s.token(MAIN, &[]);
    s.save(&t, "a", &[1; 10]).await;
    s.save(&t, "b", &[2; 10]).await;
    // Using `a` makes `b` the least recently used.
    assert!(s.restore(&t, "a", &[]).await.is_some());
    s.save(&t, "c", &[3; 10]).await;
    let keys: Vec<String> = s.stored().await.into_iter().map(|e| e.1).collect();
    assert_eq!(keys.len(), 2);
    assert!(
        keys.contains(&"a".to_owned()) && keys.contains(&"c".to_owned()),
        "{keys:?}"
    );
    // An entry bigger than the whole budget is still saved (GitHub keeps the newest).
    s.save(&t, "huge", &[4; 40]).await;
    let keys: Vec<String> = s.stored().await.into_iter().map(|e| e.1).collect();
    assert_eq!(keys, vec!["huge".to_owned()]);
}

#[tokio::test]
async fn max_age_evicts_unused_entries() {
    let mut c = config();
    c.limits.max_age = Some(chrono::Duration::milliseconds(200));
    let s = service_with(c).await;
    let t = s.token(MAIN, &[]);
    s.save(&t, "old", b"x").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    s.state.cache.housekeep(None).await.unwrap();
    assert!(s.stored().await.is_empty());
}

/// A job's OIDC claims, as GitHub writes them for `repository` at `git_ref`.
fn job(issuer: &str, repository: &str, git_ref: &str, event: &str) -> Value {
    let mut c = claims(issuer, repository, git_ref, event);
    c["workflow"] = json!(format!("CI of {repository}"));
    c["repository_id"] = json!("1001");
    c["repository_owner_id"] = json!("2002");
    if event.starts_with("pull_request") {
        c["base_ref"] = json!("main");
    }
    c
}

/// The id of the entry `key` of `git_ref` in a REST listing.
fn id_in(list: &Value, key: &str, git_ref: &str) -> u64 {
    let found = list["actions_caches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == key && c["ref"].as_str().is_some_and(|r| r.ends_with(git_ref)));
    found.unwrap_or_else(|| panic!("no {key} of {git_ref} in {list}"))["id"]
        .as_u64()
        .unwrap()
}

/// Jobs of `acme/web` and `tools/gadgets` on one service, a `pull_request_target` job and a
/// shared-secret token of bare refs: each acts on its own repository's entries only, and
/// deletes only entries of a ref it writes; every deletion is logged.
#[tokio::test(flavor = "multi_thread")]
async fn rest_answers_only_for_the_tokens_repository_and_refs() {
    let dir = tempfile::tempdir().unwrap();
    let key = TestKey::generate(dir.path(), "k1");
    let issuer = Issuer::serve(vec![key.jwk.clone()]).await;
    let serve = Serve::start(dir.path(), &issuer, &[]);
    let url = issuer.url.clone();
    let web_main = serve.mint(&key, &job(&url, "acme/web", MAIN, "push")).await;
    let web_pr = serve
        .mint(
            &key,
            &job(&url, "acme/web", "refs/pull/3/merge", "pull_request"),
        )
        .await;
    let owner = serve
        .mint(&key, &job(&url, "tools/gadgets", MAIN, "push"))
        .await;
    let pr = serve
        .mint(
            &key,
            &job(&url, "tools/gadgets", "refs/pull/7/merge", "pull_request"),
        )
        .await;
    let target = serve
        .mint(
            &key,
            &job(&url, "tools/gadgets", MAIN, "pull_request_target"),
        )
        .await;
    let bare = TokenIssuer::new(Secret::new(oidc_support::serve::SECRET))
        .for_ref(MAIN, &[], chrono::Duration::hours(1))
        .expose()
        .to_owned();
    for (token, key) in [
        (&owner, "gadgets-main"),
        (&owner, "shared"),
        (&web_main, "shared"),
        (&web_main, "web-main"),
        (&pr, "gadgets-pr"),
    ] {
        assert_eq!(serve.save(token, key).await["ok"], true, "{key}");
    }
    let gadgets = "/repos/tools/gadgets/actions";
    let web = "/repos/acme/web/actions";

    let (status, list) = serve
        .rest(Method::GET, &format!("{gadgets}/caches"), &owner)
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total_count"], 3, "{list}");
    let main_id = id_in(&list, "gadgets-main", MAIN);
    let (_, web_list) = serve
        .rest(Method::GET, &format!("{web}/caches"), &web_main)
        .await;
    assert_eq!(web_list["total_count"], 2, "{web_list}");

    // Another repository's tokens: refused at its path, and its ids are not found at theirs.
    for token in [&web_main, &web_pr] {
        for (method, path) in [
            (Method::GET, format!("{gadgets}/caches")),
            (Method::GET, format!("{gadgets}/cache/usage")),
            (Method::DELETE, format!("{gadgets}/caches/{main_id}")),
            (Method::DELETE, format!("{gadgets}/caches?key=gadgets-main")),
        ] {
            let (status, body) = serve.rest(method, &path, token).await;
            assert_eq!(status, 403, "{path}: {body}");
        }
        for path in [
            format!("{web}/caches/{main_id}"),
            format!("{web}/caches?key=gadgets-main"),
        ] {
            let (status, body) = serve.rest(Method::DELETE, &path, token).await;
            assert_eq!(status, 404, "{path}: {body}");
        }
    }
    // A token of bare refs belongs to no repository: it sees no repository's entries.
    let (status, list) = serve
        .rest(Method::GET, &format!("{gadgets}/caches"), &bare)
        .await;
    assert_eq!(
        (status, list["total_count"].as_u64()),
        (200, Some(0)),
        "{list}"
    );
    let (_, usage) = serve
        .rest(Method::GET, &format!("{gadgets}/cache/usage"), &bare)
        .await;
    assert_eq!(usage["active_caches_count"], 0, "{usage}");
    for path in [
        format!("{gadgets}/caches/{main_id}"),
        format!("{gadgets}/caches?key=gadgets-main"),
    ] {
        let (status, body) = serve.rest(Method::DELETE, &path, &bare).await;
        assert_eq!(status, 404, "{path}: {body}");
    }

    // The repository's pull-request and read-only jobs list it, and delete nothing of main.
    for token in [&pr, &target] {
        let (status, list) = serve
            .rest(Method::GET, &format!("{gadgets}/caches"), token)
            .await;
        assert_eq!(
            (status, list["total_count"].as_u64()),
            (200, Some(3)),
            "{list}"
        );
        for path in [
            format!("{gadgets}/caches/{main_id}"),
            format!("{gadgets}/caches?key=gadgets-main"),
            format!("{gadgets}/caches?key=shared&ref={MAIN}"),
        ] {
            let (status, body) = serve.rest(Method::DELETE, &path, token).await;
            assert_eq!(status, 403, "{path}: {body}");
        }
    }
    let (_, usage) = serve
        .rest(Method::GET, &format!("{gadgets}/cache/usage"), &pr)
        .await;
    assert_eq!(usage["full_name"], "tools/gadgets");
    assert_eq!(usage["active_caches_count"], 3, "{usage}");
    let path = format!("{gadgets}/caches?key=gadgets-pr");
    assert_eq!(serve.rest(Method::DELETE, &path, &target).await.0, 403);
    for (token, key) in [
        (&owner, "gadgets-main"),
        (&owner, "shared"),
        (&web_main, "shared"),
        (&pr, "gadgets-pr"),
    ] {
        assert!(serve.found(token, key).await, "{key} went");
    }

    // Each deletes its own: the PR its entry; the owner by key (`ref` as GitHub writes it)
    // and by id. The other repository's `shared` stays.
    let (status, body) = serve.rest(Method::DELETE, &path, &pr).await;
    assert_eq!(
        (status, body["total_count"].as_u64()),
        (200, Some(1)),
        "{body}"
    );
    let path = format!("{gadgets}/caches?key=shared&ref={MAIN}");
    let (status, body) = serve.rest(Method::DELETE, &path, &owner).await;
    assert_eq!(
        (status, body["total_count"].as_u64()),
        (200, Some(1)),
        "{body}"
    );
    let path = format!("{gadgets}/caches/{main_id}");
    assert_eq!(serve.rest(Method::DELETE, &path, &owner).await.0, 204);
    assert!(!serve.found(&owner, "gadgets-main").await);
    assert!(!serve.found(&owner, "shared").await);
    assert!(serve.found(&web_main, "shared").await);
    let (_, usage) = serve
        .rest(Method::GET, &format!("{web}/cache/usage"), &web_main)
        .await;
    assert_eq!(usage["active_caches_count"], 2, "{usage}");

    let log = serve.log();
    let deleted: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("cache entry deleted through the REST API"))
        .collect();
    assert_eq!(deleted.len(), 3, "{log}");
    let line = deleted
        .iter()
        .find(|l| l.contains("gadgets-main"))
        .unwrap_or_else(|| panic!("{log}"));
    for part in [
        r#"repository="tools/gadgets""#,
        r#"job_ref="refs/heads/main""#,
        r#"workflow="CI of tools/gadgets""#,
        r#"key="gadgets-main""#,
        r#"entry_ref="tools/gadgets:refs/heads/main""#,
        "size=4",
    ] {
        assert!(line.contains(part), "{part} not in {line}");
    }
    assert!(deleted.iter().all(|l| !l.contains("acme/web")), "{log}");
    let counted = log
        .lines()
        .filter(|l| l.contains("cache entries deleted through the REST API"))
        .filter(|l| l.contains("count=1") && l.contains(r#"repository="tools/gadgets""#))
        .count();
    assert_eq!(counted, 3, "{log}");
    for t in [&web_main, &web_pr, &owner, &pr, &target, &bare] {
        let sig = t.rsplit('.').next().unwrap();
        assert!(!log.contains(sig), "a token reached the log");
    }
}
