//! v1 `artifactcache` endpoints (reserve, ranged chunks, commit, lookup, listing) on the
//! memory backend via `oneshot`.
#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod cache_service_common;

use axum::body::Body;
use axum::http::StatusCode;
use cache_service_common::*;
use serde_json::json;

const MAIN: &str = "refs/heads/main";
const V1: &str = "/_apis/artifactcache";

fn h(token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("Bearer {token}")),
        (
            "accept",
            "application/json;api-version=6.0-preview.1".into(),
        ),
        ("content-type", "application/json".into()),
    ]
}

#[tokio::test]
async fn v1_reserve_chunks_in_any_order_commit_and_lookup() {
    let s = service().await;
    let t = s.token(MAIN, &[]);
    let hd = h(&t);
    let miss = call(
        &s,
        "GET",
        &format!("{V1}/cache?keys=k1,k&version={VERSION}"),
        &hd,
        Body::empty(),
    )
    .await;
    assert_eq!(miss.status, StatusCode::NO_CONTENT);
    let r = call(
        &s,
        "POST",
        &format!("{V1}/caches"),
        &hd,
        json!({"key": "k1", "version": VERSION, "cacheSize": 10}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["cacheId"].as_u64().unwrap();
    // Second reserve of the same key: 409 with a typeKey containing AlreadyExists.
    let again = call(
        &s,
        "POST",
        &format!("{V1}/caches"),
        &hd,
        json!({"key": "k1", "version": VERSION}).to_string(),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again.json()["typeKey"]
            .as_str()
            .unwrap()
            .contains("AlreadyExists")
    );
    // Chunks out of order; the second is a chunked body with no Content-Length.
    let mut ch = hd.clone();
    ch.push(("content-type", "application/octet-stream".into()));
    ch.push(("content-range", "bytes 5-9/*".into()));
    let stream = Body::from_stream(futures::stream::iter(vec![
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"56")),
        Ok(bytes::Bytes::from_static(b"789")),
    ]));
    let p = call(&s, "PATCH", &format!("{V1}/caches/{id}"), &ch, stream).await;
    assert_eq!(p.status, StatusCode::NO_CONTENT, "{}", p.text());
    // Committing with a gap is refused and changes nothing.
    let c = call(
        &s,
        "POST",
        &format!("{V1}/caches/{id}"),
        &hd,
        json!({"size": 10}).to_string(),
    )
    .await;
    assert_eq!(c.status, StatusCode::BAD_REQUEST);
    ch.pop();
    ch.push(("content-range", "bytes 0-4/*".into()));
    let p = call(&s, "PATCH", &format!("{V1}/caches/{id}"), &ch, "01234").await;
    assert_eq!(p.status, StatusCode::NO_CONTENT);
    let c = call(
        &s,
        "POST",
        &format!("{V1}/caches/{id}"),
        &hd,
        json!({"size": 11}).to_string(),
    )
    .await;
    assert_eq!(
        c.status,
        StatusCode::BAD_REQUEST,
        "wrong size must be refused"
    );
    assert!(s.stored().await.is_empty());
    let c = call(
        &s,
        "POST",
        &format!("{V1}/caches/{id}"),
        &hd,
        json!({"size": 10}).to_string(),
    )
    .await;
    assert_eq!(c.status, StatusCode::NO_CONTENT, "{}", c.text());
    // Lookup by prefix; the full key comes back with a signed location.
    let hit = call(
        &s,
        "GET",
        &format!("{V1}/cache?keys=nope,k&version={VERSION}"),
        &hd,
        Body::empty(),
    )
    .await;
    assert_eq!(hit.status, StatusCode::OK);
    let j = hit.json();
    assert_eq!(j["cacheKey"], "k1");
    assert_eq!(j["scope"], MAIN);
    let got = s
        .call(
            "GET",
            &Svc::path_of(j["archiveLocation"].as_str().unwrap()),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(&got.body[..], b"0123456789");
    let list = call(
        &s,
        "GET",
        &format!("{V1}/caches?key=k1"),
        &hd,
        Body::empty(),
    )
    .await;
    assert_eq!(list.json()["totalCount"], 1);
    // The opaque-prefix form act uses reaches the same endpoints.
    let alt = call(
        &s,
        "GET",
        &format!("/abc123{V1}/cache?keys=k1&version={VERSION}"),
        &hd,
        Body::empty(),
    )
    .await;
    assert_eq!(alt.status, StatusCode::OK);
}

/// (name, method, uri, headers, body, expected status)
type Case = (
    &'static str,
    &'static str,
    String,
    Vec<(&'static str, String)>,
    String,
    StatusCode,
);

#[tokio::test]
async fn v1_error_paths() {
    let s = service().await;
    let t = s.token(MAIN, &[]);
    let hd = h(&t);
    let other = h(&s.token("refs/heads/other", &[]));
    let r = call(
        &s,
        "POST",
        &format!("{V1}/caches"),
        &hd,
        json!({"key": "x", "version": VERSION}).to_string(),
    )
    .await;
    let id = r.json()["cacheId"].as_u64().unwrap();
    let mut patch = hd.clone();
    patch.push(("content-range", "bytes 0-2/*".into()));
    let cases: Vec<Case> = vec![
        (
            "comma in key",
            "POST",
            format!("{V1}/caches"),
            hd.clone(),
            json!({"key": "a,b", "version": VERSION}).to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "key over 512",
            "POST",
            format!("{V1}/caches"),
            hd.clone(),
            json!({"key": "k".repeat(513), "version": VERSION}).to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "malformed JSON",
            "POST",
            format!("{V1}/caches"),
            hd.clone(),
            "{".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "missing token",
            "GET",
            format!("{V1}/cache?keys=x&version={VERSION}"),
            vec![],
            String::new(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "no keys",
            "GET",
            format!("{V1}/cache?version={VERSION}"),
            hd.clone(),
            String::new(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "patch without range",
            "PATCH",
            format!("{V1}/caches/{id}"),
            hd.clone(),
            "abc".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "patch range/body mismatch",
            "PATCH",
            format!("{V1}/caches/{id}"),
            patch.clone(),
            "abcdef".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "patch unknown id",
            "PATCH",
            format!("{V1}/caches/999"),
            patch.clone(),
            "abc".into(),
            StatusCode::NOT_FOUND,
        ),
        (
            "patch from another ref",
            "PATCH",
            format!("{V1}/caches/{id}"),
            {
                let mut o = other.clone();
                o.push(("content-range", "bytes 0-2/*".into()));
                o
            },
            "abc".into(),
            StatusCode::FORBIDDEN,
        ),
        (
            "commit negative size",
            "POST",
            format!("{V1}/caches/{id}"),
            hd.clone(),
            json!({"size": -1}).to_string(),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (name, method, uri, headers, body, status) in cases {
        let r = call(&s, method, &uri, &headers, body).await;
        assert_eq!(r.status, status, "{name}: {}", r.text());
        assert!(s.stored().await.is_empty(), "{name}: stored something");
    }
}
