//! One storage conformance suite, run on every backend: memory, disk (a tempdir) and S3
//! (moto's S3 server, `LAYERCACHE_TEST_S3_ENDPOINT`, started by the test command).
#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use layercache::storage::{
    BlobStore, ByteStream, DiskStore, MemoryStore, S3Options, S3Store, StorageError,
};

fn stream_of(parts: Vec<Vec<u8>>) -> ByteStream {
    futures::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from(p)))).boxed()
}

fn failing_after(part: Vec<u8>) -> ByteStream {
    futures::stream::iter(vec![
        Ok(Bytes::from(part)),
        Err(std::io::Error::other("client went away")),
    ])
    .boxed()
}

async fn read(
    store: &dyn BlobStore,
    key: &str,
    range: Option<std::ops::Range<u64>>,
) -> Option<Vec<u8>> {
    let s = store.get(key, range).await.unwrap()?;
    Some(s.map_ok(|b| b.to_vec()).try_concat().await.unwrap())
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

/// The contract every backend must keep (see `storage::BlobStore`).
async fn conformance(store: Arc<dyn BlobStore>) {
    let s = store.as_ref();
    // Absent objects are Ok(None)/Ok(false).
    assert!(s.get("a/missing", None).await.unwrap().is_none());
    assert_eq!(s.size("a/missing").await.unwrap(), None);
    assert!(!s.delete("a/missing").await.unwrap());
    assert!(!s.rename("a/missing", "a/other").await.unwrap());

    // Multi-part streams go in; whole and ranged reads come out.
    let big = pattern(3 * 1024 * 1024 + 17);
    let parts: Vec<Vec<u8>> = big.chunks(100_000).map(<[u8]>::to_vec).collect();
    assert_eq!(
        s.put("data/00/1", stream_of(parts)).await.unwrap(),
        big.len() as u64
    );
    assert_eq!(s.size("data/00/1").await.unwrap(), Some(big.len() as u64));
    assert_eq!(read(s, "data/00/1", None).await.unwrap(), big);

    // Empty chunks, and empty objects (the service's access markers are empty).
    let with_empty = vec![b"ab".to_vec(), Vec::new(), b"c".to_vec()];
    assert_eq!(s.put("a/gaps", stream_of(with_empty)).await.unwrap(), 3);
    assert_eq!(read(s, "a/gaps", None).await.unwrap(), b"abc");
    assert_eq!(
        s.put("a/empty", stream_of(vec![Vec::new()])).await.unwrap(),
        0
    );
    assert_eq!(s.size("a/empty").await.unwrap(), Some(0));
    assert!(
        s.put_if_absent("a/empty2", bytes::Bytes::new())
            .await
            .unwrap()
    );
    assert_eq!(read(s, "a/empty2", None).await.unwrap(), b"");
    for k in ["a/gaps", "a/empty", "a/empty2"] {
        s.delete(k).await.unwrap();
    }
    assert_eq!(
        read(s, "data/00/1", Some(1000..5000)).await.unwrap(),
        &big[1000..5000]
    );
    let end = big.len() as u64;
    assert_eq!(
        read(s, "data/00/1", Some(end - 3..end)).await.unwrap(),
        &big[big.len() - 3..]
    );
    let past = s.get("data/00/1", Some(end..end + 10)).await;
    assert!(
        matches!(past, Err(StorageError::Range { .. })),
        "range past the end must fail"
    );

    // Empty objects exist.
    assert_eq!(s.put("data/00/empty", stream_of(vec![])).await.unwrap(), 0);
    assert_eq!(
        read(s, "data/00/empty", None).await.unwrap(),
        Vec::<u8>::new()
    );

    // A put whose body fails leaves the old object untouched, and a new key absent.
    assert!(
        s.put("data/00/1", failing_after(vec![9; 1000]))
            .await
            .is_err()
    );
    assert_eq!(read(s, "data/00/1", None).await.unwrap(), big);
    assert!(
        s.put("data/00/2", failing_after(vec![9; 1000]))
            .await
            .is_err()
    );
    assert_eq!(s.size("data/00/2").await.unwrap(), None);

    // Replace.
    s.put("data/00/1", stream_of(vec![b"new".to_vec()]))
        .await
        .unwrap();
    assert_eq!(read(s, "data/00/1", None).await.unwrap(), b"new");

    // Listing by prefix, across "directories".
    s.put("meta/00/1.json", stream_of(vec![b"{}".to_vec()]))
        .await
        .unwrap();
    s.put("meta/01/2.json", stream_of(vec![b"{}".to_vec()]))
        .await
        .unwrap();
    s.put("metadata", stream_of(vec![b"x".to_vec()]))
        .await
        .unwrap();
    let mut listed = s.list("meta/").await.unwrap();
    listed.sort();
    assert_eq!(listed, vec!["meta/00/1.json", "meta/01/2.json"]);
    let mut all_meta = s.list("meta").await.unwrap();
    all_meta.sort();
    assert_eq!(all_meta.len(), 3);
    assert!(s.list("nothing/").await.unwrap().is_empty());

    // Concatenation and rename.
    s.put("staging/7/b-1", stream_of(vec![b"hello ".to_vec()]))
        .await
        .unwrap();
    s.put("staging/7/b-2", stream_of(vec![b"world".to_vec()]))
        .await
        .unwrap();
    let n = s
        .concat(
            "staging/7/blob",
            vec!["staging/7/b-1".into(), "staging/7/b-2".into()],
        )
        .await
        .unwrap();
    assert_eq!(n, 11);
    assert!(
        s.concat("staging/7/x", vec!["staging/7/none".into()])
            .await
            .is_err()
    );
    assert_eq!(s.size("staging/7/x").await.unwrap(), None);
    // A part missing after one that was copied: no short object is published.
    assert!(
        s.concat(
            "staging/7/x",
            vec!["staging/7/b-1".into(), "staging/7/none".into()]
        )
        .await
        .is_err()
    );
    assert_eq!(s.size("staging/7/x").await.unwrap(), None);
    assert_eq!(s.size("staging/7/b-1").await.unwrap(), Some(6));
    assert!(s.rename("staging/7/blob", "data/07/7").await.unwrap());
    assert_eq!(s.size("staging/7/blob").await.unwrap(), None);
    assert_eq!(read(s, "data/07/7", None).await.unwrap(), b"hello world");

    // Delete.
    assert!(s.delete("data/07/7").await.unwrap());
    assert_eq!(s.size("data/07/7").await.unwrap(), None);

    put_if_absent_is_exclusive(store.clone()).await;
    put_if_absent_each_stops_at_the_first_taken(store.as_ref()).await;
}

/// Each name is created in turn; the first that exists stops it, and names created are
/// whole objects that go one at a time.
async fn put_if_absent_each_stops_at_the_first_taken(s: &dyn BlobStore) {
    let names = |v: &[&str]| v.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    assert!(s.put_if_absent("each/taken", "old".into()).await.unwrap());
    let created = s
        .put_if_absent_each(
            names(&["each/a/1", "each/b/2", "each/taken", "each/c"]),
            "new".into(),
        )
        .await
        .unwrap();
    assert_eq!(created, 2);
    assert_eq!(read(s, "each/a/1", None).await.unwrap(), b"new");
    assert_eq!(read(s, "each/b/2", None).await.unwrap(), b"new");
    assert_eq!(read(s, "each/taken", None).await.unwrap(), b"old");
    assert_eq!(s.size("each/c").await.unwrap(), None);
    assert!(s.delete("each/a/1").await.unwrap());
    assert_eq!(read(s, "each/b/2", None).await.unwrap(), b"new");
    for k in ["each/b/2", "each/taken"] {
        s.delete(k).await.unwrap();
    }
}

/// Of many concurrent creators of one key exactly one wins, and its bytes are the object.
async fn put_if_absent_is_exclusive(s: Arc<dyn BlobStore>) {
    for round in 0..5 {
        let key = format!("resv/ab/race-{round}");
        let racers = (0..8u8).map(|i| {
            let s = s.clone();
            let key = key.clone();
            tokio::spawn(async move {
                let won = s
                    .put_if_absent(&key, bytes::Bytes::from(vec![b'a' + i; 3]))
                    .await
                    .unwrap();
                (i, won)
            })
        });
        let results = futures::future::join_all(racers).await;
        let winners: Vec<u8> = results
            .into_iter()
            .map(|r| r.unwrap())
            .filter(|(_, won)| *won)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let stored = read(s.as_ref(), &key, None).await.unwrap();
        assert_eq!(stored, vec![b'a' + winners[0]; 3]);
        assert!(!s.put_if_absent(&key, "x".into()).await.unwrap());
        assert!(s.delete(&key).await.unwrap());
        assert!(s.put_if_absent(&key, "x".into()).await.unwrap());
        s.delete(&key).await.unwrap();
    }
}

#[tokio::test]
async fn memory_store_conforms() {
    conformance(Arc::new(MemoryStore::default())).await;
}

#[tokio::test]
async fn disk_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance(Arc::new(DiskStore::open(dir.path()).await.unwrap())).await;
    // Nothing is left in the temp area, and the layout is versioned.
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("VERSION")).unwrap(),
        "1"
    );
}

#[tokio::test]
async fn disk_store_refuses_path_like_keys_and_foreign_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let s = DiskStore::open(dir.path()).await.unwrap();
    for key in ["../x", "a/../../x", "/abs", "a//b", "a/./b"] {
        assert!(
            s.put(key, stream_of(vec![b"x".to_vec()])).await.is_err(),
            "{key} accepted"
        );
    }
    std::fs::write(dir.path().join("VERSION"), "99").unwrap();
    assert!(DiskStore::open(dir.path()).await.is_err());
}

/// moto's S3 server, started by `scripts/setup.d/41-serve-s3-moto.sh`; a fresh bucket.
async fn s3_store(prefix: &str) -> Arc<dyn BlobStore> {
    let endpoint = std::env::var("LAYERCACHE_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "LAYERCACHE_TEST_S3_ENDPOINT is not set: source scripts/setup.d/41-serve-s3-moto.sh \
             (it installs moto[server] from PyPI and starts moto_server)"
        )
    });
    let bucket = format!("layercache-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "creating bucket: {}",
        created.status()
    );
    let opts = S3Options {
        bucket,
        prefix: prefix.to_owned(),
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
    };
    Arc::new(S3Store::open(&opts).unwrap())
}

#[tokio::test]
async fn s3_store_conforms() {
    conformance(s3_store("cache/prefix").await).await;
}

#[tokio::test]
async fn service_on_s3_keeps_entries_across_restart() {
    use layercache::cache_service::{AppState, ServiceConfig};
    let store = s3_store("svc").await;
    let config = ServiceConfig::new(
        ([127, 0, 0, 1], 0).into(),
        layercache::storage::StorageConfig::Memory,
    );
    let state = AppState::with_store(&config, store.clone()).await.unwrap();
    let body: ByteStream = stream_of(vec![pattern(10 << 20)]);
    let id = state
        .cache
        .reserve("k", "v", "refs/heads/main")
        .await
        .unwrap();
    state.cache.put_blob(id, body).await.unwrap();
    state.cache.finalize(id, 10 << 20).await.unwrap();
    // A second service on the same bucket (a restart, or another instance) sees it.
    let again = AppState::with_store(&config, store).await.unwrap();
    let hit = again
        .cache
        .lookup(&["k".into()], "v", &["refs/heads/main"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hit.size, 10 << 20);
    let bytes: Vec<u8> = again
        .cache
        .read(hit.id, Some(5..10))
        .await
        .unwrap()
        .unwrap()
        .map_ok(|b| b.to_vec())
        .try_concat()
        .await
        .unwrap();
    assert_eq!(bytes, &pattern(10 << 20)[5..10]);
}
