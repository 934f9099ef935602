//! Merging BuildKit cache configs (docs/gha-cache-layout.md § Index body): the index this
//! build wrote plus the one already upstream for the scope, so parallel writers to one
//! scope each keep their build importable (docs/relay.md § Index merge).
//!
//! Ours is kept whole. A record of the upstream index is kept when it holds a result
//! created within `max_age`, or when a kept record links to it; at most `max_records` such
//! result records, newest first. Everything else upstream is dropped, and with it the
//! layers only it used.
//!
//! A layer is its chain, not its blob: two layers are one when their blob and their
//! parent's chain are the same (one diff can sit on two bases). A record is its digest and
//! its inputs' records; two that mean the same are one, with the results of both. The
//! result is checked against both sources by [`crate::cache_config::chains`] before it
//! may be written.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::cache_config::chains::merge_fault;
use crate::cache_config::{CacheConfig, CacheInput, CacheLayer, CacheRecord, ConfigError};

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

/// Why two configs were not merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the merge would break layer chains: {0}")]
    Broken(String),
}

/// The union of `ours` and `theirs` (see the module docs), checked: every record of ours
/// and every upstream record kept resolves to the same layer chains as where it came from.
pub fn merge(
    ours: &CacheConfig,
    theirs: &CacheConfig,
    limits: &MergeLimits,
    now: DateTime<Utc>,
) -> Result<CacheConfig, MergeError> {
    let kept = kept_records(theirs, limits, now);
    let mut out = Merged::default();
    out.add(ours, None)?;
    out.add(theirs, Some(&kept))?;
    let merged = CacheConfig {
        layers: out.layers,
        records: out.records,
        extra: ours.extra.clone(),
    };
    match merge_fault(&[(ours, None), (theirs, Some(&kept))], &merged) {
        None => Ok(merged),
        Some(fault) => Err(MergeError::Broken(fault)),
    }
}

/// Upstream records to keep: recent result records (newest first, capped) and every
/// record they link to.
fn kept_records(theirs: &CacheConfig, limits: &MergeLimits, now: DateTime<Utc>) -> HashSet<usize> {
    let records = &theirs.records;
    let mut roots: Vec<(DateTime<Utc>, usize)> = records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.newest_result().map(|t| (t, i)))
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
        todo.extend(records[i].inputs.iter().flatten().map(|input| input.link));
    }
    kept
}

/// A record's identity in the merged config: its digest and its inputs, each group's
/// alternatives as merged record numbers, sorted.
type RecordKey = (String, Vec<Vec<CacheInput>>);

/// The config being built: layers by (merged parent, blob), records by [`RecordKey`].
#[derive(Default)]
struct Merged {
    layers: Vec<CacheLayer>,
    layer_ids: HashMap<(Option<usize>, String), usize>,
    records: Vec<CacheRecord>,
    record_ids: HashMap<RecordKey, usize>,
}

/// Merged numbers of one source's layers and records, filled as they are added.
struct Numbering<'a> {
    config: &'a CacheConfig,
    layers: Vec<Option<usize>>,
    records: Vec<Option<usize>>,
}

fn invalid(what: String) -> MergeError {
    MergeError::Config(ConfigError::Invalid(what))
}

impl Merged {
    /// Add `config`'s records in `only` (all when `None`), with the records they link to
    /// and the layers their results need.
    fn add(
        &mut self,
        config: &CacheConfig,
        only: Option<&HashSet<usize>>,
    ) -> Result<(), MergeError> {
        let mut n = Numbering {
            config,
            layers: vec![None; config.layers.len()],
            records: vec![None; config.records.len()],
        };
        if only.is_none() {
            // Ours keeps its layers even where no record names them.
            for i in 0..config.layers.len() {
                self.layer(&mut n, i)?;
            }
        }
        for i in (0..config.records.len()).filter(|i| only.is_none_or(|k| k.contains(i))) {
            self.record(&mut n, i, &mut HashSet::new())?;
        }
        Ok(())
    }

    /// The merged number of layer `i` of the source, adding it (and its parents) if new.
    fn layer(&mut self, n: &mut Numbering, i: usize) -> Result<usize, MergeError> {
        // Walk down to a layer already numbered (or the bottom), then number upwards.
        let mut path = Vec::new();
        let mut cur = Some(i);
        while let Some(l) = cur {
            if n.layers.get(l).copied().flatten().is_some() {
                break;
            }
            let layer = n
                .config
                .layers
                .get(l)
                .ok_or_else(|| invalid(format!("layer {l} of {}", n.config.layers.len())))?;
            if path.contains(&l) {
                return Err(invalid(format!("layer {i}: its parents loop")));
            }
            path.push(l);
            cur = layer.parent;
        }
        let mut parent = cur.and_then(|l| n.layers[l]);
        for l in path.into_iter().rev() {
            let layer = &n.config.layers[l];
            let id = (parent, layer.blob.clone());
            let merged = match self.layer_ids.get(&id) {
                Some(m) => *m,
                None => {
                    self.layers.push(CacheLayer {
                        parent,
                        ..layer.clone()
                    });
                    self.layer_ids.insert(id, self.layers.len() - 1);
                    self.layers.len() - 1
                }
            };
            n.layers[l] = Some(merged);
            parent = Some(merged);
        }
        n.layers[i].ok_or_else(|| invalid(format!("layer {i} was not numbered")))
    }

    /// The merged number of record `i` of the source, adding it (after the records it
    /// links to) or merging its results into the record that means the same.
    fn record(
        &mut self,
        n: &mut Numbering,
        i: usize,
        visiting: &mut HashSet<usize>,
    ) -> Result<usize, MergeError> {
        if let Some(m) = n.records.get(i).copied().flatten() {
            return Ok(m);
        }
        let source =
            n.config.records.get(i).ok_or_else(|| {
                invalid(format!("link {i} of {} records", n.config.records.len()))
            })?;
        if !visiting.insert(i) {
            return Err(invalid(format!("record {i}: its inputs loop")));
        }
        let mut inputs = Vec::with_capacity(source.inputs.len());
        for group in &source.inputs {
            let mut mapped = Vec::with_capacity(group.len());
            for input in group {
                mapped.push(CacheInput {
                    selector: input.selector.clone(),
                    link: self.record(n, input.link, visiting)?,
                });
            }
            mapped.sort_by(|a, b| (a.link, &a.selector).cmp(&(b.link, &b.selector)));
            mapped.dedup();
            inputs.push(mapped);
        }
        visiting.remove(&i);
        let mut results = source.results.clone();
        for r in &mut results {
            r.layer = self.layer(n, r.layer)?;
        }
        let mut chained = source.chained_results.clone();
        for c in &mut chained {
            for l in &mut c.layers {
                *l = self.layer(n, *l)?;
            }
        }
        let key: RecordKey = (source.digest.clone(), inputs.clone());
        let merged = match self.record_ids.get(&key) {
            Some(m) => {
                let into = &mut self.records[*m];
                for r in results {
                    if !into.results.iter().any(|have| have.layer == r.layer) {
                        into.results.push(r);
                    }
                }
                for c in chained {
                    if !into
                        .chained_results
                        .iter()
                        .any(|have| have.layers == c.layers)
                    {
                        into.chained_results.push(c);
                    }
                }
                *m
            }
            None => {
                self.records.push(CacheRecord {
                    results,
                    chained_results: chained,
                    digest: source.digest.clone(),
                    inputs,
                    extra: source.extra.clone(),
                });
                self.record_ids.insert(key, self.records.len() - 1);
                self.records.len() - 1
            }
        };
        n.records[i] = Some(merged);
        Ok(merged)
    }
}
