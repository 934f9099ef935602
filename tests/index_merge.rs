//! The relay's index merge on BuildKit-shaped configs made here: the layer on layer 0 (no
//! `parent` key) of issue #21, every layer at index 0 in turn over random builds, one blob
//! on two parents, parallel legs, limits, and what BuildKit would refuse. Checked by the
//! oracle in `chain_oracle`, which reads the raw JSON. tests/relay_chains.rs does the same
//! on real BuildKit exports.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

mod chain_oracle;

use chain_oracle::{assert_keeps, chains_by_digest};
use chrono::Utc;
use layercache::cache_config::CacheConfig;
use layercache::cache_config::chains::merge_fault;
use layercache::relay::index_merge::{MergeLimits, merge};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// A BuildKit-like export of a build: `base` layers of a base image, then one layer per
/// step, each step a record linked to the one before. Layers are listed in the order
/// `order` gives (BuildKit sorts them by digest, so any layer can be layer 0), written as
/// Go writes them: a parent of 0 is left out.
fn export(base: &[&str], steps: &[&str], age_days: i64, order: &[usize]) -> Value {
    let at = (Utc::now() - chrono::Duration::days(age_days)).to_rfc3339();
    let blobs: Vec<String> = base
        .iter()
        .map(|b| format!("sha256:base-{b}"))
        .chain(steps.iter().map(|s| format!("sha256:layer-{s}")))
        .collect();
    // position[i]: where layer i (bottom first) is listed.
    let mut position = vec![0; blobs.len()];
    for (listed, i) in order.iter().enumerate() {
        position[*i] = listed;
    }
    let mut layers = vec![Value::Null; blobs.len()];
    for (i, blob) in blobs.iter().enumerate() {
        let mut l = json!({"blob": blob, "annotations": {"size": 10, "createdAt": at}});
        match i.checked_sub(1).map(|p| position[p]) {
            None => l["parent"] = json!(-1),
            Some(0) => {}
            Some(p) => l["parent"] = json!(p),
        }
        layers[position[i]] = l;
    }
    let mut records = vec![json!({"digest": "sha256:from"})];
    records.push(json!({
        "digest": format!("sha256:from-{}", base.join("+")),
        "layers": [{"layer": position[base.len() - 1], "createdAt": at}],
        "inputs": [[{"link": 0}]],
    }));
    for (n, s) in steps.iter().enumerate() {
        let mut r = json!({
            "digest": format!("sha256:step-{s}"),
            "layers": [{"layer": position[base.len() + n], "createdAt": at}],
            "inputs": [[{"link": records.len() - 1}]],
        });
        if n % 2 == 1 {
            r["inputs"][0][0]["selector"] = json!("sha256:sel");
        }
        records.push(r);
    }
    json!({"layers": layers, "records": records})
}

fn identity(n: usize) -> Vec<usize> {
    (0..n).collect()
}

fn config(v: &Value) -> CacheConfig {
    CacheConfig::from_slice(v.to_string().as_bytes()).unwrap()
}

fn merged_json(ours: &Value, theirs: &Value) -> Value {
    let m = merge(
        &config(ours),
        &config(theirs),
        &MergeLimits::default(),
        Utc::now(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_slice(&m.to_vec().unwrap()).unwrap()
}

#[test]
fn a_layer_on_layer_0_keeps_its_parent() {
    // The bug: layer 1 sits on layer 0 and so has no `parent` key; the old merge read that
    // as no parent, and the merged index rebuilt it without the base image.
    let base = ["os"];
    let a = export(&base, &["a1", "a2"], 0, &identity(3));
    assert!(a["layers"][1].get("parent").is_none());
    let b = export(&base, &["a1", "b2"], 0, &identity(3));
    let m = merged_json(&a, &b);
    assert_keeps(&a, &m);
    assert_keeps(&b, &m);
    let step = &chains_by_digest(&m)["sha256:step-a1"];
    assert_eq!(
        step.iter().next().cloned().unwrap_or_default(),
        vec!["sha256:base-os", "sha256:layer-a1"]
    );
}

#[test]
fn every_layer_at_index_0_in_turn() {
    // The property the old merge failed, over random builds: an unchanged rerun, a change
    // and a parallel leg, with every layer of each taking its turn as layer 0.
    let mut rng = StdRng::seed_from_u64(21);
    for round in 0..300 {
        let base: Vec<String> = (0..rng.random_range(1..4))
            .map(|i| format!("b{i}"))
            .collect();
        let base: Vec<&str> = base.iter().map(String::as_str).collect();
        let n = rng.random_range(1..6);
        let first: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
        let changed_at = rng.random_range(0..n);
        let second: Vec<String> = (0..n)
            .map(|i| {
                if i < changed_at {
                    format!("s{i}")
                } else {
                    format!("s{i}-r{round}")
                }
            })
            .collect();
        let total = base.len() + n;
        let zero_a = round % total;
        let mut order_a = identity(total);
        order_a.swap(0, zero_a);
        let mut order_b = identity(total);
        order_b.shuffle(&mut rng);
        let first: Vec<&str> = first.iter().map(String::as_str).collect();
        let second: Vec<&str> = second.iter().map(String::as_str).collect();
        let cold = export(&base, &first, 0, &order_a);
        let rerun = export(&base, &first, 0, &order_b);
        let change = export(&base, &second, 0, &order_b);
        // cold → rerun (merged) → change (merged with the merged one).
        let m1 = merged_json(&rerun, &cold);
        assert_keeps(&rerun, &m1);
        assert_keeps(&cold, &m1);
        let m2 = merged_json(&change, &m1);
        assert_keeps(&change, &m2);
        assert_keeps(&cold, &m2);
        // Two legs, merged in either order.
        let m3 = merged_json(&cold, &change);
        assert_keeps(&cold, &m3);
        assert_keeps(&change, &m3);
    }
}

#[test]
fn one_blob_on_two_parents_stays_two_layers() {
    // `COPY app /app` on two bases makes the same diff on two chains.
    let a = export(&["x"], &["copy"], 0, &identity(2));
    let b = export(&["y"], &["copy"], 0, &[1, 0]);
    let m = merged_json(&a, &b);
    assert_eq!(m["layers"].as_array().map(Vec::len), Some(4));
    assert_keeps(&a, &m);
    assert_keeps(&b, &m);
}

#[test]
fn union_of_two_builds_keeps_both_importable() {
    let steps_a: Vec<String> = (0..12).map(|i| format!("a{i}")).collect();
    let steps_b: Vec<String> = (0..12).map(|i| format!("b{i}")).collect();
    let a = export(
        &["os"],
        &steps_a.iter().map(String::as_str).collect::<Vec<_>>(),
        0,
        &identity(13),
    );
    let b = export(
        &["os"],
        &steps_b.iter().map(String::as_str).collect::<Vec<_>>(),
        0,
        &identity(13),
    );
    let m = merged_json(&a, &b);
    assert_eq!(m["layers"].as_array().map(Vec::len), Some(25));
    // The FROM records are shared, twelve steps of each.
    assert_eq!(m["records"].as_array().map(Vec::len), Some(26));
    assert_keeps(&a, &m);
    assert_keeps(&b, &m);
}

#[test]
fn merging_the_same_build_again_adds_nothing() {
    let a = export(&["os", "usr"], &["s0", "s1", "s2"], 0, &[3, 1, 4, 0, 2]);
    let m = merged_json(&a, &a);
    assert_eq!(m["layers"].as_array().map(Vec::len), Some(5));
    assert_eq!(m["records"].as_array().map(Vec::len), Some(5));
    let again = merged_json(&a, &m);
    assert_eq!(again, m);
}

#[test]
fn old_upstream_records_and_their_layers_are_dropped() {
    let a = export(&["os"], &["a"], 0, &identity(2));
    let old = export(&["old"], &["o1", "o2"], 30, &identity(3));
    let m = merged_json(&a, &old);
    assert_eq!(m["layers"].as_array().map(Vec::len), Some(2));
    assert!(!m.to_string().contains("sha256:layer-o"));
}

#[test]
fn the_cap_keeps_the_newest_and_what_they_link_to() {
    let a = export(&["os"], &["a"], 0, &identity(2));
    let theirs = export(&["t"], &["t0", "t1", "t2", "t3"], 1, &identity(5));
    let limits = MergeLimits {
        max_records: 1,
        ..Default::default()
    };
    let m = merge(&config(&a), &config(&theirs), &limits, Utc::now()).unwrap();
    let m: Value = serde_json::from_slice(&m.to_vec().unwrap()).unwrap();
    // One result record of theirs is kept, with every record it links to, and its chain.
    let theirs_kept: Vec<_> = chains_by_digest(&m)
        .into_iter()
        .filter(|(d, c)| (d.starts_with("sha256:step-t") || d == "sha256:from-t") && !c.is_empty())
        .collect();
    assert!(!theirs_kept.is_empty());
    for (d, chains) in theirs_kept {
        assert_eq!(chains, chains_by_digest(&theirs)[&d], "{d}");
    }
    assert!(m["records"].as_array().map_or(0, Vec::len) < 3 + 6);
}

#[test]
fn a_broken_merge_is_caught() {
    let a = config(&export(&["os"], &["a1", "a2"], 0, &identity(3)));
    let b = config(&export(&["os"], &["b1"], 0, &identity(2)));
    let mut m = merge(&a, &b, &MergeLimits::default(), Utc::now()).unwrap();
    assert_eq!(merge_fault(&[(&a, None), (&b, None)], &m), None);
    // What the old merge did: a layer on another made a bottom layer.
    let on_base = m.layers.iter().position(|l| l.parent.is_some()).unwrap();
    m.layers[on_base].parent = None;
    let fault = merge_fault(&[(&a, None), (&b, None)], &m).unwrap_or_default();
    assert!(fault.contains("records lost or changed"), "{fault}");
}

#[test]
fn a_config_buildkit_would_refuse_is_not_merged() {
    let a = config(&export(&["os"], &["a"], 0, &identity(2)));
    let looping = CacheConfig::from_slice(
        br#"{"layers":[{"blob":"x","parent":1},{"blob":"y"}],"records":[{"digest":"r","layers":[{"layer":0,"createdAt":"2099-01-01T00:00:00Z"}]}]}"#,
    )
    .unwrap();
    assert!(merge(&a, &looping, &MergeLimits::default(), Utc::now()).is_err());
}
