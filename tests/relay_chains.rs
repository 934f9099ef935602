//! The relay's index merge on real BuildKit exports (issue #21): the daemon's own BuildKit
//! of the Docker 28 lane (containerd image store, `docker` driver) exports `type=gha`
//! through the relay to our service, as users run it: cold, the same commit again (which
//! writes no index), a change and another, each on an emptied builder, with random content, for a single-stage, a
//! multi-stage (`COPY --from`) and a cache-mount Dockerfile; then two parallel legs of one
//! scope. The changed build must succeed and reuse every step before the change. Every
//! index BuildKit itself wrote is then merged pairwise, with each of its layers moved to
//! index 0 in turn, and each merge checked against the chains of its sources by an oracle
//! that reads the raw JSON. Skipped (and saying so) without the lane.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

mod chain_oracle;
mod engine_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chain_oracle::{assert_keeps, chains_by_digest};
use chrono::Utc;
use engine_support::*;
use layercache::cache_client::CacheClient;
use layercache::cache_config::CacheConfig;
use layercache::cache_protocol::Endpoint;
use layercache::cache_service::{self, RunningService, ServiceConfig};
use layercache::engine::{DockerHost, Outcome, Recorder, run};
use layercache::plan::{BuildPlan, CacheOption, DriverChoice};
use layercache::relay::index_merge::{MergeLimits, merge};
use layercache::secret::Secret;
use layercache::storage::StorageConfig;
use serde_json::Value;

const VERSION: &str = "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2";
const SECRET: &str = "relay-chains-test-secret-0123456789";

const SINGLE: &str = "ARG BASE
FROM ${BASE}
COPY dep1 /dep1
RUN cat /dep1 > /dep1.seen
COPY dep2 /dep2
RUN cat /dep2 > /dep2.seen
COPY app.txt /src/app.txt
RUN cat /src/app.txt && ls /bin/sh /dep1 /dep2
";

const MULTI: &str = "ARG BASE
FROM ${BASE} AS deps
COPY dep1 /dep1
RUN cat /dep1 > /deps.txt
FROM ${BASE}
COPY --from=deps /deps.txt /deps.txt
COPY dep2 /dep2
RUN cat /dep2 >> /deps.txt
COPY app.txt /src/app.txt
RUN cat /src/app.txt /deps.txt && ls /bin/sh
";

const MOUNT: &str = "ARG BASE
FROM ${BASE}
COPY dep1 /dep1
RUN --mount=type=cache,target=/cache cp /dep1 /cache/ && cat /dep1 > /dep1.seen
COPY dep2 /dep2
RUN --mount=type=cache,target=/cache cat /dep2 > /dep2.seen && ls /cache
COPY app.txt /src/app.txt
RUN cat /src/app.txt && ls /bin/sh /dep1.seen /dep2.seen
";

struct Lane {
    host: DockerHost,
    base: String,
}

fn lane(test: &str) -> Option<Lane> {
    let host = std::env::var("LAYERCACHE_TEST_DOCKER28_HOST").ok();
    let base = std::env::var("LAYERCACHE_TEST_DOCKER28_BASE_IMAGE").ok();
    match (host, base) {
        (Some(h), Some(base)) => Some(Lane {
            host: DockerHost::parse(&h).unwrap(),
            base,
        }),
        _ => {
            panic!(
                "{test}: LAYERCACHE_TEST_DOCKER28_HOST names no Docker 28 lane (lane tests are named buildkit_lane_*/docker28_lane_*; scripts/test.sh filters them out, counted as skipped, where the lane is absent)"
            )
        }
    }
}

async fn upstream() -> (RunningService, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ServiceConfig::new(
        ([127, 0, 0, 1], 0).into(),
        StorageConfig::Disk(dir.path().to_owned()),
    );
    c.secret = Some(Secret::new(SECRET));
    (cache_service::spawn(c).await.unwrap(), dir)
}

fn gha(svc: &RunningService, scope: &str, export: bool) -> CacheOption {
    let url = format!("{}/", svc.base_url);
    let mut attrs = vec![("scope", scope)];
    if export {
        // What the action sets by default; a strict export is never relayed.
        attrs.extend([("mode", "max"), ("ignore-error", "true")]);
    }
    gha_entry(&url, svc.token("refs/heads/main"), &attrs)
}

/// A context with `dockerfile` and random `dep1`, `dep2` and `app.txt`.
fn context(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    for f in ["dep1", "dep2", "app.txt"] {
        std::fs::write(dir.path().join(f), unique(f)).unwrap();
    }
    dir
}

/// The daemon's build cache emptied: what a fresh hosted runner starts with.
async fn empty_builder(lane: &Lane) {
    let docker = lane.host.docker().unwrap();
    docker
        .prune_build(Some(bollard::query_parameters::PruneBuildOptions {
            all: Some(true),
            ..Default::default()
        }))
        .await
        .unwrap();
}

async fn build(lane: &Lane, svc: &RunningService, dir: &Path, scope: &str) -> (Outcome, Recorder) {
    let mut req: BuildPlan = BuildPlan::local(dir);
    req.build_args.insert("BASE".into(), lane.base.clone());
    req.driver = DriverChoice::Docker;
    req.cache_from = vec![gha(svc, scope, false)];
    req.cache_to = vec![gha(svc, scope, true)];
    let mut events = Recorder::default();
    let outcome = run(&req, &io(&lane.host), &mut events)
        .await
        .unwrap_or_else(|e| panic!("build of {} failed: {e}", dir.display()));
    let relay = outcome.relay.clone().expect("the relay ran");
    assert!(relay.complete(), "{relay:?}");
    assert_eq!(
        relay.indexes.len(),
        1,
        "the index went through the relay: {relay:?}"
    );
    assert!(relay.warning().is_none(), "{:?}", relay.warning());
    (outcome, events)
}

/// Step names the build ran, and those it took from the cache.
fn steps(outcome: &Outcome) -> (Vec<String>, Vec<String>) {
    let (cached, ran): (Vec<_>, Vec<_>) = outcome
        .dockerfile_steps()
        .filter(|s| !s.name.contains(" FROM "))
        .partition(|s| s.cached);
    let names =
        |v: Vec<&layercache::engine::StepRecord>| v.into_iter().map(|s| s.name.clone()).collect();
    (names(ran), names(cached))
}

async fn newest_index(svc: &RunningService, scope: &str) -> Vec<u8> {
    let client = CacheClient::new(
        Endpoint::V2(format!("{}/", svc.base_url)),
        svc.token("refs/heads/main"),
    );
    let hit = client
        .lookup(&format!("index-{scope}-1-"), &[], VERSION)
        .await
        .unwrap()
        .expect("an index upstream");
    client.read(&hit, 1 << 24).await.unwrap().to_vec()
}

/// Every result chain in the index starts at the base image's layer: nothing was cut off
/// its base (the failure of issue #21). Oracle on the raw JSON, Go's rules spelled out.
fn assert_rooted(body: &[u8], base_blob: Option<&str>) -> String {
    let chains = chains_by_digest(&serde_json::from_slice(body).unwrap());
    let roots: BTreeSet<String> = chains
        .values()
        .flatten()
        .filter_map(|c| c.first().cloned())
        .collect();
    assert_eq!(roots.len(), 1, "chains with several roots: {chains:?}");
    let root = roots.into_iter().next().unwrap_or_default();
    if let Some(b) = base_blob {
        assert_eq!(root, b);
    }
    root
}

/// The chain position (1 = the base) of the layer BuildKit listed first.
fn position_at_index_0(body: &[u8]) -> usize {
    let v: Value = serde_json::from_slice(body).unwrap();
    let first = v["layers"][0]["blob"].as_str().unwrap_or("").to_owned();
    chains_by_digest(&v)
        .values()
        .flatten()
        .filter_map(|c| c.iter().position(|b| *b == first))
        .max()
        .map_or(0, |p| p + 1)
}

/// The longest layer chain of the index.
fn chain_depth(body: &[u8]) -> usize {
    chains_by_digest(&serde_json::from_slice(body).unwrap())
        .values()
        .flatten()
        .map(Vec::len)
        .max()
        .unwrap_or(0)
}

/// One test: its scenarios empty the daemon's whole build cache, so two at once would
/// prune each other's imports away.
#[tokio::test]
async fn docker28_lane_on_emptied_builders_every_chain_is_kept() {
    let Some(lane) = lane("docker28_lane_on_emptied_builders_every_chain_is_kept") else {
        return;
    };
    cold_rerun_change(&lane).await;
    two_parallel_legs_of_one_scope_both_import_fully(&lane).await;
}

async fn cold_rerun_change(lane: &Lane) {
    // Rounds go on until each Dockerfile has had every chain position listed first, or
    // this many rounds (each is nine builds); the pairwise merges below put every layer of
    // every real index first in any case.
    let rounds: usize = std::env::var("LAYERCACHE_TEST_CHAIN_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(6);
    let (svc, _store) = upstream().await;
    let mut exported = Vec::new();
    let mut at_zero: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    for round in 0..rounds {
        for (name, dockerfile) in [("single", SINGLE), ("multi", MULTI), ("mount", MOUNT)] {
            let seen = at_zero.get(name).map_or(0, BTreeSet::len);
            if depth.get(name).is_some_and(|d| seen >= *d) {
                continue;
            }
            let scope = unique(name);
            let dir = context(dockerfile);
            empty_builder(lane).await;
            build(lane, &svc, dir.path(), &scope).await;
            let cold = newest_index(&svc, &scope).await;
            let base = assert_rooted(&cold, None);
            at_zero
                .entry(name)
                .or_default()
                .insert(position_at_index_0(&cold));
            depth.insert(name, chain_depth(&cold));
            exported.push(cold);

            empty_builder(lane).await;
            let (rerun, _) = build(lane, &svc, dir.path(), &scope).await;
            let unchanged = rerun.relay.clone().unwrap_or_default();
            assert!(
                unchanged.indexes.iter().all(|i| i.unchanged),
                "{name} round {round}: an unchanged build wrote an index: {unchanged:?}"
            );
            let (ran, _) = steps(&rerun);
            assert!(
                ran.is_empty(),
                "{name} round {round}: an unchanged build ran {ran:?}"
            );
            assert_rooted(&newest_index(&svc, &scope).await, Some(&base));

            // Two changes: the first imports the cold index and writes a merged one, the
            // second imports the merged one.
            for change in ["changed", "changed again"] {
                std::fs::write(dir.path().join("app.txt"), unique(change)).unwrap();
                empty_builder(lane).await;
                let (changed, _) = build(lane, &svc, dir.path(), &scope).await;
                let relay = changed.relay.clone().unwrap_or_default();
                assert!(
                    relay.indexes.iter().all(|i| i.merged_with.is_some()),
                    "{name} round {round}, {change}: not merged: {relay:?}"
                );
                let (ran, cached) = steps(&changed);
                assert!(
                    ran.iter().all(|s| s.contains("app.txt")),
                    "{name} round {round}, {change}: steps before the change ran: {ran:?}"
                );
                assert!(
                    cached.iter().filter(|s| s.contains("RUN ")).count() >= 2,
                    "{name} round {round}, {change}: {cached:?}"
                );
                assert_rooted(&newest_index(&svc, &scope).await, Some(&base));
            }
        }
    }
    eprintln!(
        "chain positions BuildKit listed at index 0 (of {depth:?}): {at_zero:?}, in at most {rounds} rounds"
    );
    merge_pairs_with_every_layer_at_index_0(&exported);
}

/// Renumber `config`'s layers so that layer `first` is listed at index 0: the config
/// BuildKit would have written had that blob sorted first.
fn with_first(config: &CacheConfig, first: usize) -> CacheConfig {
    let n = config.layers.len();
    let order: Vec<usize> = std::iter::once(first)
        .chain((0..n).filter(|i| *i != first))
        .collect();
    let mut new_of = vec![0; n];
    for (new, old) in order.iter().enumerate() {
        new_of[*old] = new;
    }
    let mut out = config.clone();
    out.layers = order
        .iter()
        .map(|old| {
            let mut l = config.layers[*old].clone();
            l.parent = l.parent.map(|p| new_of[p]);
            l
        })
        .collect();
    for r in &mut out.records {
        for res in &mut r.results {
            res.layer = new_of[res.layer];
        }
        for c in &mut r.chained_results {
            c.layers.iter_mut().for_each(|l| *l = new_of[*l]);
        }
    }
    out
}

fn merge_pairs_with_every_layer_at_index_0(exported: &[Vec<u8>]) {
    let configs: Vec<CacheConfig> = exported
        .iter()
        .map(|b| CacheConfig::from_slice(b).unwrap())
        .collect();
    let mut merges = 0;
    for (a_i, a) in configs.iter().enumerate() {
        for b in &configs {
            // Every layer of `a` at index 0 in turn, against `b` as BuildKit wrote it and
            // rotated the same way.
            for first in 0..a.layers.len() {
                let ours = with_first(a, first);
                let theirs = with_first(b, first % b.layers.len().max(1));
                let merged = merge(&ours, &theirs, &MergeLimits::default(), Utc::now())
                    .unwrap_or_else(|e| panic!("config {a_i} with layer {first} first: {e}"));
                let json = |c: &CacheConfig| -> Value {
                    serde_json::from_slice(&c.to_vec().unwrap()).unwrap()
                };
                let merged = json(&merged);
                assert_keeps(&json(&ours), &merged);
                assert_keeps(&json(&theirs), &merged);
                merges += 1;
            }
        }
    }
    eprintln!("{} real indexes, {merges} merges checked", configs.len());
    assert!(merges > 0);
}

async fn two_parallel_legs_of_one_scope_both_import_fully(lane: &Lane) {
    let (svc, _store) = upstream().await;
    let scope = unique("legs");
    let (a, b) = (context(SINGLE), context(SINGLE));
    empty_builder(lane).await;
    let (one, two) = tokio::join!(
        build(lane, &svc, a.path(), &scope),
        build(lane, &svc, b.path(), &scope)
    );
    // The one that wrote second merged the first one's index in.
    let merged: Vec<_> = [one, two]
        .into_iter()
        .filter_map(|(o, _)| o.relay?.indexes.first()?.merged_with.clone())
        .collect();
    assert_eq!(merged.len(), 1, "{merged:?}");
    let index = newest_index(&svc, &scope).await;
    assert_rooted(&index, None);
    for leg in [&a, &b] {
        empty_builder(lane).await;
        let (outcome, _) = build(lane, &svc, leg.path(), &scope).await;
        let (ran, _) = steps(&outcome);
        assert!(ran.is_empty(), "a leg did not import fully: ran {ran:?}");
    }
}
