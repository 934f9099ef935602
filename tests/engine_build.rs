//! Builds on the real daemon: context with `.dockerignore`, args, target, labels, tags.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

mod engine_support;

use engine_support::*;
use layercache::engine::{BuildEvent, Recorder, run};

#[tokio::test]
async fn builds_and_loads_with_ignore_args_target_labels_and_tags() {
    let host = host();
    let docker = host.docker().unwrap();
    let name = unique("lc-engine-build");
    let mut req = request("basic");
    req.build_args.insert("GREETING".into(), "hi".into());
    req.target = Some("build".into());
    req.labels
        .insert("org.example.team".into(), "engine".into());
    req.tags = image_refs(&[
        format!("{name}:one"),
        format!("{name}:two"),
        format!("{name}-other:latest"),
    ]);
    req.load = true;
    let mut events = Recorder::default();
    let outcome = run(&req, &io(&host), &mut events).await.unwrap();

    let id = outcome.image_id.clone().expect("image id");
    assert!(id.starts_with("sha256:"), "{id}");
    let inspect = docker.inspect_image(&format!("{name}:one")).await.unwrap();
    assert_eq!(inspect.id.as_deref(), Some(id.as_str()));
    let mut tags: Vec<String> = inspect
        .repo_tags
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.starts_with(&name))
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        vec![
            format!("{name}-other:latest"),
            format!("{name}:one"),
            format!("{name}:two")
        ]
    );
    let labels = inspect.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(
        labels.get("org.example.team").map(String::as_str),
        Some("engine")
    );
    assert!(
        !labels.contains_key("stage"),
        "target=build must not run the final stage: {labels:?}"
    );
    // The RUN steps test the context contents themselves; they ran and passed.
    assert!(events.0.iter().any(|e| matches!(e, BuildEvent::StepStarted { name, .. } if name.contains("RUN test ! -e /src/debug.log"))));
    assert!(
        outcome.dockerfile_steps().count() >= 3,
        "{:?}",
        outcome.steps
    );
    remove_images(&docker, &req.tags).await;
}

#[tokio::test]
async fn build_secrets_reach_run_mounts_and_stay_out_of_the_image() {
    let host = host();
    let mut req = request("secret");
    req.build_args.insert("RUN_ID".into(), unique("run"));
    let mut secrets = io(&host);
    secrets.secrets.insert(
        "token".into(),
        layercache::secret::SecretBytes::new("canary-value-42"),
    );
    // Secret files may be binary (keystores, keys): bytes reach the mount unchanged.
    secrets.secrets.insert(
        "bin".into(),
        layercache::secret::SecretBytes::new(vec![0x00, 0xff, 0x80, 0xfe]),
    );
    let mut events = Recorder::default();
    let outcome = run(&req, &secrets, &mut events).await.unwrap();
    assert!(outcome.image_id.is_some());
    let logged = events
        .0
        .iter()
        .any(|e| matches!(e, BuildEvent::StepLog { text, .. } if text.contains("secret-ok")));
    assert!(logged, "{:?}", events.0);
    let binary = events.0.iter().any(
        |e| matches!(e, BuildEvent::StepLog { text, .. } if text.contains("binary-secret-ok")),
    );
    assert!(binary, "{:?}", events.0);

    // A secret the build asks for but was not given fails the step, naming it.
    secrets.secrets.clear();
    req.build_args.insert("RUN_ID".into(), unique("run"));
    let err = run(&req, &secrets, &mut Recorder::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("token"), "{err}");
}

#[tokio::test]
async fn tar_output_arrives_through_the_session() {
    let host = host();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("rootfs.tar");
    let mut req = request("cached");
    req.build_args.insert("RUN_ID".into(), unique("run"));
    req.outputs = vec![layercache::plan::Output {
        kind: layercache::plan::OutputType::Tar,
        attrs: [("dest".to_owned(), dest.display().to_string())].into(),
    }];
    run(&req, &io(&host), &mut Recorder::default())
        .await
        .unwrap();
    let mut archive = tar::Archive::new(std::fs::File::open(&dest).unwrap());
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    for want in ["blob1", "blob2", "copy", "app.txt"] {
        assert!(
            names.iter().any(|n| n.trim_start_matches("./") == want),
            "{want} missing in {names:?}"
        );
    }
}

#[tokio::test]
async fn local_output_arrives_as_a_tree_merged_into_dest() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let host = host();
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "ARG BASE\nFROM ${BASE}\nARG RUN_ID\n\
         RUN mkdir -p /out/sub && echo hello > /out/sub/a.txt && ln /out/sub/a.txt /out/hard \
         && ln -s sub/a.txt /out/link && chmod 4755 /out/sub/a.txt && chmod 750 /out/sub \
         && echo $RUN_ID > /out/id\n",
    )
    .unwrap();
    // dest exists: unrelated files stay, an entry of the same name is replaced.
    let dest = dir.path().join("dest");
    std::fs::create_dir_all(dest.join("out/id")).unwrap();
    std::fs::write(dest.join("keep.txt"), "mine").unwrap();
    let mut req = request_at(ctx);
    let run_id = unique("run");
    req.build_args.insert("RUN_ID".into(), run_id.clone());
    req.outputs = vec![layercache::plan::Output {
        kind: layercache::plan::OutputType::Local,
        attrs: [("dest".to_owned(), dest.display().to_string())].into(),
    }];
    run(&req, &io(&host), &mut Recorder::default())
        .await
        .unwrap();

    let read = |p: &str| std::fs::read(dest.join(p)).unwrap();
    let meta = |p: &str| std::fs::symlink_metadata(dest.join(p)).unwrap();
    assert_eq!(read("bin/busybox"), std::fs::read("/bin/busybox").unwrap());
    assert_eq!(
        std::fs::read_link(dest.join("bin/sh")).unwrap(),
        std::path::Path::new("busybox")
    );
    assert_eq!(read("out/sub/a.txt"), b"hello\n");
    assert_eq!(meta("out/sub/a.txt").permissions().mode() & 0o7777, 0o4755);
    assert_eq!(meta("out/sub").permissions().mode() & 0o7777, 0o750);
    assert_eq!(meta("tmp").permissions().mode() & 0o7777, 0o1777);
    assert_eq!(
        meta("out/hard").ino(),
        meta("out/sub/a.txt").ino(),
        "hard link kept"
    );
    assert_eq!(
        std::fs::read_link(dest.join("out/link")).unwrap(),
        std::path::Path::new("sub/a.txt")
    );
    assert_eq!(String::from_utf8(read("out/id")).unwrap().trim(), run_id);
    assert_eq!(read("keep.txt"), b"mine");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("layercache"))
        .collect();
    assert!(left.is_empty(), "staging left behind: {left:?}");
}

#[tokio::test]
async fn a_rebuild_sends_only_the_context_files_that_changed() {
    let host = host();
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = "ARG BASE\nFROM ${BASE}\nCOPY . /ctx\n";
    let ignore = "*.log\n";
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(dir.path().join(".dockerignore"), ignore).unwrap();
    for name in ["a.txt", "b.txt", "c.txt", "noise.log"] {
        std::fs::write(dir.path().join(name), name).unwrap();
    }
    let req = request_at(dir.path());
    let sent = |o: &layercache::engine::Outcome| (o.context_files, o.context_bytes);
    let first = run(&req, &io(&host), &mut Recorder::default())
        .await
        .unwrap();
    // The frontend first pulls `.dockerignore` alone, then the context without `*.log`:
    // Dockerfile, .dockerignore, a, b, c.
    let bytes = (dockerfile.len() + 2 * ignore.len() + 3 * 5) as u64;
    assert_eq!(sent(&first), (6, bytes), "first build");
    let again = run(&req, &io(&host), &mut Recorder::default())
        .await
        .unwrap();
    assert_eq!(sent(&again), (0, 0), "nothing changed");
    std::fs::write(dir.path().join("b.txt"), "changed").unwrap();
    let changed = run(&req, &io(&host), &mut Recorder::default())
        .await
        .unwrap();
    assert_eq!(sent(&changed), (1, 7), "one file changed");
}
