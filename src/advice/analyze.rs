//! The entry point: Dockerfile text in, findings out. Pure; the caller reads the files.

use std::collections::BTreeMap;
use std::path::Path;

use super::finding::Finding;
use super::install::ContextFiles;
use super::rules;
use crate::dockerfile::{parse, stages};

/// What the caller knows about the build besides the Dockerfile text.
#[derive(Debug, Clone, Default)]
pub struct BuildFacts {
    /// Names of the files at the top of the build context (empty: unknown).
    pub files: ContextFiles,
    /// `--build-arg` values, used to resolve `FROM $IMAGE`.
    pub build_args: BTreeMap<String, String>,
}

impl BuildFacts {
    /// Read the names at the top of `dir`. A directory that cannot be read gives an empty
    /// (unknown) set: advice then names the default manifests.
    pub fn from_dir(dir: &Path) -> Self {
        let files = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        Self {
            files,
            build_args: BTreeMap::new(),
        }
    }
}

/// Findings for Dockerfile `text`, reported against `file`, sorted by line.
pub fn analyze(text: &str, file: &str, context: &BuildFacts) -> Vec<Finding> {
    let df = parse::parse(text);
    let stages = stages::stages(&df);
    let args = stages::global_args(&df, &context.build_args);
    let mut out = rules::context_copy(file, &stages, &context.files);
    out.extend(rules::apt_update_split(file, &stages));
    out.extend(rules::floating_base(file, &stages, &args));
    out.extend(rules::remote_add(file, &stages));
    out.sort_by_key(|f| (f.line, f.rule));
    out
}
