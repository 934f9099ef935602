//! Bad input to v2 (Twirp) and the blob endpoints, on the memory backend via `oneshot`:
//! each case gets the status code GitHub's service (or Azure, for blob URLs) gives, and
//! leaves the stored entries unchanged.
#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod cache_service_common;

use axum::http::StatusCode;
use cache_service_common::*;
use serde_json::json;

const MAIN: &str = "refs/heads/main";

/// One bad request and what GitHub's service (or Azure, for blob URLs) answers.
struct Case {
    name: &'static str,
    method: &'static str,
    uri: String,
    headers: Vec<(&'static str, String)>,
    body: String,
    status: StatusCode,
    /// Text the body must contain (a Twirp code, an Azure error code, a message prefix).
    contains: &'static str,
}

#[tokio::test]
async fn error_table_gives_github_status_codes_and_changes_nothing() {
    let s = service().await;
    let t = s.token(MAIN, &[]);
    let auth = format!("Bearer {t}");
    s.save(&t, "kept", b"kept-bytes").await;
    // A reservation with a block uploaded, for block-list and finalize cases.
    let up = s.create(&t, "pending").await;
    s.call(
        "PUT",
        &format!("{up}&comp=block&blockid=QQ%3D%3D"),
        &[],
        "xyz",
    )
    .await;
    let r = s
        .twirp(
            "GetCacheEntryDownloadURL",
            &t,
            json!({"key": "kept", "version": VERSION}),
        )
        .await;
    let dl = Svc::path_of(r.json()["signed_download_url"].as_str().unwrap());
    let dl_id = dl.split('?').next().unwrap().to_owned();
    let tampered = format!("{}x", &dl[..dl.len() - 1]);
    let foreign = {
        let other = layercache::cache_service::TokenIssuer::new("another-secret-0123456789".into());
        format!(
            "Bearer {}",
            other
                .for_ref(MAIN, &[], chrono::Duration::hours(1))
                .expose()
        )
    };
    let expired = format!(
        "Bearer {}",
        s.issuer
            .for_ref(MAIN, &[], chrono::Duration::hours(-1))
            .expose()
    );
    let twirp = |m: &str| format!("{TWIRP}/{m}");
    let json_ct = ("content-type", "application/json".to_owned());
    let bearer = ("authorization", auth.clone());
    let long_key = "k".repeat(513);
    let cases = vec![
        Case {
            name: "malformed JSON",
            method: "POST",
            uri: twirp("CreateCacheEntry"),
            headers: vec![bearer.clone(), json_ct.clone()],
            body: "{not json".into(),
            status: StatusCode::BAD_REQUEST,
            contains: "\"malformed\"",
        },
        Case {
            name: "wrong content type",
            method: "POST",
            uri: twirp("CreateCacheEntry"),
            headers: vec![bearer.clone(), ("content-type", "text/plain".into())],
            body: "{}".into(),
            status: StatusCode::NOT_FOUND,
            contains: "\"bad_route\"",
        },
        Case {
            name: "unknown method",
            method: "POST",
            uri: twirp("DeleteCacheEntry"),
            headers: vec![bearer.clone(), json_ct.clone()],
            body: "{}".into(),
            status: StatusCode::NOT_FOUND,
            contains: "\"bad_route\"",
        },
        Case {
            name: "missing token",
            method: "POST",
            uri: twirp("CreateCacheEntry"),
            headers: vec![json_ct.clone()],
            body: json!({"key":"n","version":VERSION}).to_string(),
            status: StatusCode::UNAUTHORIZED,
            contains: "\"unauthenticated\"",
        },
        Case {
            name: "foreign token",
            method: "POST",
            uri: twirp("CreateCacheEntry"),
            headers: vec![("authorization", foreign.clone()), json_ct.clone()],
            body: json!({"key":"n","version":VERSION}).to_string(),
            status: StatusCode::UNAUTHORIZED,
            contains: "\"unauthenticated\"",
        },
        Case {
            name: "expired token",
            method: "POST",
            uri: twirp("GetCacheEntryDownloadURL"),
            headers: vec![("authorization", expired.clone()), json_ct.clone()],
            body: json!({"key":"kept","version":VERSION}).to_string(),
            status: StatusCode::UNAUTHORIZED,
            contains: "expired",
        },
        Case {
            name: "key over 512 chars",
            method: "POST",
            uri: twirp("CreateCacheEntry"),
            headers: vec![bearer.clone(), json_ct.clone()],
            body: json!({"key": long_key, "version":VERSION}).to_string(),
            status: StatusCode::BAD_REQUEST,
            contains: "\"invalid_argument\"",
        },
        Case {
            name: "empty version",
            method: "POST",
            uri: twirp("CreateCacheEntry"),
            headers: vec![bearer.clone(), json_ct.clone()],
            body: json!({"key":"n"}).to_string(),
            status: StatusCode::BAD_REQUEST,
            contains: "\"invalid_argument\"",
        },
        Case {
            name: "second create",
            method: "POST",
            uri: twirp("CreateCacheEntry"),
            headers: vec![bearer.clone(), json_ct.clone()],
            body: json!({"key":"kept","version":VERSION}).to_string(),
            status: StatusCode::CONFLICT,
            contains: "\"already_exists\"",
        },
        Case {
            name: "finalize with nothing uploaded",
            method: "POST",
            uri: twirp("FinalizeCacheEntryUpload"),
            headers: vec![bearer.clone(), json_ct.clone()],
            body: json!({"key":"pending","version":VERSION,"size_bytes":"3"}).to_string(),
            status: StatusCode::BAD_REQUEST,
            contains: "nothing was uploaded",
        },
        Case {
            name: "finalize unknown entry",
            method: "POST",
            uri: twirp("FinalizeCacheEntryUpload"),
            headers: vec![bearer.clone(), json_ct.clone()],
            body: json!({"key":"never","version":VERSION,"size_bytes":1}).to_string(),
            status: StatusCode::NOT_FOUND,
            contains: "\"not_found\"",
        },
        Case {
            name: "finalize finalized entry",
            method: "POST",
            uri: twirp("FinalizeCacheEntryUpload"),
            headers: vec![bearer.clone(), json_ct.clone()],
            body: json!({"key":"kept","version":VERSION,"size_bytes":10}).to_string(),
            status: StatusCode::CONFLICT,
            contains: "\"already_exists\"",
        },
        Case {
            name: "size_bytes not a number",
            method: "POST",
            uri: twirp("FinalizeCacheEntryUpload"),
            headers: vec![bearer.clone(), json_ct.clone()],
            body: r#"{"key":"pending","version":"v","size_bytes":"ten"}"#.into(),
            status: StatusCode::BAD_REQUEST,
            contains: "\"malformed\"",
        },
        Case {
            name: "block list names unknown block",
            method: "PUT",
            uri: format!("{up}&comp=blocklist"),
            headers: vec![],
            body: "<BlockList><Latest>QQ==</Latest><Latest>Wg==</Latest></BlockList>".into(),
            status: StatusCode::BAD_REQUEST,
            contains: "InvalidBlockList",
        },
        Case {
            name: "block list not XML",
            method: "PUT",
            uri: format!("{up}&comp=blocklist"),
            headers: vec![],
            body: "[]".into(),
            status: StatusCode::BAD_REQUEST,
            contains: "InvalidBlockList",
        },
        Case {
            name: "put blob without blob type",
            method: "PUT",
            uri: up.clone(),
            headers: vec![],
            body: "abc".into(),
            status: StatusCode::BAD_REQUEST,
            contains: "InvalidInput",
        },
        Case {
            name: "unsupported comp",
            method: "PUT",
            uri: format!("{up}&comp=appendblock"),
            headers: vec![],
            body: "abc".into(),
            status: StatusCode::BAD_REQUEST,
            contains: "UnsupportedQueryParameter",
        },
        Case {
            name: "range past end",
            method: "GET",
            uri: dl.clone(),
            headers: vec![("x-ms-range", "bytes=10-20".into())],
            body: String::new(),
            status: StatusCode::RANGE_NOT_SATISFIABLE,
            contains: "InvalidRange",
        },
        Case {
            name: "tampered signature",
            method: "GET",
            uri: tampered,
            headers: vec![],
            body: String::new(),
            status: StatusCode::FORBIDDEN,
            contains: "AuthenticationFailed",
        },
        Case {
            name: "no signature",
            method: "GET",
            uri: dl_id.clone(),
            headers: vec![],
            body: String::new(),
            status: StatusCode::FORBIDDEN,
            contains: "AuthenticationFailed",
        },
        Case {
            name: "read URL used to write",
            method: "PUT",
            uri: dl.clone(),
            headers: vec![("x-ms-blob-type", "BlockBlob".into())],
            body: "evil".into(),
            status: StatusCode::FORBIDDEN,
            contains: "AuthenticationFailed",
        },
        Case {
            name: "write URL used to read",
            method: "GET",
            uri: up.clone(),
            headers: vec![],
            body: String::new(),
            status: StatusCode::FORBIDDEN,
            contains: "AuthenticationFailed",
        },
    ];
    let before = s.stored().await;
    for c in cases {
        let headers: Vec<(&str, &str)> = c.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = s.call(c.method, &c.uri, &headers, c.body.clone()).await;
        assert_eq!(r.status, c.status, "{}: {}", c.name, r.text());
        assert!(
            r.text().contains(c.contains),
            "{}: body {:?} lacks {:?}",
            c.name,
            r.text(),
            c.contains
        );
        if c.uri.starts_with("/blob/") {
            assert!(
                r.headers.contains_key("x-ms-request-id"),
                "{}: no x-ms-request-id",
                c.name
            );
        }
        assert_eq!(
            s.stored().await,
            before,
            "{}: stored entries changed",
            c.name
        );
    }
    assert_eq!(s.restore(&t, "kept", &[]).await.unwrap().1, b"kept-bytes");
}

#[tokio::test]
async fn expired_signed_urls_are_rejected() {
    let mut c = config();
    c.url_ttl = chrono::Duration::seconds(-5);
    let s = service_with(c).await;
    let t = s.token(MAIN, &[]);
    let up = s.create(&t, "k").await;
    let put = s
        .call("PUT", &up, &[("x-ms-blob-type", "BlockBlob")], "abc")
        .await;
    assert_eq!(put.status, StatusCode::FORBIDDEN);
    assert!(put.text().contains("expired"));
}

#[tokio::test]
async fn write_and_read_denials_use_githubs_messages() {
    let s = service().await;
    let ro = s.read_only_token(&[MAIN]);
    let r = s
        .twirp(
            "CreateCacheEntry",
            &ro,
            json!({"key": "k", "version": VERSION}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["ok"], false);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("cache write denied:")
    );
    let none = s.read_only_token(&[]);
    let r = s
        .twirp(
            "GetCacheEntryDownloadURL",
            &none,
            json!({"key": "k", "version": VERSION}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("cache read denied:"));
}
