//! v2 (Twirp) and blob endpoint behaviour, on the memory backend via `oneshot`: semantics
//! (immutability, restore order, ref isolation) and a table of error paths, each checked to
//! leave the stored entries unchanged.
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

#[tokio::test]
async fn save_then_restore_exact_and_by_prefix_newest_first() {
    let s = service().await;
    let t = s.token(MAIN, &[]);
    s.save(&t, "deps-linux-aaa", b"old").await;
    s.save(&t, "deps-linux-bbb", b"new").await;
    s.save(&t, "deps-linux", b"exact").await;
    // Exact match wins over prefix matches of the same key.
    let (k, d) = s.restore(&t, "deps-linux", &[]).await.unwrap();
    assert_eq!((k.as_str(), d.as_slice()), ("deps-linux", &b"exact"[..]));
    // A restore key matches by prefix, newest first.
    let (k, d) = s.restore(&t, "deps-mac", &["deps-linux-"]).await.unwrap();
    assert_eq!((k.as_str(), d.as_slice()), ("deps-linux-bbb", &b"new"[..]));
    // Keys are tried in order: the first key with any match wins.
    let (k, _) = s
        .restore(&t, "nope", &["deps-linux-a", "deps-linux-b"])
        .await
        .unwrap();
    assert_eq!(k, "deps-linux-aaa");
    assert!(s.restore(&t, "other", &["x"]).await.is_none());
}

#[tokio::test]
async fn entries_are_immutable_and_second_create_is_already_exists() {
    let s = service().await;
    let t = s.token(MAIN, &[]);
    s.save(&t, "k", b"first").await;
    let r = s
        .twirp(
            "CreateCacheEntry",
            &t,
            json!({"key": "k", "version": VERSION}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["code"], "already_exists");
    // The same key on another ref is a separate entry.
    let other = s.token("refs/heads/feature", &[]);
    s.save(&other, "k", b"feature").await;
    assert_eq!(s.restore(&t, "k", &[]).await.unwrap().1, b"first");
    assert_eq!(s.restore(&other, "k", &[]).await.unwrap().1, b"feature");
}

#[tokio::test]
async fn refs_are_isolated_unless_the_token_can_read_them() {
    let s = service().await;
    let feature = s.token("refs/heads/feature", &[]);
    s.save(&feature, "k", b"feature-bytes").await;
    let main = s.token(MAIN, &[]);
    assert!(s.restore(&main, "k", &[]).await.is_none());
    // A PR token: writes its merge ref, reads the base branch too.
    let pr = s.token("refs/pull/1/merge", &["refs/heads/feature"]);
    assert_eq!(s.restore(&pr, "k", &[]).await.unwrap().1, b"feature-bytes");
    // Own ref first: once the PR ref has its own entry, that one wins.
    s.save(&pr, "k", b"pr-bytes").await;
    assert_eq!(s.restore(&pr, "k", &[]).await.unwrap().1, b"pr-bytes");
}

#[tokio::test]
async fn invisible_until_finalized_and_int64_as_number_or_string() {
    let s = service().await;
    let t = s.token(MAIN, &[]);
    let r = s
        .twirp(
            "CreateCacheEntry",
            &t,
            json!({"key": "k", "version": VERSION, "extra": 1}),
        )
        .await;
    let url = r.json()["signed_upload_url"].as_str().unwrap().to_owned();
    let put = s
        .call(
            "PUT",
            &Svc::path_of(&url),
            &[("x-ms-blob-type", "BlockBlob")],
            "abc",
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED);
    for h in [
        "x-ms-request-id",
        "x-ms-version",
        "etag",
        "last-modified",
        "date",
    ] {
        assert!(put.headers.contains_key(h), "Put Blob response lacks {h}");
    }
    assert!(
        s.restore(&t, "k", &[]).await.is_none(),
        "visible before finalize"
    );
    let r = s
        .twirp(
            "FinalizeCacheEntryUpload",
            &t,
            json!({"key": "k", "version": VERSION, "size_bytes": 3}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["ok"], true);
    assert_eq!(s.restore(&t, "k", &[]).await.unwrap().1, b"abc");
}

#[tokio::test]
async fn blocks_and_ranges_behave_like_azure() {
    let s = service().await;
    let t = s.token(MAIN, &[]);
    let url = s.create(&t, "b").await;
    // Blocks uploaded out of order, committed in list order; one chunked body stream.
    let chunked = Body::from_stream(futures::stream::iter(vec![
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"wor")),
        Ok(bytes::Bytes::from_static(b"ld")),
    ]));
    let put = s
        .call(
            "PUT",
            &format!("{url}&comp=block&blockid=QjE%3D"),
            &[],
            chunked,
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED);
    let put = s
        .call(
            "PUT",
            &format!("{url}&comp=block&blockid=QjA%3D"),
            &[],
            "hello ",
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED);
    let list = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><Latest>QjA=</Latest><Latest>QjE=</Latest></BlockList>";
    let put = s
        .call("PUT", &format!("{url}&comp=blocklist"), &[], list)
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.text());
    let r = s
        .twirp(
            "FinalizeCacheEntryUpload",
            &t,
            json!({"key": "b", "version": VERSION, "size_bytes": "11"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = s
        .twirp(
            "GetCacheEntryDownloadURL",
            &t,
            json!({"key": "b", "version": VERSION}),
        )
        .await;
    let dl = Svc::path_of(r.json()["signed_download_url"].as_str().unwrap());
    let head = s.call("HEAD", &dl, &[], Body::empty()).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.headers["content-length"], "11");
    for h in [
        "x-ms-request-id",
        "x-ms-version",
        "etag",
        "last-modified",
        "x-ms-blob-type",
    ] {
        assert!(head.headers.contains_key(h), "HEAD response lacks {h}");
    }
    let part = s
        .call("GET", &dl, &[("x-ms-range", "bytes=6-10")], Body::empty())
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&part.body[..], b"world");
    assert_eq!(part.headers["content-range"], "bytes 6-10/11");
    let part = s
        .call("GET", &dl, &[("range", "bytes=0-4")], Body::empty())
        .await;
    assert_eq!(&part.body[..], b"hello");
    let full = s.call("GET", &dl, &[], Body::empty()).await;
    assert_eq!(&full.body[..], b"hello world");
}

#[tokio::test]
async fn path_like_keys_are_plain_keys() {
    let s = service().await;
    let t = s.token(MAIN, &[]);
    for key in ["../x", "../../etc/passwd", "a/../../b", "/abs"] {
        s.save(&t, key, key.as_bytes()).await;
        assert_eq!(s.restore(&t, key, &[]).await.unwrap().1, key.as_bytes());
    }
}

#[tokio::test]
async fn concurrent_finalize_has_one_winner() {
    let s = service().await;
    let t = s.token(MAIN, &[]);
    let up = s.create(&t, "race").await;
    let data = vec![7u8; 1 << 20];
    s.call("PUT", &up, &[("x-ms-blob-type", "BlockBlob")], data.clone())
        .await;
    let body = json!({"key": "race", "version": VERSION, "size_bytes": data.len()});
    let calls = (0..8).map(|_| s.twirp("FinalizeCacheEntryUpload", &t, body.clone()));
    let results = futures::future::join_all(calls).await;
    let ok = results
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let conflict = results
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, conflict), (1, 7));
    assert_eq!(s.restore(&t, "race", &[]).await.unwrap().1, data);
}

#[tokio::test]
async fn concurrent_create_has_one_winner() {
    let s = service().await;
    let t = s.token(MAIN, &[]);
    let calls = (0..8).map(|_| {
        s.twirp(
            "CreateCacheEntry",
            &t,
            json!({"key": "same", "version": VERSION}),
        )
    });
    let results = futures::future::join_all(calls).await;
    let ok = results
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 1);
    assert!(
        results
            .iter()
            .filter(|r| r.status != StatusCode::OK)
            .all(|r| r.json()["code"] == "already_exists")
    );
}

#[tokio::test]
async fn wrong_size_finalize_keeps_the_reservation_usable() {
    let s = service().await;
    let t = s.token(MAIN, &[]);
    let up = s.create(&t, "k").await;
    s.call("PUT", &up, &[("x-ms-blob-type", "BlockBlob")], "abcd")
        .await;
    let bad = s
        .twirp(
            "FinalizeCacheEntryUpload",
            &t,
            json!({"key": "k", "version": VERSION, "size_bytes": 5}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("does not match"));
    assert!(s.restore(&t, "k", &[]).await.is_none());
    let good = s
        .twirp(
            "FinalizeCacheEntryUpload",
            &t,
            json!({"key": "k", "version": VERSION, "size_bytes": 4}),
        )
        .await;
    assert_eq!(good.status, StatusCode::OK);
    assert_eq!(s.restore(&t, "k", &[]).await.unwrap().1, b"abcd");
}

/// A protobuf string field.
fn pb_str(field: u8, s: &str) -> Vec<u8> {
    let mut v = vec![(field << 3) | 2, s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

/// The string in `field` of a protobuf message (single-byte tags and lengths < 128 aside,
/// lengths are varints).
fn pb_field(mut buf: &[u8], field: u8) -> Option<String> {
    while !buf.is_empty() {
        let tag = buf[0];
        buf = &buf[1..];
        match tag & 7 {
            0 => {
                let n = buf.iter().position(|b| b & 0x80 == 0)? + 1;
                buf = &buf[n..];
            }
            2 => {
                let (mut len, mut i) = (0usize, 0);
                while buf[i] & 0x80 != 0 {
                    len |= ((buf[i] & 0x7f) as usize) << (7 * i);
                    i += 1;
                }
                len |= (buf[i] as usize) << (7 * i);
                let value = &buf[i + 1..i + 1 + len];
                if tag >> 3 == field {
                    return Some(String::from_utf8(value.to_vec()).unwrap());
                }
                buf = &buf[i + 1 + len..];
            }
            _ => return None,
        }
    }
    None
}

#[tokio::test]
async fn twirp_protobuf_encoding_round_trip() {
    let s = service().await;
    let t = s.token(MAIN, &[]);
    let auth = format!("Bearer {t}");
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/protobuf"),
    ];
    // metadata (field 1, ignored), key, version.
    let mut create = vec![0x0a, 0x02, 0x08, 0x07];
    create.extend(pb_str(2, "pb-key"));
    create.extend(pb_str(3, VERSION));
    let r = s
        .call("POST", &format!("{TWIRP}/CreateCacheEntry"), &h, create)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers["content-type"], "application/protobuf");
    assert_eq!(&r.body[..2], &[0x08, 0x01], "ok must be true");
    let url = pb_field(&r.body, 2).unwrap();
    let put = s
        .call(
            "PUT",
            &Svc::path_of(&url),
            &[("x-ms-blob-type", "BlockBlob")],
            "proto",
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED);
    let mut fin = pb_str(2, "pb-key");
    fin.extend([0x18, 0x05]);
    fin.extend(pb_str(4, VERSION));
    let r = s
        .call(
            "POST",
            &format!("{TWIRP}/FinalizeCacheEntryUpload"),
            &h,
            fin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(&r.body[..2], &[0x08, 0x01]);
    let mut get = pb_str(2, "nope");
    get.extend(pb_str(3, "pb-"));
    get.extend(pb_str(4, VERSION));
    let r = s
        .call(
            "POST",
            &format!("{TWIRP}/GetCacheEntryDownloadURL"),
            &h,
            get,
        )
        .await;
    assert_eq!(pb_field(&r.body, 3).as_deref(), Some("pb-key"));
    let got = s
        .call(
            "GET",
            &Svc::path_of(&pb_field(&r.body, 2).unwrap()),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(&got.body[..], b"proto");
    // Garbage protobuf is `malformed`, in a JSON error body as Twirp specifies.
    let r = s
        .call(
            "POST",
            &format!("{TWIRP}/CreateCacheEntry"),
            &h,
            vec![0x12, 0x40, b'x'],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["code"], "malformed");
}
