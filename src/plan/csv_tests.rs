//! Our list splitting against build-push-action's: every row is an input as a workflow
//! writes it and the entries `Util.getList` of docker/actions-toolkit (0.101.0, with the
//! options build-push-action's `getInputs` passes for that input) returns for it. Rows
//! are the cases of the toolkit's `getInputList` tests and of build-push-action's
//! `context.test.ts`, plus edge cases of csv-parse's relaxed quoting; each expectation
//! was produced by running the toolkit itself on the input. docs/inputs.md describes the
//! rules in words.

use super::*;
use crate::action::names::INPUTS;
use InputKind::*;

type Row = (
    &'static str,
    InputKind,
    &'static str,
    Result<&'static [&'static str], ()>,
);

const ROWS: &[Row] = &[
    // util: single line
    ("tags", ListCsv, "bar", Ok(&["bar"])),
    // util: multiline
    ("tags", ListCsv, "bar\nbaz", Ok(&["bar", "baz"])),
    // util: empty lines
    ("tags", ListCsv, "bar\n\nbaz", Ok(&["bar", "baz"])),
    // util: comma
    ("tags", ListCsv, "bar,baz", Ok(&["bar", "baz"])),
    // util: empty result
    ("tags", ListCsv, "bar,baz,", Ok(&["bar", "baz"])),
    // util: different new lines
    ("tags", ListCsv, "bar\r\nbaz", Ok(&["bar", "baz"])),
    // util: different new lines and comma
    (
        "tags",
        ListCsv,
        "bar\r\nbaz,bat",
        Ok(&["bar", "baz", "bat"]),
    ),
    // util: multiline and ignoring comma
    (
        "cache-from",
        List,
        "user/app:cache\ntype=local,src=path/to/dir",
        Ok(&["user/app:cache", "type=local,src=path/to/dir"]),
    ),
    // util: multiline and ignoring comment
    (
        "labels",
        List,
        "foo=bar\nbar=qux#baz",
        Ok(&["foo=bar", "bar=qux#baz"]),
    ),
    // util: different new lines and ignoring comma
    (
        "cache-from",
        List,
        "user/app:cache\r\ntype=local,src=path/to/dir",
        Ok(&["user/app:cache", "type=local,src=path/to/dir"]),
    ),
    // util: do not escape surrounding quotes
    (
        "outputs",
        ListVerbatim,
        "\"env.no_proxy=localhost,127.0.0.1,.mydomain\"",
        Ok(&["\"env.no_proxy=localhost,127.0.0.1,.mydomain\""]),
    ),
    // util: escape surrounding quotes
    (
        "platforms",
        ListCsv,
        "linux/amd64\n\"linux/arm64,linux/arm/v7\"",
        Ok(&["linux/amd64", "linux/arm64", "linux/arm/v7"]),
    ),
    // util: multiline values
    (
        "secrets",
        ListUntrimmed,
        "GIT_AUTH_TOKEN=abcdefgh,ijklmno=0123456789\n\"MYSECRET=aaaaaaaa\nbbbbbbb\nccccccccc\"\nFOO=bar",
        Ok(&[
            "GIT_AUTH_TOKEN=abcdefgh,ijklmno=0123456789",
            "MYSECRET=aaaaaaaa\nbbbbbbb\nccccccccc",
            "FOO=bar",
        ]),
    ),
    // util: multiline values with empty lines
    (
        "secrets",
        ListUntrimmed,
        "GIT_AUTH_TOKEN=abcdefgh,ijklmno=0123456789\n\"MYSECRET=aaaaaaaa\nbbbbbbb\nccccccccc\"\nFOO=bar\n\"EMPTYLINE=aaaa\n\nbbbb\nccc\"",
        Ok(&[
            "GIT_AUTH_TOKEN=abcdefgh,ijklmno=0123456789",
            "MYSECRET=aaaaaaaa\nbbbbbbb\nccccccccc",
            "FOO=bar",
            "EMPTYLINE=aaaa\n\nbbbb\nccc",
        ]),
    ),
    // util: multiline values without quotes
    (
        "secrets",
        ListUntrimmed,
        "GIT_AUTH_TOKEN=abcdefgh,ijklmno=0123456789\nMYSECRET=aaaaaaaa\nbbbbbbb\nccccccccc\nFOO=bar",
        Ok(&[
            "GIT_AUTH_TOKEN=abcdefgh,ijklmno=0123456789",
            "MYSECRET=aaaaaaaa",
            "bbbbbbb",
            "ccccccccc",
            "FOO=bar",
        ]),
    ),
    // util: multiline values escape quotes
    (
        "secrets",
        ListUntrimmed,
        "GIT_AUTH_TOKEN=abcdefgh,ijklmno=0123456789\n\"MYSECRET=aaaaaaaa\nbbbb\"\"bbb\nccccccccc\"\nFOO=bar",
        Ok(&[
            "GIT_AUTH_TOKEN=abcdefgh,ijklmno=0123456789",
            "MYSECRET=aaaaaaaa\nbbbb\"bbb\nccccccccc",
            "FOO=bar",
        ]),
    ),
    // util: keep quotes
    (
        "outputs",
        ListVerbatim,
        "type=image,\"name=ghcr.io/nginxinc/nginx-unprivileged,docker.io/nginxinc/nginx-unprivileged\",push-by-digest=true,name-canonical=true,push=true",
        Ok(&[
            "type=image,\"name=ghcr.io/nginxinc/nginx-unprivileged,docker.io/nginxinc/nginx-unprivileged\",push-by-digest=true,name-canonical=true,push=true",
        ]),
    ),
    // context 1: build-args
    (
        "build-args",
        List,
        "MY_ARG=val1,val2,val3\nARG=val\n\"MULTILINE=aaaa\nbbbb\nccc\"",
        Ok(&[
            "MY_ARG=val1,val2,val3",
            "ARG=val",
            "MULTILINE=aaaa\nbbbb\nccc",
        ]),
    ),
    // context 2: tags
    (
        "tags",
        ListCsv,
        "name/app:7.4, name/app:latest",
        Ok(&["name/app:7.4", "name/app:latest"]),
    ),
    // context 3: labels
    (
        "labels",
        List,
        "org.opencontainers.image.title=buildkit\norg.opencontainers.image.description=concurrent, cache-efficient, and Dockerfile-agnostic builder toolkit",
        Ok(&[
            "org.opencontainers.image.title=buildkit",
            "org.opencontainers.image.description=concurrent, cache-efficient, and Dockerfile-agnostic builder toolkit",
        ]),
    ),
    // context 4: platforms
    (
        "platforms",
        ListCsv,
        "linux/amd64,linux/arm64",
        Ok(&["linux/amd64", "linux/arm64"]),
    ),
    // context 6: secrets
    (
        "secrets",
        ListUntrimmed,
        "GIT_AUTH_TOKEN=abcdefghijklmno=0123456789",
        Ok(&["GIT_AUTH_TOKEN=abcdefghijklmno=0123456789"]),
    ),
    // context 12: labels with quotes
    (
        "labels",
        List,
        "org.opencontainers.image.title=filter_results_top_n\norg.opencontainers.image.description=Reference implementation of operation \"filter results (top-n)\"",
        Ok(&[
            "org.opencontainers.image.title=filter_results_top_n",
            "org.opencontainers.image.description=Reference implementation of operation \"filter results (top-n)\"",
        ]),
    ),
    // context 13: add-hosts
    (
        "add-hosts",
        ListCsv,
        "docker:10.180.0.1,foo:10.0.0.1",
        Ok(&["docker:10.180.0.1", "foo:10.0.0.1"]),
    ),
    // context: ulimit
    (
        "ulimit",
        List,
        "nofile=1024:1024\nnproc=3",
        Ok(&["nofile=1024:1024", "nproc=3"]),
    ),
    // context: build-args with #
    ("build-args", List, "FOO=bar#baz", Ok(&["FOO=bar#baz"])),
    // context: secret-envs lines
    (
        "secret-envs",
        ListCsv,
        "MY_SECRET=MY_SECRET_ENV\nANOTHER_SECRET=ANOTHER_SECRET_ENV",
        Ok(&[
            "MY_SECRET=MY_SECRET_ENV",
            "ANOTHER_SECRET=ANOTHER_SECRET_ENV",
        ]),
    ),
    // context: secret-envs commas
    (
        "secret-envs",
        ListCsv,
        "MY_SECRET=MY_SECRET_ENV,ANOTHER_SECRET=ANOTHER_SECRET_ENV",
        Ok(&[
            "MY_SECRET=MY_SECRET_ENV",
            "ANOTHER_SECRET=ANOTHER_SECRET_ENV",
        ]),
    ),
    // context: annotations
    (
        "annotations",
        List,
        "example1=www\nindex:example2=xxx\nmanifest:example3=yyy\nmanifest-descriptor[linux/amd64]:example4=zzz",
        Ok(&[
            "example1=www",
            "index:example2=xxx",
            "manifest:example3=yyy",
            "manifest-descriptor[linux/amd64]:example4=zzz",
        ]),
    ),
    // context: attests
    (
        "attests",
        List,
        "type=provenance,mode=min",
        Ok(&["type=provenance,mode=min"]),
    ),
    // context: outputs with quoted names
    (
        "outputs",
        ListVerbatim,
        "type=image,\"name=localhost:5000/name/app:latest,localhost:5000/name/app:foo\",push-by-digest=true,name-canonical=true,push=true",
        Ok(&[
            "type=image,\"name=localhost:5000/name/app:latest,localhost:5000/name/app:foo\",push-by-digest=true,name-canonical=true,push=true",
        ]),
    ),
    // README: multi-line secret
    (
        "secrets",
        ListUntrimmed,
        "\"MYSECRET=aaaa\nbbbb\ncccc\"",
        Ok(&["MYSECRET=aaaa\nbbbb\ncccc"]),
    ),
    // cache-to: two entries
    (
        "cache-to",
        List,
        "type=gha,mode=max\ntype=registry,ref=ghcr.io/o/a:cache,mode=max",
        Ok(&[
            "type=gha,mode=max",
            "type=registry,ref=ghcr.io/o/a:cache,mode=max",
        ]),
    ),
    // cache-to: quoted field loses its quotes
    (
        "cache-to",
        List,
        "type=local,\"dest=a,b\"",
        Ok(&["type=local,dest=a,b"]),
    ),
    // cache-to: doubled quotes keep one
    (
        "cache-to",
        List,
        "\"type=local,\"\"dest=a,b\"\"\"",
        Ok(&["type=local,\"dest=a,b\""]),
    ),
    // cache-to: upper-case keys pass through
    (
        "cache-to",
        List,
        "TYPE=gha,MODE=max",
        Ok(&["TYPE=gha,MODE=max"]),
    ),
    // relax: quote after text is literal
    ("tags", ListCsv, "a\"b,c", Ok(&["a\"b", "c"])),
    // relax: text after a closing quote
    ("tags", ListCsv, "\"abc\"def,x", Ok(&["\"abc\"def", "x"])),
    // relax: space before a quote
    ("tags", ListCsv, "  \"a,b\",c", Ok(&["\"a", "b\"", "c"])),
    // relax: closing quote then spaces
    ("cache-to", List, "\"a\" ,b", Ok(&["\"a\" ,b"])),
    // record delimiter is the first one met
    ("tags", ListCsv, "a\r\nb\rc\nd", Ok(&["a", "b\rc\nd"])),
    // a quoted newline does not pick the delimiter
    (
        "cache-from",
        List,
        "\"a\nb\"\r\nc\r\nd",
        Ok(&["a\nb", "c", "d"]),
    ),
    // whitespace-only entry stays (empty)
    ("tags", ListCsv, "a\n \nb", Ok(&["a", "", "b"])),
    // empty quoted entry is dropped
    ("tags", ListCsv, "\"\",a", Ok(&["a"])),
    // secrets keep their whitespace
    ("secrets", ListUntrimmed, " X=1 \n", Ok(&[" X=1 "])),
    // ssh splits on commas
    (
        "ssh",
        ListCsv,
        "default,git=/run/git.sock",
        Ok(&["default", "git=/run/git.sock"]),
    ),
    // no-cache-filters
    (
        "no-cache-filters",
        ListCsv,
        "base\nbuild,test",
        Ok(&["base", "build", "test"]),
    ),
    // unicode
    ("tags", ListCsv, "é/ü:1,ß", Ok(&["é/ü:1", "ß"])),
    // only a comma
    ("tags", ListCsv, ",", Ok(&[])),
    // unclosed quote is an error
    (
        "secrets",
        ListUntrimmed,
        "A=1\n\"MYSECRET=aaaa\nbbbb",
        Err(()),
    ),
    // unclosed quote in a cache entry
    ("cache-to", List, "type=gha,token=x,\"scope=y", Err(())),
];

#[test]
fn lists_split_exactly_like_build_push_action() {
    for (name, kind, raw, want) in ROWS {
        let declared = INPUTS.iter().find(|s| s.name == *name).map(|s| s.kind);
        assert_eq!(
            declared,
            Some(*kind),
            "{name} is split as build-push-action splits it"
        );
        let got = get_list(raw, ListOpts::for_kind(*kind));
        match want {
            Ok(want) => assert_eq!(
                got.as_ref().map(|v| &v[..]),
                Ok(&want.iter().map(|w| w.to_string()).collect::<Vec<_>>()[..]),
                "{name}: {raw:?}"
            ),
            Err(()) => assert!(got.is_err(), "{name}: {raw:?} gave {got:?}"),
        }
    }
    assert!(ROWS.len() >= 50);
}

#[test]
fn the_documented_multi_line_secret_is_one_entry() {
    let raw = "\"MYSECRET=aaaa\nbbbb\ncccc\"";
    let got = split_input(raw, ListUntrimmed).unwrap();
    assert_eq!(got, ["MYSECRET=aaaa\nbbbb\ncccc"]);
}

#[test]
fn unclosed_quotes_say_where_and_never_quote_the_value() {
    let err = split_input("A=1\n\"MYSECRET=canary\nline", ListUntrimmed).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("line 2") && msg.contains("never closed"),
        "{msg}"
    );
    assert!(!msg.contains("canary"), "{msg}");
}

#[test]
fn split_input_drops_whitespace_only_entries() {
    assert_eq!(split_input("a\n \nb", ListCsv).unwrap(), ["a", "b"]);
    assert_eq!(split_input("  spaced  ", Text).unwrap(), ["spaced"]);
    assert!(split_input("", ListCsv).unwrap().is_empty());
}

#[test]
fn attrs_lower_case_keys_and_keep_quoted_commas() {
    let attrs = split_attrs("TYPE=gha,Mode=max").unwrap();
    let keys: Vec<&str> = attrs.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["type", "mode"]);
    let attrs = split_attrs("type=local,\"dest=a,b\"").unwrap();
    assert_eq!(attrs[1].value.as_deref(), Some("a,b"));
    let attrs = split_attrs("type=local,dest=a,b").unwrap();
    assert_eq!(attrs.len(), 2);
    assert_eq!(attrs[1].value.as_deref(), Some("a,b"));
    let attrs = split_attrs("user/app:cache").unwrap();
    assert_eq!(attrs[0].value, None);
    let attrs = split_attrs("a=\"x\"\"y\"").unwrap();
    assert_eq!(attrs[0].value.as_deref(), Some("\"x\"\"y\""));
    assert_eq!(
        split_attrs("type=local,\"dest=a"),
        Err(AttrError::UnclosedQuote)
    );
}
