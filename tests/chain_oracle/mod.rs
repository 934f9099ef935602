//! The oracle for index merges, on the raw JSON with Go's rules spelled out here again
//! (independent of `layercache::cache_config`): what each record's results resolve to.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// For each record digest, the layer chains (blobs, bottom first) its results resolve to.
pub fn chains_by_digest(v: &Value) -> BTreeMap<String, BTreeSet<Vec<String>>> {
    let layers = v["layers"].as_array().cloned().unwrap_or_default();
    let chain = |mut i: i64| {
        let mut out = Vec::new();
        while i >= 0 && out.len() <= layers.len() {
            let l = &layers[i as usize];
            out.push(l["blob"].as_str().unwrap_or("").to_owned());
            // Go's omitempty: no `parent` key is layer 0.
            i = l.get("parent").map_or(0, |p| p.as_i64().unwrap_or(-1));
        }
        out.reverse();
        out
    };
    let mut out: BTreeMap<String, BTreeSet<Vec<String>>> = BTreeMap::new();
    for r in v["records"].as_array().into_iter().flatten() {
        let d = r["digest"].as_str().unwrap_or("").to_owned();
        let e = out.entry(d).or_default();
        for res in r["layers"].as_array().into_iter().flatten() {
            e.insert(chain(res["layer"].as_i64().unwrap_or(0)));
        }
    }
    out
}

/// Every record of `source` resolves in `merged` to every chain it resolved to.
pub fn assert_keeps(source: &Value, merged: &Value) {
    let have = chains_by_digest(merged);
    for (digest, chains) in chains_by_digest(source) {
        let got = have.get(&digest).cloned().unwrap_or_default();
        assert!(
            chains.is_subset(&got),
            "{digest}: {chains:?} became {got:?}\nsource {source}\nmerged {merged}"
        );
    }
}
