//! What BuildKit's importer needs of a cache config, checked on its own terms.
//!
//! A layer means the chain of blobs from the bottom up to it, and a record means its digest
//! plus what its inputs mean, recursively: neither depends on where they sit in a config.
//! [`Meanings`] computes both for a config, refusing what BuildKit's importer refuses
//! (an index out of range, a loop), so two configs can be compared by meaning: a merge
//! keeps a record when the merged config has a record of the same meaning with every
//! result chain the original had.

use std::collections::{BTreeSet, HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::{CacheConfig, ConfigError};

/// A record's meaning: its digest and its inputs' meanings, hashed.
pub type RecordMeaning = [u8; 32];

/// A result as BuildKit imports it: the blobs, bottom first.
pub type Chain = Vec<String>;

/// The meaning of every layer and record of one config.
#[derive(Debug)]
pub struct Meanings {
    /// Per layer: its chain.
    pub layers: Vec<Chain>,
    /// Per record: its meaning, and its results as chains.
    pub records: Vec<(RecordMeaning, BTreeSet<Chain>)>,
}

fn invalid(what: String) -> ConfigError {
    ConfigError::Invalid(what)
}

impl Meanings {
    /// Read `config` as BuildKit's importer does; an error is what would make it refuse the
    /// whole config.
    pub fn of(config: &CacheConfig) -> Result<Self, ConfigError> {
        let layers = layer_chains(config)?;
        let mut records: Vec<Option<RecordMeaning>> = vec![None; config.records.len()];
        for i in 0..config.records.len() {
            record_meaning(config, i, &mut records, &mut HashSet::new())?;
        }
        let mut out = Vec::with_capacity(records.len());
        for (i, meaning) in records.into_iter().enumerate() {
            let meaning = meaning.ok_or_else(|| invalid(format!("record {i} has no meaning")))?;
            out.push((meaning, results(config, i, &layers)?));
        }
        Ok(Self {
            layers,
            records: out,
        })
    }

    /// Records of this config (those `which` names, all when `None`) that `merged` does not
    /// keep: no record of the same meaning, or one without all of its result chains.
    pub fn lost_in(&self, which: Option<&HashSet<usize>>, merged: &Meanings) -> Vec<usize> {
        let mut kept: HashMap<&RecordMeaning, BTreeSet<&Chain>> = HashMap::new();
        for (meaning, results) in &merged.records {
            kept.entry(meaning).or_default().extend(results);
        }
        self.records
            .iter()
            .enumerate()
            .filter(|(i, _)| which.is_none_or(|w| w.contains(i)))
            .filter(|(_, (meaning, results))| {
                kept.get(meaning)
                    .is_none_or(|have| !results.iter().all(|r| have.contains(r)))
            })
            .map(|(i, _)| i)
            .collect()
    }
}

/// The chain of every layer, refusing out-of-range parents and loops.
fn layer_chains(config: &CacheConfig) -> Result<Vec<Chain>, ConfigError> {
    let n = config.layers.len();
    let mut chains: Vec<Option<Chain>> = vec![None; n];
    for start in 0..n {
        // Walk down to a layer whose chain is known (or the bottom), then fill in upwards.
        let mut path = Vec::new();
        let mut seen = HashSet::new();
        let mut cur = Some(start);
        while let Some(i) = cur {
            if chains[i].is_some() {
                break;
            }
            if !seen.insert(i) {
                return Err(invalid(format!("layer {start}: its parents loop")));
            }
            path.push(i);
            cur = match config.layers[i].parent {
                Some(p) if p >= n => {
                    return Err(invalid(format!("layer {i}: parent {p} of {n} layers")));
                }
                p => p,
            };
        }
        let mut below: Chain = cur.and_then(|i| chains[i].clone()).unwrap_or_default();
        for i in path.into_iter().rev() {
            below.push(config.layers[i].blob.clone());
            chains[i] = Some(below.clone());
        }
    }
    Ok(chains.into_iter().map(Option::unwrap_or_default).collect())
}

fn record_meaning(
    config: &CacheConfig,
    i: usize,
    memo: &mut Vec<Option<RecordMeaning>>,
    visiting: &mut HashSet<usize>,
) -> Result<RecordMeaning, ConfigError> {
    let n = config.records.len();
    let Some(record) = config.records.get(i) else {
        return Err(invalid(format!("link {i} of {n} records")));
    };
    if let Some(m) = memo[i] {
        return Ok(m);
    }
    if !visiting.insert(i) {
        return Err(invalid(format!("record {i}: its inputs loop")));
    }
    let mut h = Sha256::new();
    h.update(record.digest.as_bytes());
    for group in &record.inputs {
        if group.is_empty() {
            return Err(invalid(format!("record {i}: an empty input")));
        }
        // Inputs of one group are alternatives: their order means nothing.
        let mut alternatives = BTreeSet::new();
        for input in group {
            let linked = record_meaning(config, input.link, memo, visiting)?;
            alternatives.insert((input.selector.as_str(), linked));
        }
        h.update(b"[");
        for (selector, linked) in alternatives {
            h.update(selector.len().to_le_bytes());
            h.update(selector.as_bytes());
            h.update(linked);
        }
        h.update(b"]");
    }
    visiting.remove(&i);
    let m: RecordMeaning = h.finalize().into();
    memo[i] = Some(m);
    Ok(m)
}

fn results(
    config: &CacheConfig,
    i: usize,
    chains: &[Chain],
) -> Result<BTreeSet<Chain>, ConfigError> {
    let record = &config.records[i];
    let layer = |l: usize| {
        chains
            .get(l)
            .ok_or_else(|| invalid(format!("record {i}: layer {l} of {}", chains.len())))
    };
    let mut out = BTreeSet::new();
    for r in &record.results {
        out.insert(layer(r.layer)?.clone());
    }
    for c in &record.chained_results {
        let mut blobs = Chain::new();
        for l in &c.layers {
            // A chained result names each layer's blob alone, not its parents.
            blobs.push(layer(*l).map(|_| config.layers[*l].blob.clone())?);
        }
        out.insert(blobs);
    }
    Ok(out)
}

/// Why `merged` may not replace `sources`: it is not importable, a layer's chain is one no
/// source has, or a record a source keeps is lost. `None` when it keeps every chain.
pub fn merge_fault(
    sources: &[(&CacheConfig, Option<&HashSet<usize>>)],
    merged: &CacheConfig,
) -> Option<String> {
    let merged_meanings = match Meanings::of(merged) {
        Ok(m) => m,
        Err(e) => return Some(format!("the merged index is not importable: {e}")),
    };
    let mut known: HashSet<Chain> = HashSet::new();
    for (source, which) in sources {
        let meanings = match Meanings::of(source) {
            Ok(m) => m,
            Err(e) => return Some(format!("an index merged in is not importable: {e}")),
        };
        let lost = meanings.lost_in(*which, &merged_meanings);
        if let Some(first) = lost.first() {
            return Some(format!(
                "{} records lost or changed (the first: {})",
                lost.len(),
                source.records[*first].digest
            ));
        }
        known.extend(meanings.layers);
    }
    merged_meanings
        .layers
        .iter()
        .position(|c| !known.contains(c))
        .map(|i| {
            format!(
                "layer {i} ({}) sits on a chain no index had",
                merged.layers[i].blob
            )
        })
}

/// Whether `have` already holds everything `wanted` holds: every record by meaning, with
/// every result chain. An index that holds a build's own needs no rewrite.
pub fn covers(have: &CacheConfig, wanted: &CacheConfig) -> bool {
    match (Meanings::of(have), Meanings::of(wanted)) {
        (Ok(have), Ok(wanted)) => wanted.lost_in(None, &have).is_empty(),
        _ => false,
    }
}
