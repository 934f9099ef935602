//! The official `@actions/cache` npm client (from the registry, installed by
//! `scripts/setup.d/40-serve-npm.sh`) saving and restoring directories through
//! `layercache serve` on disk: over v2 (Put Blob and, above 128 MiB, Put Block + Put Block
//! List), over v1 (ranged PATCH chunks), racing saves, and across a service restart.
#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use layercache::cache_service::{self, RunningService, ServiceConfig};
use layercache::storage::StorageConfig;

const MAIN: &str = "refs/heads/main";

fn driver() -> String {
    std::env::var("LAYERCACHE_TEST_ACTIONS_CACHE_JS").unwrap_or_else(|_| {
        panic!(
            "LAYERCACHE_TEST_ACTIONS_CACHE_JS is not set: source scripts/setup.d/40-serve-npm.sh \
             (it runs npm ci in tests/js and exports the path of tests/js/cache.mjs)"
        )
    })
}

async fn start(store: &Path) -> RunningService {
    let mut c = ServiceConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        StorageConfig::Disk(store.into()),
    );
    c.secret = Some("js-test-secret-0123456789".into());
    cache_service::spawn(c).await.unwrap()
}

#[derive(Clone, Copy)]
enum Proto {
    V1,
    V2,
}

/// Run the driver; returns its last stdout line parsed as JSON.
async fn node(svc: &RunningService, proto: Proto, tmp: &Path, args: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new("node");
    cmd.arg(driver()).args(args).current_dir(tmp);
    cmd.env_remove("ACTIONS_CACHE_SERVICE_V2")
        .env_remove("ACTIONS_CACHE_URL")
        .env_remove("ACTIONS_RESULTS_URL");
    match proto {
        Proto::V2 => cmd
            .env("ACTIONS_RESULTS_URL", format!("{}/", svc.base_url))
            .env("ACTIONS_CACHE_SERVICE_V2", "true"),
        Proto::V1 => cmd.env("ACTIONS_CACHE_URL", format!("{}/", svc.base_url)),
    };
    cmd.env("ACTIONS_RUNTIME_TOKEN", svc.token(MAIN).expose())
        .env("RUNNER_TEMP", tmp.join("runner-temp"))
        .env("GITHUB_SERVER_URL", "https://github.com");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("null");
    serde_json::from_str(last).unwrap()
}

/// A directory of files: a few small ones and one of `big` random bytes.
fn make_tree(dir: &Path, big: usize) {
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("a.txt"), "hello").unwrap();
    std::fs::write(dir.join("sub/b.txt"), "world").unwrap();
    let mut data = vec![0u8; big];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(dir.join("sub/big.bin"), data).unwrap();
}

fn same_tree(a: &Path, b: &Path) {
    for rel in ["a.txt", "sub/b.txt", "sub/big.bin"] {
        let (x, y) = (
            std::fs::read(a.join(rel)).unwrap(),
            std::fs::read(b.join(rel)).unwrap(),
        );
        assert!(x == y, "{rel} differs after restore");
    }
}

/// Save `work/data`, move it away, restore by restore key, compare.
async fn round_trip(
    svc: &RunningService,
    proto: Proto,
    tmp: &Path,
    key: &str,
    big: usize,
) -> PathBuf {
    let data = tmp.join("data");
    make_tree(&data, big);
    let data_s = data.to_str().unwrap();
    let saved = node(svc, proto, tmp, &["save", key, data_s]).await;
    assert!(
        saved["cacheId"].as_i64().unwrap() > 0,
        "save did not store: {saved}"
    );
    let orig = tmp.join("orig");
    std::fs::rename(&data, &orig).unwrap();
    let prefix = &key[..key.len() - 2];
    let restored = node(svc, proto, tmp, &["restore", "missing-key", data_s, prefix]).await;
    assert_eq!(restored["matchedKey"], key);
    same_tree(&orig, &data);
    orig
}

#[tokio::test(flavor = "multi_thread")]
async fn actions_cache_v2_small_and_block_uploads_then_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let svc = start(&store).await;
    let small = tmp.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    round_trip(&svc, Proto::V2, &small, "v2-small-01", 300_000).await;
    // Over 128 MiB the Azure SDK switches to Put Block + Put Block List.
    let big = tmp.path().join("big");
    std::fs::create_dir_all(&big).unwrap();
    round_trip(&svc, Proto::V2, &big, "v2-big-01", 150 << 20).await;
    svc.shutdown().await;
    // Finalized entries survive a restart.
    let svc = start(&store).await;
    let data = small.join("data");
    std::fs::remove_dir_all(&data).unwrap();
    let restored = node(
        &svc,
        Proto::V2,
        &small,
        &["restore", "v2-small-01", data.to_str().unwrap()],
    )
    .await;
    assert_eq!(restored["matchedKey"], "v2-small-01");
    same_tree(&small.join("orig"), &data);
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn actions_cache_v1_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = start(&tmp.path().join("store")).await;
    // Two 32 MiB chunks plus a tail, uploaded 4 at a time (toolkit defaults).
    round_trip(&svc, Proto::V1, tmp.path(), "v1-key-01", 70 << 20).await;
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_saves_store_one_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = start(&tmp.path().join("store")).await;
    let data = tmp.path().join("data");
    make_tree(&data, 1 << 20);
    let d = data.to_str().unwrap();
    let args = ["save", "race", d];
    let (a, b) = tokio::join!(
        node(&svc, Proto::V2, tmp.path(), &args),
        node(&svc, Proto::V2, tmp.path(), &args),
    );
    let mut ids = [
        a["cacheId"].as_i64().unwrap(),
        b["cacheId"].as_i64().unwrap(),
    ];
    ids.sort();
    // The loser's client is told "already exists" and reports -1 without failing.
    assert_eq!(ids[0], -1, "both saves stored: {ids:?}");
    assert!(ids[1] > 0);
    svc.shutdown().await;
}
