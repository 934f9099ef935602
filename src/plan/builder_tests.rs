//! Table tests: `driver-opts`, `buildkitd-config-inline` and `buildkitd-flags` → options.
#![allow(clippy::unwrap_used)] // tests may unwrap

use super::*;

fn opts(lines: &[&str]) -> Result<BuilderOptions, InputError> {
    let lines: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    builder_options(&lines, "", None)
}

#[test]
fn every_buildx_key_and_the_security_controls_are_read() {
    let o = opts(&[
        "image=127.0.0.1:5000/buildkit:v0.32.2",
        "network=host",
        "env.BUILDKIT_STEP_LOG_MAX_SIZE=10485760",
        "cgroup-parent=/actions",
        "memory=512m",
        "memory-swap=-1",
        "cpu-quota=50000",
        "cpu-period=100000",
        "cpu-shares=512",
        "cpuset-cpus=0-1",
        "cpuset-mems=0",
        "restart-policy=on-failure:3",
        "privileged=false",
        "cap-add=ALL",
        "cap-drop=SYS_RESOURCE",
        "cap-drop=CAP_MKNOD",
        "security-opt=seccomp=unconfined",
        "security-opt=systempaths=unconfined",
        "volume=/srv/certs:/etc/certs:ro",
    ])
    .unwrap();
    assert_eq!(o.image.as_deref(), Some("127.0.0.1:5000/buildkit:v0.32.2"));
    assert_eq!(o.network.as_deref(), Some("host"));
    assert_eq!(o.env["BUILDKIT_STEP_LOG_MAX_SIZE"], "10485760");
    assert_eq!(o.cgroup_parent.as_deref(), Some("/actions"));
    assert_eq!(o.memory, Some(512 << 20));
    assert_eq!(o.memory_swap, Some(-1));
    assert_eq!(
        (o.cpu_quota, o.cpu_period, o.cpu_shares),
        (Some(50000), Some(100000), Some(512))
    );
    assert_eq!(o.cpuset_cpus.as_deref(), Some("0-1"));
    assert_eq!(o.cpuset_mems.as_deref(), Some("0"));
    assert_eq!(o.restart_policy, Some(("on-failure".to_owned(), 3)));
    assert!(!o.privileged);
    assert_eq!(o.cap_add, ["ALL"]);
    assert_eq!(o.cap_drop, ["SYS_RESOURCE", "CAP_MKNOD"]);
    assert_eq!(
        o.security_opt,
        ["seccomp=unconfined", "systempaths=unconfined"]
    );
    assert_eq!(o.volumes, ["/srv/certs:/etc/certs:ro"]);
}

#[test]
fn defaults_are_buildx_defaults() {
    let o = opts(&[]).unwrap();
    assert!(o.privileged && o.is_default());
    assert!(o.flags.is_empty() && o.config_toml.is_none());
}

#[test]
fn a_value_splits_at_the_first_equals_sign() {
    let o = opts(&["env.OPTS=a=b=c", "security-opt=label=disable"]).unwrap();
    assert_eq!(o.env["OPTS"], "a=b=c");
    assert_eq!(o.security_opt, ["label=disable"]);
}

#[test]
fn bad_entries_name_the_input_and_the_key() {
    let cases: &[(&str, &str)] = &[
        ("default-loads=true", "unknown key \"default-loads\""),
        ("memory=lots", "memory=\"lots\" is not a size"),
        ("cpu-quota=1.5", "cpu-quota=\"1.5\" is not a whole number"),
        ("privileged=yes", "privileged=\"yes\" (valid: true, false)"),
        (
            "restart-policy=sometimes",
            "valid: no, always, unless-stopped",
        ),
        ("cap-add=sys admin", "not a capability name"),
        ("volume=/a", "expected SRC:DST[:ro|rw]"),
        ("volume=/a:/b:rx", "expected SRC:DST[:ro|rw]"),
        ("network", "is not key=value"),
        ("env.=x", "unknown key \"env.\""),
    ];
    for (line, want) in cases {
        let err = opts(&[line]).unwrap_err();
        assert_eq!(err.input, "driver-opts", "{line}");
        assert!(err.message.contains(want), "{line}: {}", err.message);
        assert!(!err.to_string().contains('\n'), "one line: {err}");
    }
}

#[test]
fn two_volumes_on_one_destination_are_refused() {
    let err = opts(&["volume=/a:/b", "volume=cache:/b/:ro"]).unwrap_err();
    assert_eq!(err.input, "driver-opts");
    assert!(
        err.message
            .contains("volume=\"cache:/b/:ro\" mounts the destination of volume=\"/a:/b\" again"),
        "{}",
        err.message
    );
    assert_eq!(
        volume_destination("/x:/sys//fs/cgroup/:rw").as_deref(),
        Some(std::path::Path::new("/sys/fs/cgroup"))
    );
}

#[test]
fn sizes_take_docker_units() {
    for (v, want) in [
        ("1024", 1024),
        ("1k", 1024),
        ("2g", 2 << 30),
        ("512MB", 512 << 20),
        ("1.5g", 3 << 29),
    ] {
        assert_eq!(bytes("memory", v), Ok(want), "{v}");
    }
    assert!(bytes("memory", "0").is_err());
    assert!(bytes("memory", "-5m").is_err());
}

#[test]
fn invalid_toml_names_the_input_and_the_line() {
    let toml = "debug = true\n\n[registry.\"127.0.0.1:5000\"]\nhttp = tru\n";
    let err = builder_options(&[], toml, None).unwrap_err();
    assert_eq!(err.input, "buildkitd-config-inline");
    assert!(err.message.contains("at line 4"), "{}", err.message);
    assert!(!err.to_string().contains('\n'), "one line: {err}");

    let ok = "[registry.\"docker.io\"]\n  mirrors = [\"mirror.gcr.io\"]\n";
    let o = builder_options(&[], ok, None).unwrap();
    assert_eq!(o.config_toml.as_deref(), Some(ok));
}

#[test]
fn flags_split_as_a_shell_would() {
    let o = builder_options(&[], "", Some("--debug --oci-worker-gc=false 'a b'")).unwrap();
    assert_eq!(o.flags, ["--debug", "--oci-worker-gc=false", "a b"]);
    let err = builder_options(&[], "", Some("--debug 'open")).unwrap_err();
    assert_eq!(err.input, "buildkitd-flags");
}

mod through_parse {
    use crate::action::InputError;
    use crate::action::env::Env;
    use crate::action::inputs::Inputs;
    use crate::action::names::INPUTS;
    use crate::action::runtime::Runtime;
    use crate::plan::{BuildPlan, parse};

    fn plan(pairs: &[(&str, &str)]) -> Result<BuildPlan, InputError> {
        let inputs =
            Inputs::from_pairs(INPUTS, pairs.iter().map(|(k, v)| (*k, (*v).to_owned()))).unwrap();
        let env = Env::default();
        parse(&inputs, &Runtime::from_env(&env), &env)
    }

    fn image(p: &BuildPlan) -> &str {
        &p.builder.image
    }

    #[test]
    fn driver_opts_image_wins_over_builder_image() {
        let p = plan(&[
            ("driver", "docker-container"),
            ("builder-image", "127.0.0.1:5000/a:v1"),
            ("driver-opts", "image=127.0.0.1:5000/b:v2\nnetwork=host"),
        ])
        .unwrap();
        assert_eq!(image(&p), "127.0.0.1:5000/b:v2");
        assert_eq!(p.builder.options.network.as_deref(), Some("host"));
        let p = plan(&[("builder-image", "127.0.0.1:5000/a:v1")]).unwrap();
        assert_eq!(image(&p), "127.0.0.1:5000/a:v1");
        let p = plan(&[]).unwrap();
        assert_eq!(image(&p), "moby/buildkit:v0.32.2");
    }

    #[test]
    fn a_bad_image_in_driver_opts_names_driver_opts() {
        let err = plan(&[("driver-opts", "image=UPPER/case")]).unwrap_err();
        assert_eq!(err.input, "driver-opts", "{err}");
    }

    #[test]
    fn drivers_without_a_container_reject_its_settings_by_name() {
        let cases = [
            ("driver-opts", "network=host", "driver-opts"),
            ("buildkitd-flags", "--debug", "buildkitd-flags"),
            (
                "buildkitd-config-inline",
                "debug = true",
                "buildkitd-config-inline",
            ),
        ];
        for (input, value, named) in cases {
            let err = plan(&[("driver", "docker"), (input, value)]).unwrap_err();
            assert_eq!(err.input, named);
            assert!(err.message.contains("driver docker"), "{err}");
            if input == "driver-opts" {
                assert!(err.message.contains("key \"network\""), "{err}");
            }
            let err = plan(&[
                ("driver", "remote"),
                ("endpoint", "tcp://127.0.0.1:1234"),
                (input, value),
            ])
            .unwrap_err();
            assert!(err.message.contains("driver remote"), "{err}");
        }
        assert!(plan(&[("driver", "docker")]).is_ok());
        // Even a key whose value is the default is named: the driver cannot honour it.
        let err = plan(&[("driver", "docker"), ("driver-opts", "privileged=true")]).unwrap_err();
        assert!(err.message.contains("key \"privileged\""), "{err}");
    }
}
