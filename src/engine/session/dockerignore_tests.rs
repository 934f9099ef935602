//! The table from moby/patternmatcher `TestMatches`, plus `ReadAll` and clean cases.

#![allow(clippy::unwrap_used)] // tests may unwrap

use super::*;

fn hit(patterns: &[&str], path: &str) -> bool {
    PatternMatcher::new(patterns)
        .unwrap()
        .matches_or_parent_matches(path)
}

#[test]
fn single_patterns_match_like_moby() {
    let table: &[(&str, &str, bool)] = &[
        ("**", "file", true),
        ("**", "file/", true),
        ("**/", "file", true),
        ("**/", "file/", true),
        ("**", "/", true),
        ("**/", "/", true),
        ("**", "dir/file", true),
        ("**/", "dir/file", true),
        ("**", "dir/file/", true),
        ("**/", "dir/file/", true),
        ("**/**", "dir/file", true),
        ("**/**", "dir/file/", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/file/", true),
        ("dir/**", "dir/dir2/file", true),
        ("dir/**", "dir/dir2/file/", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/*", "dir/dir2/file/", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file/", true),
        ("**file", "file", true),
        ("**file", "dir/file", true),
        ("**/file", "dir/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true),
        ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("a\\\\", "a\\", true),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a(b)c/def", "a(b)c/xyz", false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        ("a\\*b", "a*b", true),
        // A pattern matches a directory, so everything under it is excluded too.
        ("node_modules", "node_modules/x/index.js", true),
        ("*.md", "docs/readme.md", false),
        ("*/*.md", "docs/readme.md", true),
    ];
    for (pattern, path, want) in table {
        assert_eq!(
            hit(&[pattern], path),
            *want,
            "pattern {pattern:?} path {path:?}"
        );
    }
}

#[test]
fn negations_and_order_decide() {
    let table: &[(&[&str], &str, bool)] = &[
        (&["**", "!util/docker/web"], "util/docker/web/foo", false),
        (
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo",
            true,
        ),
        (&["**", "!dist/*.whl"], "dist/p-1.0-py3-none-any.whl", false),
        (&["*.log", "!keep.log"], "keep.log", false),
        (&["*.log", "!keep.log"], "other.log", true),
        (&["!keep.log", "*.log"], "keep.log", true),
        (&["docs", "!docs/README.md"], "docs/README.md", false),
        (&["docs", "!docs/README.md"], "docs/other.md", true),
    ];
    for (patterns, path, want) in table {
        assert_eq!(
            hit(patterns, path),
            *want,
            "patterns {patterns:?} path {path:?}"
        );
    }
}

#[test]
fn lone_bang_is_an_error() {
    assert!(matches!(
        PatternMatcher::new(&["!"]),
        Err(PatternError::LoneBang)
    ));
}

#[test]
fn clean_follows_go() {
    for (input, want) in [
        ("", "."),
        ("a/./b", "a/b"),
        ("a/../..", ".."),
        ("/../a", "/a"),
        ("a//b/", "a/b"),
        ("./", "."),
    ] {
        assert_eq!(clean(input), want, "{input:?}");
    }
}
