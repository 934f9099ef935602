//! Several instances on one store: two services on one moto S3 bucket (each with its own
//! S3 client, as two machines would have), and two on one directory, race creates, uploads
//! and finalizes for the same keys from both sides, over HTTP, and must answer exactly as
//! one service does.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use layercache::cache_service::{self, AppState, ServiceConfig, TokenIssuer};
use layercache::secret::Secret;
use layercache::storage::{BlobStore, DiskStore, S3Options, S3Store, StorageConfig};
use serde_json::{Value, json};

const SECRET: &str = "fleet-secret-0123456789abcdef";
const VERSION: &str = "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2";
const TWIRP: &str = "twirp/github.actions.results.api.v1.CacheService";
const KEYS: usize = 8;

/// A fresh moto bucket (moto is started by `scripts/setup.d/41-serve-s3-moto.sh`).
async fn bucket() -> S3Options {
    let endpoint = std::env::var("LAYERCACHE_TEST_S3_ENDPOINT")
        .expect("LAYERCACHE_TEST_S3_ENDPOINT: source scripts/setup.d/41-serve-s3-moto.sh");
    let bucket = format!("layercache-fleet-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    S3Options {
        bucket,
        prefix: "fleet".into(),
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
    }
}

fn s3(bucket: &S3Options) -> Arc<dyn BlobStore> {
    Arc::new(S3Store::open(bucket).unwrap())
}

async fn disk(dir: &std::path::Path) -> Arc<dyn BlobStore> {
    Arc::new(DiskStore::open(dir).await.unwrap())
}

/// A service over its own client of a store, on a loopback port; returns its base URL.
async fn instance(store: Arc<dyn BlobStore>) -> (String, Arc<AppState>) {
    let mut config = ServiceConfig::new(([127, 0, 0, 1], 0).into(), StorageConfig::Memory);
    config.secret = Some(Secret::new(SECRET));
    let state = AppState::with_store(&config, store).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = cache_service::router(state.clone());
    tokio::spawn(cache_service::serve(listener, app, std::future::pending()));
    (base, state)
}

async fn twirp(base: &str, token: &str, method: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/{TWIRP}/{method}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// What a caller saw: "ok", "miss" (`ok: false`) or the Twirp error code.
fn outcome((status, body): &(u16, Value)) -> String {
    match (*status, body["ok"] == false) {
        (200, false) => "ok".into(),
        (200, true) => "miss".into(),
        _ => body["code"].as_str().unwrap_or("?").to_owned(),
    }
}

/// The loser of two racing finalizes hears `aborted` while the winner works and
/// `already_exists` after; which one is timing, on one instance as on two.
fn finalize_outcome(r: &(u16, Value)) -> String {
    match outcome(r).as_str() {
        "aborted" | "already_exists" => "lost".into(),
        other => other.into(),
    }
}

/// Each key: both sides create at once; the winner's bytes go up through the *other*
/// instance (signed URLs work on any); both sides finalize at once; both look it up; both
/// try to create it again. Returns the sorted outcomes per step, over all keys.
async fn race(a: &str, b: &str, token: &str) -> BTreeMap<&'static str, Vec<String>> {
    let mut seen: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let rounds = (0..KEYS).map(|k| async move {
        let key = format!("race-{k}");
        let create = json!({"key": key, "version": VERSION});
        let (ca, cb) = tokio::join!(
            twirp(a, token, "CreateCacheEntry", create.clone()),
            twirp(b, token, "CreateCacheEntry", create.clone())
        );
        let (winner, other) = if outcome(&ca) == "ok" {
            (&ca, b)
        } else {
            (&cb, a)
        };
        let url = winner.1["signed_upload_url"].as_str().unwrap_or_default();
        let path = url.split_once("/blob/").map(|(_, p)| p).unwrap_or_default();
        let put = reqwest::Client::new()
            .put(format!("{other}/blob/{path}"))
            .header("x-ms-blob-type", "BlockBlob")
            .body(format!("bytes of {key}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        let size = format!("bytes of {key}").len().to_string();
        let fin = json!({"key": key, "version": VERSION, "size_bytes": size});
        let (fa, fb) = tokio::join!(
            twirp(a, token, "FinalizeCacheEntryUpload", fin.clone()),
            twirp(b, token, "FinalizeCacheEntryUpload", fin.clone())
        );
        let get = json!({"key": key, "restore_keys": [], "version": VERSION});
        let (ga, gb) = tokio::join!(
            twirp(a, token, "GetCacheEntryDownloadURL", get.clone()),
            twirp(b, token, "GetCacheEntryDownloadURL", get.clone())
        );
        let mut bodies = Vec::new();
        for g in [&ga, &gb] {
            let url = g.1["signed_download_url"].as_str().unwrap_or_default();
            let body = match reqwest::get(url).await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            bodies.push(body == format!("bytes of {key}"));
        }
        let (again_a, again_b) = tokio::join!(
            twirp(a, token, "CreateCacheEntry", create.clone()),
            twirp(b, token, "CreateCacheEntry", create.clone())
        );
        vec![
            ("1 create", vec![outcome(&ca), outcome(&cb)]),
            ("2 upload", vec![put.to_string()]),
            (
                "3 finalize",
                vec![finalize_outcome(&fa), finalize_outcome(&fb)],
            ),
            ("4 lookup", vec![outcome(&ga), outcome(&gb)]),
            ("5 same bytes", bodies.iter().map(bool::to_string).collect()),
            ("6 create again", vec![outcome(&again_a), outcome(&again_b)]),
        ]
    });
    for steps in futures::future::join_all(rounds).await {
        for (step, mut outcomes) in steps {
            outcomes.sort();
            seen.entry(step).or_default().extend(outcomes);
        }
    }
    for v in seen.values_mut() {
        v.sort();
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_bucket_answer_like_one() {
    let (one, shared) = (bucket().await, bucket().await);
    answer_like_one(
        instance(s3(&one)).await,
        instance(s3(&shared)).await,
        instance(s3(&shared)).await,
    )
    .await;
}

/// On disk the publish is decided by `link(2)` and the move by `rename(2)`, not by S3's
/// conditional `PUT`: the same race, two services on one directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_directory_answer_like_one() {
    let (one, shared) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    answer_like_one(
        instance(disk(one.path()).await).await,
        instance(disk(shared.path()).await).await,
        instance(disk(shared.path()).await).await,
    )
    .await;
}

/// `solo` alone, then `a` and `b` on one store, race the same keys; both must answer as
/// GitHub's service does, and see each other's entries, uses and deletions.
async fn answer_like_one(
    (solo, _): (String, Arc<AppState>),
    (a, state_a): (String, Arc<AppState>),
    (b, state_b): (String, Arc<AppState>),
) {
    let token = TokenIssuer::new(Secret::new(SECRET))
        .for_ref("refs/heads/main", &[], chrono::Duration::hours(1))
        .expose()
        .to_owned();
    let alone = race(&solo, &solo, &token).await;
    // Markers carry whole seconds, and an instance writes an entry's marker at most once a
    // minute: B's use the test looks for may be its lookup in the race below.
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let fleet = race(&a, &b, &token).await;
    assert_eq!(fleet, alone, "two instances answered unlike one");
    // And what one instance answers is what GitHub's service does.
    let n = |s: &str, times: usize| vec![s.to_owned(); times];
    assert_eq!(
        alone["1 create"],
        [n("already_exists", KEYS), n("ok", KEYS)].concat()
    );
    assert_eq!(alone["2 upload"], n("201", KEYS));
    assert_eq!(
        alone["3 finalize"],
        [n("lost", KEYS), n("ok", KEYS)].concat()
    );
    assert_eq!(alone["4 lookup"], n("ok", 2 * KEYS));
    assert_eq!(alone["5 same bytes"], n("true", 2 * KEYS));
    assert_eq!(alone["6 create again"], n("already_exists", 2 * KEYS));

    // Both see the same entries, and a use on one is a use the other's LRU order sees.
    let ids = |e: Vec<cache_service::StoredEntry>| {
        let mut v: Vec<u64> = e.iter().map(|e| e.id).collect();
        v.sort();
        v
    };
    let entries_a = state_a.cache.entries().await.unwrap();
    assert_eq!(entries_a.len(), KEYS);
    assert_eq!(
        ids(entries_a.clone()),
        ids(state_b.cache.entries().await.unwrap())
    );
    let get = json!({"key": "race-0", "restore_keys": [], "version": VERSION});
    assert_eq!(
        outcome(&twirp(&b, &token, "GetCacheEntryDownloadURL", get).await),
        "ok"
    );
    let seen_by_a = state_a.cache.entries().await.unwrap();
    let used = seen_by_a.iter().find(|e| e.key == "race-0").unwrap();
    assert!(used.last_accessed_at >= before, "A does not see B's use");

    // A deletion on one instance is a miss on the other, and frees the key.
    let id = used.id;
    assert!(state_a.cache.delete(id).await.unwrap().is_some());
    let get = json!({"key": "race-0", "restore_keys": [], "version": VERSION});
    assert_eq!(
        outcome(&twirp(&b, &token, "GetCacheEntryDownloadURL", get).await),
        "miss"
    );
    let create = json!({"key": "race-0", "version": VERSION});
    assert_eq!(
        outcome(&twirp(&b, &token, "CreateCacheEntry", create).await),
        "ok"
    );
}

/// An instance starting up (and sweeping leftovers) leaves a running peer's upload alone,
/// while a leftover no reservation owns is still removed: two instances on one directory.
#[tokio::test]
async fn a_starting_instance_keeps_a_peers_upload_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let open =
        || async { Arc::new(DiskStore::open(dir.path()).await.unwrap()) as Arc<dyn BlobStore> };
    let config = ServiceConfig::new(([127, 0, 0, 1], 0).into(), StorageConfig::Memory);
    let a = AppState::with_store(&config, open().await).await.unwrap();
    let id = a.cache.reserve("k", "v", "refs/heads/main").await.unwrap();
    let body = Box::pin(futures::stream::once(async {
        Ok(bytes::Bytes::from("12345"))
    }));
    a.cache.put_blob(id, body).await.unwrap();
    // A leftover no reservation owns (a crashed upload from before).
    let orphan: layercache::storage::ByteStream =
        Box::pin(futures::stream::once(async { Ok(bytes::Bytes::from("x")) }));
    open().await.put("staging/42.blob", orphan).await.unwrap();

    let b = AppState::with_store(&config, open().await).await.unwrap();
    assert_eq!(open().await.size("staging/42.blob").await.unwrap(), None);
    let entry = a.cache.finalize(id, 5).await.unwrap();
    let hit = b
        .cache
        .lookup(&["k".into()], "v", &["refs/heads/main"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!((hit.id, hit.size), (entry.id, 5));
    let again = b.cache.reserve("k", "v", "refs/heads/main").await;
    assert!(again.is_err(), "a second create through the peer succeeded");
}
