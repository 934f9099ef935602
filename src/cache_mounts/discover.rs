//! Which `RUN --mount=type=cache` mounts a build uses, read from its Dockerfile with the
//! advice parser (continuations, heredocs and parser directives already handled there).
//!
//! Mirrors how BuildKit's Dockerfile frontend names a cache mount: the `id` option, else
//! the `target` as written; `ARG` and `ENV` values of the stage are expanded in the
//! `--mount` value first. Only stages the build target needs are read. A mount whose id
//! depends on a variable with no value, or whose stage has no image to run a copy in, is
//! listed as unidentified with the reason, never guessed.

use std::collections::{BTreeMap, BTreeSet};

use crate::action::csv::split_attrs;
use crate::dockerfile::stages::{Stage, expand, global_args, stages};
use crate::dockerfile::{Instruction, parse};

/// BuildKit's `sharing` option of a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sharing {
    #[default]
    Shared,
    Private,
    Locked,
}

/// One cache mount the build will use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheMount {
    /// BuildKit's id for it: the `id` option, else the target.
    pub id: String,
    pub target: String,
    pub sharing: Sharing,
    /// Owner and mode BuildKit gives the mount's root when it creates it.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub mode: Option<String>,
    /// The image the stage starts from (through earlier stages): the transfer builds run
    /// in it, so they need no image the build does not already use.
    pub base: String,
    /// 1-based line of the `RUN`.
    pub line: usize,
}

/// A cache mount that cannot be kept, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unidentified {
    pub line: usize,
    /// The `--mount` value as written.
    pub mount: String,
    pub reason: String,
}

/// Everything discovery found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Discovery {
    /// One per id, in Dockerfile order.
    pub mounts: Vec<CacheMount>,
    pub unidentified: Vec<Unidentified>,
}

impl Discovery {
    /// The one notice that lists every mount that will not be kept, if any.
    pub fn notice(&self) -> Option<String> {
        if self.unidentified.is_empty() {
            return None;
        }
        let items: Vec<String> = self
            .unidentified
            .iter()
            .map(|u| format!("line {}: {} ({})", u.line, u.mount, u.reason))
            .collect();
        Some(format!(
            "cache mounts not kept in the cache: {}",
            items.join("; ")
        ))
    }
}

/// What besides the text decides the mounts: build args, target, target platform
/// (`linux/amd64`, for `TARGETARCH` and friends).
#[derive(Debug, Clone, Default)]
pub struct BuildFacts<'a> {
    pub build_args: BTreeMap<String, String>,
    pub target: Option<&'a str>,
    pub platform: Option<&'a str>,
}

/// The cache mounts of Dockerfile `text` for the stages `facts.target` needs.
pub fn discover(text: &str, facts: &BuildFacts<'_>) -> Discovery {
    let df = parse(text);
    let stages = stages(&df);
    // Platform args act as global ARGs: a stage sees them once it declares `ARG TARGETARCH`.
    let mut globals = predefined(facts);
    globals.extend(global_args(&df, &facts.build_args));
    let mut out = Discovery::default();
    let mut seen = BTreeSet::new();
    for index in needed_stages(&stages, facts.target) {
        let stage = &stages[index];
        let base = stage_base(&stages, index, &globals);
        let mut vars = BTreeMap::new();
        for inst in &stage.body {
            track_vars(inst, &mut vars, &globals, &facts.build_args);
            if inst.keyword != "RUN" {
                continue;
            }
            for raw in mount_flags(inst) {
                match read_mount(raw, &vars, base.as_deref(), inst.line) {
                    Ok(Some(m)) if seen.insert(m.id.clone()) => out.mounts.push(m),
                    Ok(_) => {}
                    Err(reason) => out.unidentified.push(Unidentified {
                        line: inst.line,
                        mount: raw.to_owned(),
                        reason,
                    }),
                }
            }
        }
    }
    out
}

/// `TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT` (and the `BUILD*` ones,
/// taken as the same platform) from `facts.platform`, as BuildKit predefines them.
fn predefined(facts: &BuildFacts<'_>) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let Some(platform) = facts.platform else {
        return vars;
    };
    let mut parts = platform.split('/');
    let os = parts.next().unwrap_or_default();
    let arch = parts.next().unwrap_or_default();
    let variant = parts.next().unwrap_or_default();
    for prefix in ["TARGET", "BUILD"] {
        vars.insert(format!("{prefix}PLATFORM"), platform.to_owned());
        vars.insert(format!("{prefix}OS"), os.to_owned());
        vars.insert(format!("{prefix}ARCH"), arch.to_owned());
        vars.insert(format!("{prefix}VARIANT"), variant.to_owned());
    }
    vars
}

/// Update the stage's variables for `ARG` and `ENV`. A stage `ARG` takes the build arg,
/// else its default, else the global default of the same name (BuildKit's rule).
fn track_vars(
    inst: &Instruction,
    vars: &mut BTreeMap<String, String>,
    globals: &BTreeMap<String, String>,
    build_args: &BTreeMap<String, String>,
) {
    match inst.keyword.as_str() {
        "ARG" => {
            for word in inst.args.split_whitespace() {
                let (name, default) = match word.split_once('=') {
                    Some((n, d)) => (n, Some(unquote(d))),
                    None => (word, None),
                };
                let value = build_args
                    .get(name)
                    .cloned()
                    .or(default)
                    .or_else(|| globals.get(name).cloned())
                    .or_else(|| vars.get(name).cloned());
                match value {
                    Some(v) => vars.insert(name.to_owned(), v),
                    None => vars.remove(name),
                };
            }
        }
        "ENV" => {
            let args = inst.args.trim();
            if args.contains('=') {
                for word in args.split_whitespace() {
                    if let Some((k, v)) = word.split_once('=') {
                        let v = expand(&unquote(v), vars).unwrap_or_default();
                        vars.insert(k.to_owned(), v);
                    }
                }
            } else if let Some((k, v)) = args.split_once(char::is_whitespace) {
                let v = expand(&unquote(v.trim()), vars).unwrap_or_default();
                vars.insert(k.to_owned(), v);
            }
        }
        _ => {}
    }
}

fn unquote(v: &str) -> String {
    v.trim_matches(|c| c == '"' || c == '\'').to_owned()
}

/// The values of a `RUN`'s `--mount=` flags.
fn mount_flags(inst: &Instruction) -> Vec<&str> {
    let (flags, _) = inst.flags_and_rest();
    flags
        .into_iter()
        .filter_map(|f| f.strip_prefix("--mount="))
        .collect()
}

/// A `--mount` value as a cache mount; `Ok(None)` for other mount types.
fn read_mount(
    raw: &str,
    vars: &BTreeMap<String, String>,
    base: Option<&str>,
    line: usize,
) -> Result<Option<CacheMount>, String> {
    let Some(value) = expand(raw, vars) else {
        return Err("it uses a variable with no value here".to_owned());
    };
    let attrs = split_attrs(&value).map_err(|e| format!("it cannot be read: {e}"))?;
    let get = |keys: &[&str]| {
        attrs
            .iter()
            .find(|a| keys.contains(&a.key.as_str()))
            .map(|a| a.value.clone().unwrap_or_default())
    };
    if get(&["type"]).as_deref() != Some("cache") {
        return Ok(None);
    }
    let Some(target) = get(&["target", "dst", "destination"]).filter(|t| !t.is_empty()) else {
        return Err("it has no target".to_owned());
    };
    if get(&["from"]).is_some() {
        return Err("it is seeded `from` another image or stage".to_owned());
    }
    let Some(base) = base else {
        return Err("its stage starts from scratch or an image named by a variable with no value, so there is no shell to copy with".to_owned());
    };
    let number = |keys: &[&str]| -> Result<Option<u32>, String> {
        get(keys)
            .map(|v| {
                v.parse::<u32>()
                    .map_err(|_| format!("{} is not a number", keys[0]))
            })
            .transpose()
    };
    let sharing = match get(&["sharing"]).as_deref() {
        None | Some("shared") => Sharing::Shared,
        Some("private") => Sharing::Private,
        Some("locked") => Sharing::Locked,
        Some(other) => return Err(format!("sharing={other} is not shared, private or locked")),
    };
    Ok(Some(CacheMount {
        id: get(&["id"])
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| target.clone()),
        target,
        sharing,
        uid: number(&["uid"])?,
        gid: number(&["gid"])?,
        mode: get(&["mode"]),
        base: base.to_owned(),
        line,
    }))
}

/// The external image stage `index` starts from, following earlier stages; `None` for
/// `scratch` or a reference that does not expand.
fn stage_base(
    stages: &[Stage<'_>],
    mut index: usize,
    globals: &BTreeMap<String, String>,
) -> Option<String> {
    // Parents are always earlier stages, so this ends.
    while let Some(parent) = stages[index].parent {
        index = parent;
    }
    let base = expand(&stages[index].base, globals)?;
    (!base.is_empty() && !base.eq_ignore_ascii_case("scratch")).then_some(base)
}

/// Indexes of the stages the target (else the last stage) needs, in Dockerfile order.
fn needed_stages(stages: &[Stage<'_>], target: Option<&str>) -> Vec<usize> {
    let lookup = |name: &str| -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| name.parse::<usize>().ok().filter(|i| *i < stages.len()))
    };
    let start = match target {
        Some(t) => lookup(t),
        None => stages.len().checked_sub(1),
    };
    let mut needed = BTreeSet::new();
    let mut todo: Vec<usize> = start.into_iter().collect();
    while let Some(i) = todo.pop() {
        if !needed.insert(i) {
            continue;
        }
        todo.extend(stages[i].parent);
        for inst in &stages[i].body {
            todo.extend(inst.flag("from").and_then(lookup));
            for raw in mount_flags(inst) {
                let from = split_attrs(raw).ok().and_then(|attrs| {
                    attrs
                        .into_iter()
                        .find(|a| a.key == "from")
                        .and_then(|a| a.value)
                });
                todo.extend(from.as_deref().and_then(lookup));
            }
        }
    }
    needed.into_iter().collect()
}

#[cfg(test)]
#[path = "discover_tests.rs"]
mod tests;
