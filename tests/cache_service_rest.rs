//! GitHub's REST cache-management endpoints and housekeeping (size budget, max age), on
//! the memory backend via `oneshot`.
#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod cache_service_common;

use axum::body::Body;
use axum::http::StatusCode;
use cache_service_common::*;

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
    // Delete by key (+ref), then by id.
    let del = call(
        &s,
        "DELETE",
        &format!("{base}/caches?key=npm-0&ref=refs/heads/feat"),
        &hd,
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
