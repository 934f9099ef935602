//! The cache client against our own service in this process, over v2 and v1, with and
//! without injected faults (503s, 429s with Retry-After).
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on the first unexpected error"
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use layercache::cache_client::{CacheClient, RetryPolicy, SaveOutcome};
use layercache::cache_protocol::Endpoint;
use layercache::cache_service::{self, Faults, RunningService, ServiceConfig};
use layercache::storage::StorageConfig;

const VERSION: &str = "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2";

async fn start(faults: Faults) -> RunningService {
    let mut c = ServiceConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), StorageConfig::Memory);
    c.faults = faults;
    cache_service::spawn(c).await.unwrap()
}

fn client(svc: &RunningService, v1: bool) -> CacheClient {
    let url = svc.base_url.clone();
    let endpoint = if v1 {
        Endpoint::V1(url)
    } else {
        Endpoint::V2(url)
    };
    CacheClient::new(endpoint, svc.token("refs/heads/main"))
}

async fn round_trip(v1: bool) {
    let svc = start(Faults::default()).await;
    let c = client(&svc, v1);
    assert!(c.lookup("k-1", &[], VERSION).await.unwrap().is_none());
    let saved = c
        .save_bytes("k-1", VERSION, Bytes::from_static(b"hello"))
        .await
        .unwrap();
    assert_eq!(saved.outcome, SaveOutcome::Saved);
    assert_eq!(saved.bytes, 5);
    let again = c
        .save_bytes("k-1", VERSION, Bytes::from_static(b"other"))
        .await
        .unwrap();
    assert_eq!(again.outcome, SaveOutcome::AlreadyExists);
    // A prefix finds it, as BuildKit's index lookup relies on.
    let hit = c.lookup("k-", &[], VERSION).await.unwrap().unwrap();
    assert_eq!(hit.matched_key, "k-1");
    assert_eq!(&c.read(&hit, 1024).await.unwrap()[..], b"hello");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    assert_eq!(c.download_to(&hit, &path).await.unwrap(), 5);
    assert_eq!(std::fs::read(&path).unwrap(), b"hello");
    // A file in several v1 chunks / v2 blocks would need > 32/128 MiB; one file suffices
    // for the file path itself.
    std::fs::write(&path, vec![7u8; 100_000]).unwrap();
    let saved = c.save_file("k-file", VERSION, &path).await.unwrap();
    assert_eq!((saved.outcome, saved.bytes), (SaveOutcome::Saved, 100_000));
    let hit = c.lookup("k-file", &[], VERSION).await.unwrap().unwrap();
    assert_eq!(c.read(&hit, 1 << 20).await.unwrap().len(), 100_000);
    svc.shutdown().await;
}

#[tokio::test]
async fn v2_round_trip() {
    round_trip(false).await;
}

#[tokio::test]
async fn v1_round_trip() {
    round_trip(true).await;
}

async fn survives_faults(v1: bool) {
    let faults = Faults {
        fail_share: 0.3,
        throttle_share: 0.1,
        retry_after_secs: 1,
        ..Default::default()
    };
    let svc = start(faults.clone()).await;
    let c = client(&svc, v1).with_policy(RetryPolicy {
        max_attempts: 30,
        base_delay: Duration::from_millis(5),
        ..Default::default()
    });
    let mut retries = 0;
    let saves = (0..12).map(|i| {
        let c = c.clone();
        async move {
            c.save_bytes(
                &format!("layer-{i}"),
                VERSION,
                Bytes::from(vec![i as u8; 1000]),
            )
            .await
        }
    });
    for saved in futures::future::join_all(saves).await {
        let saved = saved.unwrap();
        assert_eq!(saved.outcome, SaveOutcome::Saved);
        retries += saved.retries;
    }
    // Every injected fault cost exactly one retry, and nothing else did.
    let (failed, throttled) = faults.injected();
    assert!(failed > 0, "no 503 injected");
    assert_eq!(u64::from(retries), failed + throttled);
    for i in 0..12 {
        let hit = c.lookup(&format!("layer-{i}"), &[], VERSION).await.unwrap();
        let body = c.read(&hit.unwrap(), 4096).await.unwrap();
        assert_eq!(&body[..], &vec![i as u8; 1000][..]);
    }
    svc.shutdown().await;
}

#[tokio::test]
async fn v2_saves_everything_through_503s_and_429s() {
    survives_faults(false).await;
}

#[tokio::test]
async fn v1_saves_everything_through_503s_and_429s() {
    survives_faults(true).await;
}

#[tokio::test]
async fn waits_out_retry_after_then_gives_up() {
    let svc = start(Faults {
        throttle_share: 1.0,
        retry_after_secs: 1,
        ..Default::default()
    })
    .await;
    let c = client(&svc, false).with_policy(RetryPolicy {
        max_attempts: 3,
        ..Default::default()
    });
    let started = Instant::now();
    let err = c
        .save_bytes("k", VERSION, Bytes::from_static(b"x"))
        .await
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() >= Duration::from_secs(2), "did not wait");
    assert!(err.contains("gave up after 3 attempts"), "{err}");
    assert!(err.contains("429"), "{err}");
    svc.shutdown().await;
}

/// A server that answers every request with Go's plain 404, as act's and Gitea's artifact
/// servers do for a cache call at `ACTIONS_RESULTS_URL`.
async fn plain_404() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut buf = vec![0u8; 64 * 1024];
            let _ = conn.read(&mut buf).await;
            let body = "404 page not found\n";
            let head = format!(
                "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(format!("{head}{body}").as_bytes()).await;
        }
    });
    format!("http://{addr}/")
}

#[tokio::test]
async fn the_protocol_probe_tells_a_v2_service_from_an_artifact_server() {
    use layercache::cache_client::speaks_v2;
    use layercache::secret::Secret;
    let svc = start(Faults::default()).await;
    let token = svc.token("refs/heads/main");
    assert_eq!(
        speaks_v2(&Endpoint::V2(svc.base_url.clone()), &token).await,
        Ok(true)
    );
    // A token the service refuses still gets a Twirp answer: the service speaks v2.
    assert_eq!(
        speaks_v2(&Endpoint::V2(svc.base_url.clone()), &Secret::new("a.b.c")).await,
        Ok(true)
    );
    let artifacts = plain_404().await;
    assert_eq!(speaks_v2(&Endpoint::V2(artifacts), &token).await, Ok(false));
    // Nobody there: no answer, which is not a "no".
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = speaks_v2(&Endpoint::V2(format!("http://{closed}/")), &token)
        .await
        .unwrap_err();
    assert!(
        !err.contains(&closed.to_string()),
        "no URL in the error: {err}"
    );
}
