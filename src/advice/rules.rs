//! The four checks. Each takes the parsed stages and returns findings; none reads files.

use std::collections::{BTreeMap, BTreeSet};

use super::finding::{Finding, Rule};
use super::install::{self, ContextFiles, Ecosystem, Install, Reads};
use super::shell;
use crate::dockerfile::Instruction;
use crate::dockerfile::stages::{self, Stage};

/// Installs found in one `RUN`.
fn installs(inst: &Instruction, ctx: &ContextFiles) -> Vec<Install> {
    shell::simple_commands(&shell::run_command(inst))
        .iter()
        .filter_map(|words| install::detect(words, ctx))
        .collect()
}

/// `COPY`/`ADD` of the whole context (`.`, `./`, `*`), not from another stage or image.
fn copies_whole_context(inst: &Instruction) -> bool {
    if !matches!(inst.keyword.as_str(), "COPY" | "ADD") || inst.flag("from").is_some() {
        return false;
    }
    let (_, rest) = inst.flags_and_rest();
    let words: Vec<String> = match serde_json::from_str::<Vec<String>>(rest) {
        Ok(w) if rest.starts_with('[') => w,
        _ => rest.split_whitespace().map(str::to_owned).collect(),
    };
    let Some((_, sources)) = words.split_last() else {
        return false;
    };
    sources
        .iter()
        .any(|s| matches!(s.as_str(), "." | "./" | "*" | "./*" | "./."))
}

/// Whole-context copies followed, in the same stage, by an install that could have run
/// before them.
pub fn context_copy(file: &str, stages: &[Stage<'_>], ctx: &ContextFiles) -> Vec<Finding> {
    let mut done: Vec<BTreeSet<Ecosystem>> = Vec::new();
    let mut out = Vec::new();
    for stage in stages {
        // Ecosystems whose install already ran in this stage (or the stage it starts from),
        // so a later build step of the same tool is not a dependency install any more.
        let mut ran = stage
            .parent
            .and_then(|p| done.get(p))
            .cloned()
            .unwrap_or_default();
        let mut open_copy: Vec<&Instruction> = Vec::new();
        let mut flagged: BTreeSet<usize> = BTreeSet::new();
        for inst in &stage.body {
            if copies_whole_context(inst) {
                open_copy.push(inst);
                continue;
            }
            if inst.keyword != "RUN" {
                continue;
            }
            for found in installs(inst, ctx) {
                if ran.contains(&found.ecosystem) && found.reads != Reads::Named {
                    continue;
                }
                for copy in &open_copy {
                    if flagged.insert(copy.line) {
                        out.push(context_copy_finding(file, copy, inst, &found));
                    }
                }
                // Only a manifest install satisfies later builds of the same tool; a
                // named install (`cargo install cargo-chef`) does not.
                if found.reads != Reads::Named {
                    ran.insert(found.ecosystem);
                }
            }
        }
        done.push(ran);
    }
    out
}

fn context_copy_finding(
    file: &str,
    copy: &Instruction,
    run: &Instruction,
    found: &Install,
) -> Finding {
    let what = format!("{} {}", copy.keyword, copy.flags_and_rest().1);
    let message = match &found.reads {
        Reads::Manifests(files) => format!(
            "`{what}` copies the whole build context before `{}` (line {}), so a change to any file re-runs the install; copy {} first, run the install, then copy the rest",
            found.command,
            run.line,
            join_names(files)
        ),
        Reads::Named => format!(
            "`{what}` copies the whole build context before `{}` (line {}), which does not need it; move that RUN above the copy so a source change does not re-run it",
            found.command, run.line
        ),
    };
    Finding {
        file: file.to_owned(),
        line: copy.line,
        rule: Rule::ContextCopy,
        message,
    }
}

fn join_names(files: &[String]) -> String {
    let quoted: Vec<String> = files.iter().map(|f| format!("`{f}`")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => "the manifests".to_owned(),
    }
}

fn apt_words(inst: &Instruction) -> (bool, bool) {
    let cmds = shell::simple_commands(&shell::run_command(inst));
    let has = |sub: &str| {
        cmds.iter().any(|w| {
            matches!(w[0].rsplit('/').next(), Some("apt-get" | "apt"))
                && w[1..]
                    .iter()
                    .find(|a| !a.starts_with('-'))
                    .map(String::as_str)
                    == Some(sub)
        })
    };
    (has("update"), has("install"))
}

/// `apt-get update` alone in a `RUN`, with an install in a later `RUN` of the stage: the
/// update layer stays cached while the install changes, so the install reads stale lists.
pub fn apt_update_split(file: &str, stages: &[Stage<'_>]) -> Vec<Finding> {
    let mut out = Vec::new();
    // A lone update still pending at the end of each stage: a stage built `FROM` it
    // inherits the cached update layer.
    let mut pending: Vec<Option<&Instruction>> = Vec::new();
    let mut flagged: BTreeSet<usize> = BTreeSet::new();
    for stage in stages {
        let mut lone_update = stage.parent.and_then(|p| pending.get(p).copied().flatten());
        for inst in stage.body.iter().filter(|i| i.keyword == "RUN") {
            match (apt_words(inst), lone_update) {
                ((true, false), _) => lone_update = Some(inst),
                ((false, true), Some(update)) => {
                    if flagged.insert(update.line) {
                        out.push(apt_finding(file, update, inst));
                    }
                    lone_update = None;
                }
                _ => {}
            }
        }
        pending.push(lone_update);
    }
    out
}

fn apt_finding(file: &str, update: &Instruction, install: &Instruction) -> Finding {
    Finding {
        file: file.to_owned(),
        line: update.line,
        rule: Rule::AptUpdateSplit,
        message: format!(
            "`apt-get update` runs in its own RUN but the install is at line {}: the cached update layer is reused when the package list changes, so the install can fetch stale or missing versions; run `apt-get update && apt-get install ...` in one RUN",
            install.line
        ),
    }
}

/// Base images that float: `:latest` or no tag, unless pinned by digest.
pub fn floating_base(
    file: &str,
    stages: &[Stage<'_>],
    args: &BTreeMap<String, String>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        let Some(image) = stages::expand(&stage.base, args) else {
            continue;
        };
        let lower = image.to_ascii_lowercase();
        let is_stage = stages[..i]
            .iter()
            .any(|s| s.name.as_deref() == Some(lower.as_str()));
        if image.is_empty() || lower == "scratch" || is_stage || image.contains('@') {
            continue;
        }
        let last = image.rsplit('/').next().unwrap_or(&image);
        let why = match last.split_once(':') {
            Some((_, "latest")) => "uses the floating tag `:latest`",
            Some(_) => continue,
            None => "has no tag, which means `:latest`",
        };
        let name = image.strip_suffix(":latest").unwrap_or(&image);
        out.push(Finding {
            file: file.to_owned(),
            line: stage.from.line,
            rule: Rule::FloatingBase,
            message: format!(
                "base image `{image}` {why}: when the tag moves, every layer after this FROM is rebuilt and the cache from earlier builds no longer matches; pin a version tag (`{name}:<version>`) or a digest (`{name}@sha256:...`)"
            ),
        });
    }
    out
}

/// `ADD <url>` without `--checksum`: BuildKit has to download the file on every build to
/// learn whether the layer can be reused.
pub fn remote_add(file: &str, stages: &[Stage<'_>]) -> Vec<Finding> {
    let mut out = Vec::new();
    for inst in stages.iter().flat_map(|s| s.body.iter()) {
        if inst.keyword != "ADD" || inst.flag("checksum").is_some() {
            continue;
        }
        let (_, rest) = inst.flags_and_rest();
        let words: Vec<&str> = rest.split_whitespace().collect();
        let Some((_, sources)) = words.split_last() else {
            continue;
        };
        for src in sources.iter().filter(|s| is_remote(s)) {
            out.push(Finding {
                file: file.to_owned(),
                line: inst.line,
                rule: Rule::RemoteAdd,
                message: format!(
                    "`ADD {src}` fetches a remote file at build time: the layer is reused only after downloading it again to compare, and it changes whenever the remote does; add `--checksum=sha256:...` or download a pinned version in a RUN"
                ),
            });
        }
    }
    out
}

fn is_remote(src: &str) -> bool {
    let src = src.trim_matches('"');
    ["http://", "https://", "git@", "git://", "ssh://"]
        .iter()
        .any(|p| src.starts_with(p))
}
