//! Inputs → plan or error, table-driven: what buildx accepts is valid here, and what it
//! (or BuildKit, or GitHub's cache) would refuse is an error naming the input and saying
//! what would be valid, before anything touches a daemon.

use super::*;
use crate::action::names::INPUTS;
use crate::plan::SecretSource;
use crate::plan::image::Platform;

fn env() -> Env {
    Env::from_pairs([
        ("ACTIONS_RUNTIME_TOKEN", "rt-token"),
        ("ACTIONS_RESULTS_URL", "https://results.example/"),
        ("SET_VAR", "value"),
    ])
}

fn plan(pairs: &[(&str, &str)]) -> Result<BuildPlan, InputError> {
    let env = env();
    let inputs = Inputs::from_pairs(INPUTS, pairs.iter().map(|(k, v)| (*k, (*v).to_owned())))?;
    parse(&inputs, &Runtime::from_env(&env), &env)
}

/// What a valid input must have produced in the plan.
type Check<'a> = dyn Fn(&BuildPlan) -> bool + 'a;

#[test]
fn valid_inputs_buildx_accepts() {
    let host = Platform::host();
    let ok: &[(&str, &str, &Check<'_>)] = &[
        ("platforms", "local", &|p| p.platforms == [host.clone()]),
        ("platforms", "linux", &|p| {
            p.platforms[0].os == "linux" && p.platforms[0].architecture == host.architecture
        }),
        (
            "platforms",
            "linux/arm64/v8,linux/armhf,linux/aarch64",
            &|p| {
                p.platforms
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    == ["linux/arm64", "linux/arm/v7"]
            },
        ),
        ("scope", "my scope", &|p| p.scope == "my scope"),
        ("cache-to", "TYPE=gha,MODE=max,Scope=a b", &|p| {
            p.cache_to[0].kind == CacheType::Gha
                && p.cache_to[0].attr("mode") == Some("max")
                && p.cache_to[0].attr("scope") == Some("a b")
        }),
        (
            "cache-from",
            "type=registry,ref=ghcr.io/o/app:Cache_1",
            &|p| p.cache_from[0].attr("ref") == Some("ghcr.io/o/app:Cache_1"),
        ),
        (
            "cache-to",
            "type=s3,bucket=b,region=r,access_key_id=AK",
            &|p| {
                p.cache_to[0].secrets.contains_key("access_key_id")
                    && !p.cache_to[0].describe().contains("AK")
            },
        ),
        ("tags", &format!("app:{}", "t".repeat(128)), &|p| {
            p.tags.len() == 1
        }),
        ("target", "Build-Stage_1.x", &|p| {
            p.target.as_deref() == Some("Build-Stage_1.x")
        }),
        (
            "endpoint",
            "tcp://buildkitd:1234",
            &|p| matches!(&p.driver, DriverChoice::Remote { endpoint } if endpoint == "tcp://buildkitd:1234"),
        ),
        ("secrets", "\"MYSECRET=aaaa\nbbbb\ncccc\"", &|p| {
            matches!(&p.secrets[0].source, SecretSource::Value(v) if v.expose() == "aaaa\nbbbb\ncccc")
                && p.secrets[0].id == "MYSECRET"
        }),
        (
            "secrets",
            "K= padded ",
            &|p| matches!(&p.secrets[0].source, SecretSource::Value(v) if v.expose() == " padded "),
        ),
        ("secret-envs", "A=SET_VAR,B=UNSET_VAR", &|p| {
            p.secrets.len() == 1
                && p.warnings.len() == 1
                && p.warnings[0].contains("\"B\"")
                && p.warnings[0].contains("variable \"UNSET_VAR\" is not set")
        }),
        ("secrets", "EMPTY=", &|p| {
            p.secrets.is_empty() && p.warnings[0].contains("\"EMPTY\" is empty")
        }),
        ("ssh", "default=/a.sock,git=/b.sock", &|p| p.ssh.len() == 2),
        ("attests", "TYPE=sbom,Generator=img:1", &|p| {
            p.attests.len() == 1
                && p.attests[0].kind == crate::plan::AttestKind::Sbom
                && crate::action::csv::join_attrs(&p.attests[0].attrs) == "generator=img:1"
        }),
        ("outputs", "TYPE=local,DEST=out", &|p| {
            p.outputs[0].attrs.get("dest").map(String::as_str) == Some("out")
        }),
        // Leniency like buildx's (issue 27 item 7).
        ("cache-from", "type=gha,mode=max,ignore-error=true", &|p| {
            p.cache_from
                .iter()
                .all(|e| e.attr("mode").is_none() && e.attr("ignore-error").is_none())
        }),
        (
            "outputs",
            "type=image,name=r.io/a,rewrite-timestamp=true",
            &|p| {
                p.outputs[0]
                    .attrs
                    .get("rewrite-timestamp")
                    .map(String::as_str)
                    == Some("true")
            },
        ),
        ("outputs", "type=cacheonly", &|p| {
            p.outputs[0].kind == crate::plan::OutputType::CacheOnly && !p.push && !p.load
        }),
        ("call", "check,format=json", &|p| {
            p.call.as_deref() == Some("check") && p.call_json && !p.call_ignore_status
        }),
        ("call", "check,ignorestatus=true", &|p| {
            p.call.as_deref() == Some("check") && !p.call_json && p.call_ignore_status
        }),
        ("call", "build", &|p| p.call.is_none()),
        ("driver-opts", "default-load=true", &|p| p.load && !p.push),
        ("driver-opts", "default-load=false", &|p| !p.load),
    ];
    for (input, value, check) in ok {
        let p = plan(&[(input, value)]).unwrap_or_else(|e| panic!("{input}={value:?}: {e}"));
        assert!(check(&p), "{input}={value:?} gave {p:#?}");
    }
}

#[test]
fn invalid_inputs_name_the_input_and_what_is_valid() {
    let long_name = format!("{}:1", "a".repeat(300));
    let long_tag = format!("app:{}", "t".repeat(300));
    let huge = "x".repeat(120 * 1024);
    let cases: &[(&str, &str, &str)] = &[
        ("cache-to", "type=registry,ref=", "needs a value for ref="),
        (
            "cache-to",
            "type=registry,ref=User/App:cache",
            "must be lowercase",
        ),
        ("cache-from", "User/App:cache", "must be lowercase"),
        ("cache-to", "type=gha,scope=a,b", "invalid scope"),
        (
            "cache-to",
            "type=gha,token=x,\"scope=y",
            "is never closed (close it",
        ),
        (
            "cache-to",
            "\"type=gha,token=x,\"\"scope=y\"",
            "a quote is never closed (close it",
        ),
        ("tags", &long_name, "at most 255"),
        ("tags", &long_tag, "at most 128 characters"),
        ("tags", &huge, "at most 255"),
        ("endpoint", "tcp://", "expected tcp://host:port"),
        ("cache-mounts", "maybe", "expected true or false"),
        (
            "cache-mounts-max-size",
            "lots",
            "cache-mounts-max-size: invalid size \"lots\" (e.g. 64m, 2g",
        ),
        ("cache-mounts-total-size", "-1g", "invalid size"),
        ("endpoint", "unix://", "no socket path"),
        (
            "platforms",
            "lnux",
            "not a known operating system or architecture",
        ),
        ("scope", "a,b", "no commas"),
        ("scope", &"s".repeat(481), "at most 480 bytes"),
        (
            "add-hosts",
            "nohost",
            "is not host:ip or host=ip (e.g. docker:10.180.0.1",
        ),
        (
            "ulimit",
            "nofile=abc",
            "\"abc\" is not a number (name=soft[:hard]",
        ),
        ("secrets", "\"A=1\nB", "never closed (close it"),
        ("secret-envs", "A=", "names no environment variable"),
        ("outputs", "type=local,\"dest=a", "a quote is never closed"),
        ("driver", &huge, "unknown driver"),
        ("attests", "type=spdx", "needs type=provenance or type=sbom"),
    ];
    assert!(cases.len() >= 20);
    for (input, value, want) in cases {
        let err = plan(&[(input, value)]).expect_err(&format!("{input}={value:.40?}"));
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("{input}: ")), "{msg}");
        assert!(msg.contains(want), "{input}: {want:?} not in {msg:?}");
        assert!(
            !msg.contains('\n') && msg.len() < 600,
            "one short line: {msg:.200}"
        );
    }
}

#[test]
fn a_secret_that_is_not_id_value_is_left_out_with_a_warning_not_showing_it() {
    let canary = "canary-9d0a";
    let p = plan(&[("secrets", &format!("A=1\n{canary}"))]).unwrap();
    assert_eq!(p.secrets.len(), 1);
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].starts_with("secrets: entry 2 is not id=value"));
    assert!(!p.warnings[0].contains(canary));
}

#[test]
fn default_load_loads_only_a_build_that_asks_for_no_output() {
    let p = plan(&[
        ("driver-opts", "default-load=true"),
        ("push", "true"),
        ("tags", "r/a"),
    ])
    .unwrap();
    assert!(p.push && !p.load);
    let p = plan(&[
        ("driver-opts", "default-load=true"),
        ("outputs", "type=cacheonly"),
    ])
    .unwrap();
    assert!(!p.load);
}

#[test]
fn source_date_epoch_reaches_the_build_as_buildx_passes_it() {
    let with = |extra: &[(&str, &str)], args: &str| {
        let env = Env::from_pairs(extra.iter().copied());
        let inputs = Inputs::from_pairs(INPUTS, [("build-args", args.to_owned())]).unwrap();
        parse(&inputs, &Runtime::from_env(&env), &env).unwrap()
    };
    let p = with(&[("SOURCE_DATE_EPOCH", "1700000000")], "");
    assert_eq!(p.build_args["SOURCE_DATE_EPOCH"], "1700000000");
    let p = with(
        &[("SOURCE_DATE_EPOCH", "1700000000")],
        "SOURCE_DATE_EPOCH=0",
    );
    assert_eq!(p.build_args["SOURCE_DATE_EPOCH"], "0");
    let p = with(&[("SOURCE_DATE_EPOCH", "")], "");
    assert!(!p.build_args.contains_key("SOURCE_DATE_EPOCH"));
}

#[test]
fn provenance_is_build_push_actions() {
    let run = |extra: &[(&str, &str)], inputs: &[(&str, &str)]| {
        let mut pairs = vec![
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_RUN_ID", "7"),
        ];
        pairs.extend_from_slice(extra);
        let env = Env::from_pairs(pairs);
        let inputs =
            Inputs::from_pairs(INPUTS, inputs.iter().map(|(k, v)| (*k, (*v).to_owned()))).unwrap();
        let p = parse(&inputs, &Runtime::from_env(&env), &env).unwrap();
        p.provenance_default.and_then(|a| a.frontend_value())
    };
    let id = "https://github.com/o/r/actions/runs/7";
    assert_eq!(
        run(&[], &[]),
        Some(format!("type=provenance,builder-id={id},mode=max"))
    );
    assert_eq!(
        run(&[(crate::plan::REPOSITORY_PRIVATE, "true")], &[]),
        Some(format!(
            "type=provenance,builder-id={id},inline-only=true,mode=min"
        ))
    );
    assert_eq!(run(&[("BUILDX_NO_DEFAULT_ATTESTATIONS", "1")], &[]), None);
    assert_eq!(run(&[], &[("provenance", "false")]), None);
    assert_eq!(run(&[], &[("attests", "type=provenance,mode=min")]), None);
}

#[test]
fn secret_values_never_reach_a_plan_error() {
    let canary = "canary-5e1f";
    let cases: &[(&str, String)] = &[
        ("secrets", format!("MYSECRET={canary},\"tail")),
        ("secrets", format!("\"MYSECRET={canary}\nline")),
        ("secrets", format!("A={canary}\nA={canary}")),
        ("cache-to", format!("type=gha,token={canary},\"scope=x")),
        (
            "cache-to",
            format!("type=gha,ghtoken={canary},mode=maximum"),
        ),
        ("cache-to", format!("type=gha,TOKEN={canary},mdoe=max")),
        ("cache-from", format!("type=s3,secret_access_key={canary}")),
        (
            "cache-from",
            format!("type=s3,bucket=b,session_token={canary},typo=1"),
        ),
        ("cache-to", format!("token={canary}")),
    ];
    for (input, value) in cases {
        let err = plan(&[(input, value)]).expect_err(input).to_string();
        assert!(!err.contains(canary), "{input}: {err}");
        assert!(err.starts_with(&format!("{input}: ")), "{err}");
    }
}

#[test]
fn cache_mounts_inputs_and_their_scope() {
    let p = plan(&[]).unwrap();
    assert!(p.cache_mounts.enabled);
    assert_eq!(
        (p.cache_mounts.max_size, p.cache_mounts.total_size),
        (1 << 30, 4 << 30)
    );
    let p = plan(&[
        ("cache-mounts", "false"),
        ("cache-mounts-exclude", "npm,/root/.cache/pip"),
        ("cache-mounts-max-size", "512m"),
    ])
    .unwrap();
    assert!(!p.cache_mounts.enabled);
    assert_eq!(p.cache_mounts.exclude, ["npm", "/root/.cache/pip"]);
    assert_eq!(p.cache_mounts.max_size, 512 << 20);
    // Build args change neither scope; the mounts use the layers' one, given or derived.
    let a = plan(&[("build-args", "SHA=1")]).unwrap();
    let b = plan(&[("build-args", "SHA=2")]).unwrap();
    assert_eq!(a.scope, b.scope);
    assert_eq!(a.cache_mounts.scope, a.scope);
    let given = plan(&[("build-args", "SHA=1"), ("scope", "s")]).unwrap();
    assert_eq!(given.cache_mounts.scope, "s");
}
