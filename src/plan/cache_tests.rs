use super::*;
use crate::action::env::Env;
use crate::plan::scope::{ScopeSeed, derive_scope};

fn runtime(pairs: &[(&str, &str)]) -> Runtime {
    Runtime::from_env(&Env::from_pairs(pairs.iter().copied()))
}

#[test]
fn entries_parse_per_type() {
    let e = parse_cache_entry("type=gha,scope=web,mode=max", Direction::To).unwrap();
    assert_eq!(
        (e.kind, e.attr("scope"), e.attr("mode")),
        (CacheType::Gha, Some("web"), Some("max"))
    );
    let e = parse_cache_entry("user/app:cache", Direction::From).unwrap();
    assert_eq!(
        (e.kind, e.attr("ref")),
        (CacheType::Registry, Some("user/app:cache"))
    );
    let e = parse_cache_entry("type=gha,token=canary", Direction::From).unwrap();
    assert!(!e.attrs.contains_key("token") && e.secrets.contains_key("token"));
    assert!(!e.describe().contains("canary"));
}

#[test]
fn bad_entries_name_the_problem() {
    let cases = [
        ("type=foo", Direction::To, "unknown cache type \"foo\""),
        ("type=gha,mdoe=max", Direction::To, "unknown key \"mdoe\""),
        (
            "type=gha,mode=maximum",
            Direction::To,
            "invalid mode \"maximum\"",
        ),
        ("type=gha,mdoe=max", Direction::From, "unknown key \"mdoe\""),
        ("type=registry", Direction::From, "needs ref="),
        ("type=local", Direction::To, "needs dest="),
        ("scope=x", Direction::To, "missing type="),
        (
            "type=gha,ignore-error=maybe",
            Direction::To,
            "invalid ignore-error",
        ),
        ("type=gha,version=3", Direction::From, "invalid version"),
        (
            "type=inline,mode=max",
            Direction::To,
            "unknown key \"mode\" for type=inline (valid: none)",
        ),
    ];
    for (entry, dir, want) in cases {
        let err = parse_cache_entry(entry, dir).unwrap_err().to_string();
        assert!(err.starts_with(dir.input()), "{entry}: {err}");
        assert!(err.contains(want), "{entry}: {err}");
    }
}

#[test]
fn scopes_differ_by_image_dockerfile_target_and_platform() {
    let base = ScopeSeed {
        image: Some("ghcr.io/o/web".into()),
        short: "web".into(),
        dockerfile: "Dockerfile".into(),
        target: None,
        platforms: vec![],
    };
    let s0 = derive_scope(&base);
    assert!(s0.starts_with("web-"), "{s0}");
    let variants = [
        ScopeSeed {
            image: Some("ghcr.io/o/api".into()),
            short: "api".into(),
            ..base.clone()
        },
        ScopeSeed {
            image: Some("docker.io/o/web".into()),
            ..base.clone()
        },
        ScopeSeed {
            dockerfile: "web/Dockerfile".into(),
            ..base.clone()
        },
        ScopeSeed {
            target: Some("test".into()),
            ..base.clone()
        },
        ScopeSeed {
            platforms: vec!["linux/arm64".into()],
            ..base.clone()
        },
    ];
    let mut all: Vec<String> = variants.iter().map(derive_scope).collect();
    all.push(s0.clone());
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 6, "{all:?}");
    assert_eq!(derive_scope(&base), s0, "stable");
    let arm = derive_scope(&variants[4]);
    assert!(arm.contains("linux-arm64") && !arm.contains(','), "{arm}");
}

/// The plan's scope and its `cache-from` entries' scopes for these inputs.
fn scopes_of(pairs: &[(&str, &str)]) -> (String, Vec<String>) {
    let rt = runtime(&[
        ("ACTIONS_RESULTS_URL", "https://results/"),
        ("ACTIONS_RUNTIME_TOKEN", "t.x.y"),
    ]);
    let inputs = crate::action::inputs::Inputs::from_pairs(
        crate::action::names::INPUTS,
        pairs.iter().map(|(k, v)| (*k, (*v).to_owned())),
    )
    .unwrap();
    let plan = crate::plan::parse(&inputs, &rt, &crate::action::env::Env::default()).unwrap();
    let from = plan
        .cache_from
        .iter()
        .filter_map(|e| e.attr("scope").map(str::to_owned))
        .collect();
    (plan.scope, from)
}

#[test]
fn build_args_never_move_the_scope() {
    use crate::action::names::{BUILD_ARGS, TAGS};
    // `VERSION=${{ github.sha }}`: a new value every commit must find the last commit's cache.
    let (a, _) = scopes_of(&[
        (TAGS, "ghcr.io/o/web:pr-1"),
        (BUILD_ARGS, "VERSION=1a2b\nSIZE=2"),
    ]);
    let (b, _) = scopes_of(&[(TAGS, "ghcr.io/o/web:pr-1"), (BUILD_ARGS, "VERSION=3c4d")]);
    let (none, _) = scopes_of(&[(TAGS, "ghcr.io/o/web:pr-1")]);
    assert_eq!(a, b);
    assert_eq!(a, none);
    // Tags do not count beyond the image name: a per-PR tag shares the branch's scope.
    let (main, _) = scopes_of(&[(TAGS, "ghcr.io/o/web:main")]);
    assert_eq!(a, main);
    let (other, _) = scopes_of(&[(TAGS, "ghcr.io/o/api:main")]);
    assert_ne!(a, other);
}

#[test]
fn a_derived_scope_also_reads_build_push_actions_default_scope() {
    use crate::action::names::{CACHE_FROM, SCOPE, TAGS};
    let (scope, from) = scopes_of(&[(TAGS, "ghcr.io/o/web:main"), (CACHE_FROM, "type=gha")]);
    assert_eq!(from, vec![scope, "buildkit".to_owned()]);
    // A scope of the user's own is read alone.
    let (_, from) = scopes_of(&[(CACHE_FROM, "type=gha,scope=mine")]);
    assert_eq!(from, vec!["mine".to_owned()]);
    let (_, from) = scopes_of(&[(SCOPE, "shared"), (CACHE_FROM, "type=gha")]);
    assert_eq!(from, vec!["shared".to_owned()]);
}

#[test]
fn gha_entries_are_filled_from_the_runtime() {
    let rt = runtime(&[
        ("ACTIONS_RESULTS_URL", "https://results/"),
        ("ACTIONS_RUNTIME_TOKEN", "t.x.y"),
    ]);
    let mut e = parse_cache_entry("type=gha", Direction::To).unwrap();
    fill_gha(&mut e, Direction::To, &rt, "web-1234").unwrap();
    let service = e.service.clone().unwrap();
    assert_eq!(service.endpoint, Endpoint::V2("https://results/".into()));
    assert_eq!(service.token.expose(), "t.x.y");
    assert_eq!(e.attr("scope"), Some("web-1234"));
    assert_eq!(e.attr("ignore-error"), Some("true"));
    assert!(
        e.secrets.is_empty(),
        "the token is the service's, not an attribute"
    );

    let mut strict =
        parse_cache_entry("type=gha,ignore-error=false,scope=mine", Direction::To).unwrap();
    fill_gha(&mut strict, Direction::To, &rt, "derived").unwrap();
    assert_eq!(
        (strict.attr("ignore-error"), strict.attr("scope")),
        (Some("false"), Some("mine"))
    );

    let v1 = runtime(&[
        ("ACTIONS_CACHE_URL", "https://cache/"),
        ("ACTIONS_RUNTIME_TOKEN", "t.x.y"),
    ]);
    let mut e = parse_cache_entry("type=gha", Direction::From).unwrap();
    fill_gha(&mut e, Direction::From, &v1, "s").unwrap();
    assert_eq!(
        e.service.as_ref().map(|s| s.endpoint.clone()),
        Some(Endpoint::V1("https://cache/".into()))
    );
    assert_eq!(e.attr("ignore-error"), None, "import has no ignore-error");
}

#[test]
fn gha_entries_are_skipped_with_a_reason() {
    let none = runtime(&[]);
    let mut e = parse_cache_entry("type=gha", Direction::From).unwrap();
    let skip = fill_gha(&mut e, Direction::From, &none, "s").unwrap_err();
    assert!(skip.warn && skip.reason.contains("no GitHub Actions cache service"));

    let read = runtime(&[
        ("ACTIONS_RESULTS_URL", "https://r/"),
        ("ACTIONS_RUNTIME_TOKEN", "t.x.y"),
        ("ACTIONS_CACHE_MODE", "read"),
    ]);
    let mut e = parse_cache_entry("type=gha", Direction::To).unwrap();
    let skip = fill_gha(&mut e, Direction::To, &read, "s").unwrap_err();
    assert!(!skip.warn && skip.reason.contains("ACTIONS_CACHE_MODE=read"));
    let mut e = parse_cache_entry("type=gha", Direction::From).unwrap();
    assert!(fill_gha(&mut e, Direction::From, &read, "s").is_ok());

    let wo = runtime(&[
        ("ACTIONS_RESULTS_URL", "https://r/"),
        ("ACTIONS_RUNTIME_TOKEN", "t.x.y"),
        ("ACTIONS_CACHE_MODE", "write-only"),
    ]);
    let mut e = parse_cache_entry("type=gha", Direction::From).unwrap();
    assert!(fill_gha(&mut e, Direction::From, &wo, "s").is_err());
}

#[test]
fn a_gha_entry_names_its_service_by_one_rule() {
    let rt = runtime(&[
        ("ACTIONS_RESULTS_URL", "https://results/"),
        ("ACTIONS_RUNTIME_TOKEN", "t.x.y"),
    ]);
    let endpoint = |entry: &str| {
        let mut e = parse_cache_entry(entry, Direction::From).unwrap();
        fill_gha(&mut e, Direction::From, &rt, "s").map(|()| {
            assert!(
                GHA_SERVICE_ATTRS.iter().all(|k| e.attr(k).is_none()),
                "the service is typed, not left in attributes: {e:?}"
            );
            e.service.map(|s| s.endpoint)
        })
    };
    assert_eq!(
        endpoint("type=gha,url_v2=http://a/,url=http://b/").unwrap(),
        Some(Endpoint::V2("http://a/".into()))
    );
    assert_eq!(
        endpoint("type=gha,url=http://b/,url_v2=http://a/,version=1").unwrap(),
        Some(Endpoint::V1("http://b/".into()))
    );
    assert_eq!(
        endpoint("type=gha,url=http://b/").unwrap(),
        Some(Endpoint::V1("http://b/".into()))
    );
    assert_eq!(
        endpoint("type=gha").unwrap(),
        Some(Endpoint::V2("https://results/".into())),
        "no service of its own: the runtime's"
    );
    // Where two parsers once disagreed (one picked v2, the other gave up): one answer now.
    let skip = endpoint("type=gha,url_v2=http://a/,version=1").unwrap_err();
    assert!(skip.warn && skip.reason.contains("version=1"), "{skip:?}");
    let skip = endpoint("type=gha,url=http://b/,version=2").unwrap_err();
    assert!(skip.reason.contains("url_v2="), "{skip:?}");
}
