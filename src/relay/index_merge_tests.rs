use super::*;

/// A build of `steps` steps, each a record with one layer on the previous one, linked to
/// the previous record; `tag` makes digests distinct per build, `age_days` dates it.
fn build(tag: &str, steps: usize, age_days: i64) -> Value {
    let at = (Utc::now() - chrono::Duration::days(age_days)).to_rfc3339();
    let mut layers = Vec::new();
    let mut records = vec![json!({"digest": "sha256:base"})];
    for i in 0..steps {
        layers.push(json!({
            "blob": format!("sha256:{tag}-layer-{i}"),
            "parent": if i == 0 { -1 } else { i as i64 - 1 },
            "annotations": {"size": 10, "createdAt": at},
        }));
        records.push(json!({
            "digest": format!("sha256:{tag}-step-{i}"),
            "layers": [{"layer": i, "createdAt": at}],
            "inputs": [[{"selector": "", "link": i}]],
        }));
    }
    json!({"layers": layers, "records": records})
}

/// Every index points inside the config.
fn check_links(c: &Value) {
    let (nl, nr) = (list(c, "layers").len(), list(c, "records").len());
    for l in list(c, "layers") {
        let p = l["parent"].as_i64().unwrap_or(-2);
        assert!(p >= -1 && p < nl as i64, "parent {p} of {nl}");
    }
    for r in list(c, "records") {
        for res in list(r, "layers") {
            assert!(index_of(&res["layer"]).is_some_and(|i| i < nl));
        }
        for g in list(r, "inputs") {
            for i in g.as_array().unwrap_or(&Vec::new()) {
                assert!(index_of(&i["link"]).is_some_and(|l| l < nr));
            }
        }
    }
}

/// The blobs a step's record resolves to, following `link`s down to the base.
fn chain_of(c: &Value, step_digest: &str) -> Vec<String> {
    let records = list(c, "records");
    let mut out = Vec::new();
    let mut cur = records.iter().position(|r| r["digest"] == step_digest);
    while let Some(i) = cur {
        let r = &records[i];
        for res in list(r, "layers") {
            let l = index_of(&res["layer"]).unwrap_or(usize::MAX);
            out.push(
                list(c, "layers")[l]["blob"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            );
        }
        cur = list(r, "inputs")
            .first()
            .and_then(|g| g.as_array()?.first()?.get("link").and_then(index_of));
    }
    out
}

#[test]
fn union_of_two_builds_keeps_both_importable() {
    let (a, b) = (build("a", 12, 0), build("b", 12, 0));
    let m = merge(&a, &b, &MergeLimits::default(), Utc::now()).unwrap_or_default();
    check_links(&m);
    assert_eq!(list(&m, "layers").len(), 24);
    // One shared base record, twelve of each build.
    assert_eq!(list(&m, "records").len(), 25);
    assert_eq!(chain_of(&m, "sha256:b-step-11").len(), 12);
    assert_eq!(chain_of(&m, "sha256:b-step-11")[11], "sha256:b-layer-0");
    assert_eq!(
        chain_of(&m, "sha256:a-step-11"),
        chain_of(&a, "sha256:a-step-11")
    );
    assert_eq!(layer_blobs(&m).len(), 24);
}

#[test]
fn merging_the_same_build_again_adds_nothing() {
    let a = build("a", 5, 0);
    let m = merge(&a, &a, &MergeLimits::default(), Utc::now()).unwrap_or_default();
    assert_eq!(m, a);
    let again = merge(&a, &m, &MergeLimits::default(), Utc::now()).unwrap_or_default();
    assert_eq!(list(&again, "records").len(), 6);
    assert_eq!(list(&again, "layers").len(), 5);
}

#[test]
fn shared_layers_are_stored_once() {
    let a = build("a", 3, 0);
    let mut b = build("a", 3, 0);
    // Same layers, different step digests (another Dockerfile producing the same bytes).
    for r in b["records"].as_array_mut().into_iter().flatten() {
        if let Some(d) = r["digest"].as_str().map(|d| d.replace("a-step", "b-step")) {
            r["digest"] = json!(d);
        }
    }
    let m = merge(&a, &b, &MergeLimits::default(), Utc::now()).unwrap_or_default();
    check_links(&m);
    assert_eq!(list(&m, "layers").len(), 3);
    assert_eq!(list(&m, "records").len(), 7);
    assert_eq!(chain_of(&m, "sha256:b-step-2").len(), 3);
}

#[test]
fn old_upstream_records_and_their_layers_are_dropped() {
    let (a, old) = (build("a", 2, 0), build("old", 4, 30));
    let m = merge(&a, &old, &MergeLimits::default(), Utc::now()).unwrap_or_default();
    check_links(&m);
    assert_eq!(list(&m, "layers").len(), 2);
    assert!(layer_blobs(&m).iter().all(|b| b.contains("a-layer")));
}

#[test]
fn the_cap_keeps_the_newest_and_what_they_link_to() {
    let a = build("a", 1, 0);
    let theirs = build("t", 6, 1);
    let limits = MergeLimits {
        max_records: 1,
        ..Default::default()
    };
    let m = merge(&a, &theirs, &limits, Utc::now()).unwrap_or_default();
    check_links(&m);
    // All six result records date the same; one root is kept, with what it links to.
    let kept: Vec<_> = (0..6)
        .filter(|i| chain_of(&m, &format!("sha256:t-step-{i}")).len() == i + 1)
        .collect();
    assert!(!kept.is_empty());
    assert!(list(&m, "records").len() < 1 + 1 + 6);
}

#[test]
fn not_a_config_is_an_error() {
    assert!(merge(&json!([]), &json!({}), &MergeLimits::default(), Utc::now()).is_err());
}
