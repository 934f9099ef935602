//! The cache relay without BuildKit: our own client plays BuildKit against the relay's
//! export side, the upstream is our service (with injected faults where it says), and what
//! lands upstream is read back with the runtime token.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on the first unexpected error"
)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use layercache::cache_client::{CacheClient, SaveOutcome};
use layercache::cache_protocol::{Endpoint, Service};
use layercache::cache_service::{self, Faults, RunningService, ServiceConfig};
use layercache::plan::cache::CacheOption;
use layercache::relay::{Reach, engage};
use layercache::secret::Secret;
use layercache::storage::StorageConfig;
use serde_json::json;

const VERSION: &str = "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2";

async fn upstream(faults: Faults) -> RunningService {
    let mut c = ServiceConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), StorageConfig::Memory);
    c.faults = faults;
    cache_service::spawn(c).await.unwrap()
}

fn gha(url: &str, token: &Secret, extra: &[(&str, &str)]) -> CacheOption {
    let attrs: Vec<(&str, &str)> = [("scope", "web")]
        .into_iter()
        .chain(extra.iter().copied())
        .filter(|(k, _)| !k.is_empty())
        .collect();
    let service = Service {
        endpoint: Endpoint::V2(url.to_owned()),
        token: token.clone(),
    };
    CacheOption::gha(service, &attrs)
}

/// A config of `n` layers named after `tag`, each its own record.
fn config(tag: &str, n: usize) -> serde_json::Value {
    let at = chrono::Utc::now().to_rfc3339();
    let layers: Vec<_> = (0..n)
        .map(|i| json!({"blob": format!("sha256:{tag}{i:02}"), "parent": i as i64 - 1}))
        .collect();
    let records: Vec<_> = (0..n)
        .map(|i| json!({"digest": format!("sha256:step-{tag}{i}"), "layers": [{"layer": i, "createdAt": at}]}))
        .collect();
    json!({"layers": layers, "records": records})
}

/// One build's `mode=max` export through a relay of its own to the service at `url`
/// (BuildKit's part played by our client): `n` layers named after `tag`, then the index.
async fn relayed_export(
    url: &str,
    runtime: &Secret,
    tag: &str,
    n: usize,
    deadline: Duration,
) -> layercache::relay::RelayReport {
    let mut to = vec![gha(url, runtime, &[("mode", "max")])];
    let (engaged, _) = engage(&mut [], &mut to, Reach::Loopback).await;
    let engaged = engaged.unwrap();
    let service = to[0].service.clone().unwrap();
    export_like_buildkit(service.endpoint.url(), &service.token, tag, n).await;
    engaged.finish(deadline).await
}

/// Export like BuildKit: every layer, then the index, to the relay's export side.
async fn export_like_buildkit(relay_url: &str, token: &Secret, tag: &str, n: usize) {
    let c = CacheClient::new(Endpoint::V2(relay_url.to_owned()), token.clone());
    export_with(&c, tag, n).await;
}

async fn export_with(c: &CacheClient, tag: &str, n: usize) {
    for i in 0..n {
        let key = format!("buildkit-blob-1-sha256:{tag}{i:02}");
        let saved = c
            .save_bytes(&key, VERSION, Bytes::from(vec![i as u8; 50_000]))
            .await
            .unwrap();
        assert_eq!(saved.outcome, SaveOutcome::Saved);
    }
    let body = serde_json::to_vec(&config(tag, n)).unwrap();
    c.save_bytes("index-web-1-f921bd05#1", VERSION, Bytes::from(body))
        .await
        .unwrap();
}

/// The newest index upstream for scope `web`, and whether every blob it names is there.
async fn upstream_index(up: &CacheClient) -> (String, serde_json::Value, bool) {
    let hit = up
        .lookup("index-web-1-", &[], VERSION)
        .await
        .unwrap()
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(&up.read(&hit, 1 << 20).await.unwrap()).unwrap();
    let mut all = true;
    for l in body["layers"].as_array().unwrap() {
        let key = format!("buildkit-blob-1-{}", l["blob"].as_str().unwrap());
        let found = up.lookup(&key, &[], VERSION).await.unwrap();
        all &= found.is_some_and(|h| h.matched_key == key);
    }
    (hit.matched_key, body, all)
}

#[tokio::test]
async fn entries_are_rewritten_and_the_runtime_token_stays_here() {
    let up = upstream(Faults::default()).await;
    let runtime = up.token("refs/heads/main");
    let url = format!("{}/", up.base_url);
    let mut from = vec![gha(&url, &runtime, &[])];
    let mut to = vec![
        gha(&url, &runtime, &[("mode", "max"), ("repository", "o/r")]),
        gha(&url, &runtime, &[("relay", "false")]),
        gha(&url, &runtime, &[("ignore-error", "false")]),
    ];
    to[0]
        .secrets
        .insert("ghtoken".into(), Secret::new("gh-canary"));
    let (engaged, notices) = engage(&mut from, &mut to, Reach::Loopback).await;
    let engaged = engaged.unwrap();
    assert!(
        notices
            .iter()
            .any(|n| n.contains("2 gha entries go through")),
        "{notices:?}"
    );
    let service = |e: &CacheOption| e.service.clone().unwrap();
    for e in [&from[0], &to[0]] {
        let relayed = service(e);
        assert_ne!(relayed.token, runtime, "the runtime token reached BuildKit");
        assert!(relayed.endpoint.url().starts_with("http://127.0.0.1:"));
        assert_ne!(relayed.endpoint.url(), url);
        assert!(matches!(relayed.endpoint, Endpoint::V2(_)));
        assert!(!e.secrets.contains_key("ghtoken") && e.attr("repository").is_none());
    }
    assert_ne!(service(&from[0]).endpoint, service(&to[0]).endpoint);
    // Opted out: untouched but for the attribute BuildKit must not see.
    assert_eq!(service(&to[1]).token, runtime);
    assert_eq!(service(&to[1]).endpoint.url(), url);
    assert!(to[1].attr("relay").is_none());
    // Strict exports stay BuildKit's own, so their failure fails the build.
    assert_eq!(service(&to[2]).token, runtime);
    let report = engaged.finish(Duration::from_secs(5)).await;
    assert!(report.complete() && report.uploaded == 0);

    // A token that names no refs cannot be mirrored: BuildKit exports directly.
    let mut to = vec![gha(&url, &Secret::new("opaque"), &[])];
    let (engaged, notices) = engage(&mut [], &mut to, Reach::Loopback).await;
    assert!(engaged.is_none());
    assert!(
        notices[0].contains("exports to the cache directly"),
        "{notices:?}"
    );
    assert_eq!(to[0].service.as_ref().unwrap().endpoint.url(), url);
}

#[tokio::test]
async fn everything_lands_through_503s_and_429s_index_last() {
    let faults = Faults {
        fail_share: 0.3,
        throttle_share: 0.05,
        retry_after_secs: 1,
        ..Default::default()
    };
    let up = upstream(faults.clone()).await;
    let runtime = up.token("refs/heads/main");
    let url = format!("{}/", up.base_url);
    let report = relayed_export(&url, &runtime, "a", 12, Duration::from_secs(120)).await;
    assert!(report.complete(), "{report:?}");
    assert_eq!((report.uploaded, report.present), (12, 0), "{report:?}");
    assert_eq!(report.uploaded_bytes, 12 * 50_000);
    assert!(report.retried > 0 && faults.injected().0 > 0, "{report:?}");
    assert!(report.warning().is_none());
    let client = CacheClient::new(Endpoint::V2(url.clone()), runtime.clone());
    let (key, body, all) = upstream_index(&client).await;
    assert_eq!(key, "index-web-1-f921bd05#1");
    assert_eq!(body["layers"].as_array().unwrap().len(), 12);
    assert!(all, "the index names a blob that is not upstream");
    assert_eq!(report.indexes[0].written.as_deref(), Some(key.as_str()));
}

#[tokio::test]
async fn two_parallel_writers_to_one_scope_both_stay_in_the_index() {
    let up = upstream(Faults {
        latency: Duration::from_millis(20),
        ..Default::default()
    })
    .await;
    let runtime = up.token("refs/heads/main");
    let url = format!("{}/", up.base_url);
    let leg = |tag: &'static str| {
        let (url, runtime) = (url.clone(), runtime.clone());
        async move { relayed_export(&url, &runtime, tag, 6, Duration::from_secs(60)).await }
    };
    let (a, b) = tokio::join!(leg("a"), leg("b"));
    assert!(a.complete() && b.complete(), "{a:?} {b:?}");
    let client = CacheClient::new(Endpoint::V2(url), runtime);
    let (key, body, all) = upstream_index(&client).await;
    assert_eq!(key, "index-web-1-f921bd05#2", "both legs write an index");
    let blobs: Vec<&str> = body["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["blob"].as_str())
        .collect();
    for tag in ["a", "b"] {
        for i in 0..6 {
            let blob = format!("sha256:{tag}{i:02}");
            assert!(blobs.contains(&blob.as_str()), "{blob} missing: {blobs:?}");
        }
    }
    assert!(all);
    assert_eq!(body["records"].as_array().unwrap().len(), 12);
}

#[tokio::test]
async fn an_upstream_index_buildkit_would_refuse_is_not_merged_and_the_warning_says_so() {
    let up = upstream(Faults::default()).await;
    let runtime = up.token("refs/heads/main");
    let url = format!("{}/", up.base_url);
    let client = CacheClient::new(Endpoint::V2(url.clone()), runtime.clone());
    // Parents that loop: BuildKit's importer refuses the whole config.
    let looping = json!({
        "layers": [{"blob": "sha256:x", "parent": 1}, {"blob": "sha256:y"}],
        "records": [{"digest": "sha256:r", "layers": [{"layer": 0, "createdAt": chrono::Utc::now().to_rfc3339()}]}],
    });
    client
        .save_bytes(
            "index-web-1-f921bd05#1",
            VERSION,
            Bytes::from(serde_json::to_vec(&looping).unwrap()),
        )
        .await
        .unwrap();
    let report = relayed_export(&url, &runtime, "a", 3, Duration::from_secs(60)).await;
    assert!(report.complete(), "{report:?}");
    let warning = report.warning().unwrap_or_default();
    assert!(
        warning.contains("index index-web-1-f921bd05#1 written unmerged")
            && warning.contains("loop"),
        "{warning}"
    );
    // What the exporter wrote, as it wrote it (a re-encoded one would leave `"parent": 0`
    // out).
    let (key, body, all) = upstream_index(&client).await;
    assert_eq!(key, "index-web-1-f921bd05#2");
    assert_eq!(body["layers"], config("a", 3)["layers"]);
    assert_eq!(body["layers"][1]["parent"], json!(0));
    assert_eq!(body["records"].as_array().map(Vec::len), Some(3));
    assert!(all);
}

#[tokio::test]
async fn an_unchanged_build_writes_no_index() {
    let up = upstream(Faults::default()).await;
    let runtime = up.token("refs/heads/main");
    let url = format!("{}/", up.base_url);
    let client = CacheClient::new(Endpoint::V2(url.clone()), runtime.clone());
    let mut reports = Vec::new();
    for tag in ["a", "a", "b"] {
        // Each run's BuildKit writes its blobs and index anew in its own relay.
        reports.push(relayed_export(&url, &runtime, tag, 3, Duration::from_secs(60)).await);
        let (key, _, all) = upstream_index(&client).await;
        eprintln!("{tag}: newest index {key}");
        assert!(all);
    }
    let index = |i: usize| reports[i].indexes[0].clone();
    assert!(!index(0).unchanged);
    assert!(index(1).unchanged, "{:?}", reports[1]);
    assert_eq!(index(1).written.as_deref(), Some("index-web-1-f921bd05#1"));
    assert!(reports[1].complete() && reports[1].warning().is_none());
    assert!(
        reports[1].figures().contains("index unchanged"),
        "{}",
        reports[1].figures()
    );
    // A build that adds something writes again, merged.
    assert!(!index(2).unchanged);
    assert_eq!(index(2).written.as_deref(), Some("index-web-1-f921bd05#2"));
    assert_eq!(
        index(2).merged_with.as_deref(),
        Some("index-web-1-f921bd05#1")
    );
}

#[tokio::test]
async fn a_service_that_refuses_everything_is_given_up_on_in_seconds_not_at_the_deadline() {
    let up = upstream(Faults {
        fail_share: 1.0,
        ..Default::default()
    })
    .await;
    let runtime = up.token("refs/heads/main");
    let url = format!("{}/", up.base_url);
    let started = std::time::Instant::now();
    let report = relayed_export(&url, &runtime, "x", 12, Duration::from_secs(600)).await;
    eprintln!(
        "gave up {:.1} s after the build began",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(report.lost.len(), 12, "{report:?}");
    for lost in &report.lost {
        assert!(
            lost.why.contains("refused all") && lost.why.contains("HTTP 503"),
            "{lost:?}"
        );
    }
    let w = report.warning().unwrap();
    assert!(w.contains("12 layers"), "{w}");
    assert!(w.contains("was not written"), "{w}");
    up.shutdown().await;
}

#[tokio::test]
async fn at_the_deadline_what_did_not_land_is_named_and_no_index_is_written() {
    // Every call fails: nothing can land before the deadline, and no index is written.
    let up = upstream(Faults {
        fail_share: 1.0,
        ..Default::default()
    })
    .await;
    let runtime = up.token("refs/heads/main");
    let url = format!("{}/", up.base_url);
    let report = relayed_export(&url, &runtime, "x", 3, Duration::from_secs(2)).await;
    assert!(!report.complete());
    assert_eq!(report.uploaded, 0);
    assert_eq!(report.lost.len(), 3, "{report:?}");
    let w = report.warning().unwrap();
    assert!(
        w.contains("3 layers (0.1 MiB) did not reach the cache: sha256:x00 (still uploading at the deadline), sha256:x01"),
        "{w}"
    );
    assert!(
        w.contains("index index-web-1-f921bd05#1 was not written (not written by the deadline)"),
        "{w}"
    );
    up.shutdown().await;
}

#[tokio::test]
async fn a_v1_upstream_gets_everything_through_v1() {
    let up = upstream(Faults {
        fail_share: 0.2,
        ..Default::default()
    })
    .await;
    let runtime = up.token("refs/heads/main");
    let url = format!("{}/", up.base_url);
    let mut e = gha(&url, &runtime, &[("mode", "max")]);
    e.service = Some(Service {
        endpoint: Endpoint::V1(url.clone()),
        token: runtime.clone(),
    });
    let mut to = vec![e];
    let (engaged, notices) = engage(&mut [], &mut to, Reach::Loopback).await;
    let engaged = engaged.unwrap();
    assert!(notices[0].ends_with("(v1)"), "{notices:?}");
    // BuildKit speaks v1 to the relay when the entry says version=1.
    let relayed = to[0].service.clone().unwrap();
    assert!(matches!(relayed.endpoint, Endpoint::V1(_)));
    let relay = CacheClient::new(relayed.endpoint, relayed.token);
    export_with(&relay, "v", 4).await;
    let report = engaged.finish(Duration::from_secs(60)).await;
    assert!(report.complete() && report.uploaded == 4, "{report:?}");
    eprintln!("{}", report.figures());
    let client = CacheClient::new(Endpoint::V1(url), runtime);
    let (key, _, all) = upstream_index(&client).await;
    assert_eq!(key, "index-web-1-f921bd05#1");
    assert!(all);
}
