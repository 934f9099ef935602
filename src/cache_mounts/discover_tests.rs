use super::*;

fn facts<'a>(args: &[(&str, &str)], target: Option<&'a str>) -> BuildFacts<'a> {
    BuildFacts {
        build_args: args
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        target,
        platform: Some("linux/arm64"),
    }
}

/// (Dockerfile, build args, target) → (id, target, base) of each mount found, and the
/// lines of the unidentified ones.
#[test]
fn mounts_are_found_as_buildkit_names_them() {
    type Case = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
        Option<&'static str>,
        &'static [(&'static str, &'static str, &'static str)],
        &'static [usize],
    );
    let cases: &[Case] = &[
        (
            "id defaults to the target",
            "FROM debian\nRUN --mount=type=cache,target=/root/.cache/pip pip install x\n",
            &[],
            None,
            &[("/root/.cache/pip", "/root/.cache/pip", "debian")],
            &[],
        ),
        (
            "explicit id, dst alias; bind and secret mounts are not cache mounts",
            "FROM debian\nRUN --mount=type=bind,target=/src --mount=type=cache,id=npm,dst=/root/.npm --mount=type=secret,id=t npm ci\n",
            &[],
            None,
            &[("npm", "/root/.npm", "debian")],
            &[],
        ),
        (
            "continuation lines and a heredoc body",
            "FROM debian\nRUN --mount=type=cache,target=/var/cache/apt \\\n    --mount=type=cache,target=/var/lib/apt <<EOF\napt-get update\nEOF\nRUN --mount=type=cache,target=/tmp/x true\n",
            &[],
            None,
            &[
                ("/var/cache/apt", "/var/cache/apt", "debian"),
                ("/var/lib/apt", "/var/lib/apt", "debian"),
                ("/tmp/x", "/tmp/x", "debian"),
            ],
            &[],
        ),
        (
            "ARG default, build arg override, global ARG inherited, ENV",
            "ARG BASE=alpine\nARG V=1\nFROM $BASE\nARG V\nARG TOOL=go\nENV DIR=/cache\nRUN --mount=type=cache,id=$TOOL-$V,target=${DIR}/t x\n",
            &[("TOOL", "cargo")],
            None,
            &[("cargo-1", "/cache/t", "alpine")],
            &[],
        ),
        (
            "platform args once declared; undeclared variable is unidentified",
            "FROM debian\nARG TARGETARCH\nRUN --mount=type=cache,id=apt-$TARGETARCH,target=/var/cache/apt x\nRUN --mount=type=cache,id=$NOPE,target=/n y\n",
            &[],
            None,
            &[("apt-arm64", "/var/cache/apt", "debian")],
            &[4],
        ),
        (
            "only the stages the target needs; base through a parent stage; dedup by id",
            "FROM debian AS deps\nRUN --mount=type=cache,target=/a x\nFROM deps AS build\nRUN --mount=type=cache,target=/a y\nRUN --mount=type=cache,target=/b z\nFROM alpine AS other\nRUN --mount=type=cache,target=/c w\nFROM busybox AS final\nCOPY --from=build /out /\n",
            &[],
            Some("final"),
            &[("/a", "/a", "debian"), ("/b", "/b", "debian")],
            &[],
        ),
        (
            "scratch and from= cannot be kept",
            "FROM scratch\nRUN --mount=type=cache,target=/a x\nFROM debian\nRUN --mount=type=cache,target=/b,from=tools y\n",
            &[],
            Some("0"),
            &[],
            &[2],
        ),
        (
            "a mount without a target is unidentified",
            "FROM debian\nRUN --mount=type=cache,id=x true\n",
            &[],
            None,
            &[],
            &[2],
        ),
    ];
    for (name, text, args, target, want, unidentified) in cases {
        let got = discover(text, &facts(args, *target));
        let mounts: Vec<(&str, &str, &str)> = got
            .mounts
            .iter()
            .map(|m| (m.id.as_str(), m.target.as_str(), m.base.as_str()))
            .collect();
        assert_eq!(&mounts, want, "{name}");
        let lines: Vec<usize> = got.unidentified.iter().map(|u| u.line).collect();
        assert_eq!(&lines, unidentified, "{name}");
    }
}

#[test]
fn options_are_read_and_bad_ones_named() {
    let got = discover(
        "FROM debian\nRUN --mount=type=cache,target=/a,sharing=locked,uid=1000,gid=1000,mode=0755 x\nRUN --mount=type=cache,target=/b,sharing=sometimes y\nRUN --mount=type=cache,target=/c,uid=root z\n",
        &facts(&[], None),
    );
    let a = &got.mounts[0];
    assert_eq!(
        (a.sharing, a.uid, a.gid, a.mode.as_deref(), a.line),
        (Sharing::Locked, Some(1000), Some(1000), Some("0755"), 2)
    );
    assert_eq!(got.mounts.len(), 1);
    let reasons: Vec<&str> = got.unidentified.iter().map(|u| u.reason.as_str()).collect();
    assert!(reasons[0].contains("sharing=sometimes"), "{reasons:?}");
    assert!(reasons[1].contains("uid"), "{reasons:?}");
    let notice = got.notice().unwrap();
    assert!(
        notice.contains("line 3:") && notice.contains("line 4:"),
        "{notice}"
    );
}

#[test]
fn nothing_to_say_without_cache_mounts() {
    let got = discover("FROM debian\nRUN true\n", &facts(&[], None));
    assert_eq!(got, Discovery::default());
    assert_eq!(got.notice(), None);
}
