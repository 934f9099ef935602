//! `.dockerignore` matching with Docker's exact rules: a port of moby/patternmatcher
//! (`patternmatcher.go`), applied to the exclude and include patterns BuildKit sends when it
//! pulls a local directory. The `ignore` crate's gitignore semantics differ (unanchored
//! patterns, `**`, negation), so builds would see a different context than `docker build`
//! does.

use regex_lite::Regex;

/// Why a `.dockerignore` pattern cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    #[error("illegal exclusion pattern: \"!\"")]
    LoneBang,
    #[error("invalid pattern {pattern:?}: {reason}")]
    Invalid { pattern: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchType {
    Exact,
    Prefix,
    Suffix,
    Regexp,
}

#[derive(Debug)]
struct Pattern {
    cleaned: String,
    exclusion: bool,
    kind: MatchType,
    regexp: Option<Regex>,
}

/// An ordered list of patterns; the last one that matches a path decides.
#[derive(Debug, Default)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
}

impl PatternMatcher {
    /// Compile patterns as moby's `patternmatcher.New` does.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        let mut out = Vec::with_capacity(patterns.len());
        for raw in patterns {
            let trimmed = raw.as_ref().trim();
            if trimmed.is_empty() {
                continue;
            }
            let mut p = clean(trimmed);
            let exclusion = p.starts_with('!');
            if exclusion {
                if p.len() == 1 {
                    return Err(PatternError::LoneBang);
                }
                p.remove(0);
            }
            out.push(compile(p, exclusion)?);
        }
        Ok(Self { patterns: out })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether some `!pattern` may re-include a path under an excluded directory.
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether `file` (slash-separated, relative to the context) is excluded: it or one of
    /// its parent directories matches, and no later exclusion pattern re-includes it.
    pub fn matches_or_parent_matches(&self, file: &str) -> bool {
        let file = clean(file);
        if file == "." {
            return false;
        }
        let parent = match file.rfind('/') {
            Some(0) => "/".to_owned(),
            Some(i) => file[..i].to_owned(),
            None => ".".to_owned(),
        };
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            let mut hit = pattern.matches(&file);
            if !hit && parent != "." {
                hit = (1..=parent_dirs.len()).any(|i| pattern.matches(&parent_dirs[..i].join("/")));
            }
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match self.kind {
            MatchType::Exact => path == self.cleaned,
            MatchType::Prefix => path.starts_with(&self.cleaned[..self.cleaned.len() - 2]),
            MatchType::Suffix => {
                let suffix = &self.cleaned[2..];
                path.ends_with(suffix) || (suffix.starts_with('/') && path == &suffix[1..])
            }
            MatchType::Regexp => self.regexp.as_ref().is_some_and(|re| re.is_match(path)),
        }
    }
}

/// Translate one cleaned pattern into a match type (and a regex when needed), exactly as
/// `Pattern.compile` does.
fn compile(cleaned: String, exclusion: bool) -> Result<Pattern, PatternError> {
    let chars: Vec<char> = cleaned.chars().collect();
    let mut re = String::from("^");
    let mut kind = MatchType::Exact;
    let mut i = 0;
    let mut index = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                // Treat `**/` as `**`.
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                kind = double_star(&mut re, kind, i >= chars.len(), index == 0);
            }
            '*' => {
                re.push_str("[^/]*");
                kind = MatchType::Regexp;
            }
            '?' => {
                re.push_str("[^/]");
                kind = MatchType::Regexp;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(ch);
            }
            '\\' => {
                if let Some(&next) = chars.get(i) {
                    i += 1;
                    re.push('\\');
                    re.push(next);
                    kind = MatchType::Regexp;
                } else {
                    re.push_str("\\\\");
                }
            }
            '[' | ']' => {
                re.push(ch);
                kind = MatchType::Regexp;
            }
            _ => re.push(ch),
        }
        index += 1;
    }
    let regexp = if kind == MatchType::Regexp {
        re.push('$');
        Some(Regex::new(&re).map_err(|e| PatternError::Invalid {
            pattern: cleaned.clone(),
            reason: e.to_string(),
        })?)
    } else {
        None
    };
    Ok(Pattern {
        cleaned,
        exclusion,
        kind,
        regexp,
    })
}

/// `**`: at the end it accepts everything (like .gitignore); elsewhere any number of
/// directories; at the start it makes a suffix match.
fn double_star(re: &mut String, kind: MatchType, at_end: bool, at_start: bool) -> MatchType {
    let kind = match (at_end, kind) {
        (true, MatchType::Exact) => MatchType::Prefix,
        (true, _) => {
            re.push_str(".*");
            MatchType::Regexp
        }
        (false, _) => {
            re.push_str("(.*/)?");
            MatchType::Regexp
        }
    };
    if at_start { MatchType::Suffix } else { kind }
}

/// Go's `path.Clean`: the shortest equivalent path (no `.`, no `x/..`, no doubled `/`).
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

#[cfg(test)]
#[path = "dockerignore_tests.rs"]
mod tests;
