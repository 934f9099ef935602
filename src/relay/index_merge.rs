//! Merging BuildKit cache configs (docs/gha-cache-layout.md § Index body): the index this
//! build wrote plus the one already upstream for the scope, so parallel writers to one
//! scope each keep their build importable (docs/relay.md § Index merge).
//!
//! Layers are deduplicated by blob digest and records re-indexed. A record of the upstream
//! index is kept when it holds a result created within `max_age`, or when a kept record
//! links to it; at most `max_records` such result records, newest first. A record equal to
//! one already kept (same digest, same result blobs, same inputs by digest) is merged into
//! it. Everything else upstream is dropped, and with it the layers only it used.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// How much of the upstream index a merge keeps.
#[derive(Debug, Clone)]
pub struct MergeLimits {
    pub max_age: chrono::Duration,
    pub max_records: usize,
}

impl Default for MergeLimits {
    fn default() -> Self {
        Self {
            max_age: chrono::Duration::days(7),
            max_records: 2000,
        }
    }
}

/// A config that is not BuildKit's shape.
#[derive(Debug, thiserror::Error)]
#[error("failed to read the cache index: {0}")]
pub struct MergeError(String);

fn list<'a>(v: &'a Value, field: &str) -> &'a [Value] {
    v.get(field)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn index_of(v: &Value) -> Option<usize> {
    v.as_i64().and_then(|i| usize::try_from(i).ok())
}

/// The layer blob digests a config names (what must be upstream before it is written).
pub fn layer_blobs(config: &Value) -> Vec<String> {
    list(config, "layers")
        .iter()
        .filter_map(|l| l.get("blob").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// The union of `ours` and `theirs` (see the module docs). `ours` is kept whole.
pub fn merge(
    ours: &Value,
    theirs: &Value,
    limits: &MergeLimits,
    now: DateTime<Utc>,
) -> Result<Value, MergeError> {
    if !ours.is_object() || !theirs.is_object() {
        return Err(MergeError("a cache config is a JSON object".to_owned()));
    }
    let kept = kept_records(theirs, limits, now);
    let mut out = Merged::default();
    out.add(ours, None);
    out.add(theirs, Some(&kept));
    let mut merged = ours.clone();
    merged["layers"] = Value::Array(out.layers);
    merged["records"] = Value::Array(out.records);
    Ok(merged)
}

/// Newest `createdAt` among a record's results and chains.
fn newest(record: &Value) -> Option<DateTime<Utc>> {
    list(record, "layers")
        .iter()
        .chain(list(record, "chains"))
        .filter_map(|r| r.get("createdAt").and_then(Value::as_str))
        .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .max()
}

/// Upstream records to keep: recent result records (newest first, capped) and every
/// record they link to.
fn kept_records(theirs: &Value, limits: &MergeLimits, now: DateTime<Utc>) -> HashSet<usize> {
    let records = list(theirs, "records");
    let mut roots: Vec<(DateTime<Utc>, usize)> = records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| newest(r).map(|t| (t, i)))
        .filter(|(t, _)| now - *t <= limits.max_age)
        .collect();
    roots.sort_by_key(|r| std::cmp::Reverse(r.0));
    roots.truncate(limits.max_records);
    let mut kept = HashSet::new();
    let mut todo: Vec<usize> = roots.into_iter().map(|(_, i)| i).collect();
    while let Some(i) = todo.pop() {
        if i >= records.len() || !kept.insert(i) {
            continue;
        }
        for group in list(&records[i], "inputs") {
            for input in group.as_array().map_or(&[][..], Vec::as_slice) {
                if let Some(l) = input.get("link").and_then(index_of) {
                    todo.push(l);
                }
            }
        }
    }
    kept
}

/// The config being built: layers by blob, records by signature.
#[derive(Default)]
struct Merged {
    layers: Vec<Value>,
    by_blob: HashMap<String, usize>,
    records: Vec<Value>,
    by_signature: HashMap<String, usize>,
}

impl Merged {
    /// Add `config`'s layers used by the records in `only` (all when `None`), and those
    /// records, re-indexed.
    fn add(&mut self, config: &Value, only: Option<&HashSet<usize>>) {
        let layers = list(config, "layers");
        let records = list(config, "records");
        let wanted = |i: usize| only.is_none_or(|k| k.contains(&i));
        let mut used = BTreeSet::new();
        for (_, r) in records.iter().enumerate().filter(|(i, _)| wanted(*i)) {
            for res in list(r, "layers") {
                used.extend(res.get("layer").and_then(index_of));
            }
            for ch in list(r, "chains") {
                used.extend(list(ch, "layers").iter().filter_map(index_of));
            }
        }
        // A layer needs its parents.
        let mut todo: Vec<usize> = used.iter().copied().collect();
        while let Some(i) = todo.pop() {
            if let Some(p) = layers
                .get(i)
                .and_then(|l| l.get("parent"))
                .and_then(index_of)
                && used.insert(p)
            {
                todo.push(p);
            }
        }
        let mut layer_map = HashMap::new();
        for i in used.iter().copied().filter(|i| *i < layers.len()) {
            layer_map.insert(i, self.layer(&layers[i]));
        }
        for (i, mapped) in &layer_map {
            let parent = layers[*i].get("parent").and_then(index_of);
            let new_parent = parent
                .and_then(|p| layer_map.get(&p))
                .map_or(-1, |p| *p as i64);
            if self.layers[*mapped]
                .get("parent")
                .and_then(index_of)
                .is_none()
            {
                self.layers[*mapped]["parent"] = json!(new_parent);
            }
        }
        self.add_records(records, &wanted, &layer_map);
    }

    /// The merged index of a layer, added when its blob is new.
    fn layer(&mut self, layer: &Value) -> usize {
        let blob = layer.get("blob").and_then(Value::as_str).unwrap_or("");
        if let Some(i) = self.by_blob.get(blob) {
            return *i;
        }
        let mut l = layer.clone();
        l["parent"] = json!(-1);
        self.layers.push(l);
        self.by_blob.insert(blob.to_owned(), self.layers.len() - 1);
        self.layers.len() - 1
    }

    fn add_records(
        &mut self,
        records: &[Value],
        wanted: &dyn Fn(usize) -> bool,
        layer_map: &HashMap<usize, usize>,
    ) {
        let keep: Vec<usize> = (0..records.len()).filter(|i| wanted(*i)).collect();
        let blob_of = |i: usize| {
            self.layers
                .get(i)
                .and_then(|l| l.get("blob"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        // Re-index results first; links need the final record numbers, settled below.
        let mut remapped: Vec<(usize, Value, String)> = Vec::new();
        for &i in &keep {
            let mut r = records[i].clone();
            let map = |v: &mut Value| {
                if let Some(n) = v.as_i64().and_then(|n| usize::try_from(n).ok()) {
                    *v = json!(layer_map.get(&n).copied().unwrap_or(n));
                }
            };
            if let Some(res) = r.get_mut("layers").and_then(Value::as_array_mut) {
                res.iter_mut()
                    .for_each(|x| x.get_mut("layer").into_iter().for_each(map));
            }
            if let Some(chs) = r.get_mut("chains").and_then(Value::as_array_mut) {
                for ch in chs {
                    if let Some(ls) = ch.get_mut("layers").and_then(Value::as_array_mut) {
                        ls.iter_mut().for_each(map);
                    }
                }
            }
            let sig = signature(&r, records, &blob_of);
            remapped.push((i, r, sig));
        }
        let mut record_map = HashMap::new();
        let base = self.records.len();
        let mut fresh = Vec::new();
        for (i, r, sig) in remapped {
            match self.by_signature.get(&sig) {
                Some(existing) => {
                    record_map.insert(i, *existing);
                }
                None => {
                    let n = base + fresh.len();
                    self.by_signature.insert(sig, n);
                    record_map.insert(i, n);
                    fresh.push(r);
                }
            }
        }
        for mut r in fresh {
            if let Some(groups) = r.get_mut("inputs").and_then(Value::as_array_mut) {
                for g in groups.iter_mut().filter_map(Value::as_array_mut) {
                    for input in g.iter_mut() {
                        if let Some(l) = input.get("link").and_then(index_of) {
                            input["link"] = json!(record_map.get(&l).copied().unwrap_or(l));
                        }
                    }
                }
            }
            self.records.push(r);
        }
    }
}

/// What makes two records the same: digest, result blobs, and inputs by linked digest.
fn signature(r: &Value, records: &[Value], blob_of: &dyn Fn(usize) -> String) -> String {
    let digest = r.get("digest").and_then(Value::as_str).unwrap_or("");
    let results: BTreeSet<String> = list(r, "layers")
        .iter()
        .filter_map(|x| x.get("layer").and_then(index_of))
        .map(blob_of)
        .chain(list(r, "chains").iter().map(|c| {
            list(c, "layers")
                .iter()
                .filter_map(index_of)
                .map(blob_of)
                .collect::<Vec<_>>()
                .join("+")
        }))
        .collect();
    let inputs: Vec<BTreeSet<String>> = list(r, "inputs")
        .iter()
        .map(|g| {
            g.as_array()
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .map(|i| {
                    let sel = i.get("selector").and_then(Value::as_str).unwrap_or("");
                    let link = i.get("link").and_then(index_of);
                    let d = link
                        .and_then(|l| records.get(l))
                        .and_then(|l| l.get("digest"))
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    format!("{sel}@{d}")
                })
                .collect()
        })
        .collect();
    format!("{digest}|{results:?}|{inputs:?}")
}

#[cfg(test)]
#[path = "index_merge_tests.rs"]
mod tests;
