//! Cache mounts kept in the gha cache (issue #15), for real: a plan from action inputs, our
//! cache service as the cache, the newest-BuildKit lane as the builder (remote driver, and
//! the docker-container driver from the lane's image) and the Docker 28 lane's own BuildKit
//! (docker driver, containerd image store), the build cache pruned between builds as a
//! fresh runner's would be. Skipped, saying so, without the lane a test needs
//! (`LAYERCACHE_TEST_BUILDKIT_ADDR`, `LAYERCACHE_TEST_DOCKER28_HOST`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

mod engine_support;
mod support;

use std::path::Path;

use engine_support::*;
use layercache::action::env::Env;
use layercache::action::inputs::Inputs;
use layercache::action::names::INPUTS;
use layercache::action::runtime::Runtime;
use layercache::cache_mounts::{Keeper, MountOutcome, Restore, Save, prepare};
use layercache::engine::{Recorder, prune_remote, run_plan};
use support::runner::{Step, StepResult};

/// The cache-mounted step records what it found in the mount (into the exported `/seen`)
/// and, unless `WRITE=no`, adds a line to it. `RUN_ID` busts the step's layer.
const DOCKERFILE: &str = "ARG BASE\nFROM $BASE\nARG MOUNT_ID\nARG RUN_ID\nARG WRITE=yes\nRUN --mount=type=cache,id=${MOUNT_ID},target=/var/cache/thing \\\n    echo $RUN_ID && (cat /var/cache/thing/data 2>/dev/null || echo empty) > /seen && \\\n    if [ \"$WRITE\" = yes ]; then echo $RUN_ID >> /var/cache/thing/data; fi\nRUN --mount=type=cache,target=/other,id=$UNSET_ID true\n";

struct Lane {
    url: String,
    token: String,
    /// The daemon the builds and the mounts' copies go to (`DOCKER_HOST`).
    docker_host: String,
    _service: layercache::cache_service::RunningService,
    _store: tempfile::TempDir,
}

async fn cache_service() -> Lane {
    let store = tempfile::tempdir().unwrap();
    let config = layercache::cache_service::ServiceConfig::new(
        ([127, 0, 0, 1], 0).into(),
        layercache::storage::StorageConfig::Disk(store.path().to_owned()),
    );
    let service = layercache::cache_service::spawn(config).await.unwrap();
    Lane {
        url: format!("{}/", service.base_url),
        token: service.token("refs/heads/main").expose().to_owned(),
        docker_host: required("LAYERCACHE_TEST_DOCKER_HOST"),
        _service: service,
        _store: store,
    }
}

/// One build as the action runs it: restore, build, save. Returns the outcomes and what
/// the step saw in the mount.
async fn build(
    lane: &Lane,
    context: &Path,
    driver: &[(&str, String)],
    args: &[(&str, String)],
    extra: &[(&str, &str)],
) -> (Vec<MountOutcome>, String, Option<String>) {
    // Upper-case names are environment variables, the others inputs.
    let (extra_env, extra_inputs): (Vec<_>, Vec<_>) = extra
        .iter()
        .partition(|(k, _)| k.starts_with(char::is_uppercase));
    let out = context.join("out");
    let _ = std::fs::remove_dir_all(&out);
    let build_args: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut pairs = vec![
        ("context", context.display().to_string()),
        ("build-args", build_args.join("\n")),
        ("cache-to", "type=gha,mode=max".to_owned()),
        ("cache-from", "type=gha".to_owned()),
        ("outputs", format!("type=local,dest={}", out.display())),
    ];
    pairs.extend(driver.iter().cloned());
    pairs.extend(extra_inputs.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let inputs = Inputs::from_pairs(INPUTS, pairs.iter().map(|(k, v)| (*k, v.clone()))).unwrap();
    let mut vars = vec![
        ("ACTIONS_RESULTS_URL", lane.url.clone()),
        ("ACTIONS_RUNTIME_TOKEN", lane.token.clone()),
        ("DOCKER_HOST", lane.docker_host.clone()),
    ];
    vars.extend(extra_env.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let env = Env::from_pairs(vars);
    let runtime = Runtime::from_env(&env);
    let plan = layercache::plan::parse(&inputs, &runtime, &env).unwrap();
    let mut keeper: Keeper = prepare(&plan, &runtime, &env).await.unwrap().unwrap();
    keeper.restore().await;
    let outcome = run_plan(&plan, &env, &mut Recorder::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    keeper.saw_build(&outcome);
    keeper.save().await;
    let seen = std::fs::read_to_string(out.join("seen")).unwrap();
    (keeper.outcomes().to_vec(), seen, keeper.notice.clone())
}

/// Where the builds run: the daemon (`DOCKER_HOST`) and a base image its builder can use.
struct Daemon {
    host: String,
    base: String,
}

impl Daemon {
    /// The test dockerd (Engine 20.10) and the base image in the loopback registry, which
    /// a BuildKit outside the daemon pulls.
    async fn test_dockerd() -> Self {
        Self {
            host: required("LAYERCACHE_TEST_DOCKER_HOST"),
            base: pushed_base_image().await,
        }
    }
}

/// Build, prune the builder, build again (layer busted): the mount comes back from the
/// cache; a build that leaves the mount as it was uploads nothing.
async fn round_trip(driver: &[(&str, String)], daemon: Daemon, prune: impl AsyncFn()) {
    let mut lane = cache_service().await;
    lane.docker_host = daemon.host;
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), DOCKERFILE).unwrap();
    let base = daemon.base;
    let id = unique("mount");
    let args = |run: &'static str, write: &'static str| {
        vec![
            ("BASE", base.clone()),
            ("MOUNT_ID", id.clone()),
            ("RUN_ID", format!("{run}-{}", unique("r"))),
            ("WRITE", write.to_owned()),
        ]
    };

    let first = args("one", "yes");
    let (outcomes, seen, notice) = build(&lane, context.path(), driver, &first, &[]).await;
    assert_eq!(seen.trim(), "empty");
    let notice = notice.expect("the mount with an unset id is named");
    assert!(
        notice.contains("line 9") && notice.contains("UNSET_ID"),
        "{notice}"
    );
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0].id, id);
    assert_eq!(outcomes[0].restore, Restore::Miss);
    assert!(
        matches!(outcomes[0].save, Some(Save::Saved { bytes, .. }) if bytes > 0),
        "{outcomes:?}"
    );

    prune().await;
    let second = args("two", "yes");
    let (outcomes, seen, _) = build(&lane, context.path(), driver, &second, &[]).await;
    assert!(
        seen.starts_with("one-"),
        "restored contents were not there: {seen} {outcomes:?}"
    );
    assert!(
        matches!(outcomes[0].restore, Restore::Restored { bytes, .. } if bytes > 0),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes[0].save, Some(Save::Saved { .. })),
        "{outcomes:?}"
    );

    prune().await;
    let third = args("three", "no");
    let (outcomes, seen, _) = build(&lane, context.path(), driver, &third, &[]).await;
    let lines: Vec<&str> = seen.lines().collect();
    assert!(
        lines.len() == 2 && lines[0].starts_with("one-") && lines[1].starts_with("two-"),
        "the newest entry is restored: {seen}"
    );
    assert_eq!(outcomes[0].save, Some(Save::Unchanged), "{outcomes:?}");

    // The same build again: every RUN comes from the gha layer cache, so the mount is not
    // even copied out.
    prune().await;
    let (outcomes, _, _) = build(&lane, context.path(), driver, &third, &[]).await;
    assert!(matches!(outcomes[0].restore, Restore::Restored { .. }));
    assert_eq!(outcomes[0].save, Some(Save::Untouched), "{outcomes:?}");

    // Read-only policy: restored, never saved.
    prune().await;
    let fourth = args("four", "yes");
    let (outcomes, seen, _) = build(
        &lane,
        context.path(),
        driver,
        &fourth,
        &[("ACTIONS_CACHE_MODE", "read")],
    )
    .await;
    assert_eq!(seen.lines().count(), 2, "{seen}");
    assert!(matches!(outcomes[0].restore, Restore::Restored { .. }));
    assert!(
        matches!(&outcomes[0].save, Some(Save::NotRun(why)) if why.contains("ACTIONS_CACHE_MODE=read")),
        "{outcomes:?}"
    );

    // Over the cap: not saved, named; the build itself is fine. Excluded: left alone.
    let fifth = args("five", "yes");
    let (outcomes, _, _) = build(
        &lane,
        context.path(),
        driver,
        &fifth,
        &[("cache-mounts-max-size", "64")],
    )
    .await;
    assert_eq!(outcomes[0].save, Some(Save::OverCap { cap: 64 }));
    let total = args("five-b", "yes");
    let (outcomes, _, _) = build(
        &lane,
        context.path(),
        driver,
        &total,
        &[("cache-mounts-total-size", "100")],
    )
    .await;
    assert_eq!(outcomes[0].save, Some(Save::OverCap { cap: 100 }));
    let sixth = args("six", "yes");
    let (outcomes, _, notice) = build(
        &lane,
        context.path(),
        driver,
        &sixth,
        &[("cache-mounts-exclude", id.as_str())],
    )
    .await;
    assert!(outcomes.is_empty(), "{outcomes:?}");
    assert!(notice.is_some_and(|n| n.contains(&format!("excluded by cache-mounts-exclude: {id}"))),);
}

#[tokio::test]
async fn buildkit_lane_mounts_survive_a_pruned_remote_builder() {
    let Ok(endpoint) = std::env::var("LAYERCACHE_TEST_BUILDKIT_ADDR") else {
        eprintln!(
            "skipped: LAYERCACHE_TEST_BUILDKIT_ADDR names no BuildKit (the newest-BuildKit lane)"
        );
        return;
    };
    let driver = [
        ("driver", "remote".to_owned()),
        ("endpoint", endpoint.clone()),
    ];
    let daemon = Daemon::test_dockerd().await;
    round_trip(&driver, daemon, async || {
        prune_remote(&endpoint).await.unwrap()
    })
    .await;
}

/// The Docker Engine runners ship (the Docker 28 lane, scripts/setup.d/02-docker28.sh):
/// the daemon's own BuildKit (driver `docker`, containerd image store), whose whole build
/// cache is pruned between builds; then a restore alongside the build's start
/// ([`held_alongside`]).
#[tokio::test]
async fn docker28_lane_mounts_survive_a_pruned_docker_builder_on_docker_28() {
    let (Ok(host), Ok(base)) = (
        std::env::var("LAYERCACHE_TEST_DOCKER28_HOST"),
        std::env::var("LAYERCACHE_TEST_DOCKER28_BASE_IMAGE"),
    ) else {
        eprintln!(
            "skipped docker28_lane_mounts_survive_a_pruned_docker_builder_on_docker_28: LAYERCACHE_TEST_DOCKER28_HOST names no Docker 28 lane"
        );
        return;
    };
    let docker = layercache::engine::DockerHost::parse(&host)
        .unwrap()
        .docker()
        .unwrap();
    let driver = [("driver", "docker".to_owned())];
    let daemon = Daemon {
        host: host.clone(),
        base: base.clone(),
    };
    round_trip(&driver, daemon, async || {
        let all = bollard::query_parameters::PruneBuildOptions {
            all: Some(true),
            ..Default::default()
        };
        docker.prune_build(Some(all)).await.unwrap();
    })
    .await;
    held_alongside(host, base).await;
}

/// The action's way: each mount restored alongside the build's start, the build's steps
/// held (through the relay's cache import) until the mounts are in place. The cache
/// service answers each call after 300 ms, so the restore ends well after an unheld build
/// would have run its step on the busybox base (without the hold, the step runs first and
/// the restore finds the mount filled): the step must find the restored contents
/// and start after the restore ended, and nothing may wait on anything forever (the
/// restore's own copy runs on the same BuildKit, whose scheduler the held import blocks).
/// Run after the round trip, in the same test: a prune by a test beside it would empty
/// the restored mount before the step.
async fn held_alongside(host: String, base: String) {
    let store = tempfile::tempdir().unwrap();
    let mut config = layercache::cache_service::ServiceConfig::new(
        ([127, 0, 0, 1], 0).into(),
        layercache::storage::StorageConfig::Disk(store.path().to_owned()),
    );
    config.faults.latency = std::time::Duration::from_millis(300);
    let service = layercache::cache_service::spawn(config).await.unwrap();
    let lane = Lane {
        url: format!("{}/", service.base_url),
        token: service.token("refs/heads/main").expose().to_owned(),
        docker_host: host.clone(),
        _service: service,
        _store: store,
    };
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), DOCKERFILE).unwrap();
    let id = unique("held");
    // Each build in a cache-mount namespace of its own: the second finds its builder's
    // mount empty without a prune (which would reach into other tests' builds on the
    // lane), while both keep the mount under the same key in the cache.
    let args = |run: &str| {
        vec![
            ("BASE", base.clone()),
            ("MOUNT_ID", id.clone()),
            ("RUN_ID", format!("{run}-{}", unique("r"))),
            ("BUILDKIT_CACHE_MOUNT_NS", unique(run)),
        ]
    };
    let driver = [("driver", "docker".to_owned())];
    let (outcomes, seen, _) = build(&lane, context.path(), &driver, &args("one"), &[]).await;
    assert_eq!(seen.trim(), "empty");
    assert!(
        matches!(outcomes[0].save, Some(Save::Saved { .. })),
        "{outcomes:?}"
    );

    let out = context.path().join("out");
    let _ = std::fs::remove_dir_all(&out);
    let build_args: Vec<String> = args("two")
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut pairs = vec![
        ("context", context.path().display().to_string()),
        ("build-args", build_args.join("\n")),
        ("cache-to", "type=gha,mode=max".to_owned()),
        ("cache-from", "type=gha".to_owned()),
        ("outputs", format!("type=local,dest={}", out.display())),
    ];
    pairs.extend(driver.iter().cloned());
    let inputs = Inputs::from_pairs(INPUTS, pairs.iter().map(|(k, v)| (*k, v.clone()))).unwrap();
    let env = Env::from_pairs([
        ("ACTIONS_RESULTS_URL", lane.url.clone()),
        ("ACTIONS_RUNTIME_TOKEN", lane.token.clone()),
        ("DOCKER_HOST", host.clone()),
    ]);
    let runtime = Runtime::from_env(&env);
    let plan = layercache::plan::parse(&inputs, &runtime, &env).unwrap();
    let mut keeper = prepare(&plan, &runtime, &env).await.unwrap().unwrap();
    let (signals, hold) = layercache::cache_mounts::hold();
    let mut steps = hold.steps.clone();
    // When the steps may run: every copy into a mount has finished.
    let restore = async {
        let (_, opened) = tokio::join!(keeper.restore_holding(signals), async {
            let _ = steps.wait_for(|open| *open).await;
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
        });
        opened
    };
    let mut events = Recorder::default();
    let build = layercache::engine::run_plan_held(&plan, &env, hold, &mut events);
    let (restored_at, outcome) = tokio::time::timeout(std::time::Duration::from_secs(180), async {
        tokio::join!(restore, build)
    })
    .await
    .expect("the build and the restore beside it waited on each other");
    let outcome = outcome.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(keeper.outcomes()[0].restore, Restore::Restored { .. }),
        "{:?}",
        keeper.outcomes()
    );
    let seen = std::fs::read_to_string(out.join("seen")).unwrap();
    assert!(
        seen.starts_with("one-"),
        "the step ran without the restored mount: {seen}"
    );
    let step = outcome
        .steps
        .iter()
        .find(|s| s.name.contains("id=${MOUNT_ID}") || s.name.contains(&id))
        .filter(|s| !s.cached)
        .unwrap_or_else(|| panic!("no mount step ran: {:?}", outcome.steps));
    let started = step.started_at.expect("BuildKit gives a step its start");
    assert!(
        started >= restored_at,
        "the step started {:?} before the copy into its mount had finished",
        restored_at.saturating_sub(started)
    );
}

/// One step of the job as the runner runs the action: the lane's BuildKit container
/// (host networking, so it reaches the loopback cache service and registry).
fn step(lane: &Lane, image: &str, builder: &str, args: &[(&str, String)]) -> Step {
    let declared: Vec<_> = INPUTS.iter().map(|s| (s.name, s.default)).collect();
    let mut s = Step::new(&declared);
    std::fs::write(s.workspace().join("Dockerfile"), DOCKERFILE).unwrap();
    let build_args: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let out = s.workspace().join("out").display().to_string();
    s.set("DOCKER_HOST", &required("LAYERCACHE_TEST_DOCKER_HOST"))
        .set("ACTIONS_RESULTS_URL", &lane.url)
        .set("ACTIONS_RUNTIME_TOKEN", &lane.token)
        .input("driver", "docker-container")
        .input("builder", builder)
        .input("builder-image", image)
        .input("driver-opts", "network=host")
        .input("build-args", &build_args.join("\n"))
        .input("scope", "mounts-test")
        .input("cache-to", "type=gha,mode=max")
        .input("outputs", &format!("type=local,dest={out}"))
        .input("expose-runtime", "false");
    s
}

async fn run_step(s: Step, args: &'static [&'static str]) -> (StepResult, String) {
    tokio::task::spawn_blocking(move || {
        let r = s.run(args);
        // Read before `s` (and its workspace) goes away.
        let seen = std::fs::read_to_string(s.workspace().join("out/seen")).unwrap_or_default();
        (r, seen)
    })
    .await
    .unwrap()
}

/// The post step, which removes the job's BuildKit container: the next step starts on an
/// empty builder, as the next job on a hosted runner does.
async fn remove_builder(builder: &str) {
    let mut s = Step::new(&[]);
    s.set("DOCKER_HOST", &required("LAYERCACHE_TEST_DOCKER_HOST"))
        .set("STATE_builder", builder);
    let (r, _) = run_step(s, &["post"]).await;
    assert_eq!(r.code(), 0, "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_lane_mounts_survive_a_new_builder_container_through_the_action() {
    let Some(image) =
        lane_image("buildkit_lane_mounts_survive_a_new_builder_container_through_the_action")
    else {
        return;
    };
    let lane = cache_service().await;
    let base = pushed_base_image().await;
    let id = unique("mount");
    let args = |run: &str| {
        vec![
            ("BASE", base.clone()),
            ("MOUNT_ID", id.clone()),
            ("RUN_ID", unique(run)),
        ]
    };
    let ctx = |r: &StepResult| format!("stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);

    let first = unique("lc-mounts-a");
    let (r, seen) = run_step(step(&lane, &image, &first, &args("one")), &["action"]).await;
    remove_builder(&first).await;
    assert_eq!(r.code(), 0, "{}", ctx(&r));
    assert_eq!(seen.trim(), "empty", "{}", ctx(&r));
    assert!(
        r.summary_file
            .contains(&format!("| `{id}` | – nothing cached yet | ✅ saved ")),
        "{}",
        r.summary_file
    );
    let notices = r.named("notice");
    assert!(
        notices.iter().any(|n| n.data.contains("UNSET_ID")),
        "{}",
        ctx(&r)
    );

    let second = unique("lc-mounts-b");
    let (r, seen) = run_step(step(&lane, &image, &second, &args("two")), &["action"]).await;
    remove_builder(&second).await;
    assert_eq!(r.code(), 0, "{}", ctx(&r));
    assert!(
        seen.starts_with("one-"),
        "not restored: {seen}\n{}",
        ctx(&r)
    );
    assert!(
        r.summary_file.contains(&format!("| `{id}` | ✅ ")),
        "{}",
        r.summary_file
    );
    assert!(
        !r.named("warning")
            .iter()
            .any(|w| w.data.contains("cache mount")),
        "{}",
        ctx(&r)
    );
}

/// The transfer builds on the daemon's own BuildKit (the `docker` driver; Engine 20.10
/// here, whose BuildKit cannot export gha cache, so only the copies are checked): what a
/// restore puts into a mount, a save brings back, modes and links included. With `cp -a`
/// in the stage's base image (a dynamically linked layercache).
#[tokio::test]
async fn transfers_round_trip_on_the_daemons_buildkit() {
    transfers_round_trip(None, base_image()).await;
}

/// The same with a static layercache as the copy tool (what the action image has): the
/// stage's base image is never needed, so one that does not exist anywhere does.
#[tokio::test]
async fn transfers_with_the_static_tool_need_no_base_image() {
    let Some(tool) = std::env::var_os("LAYERCACHE_MOUNT_TOOL") else {
        eprintln!(
            "skipped transfers_with_the_static_tool_need_no_base_image: LAYERCACHE_MOUNT_TOOL names no static layercache"
        );
        return;
    };
    transfers_round_trip(
        Some(tool.into()),
        "127.0.0.1:9/layercache-test/no-such-image:never".to_owned(),
    )
    .await;
}

async fn transfers_round_trip(tool: Option<std::path::PathBuf>, base: String) {
    let with_tool = tool.is_some();
    use layercache::cache_mounts::{CacheMount, Direction, Sharing, Transfers};
    use std::os::unix::fs::PermissionsExt;
    let mut main = layercache::plan::BuildPlan::local(".");
    main.driver = layercache::plan::DriverChoice::Docker;
    let transfers = Transfers::new(main, io(&host()), tool).await.unwrap();
    let mount = CacheMount {
        id: unique("transfer"),
        target: "/cache".into(),
        sharing: Sharing::Shared,
        uid: None,
        gid: None,
        mode: None,
        base,
        line: 1,
    };
    let restore = tempfile::tempdir().unwrap();
    let content = restore.path().join("content");
    std::fs::create_dir_all(content.join("sub")).unwrap();
    std::fs::write(content.join("sub/pkg.whl"), b"wheel").unwrap();
    std::fs::write(content.join("run.sh"), b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        content.join("run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("sub/pkg.whl", content.join("link")).unwrap();
    let copied = transfers
        .run(&mount, restore.path(), Direction::Restore)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(copied);
    if with_tool {
        // The restore exported its (empty) root file system to a directory, not as an
        // untagged image in the daemon.
        let discard = restore.path().join("discard");
        assert!(discard.is_dir(), "no local export of the restore");
    }
    // A builder whose mount has contents keeps them: they are newer than any entry.
    let again = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(again.path().join("content")).unwrap();
    std::fs::write(again.path().join("content/stale"), b"old").unwrap();
    let copied = transfers
        .run(&mount, again.path(), Direction::Restore)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!copied);

    let save = tempfile::tempdir().unwrap();
    transfers
        .run(&mount, save.path(), Direction::Save)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let out = save.path().join("out");
    assert_eq!(std::fs::read(out.join("sub/pkg.whl")).unwrap(), b"wheel");
    assert!(!out.join("stale").exists());
    let mode = std::fs::metadata(out.join("run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        std::fs::read_link(out.join("link")).unwrap(),
        Path::new("sub/pkg.whl")
    );

    // A mount nobody restored saves as an empty tree.
    let other = CacheMount {
        id: unique("transfer-empty"),
        ..mount
    };
    let empty = tempfile::tempdir().unwrap();
    transfers
        .run(&other, empty.path(), Direction::Save)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        std::fs::read_dir(empty.path().join("out")).unwrap().count(),
        0
    );
}

/// Trouble is a warning and costs only the mount: an entry that is not an archive fails
/// the restore, the build runs with the mount empty, and the save replaces it.
#[tokio::test]
async fn buildkit_lane_a_broken_entry_costs_the_mount_not_the_build() {
    let Ok(endpoint) = std::env::var("LAYERCACHE_TEST_BUILDKIT_ADDR") else {
        eprintln!(
            "skipped: LAYERCACHE_TEST_BUILDKIT_ADDR names no BuildKit (the newest-BuildKit lane)"
        );
        return;
    };
    use layercache::cache_client::CacheClient;
    use layercache::cache_protocol::Endpoint;
    let lane = cache_service().await;
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), DOCKERFILE).unwrap();
    let id = unique("mount");
    let scope = unique("scope");
    let client = CacheClient::new(
        Endpoint::V2(lane.url.clone()),
        layercache::secret::Secret::new(lane.token.clone()),
    );
    let key = format!(
        "{}garbage",
        layercache::cache_mounts::key_prefix(&scope, &id)
    );
    client
        .save_bytes(
            &key,
            &layercache::cache_mounts::version(),
            "not a tar.gz".into(),
        )
        .await
        .unwrap();
    let driver = [("driver", "remote".to_owned()), ("endpoint", endpoint)];
    let args = vec![
        ("BASE", pushed_base_image().await),
        ("MOUNT_ID", id.clone()),
        ("RUN_ID", unique("r")),
    ];
    let (outcomes, seen, _) = build(
        &lane,
        context.path(),
        &driver,
        &args,
        &[("scope", scope.as_str())],
    )
    .await;
    assert_eq!(seen.trim(), "empty");
    assert!(
        matches!(&outcomes[0].restore, Restore::Failed(e) if e.contains("unpack")),
        "{outcomes:?}"
    );
    let warning = layercache::report::restore_warning(&outcomes[0]).unwrap();
    assert!(
        warning.contains(&id) && warning.contains("ran with it empty"),
        "{warning}"
    );
    assert!(
        matches!(outcomes[0].save, Some(Save::Saved { .. })),
        "{outcomes:?}"
    );
    assert!(!warning.contains(&lane.token));
}

/// A mount with `uid`/`gid` is the same mount in the copies (BuildKit gives such a mount
/// an identity of its own), and what is restored belongs to that owner; a second mount of
/// the same step, restored at the same time, gets its own contents.
#[tokio::test]
async fn buildkit_lane_an_owned_mount_comes_back_owned() {
    let Ok(endpoint) = std::env::var("LAYERCACHE_TEST_BUILDKIT_ADDR") else {
        eprintln!(
            "skipped: LAYERCACHE_TEST_BUILDKIT_ADDR names no BuildKit (the newest-BuildKit lane)"
        );
        return;
    };
    let lane = cache_service().await;
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "ARG BASE\nFROM $BASE\nARG MOUNT_ID\nARG RUN_ID\nRUN --mount=type=cache,id=${MOUNT_ID},target=/c,uid=1000,gid=1000,mode=0750 \\\n    --mount=type=cache,id=${MOUNT_ID}-b,target=/d \\\n    echo $RUN_ID && ((cat /c/data && stat -c '%u:%g' /c/data /c) 2>/dev/null || echo empty) > /seen && \\\n    (cat /d/data 2>/dev/null || echo empty-b) >> /seen && echo $RUN_ID > /c/data && echo $RUN_ID-b > /d/data\n",
    )
    .unwrap();
    let driver = [
        ("driver", "remote".to_owned()),
        ("endpoint", endpoint.clone()),
    ];
    let base = pushed_base_image().await;
    let id = unique("owned");
    let args = |run: &str| {
        vec![
            ("BASE", base.clone()),
            ("MOUNT_ID", id.clone()),
            ("RUN_ID", unique(run)),
        ]
    };
    let (outcomes, seen, _) = build(&lane, context.path(), &driver, &args("one"), &[]).await;
    assert_eq!(seen, "empty\nempty-b\n");
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert!(
        matches!(outcomes[0].save, Some(Save::Saved { .. })),
        "{outcomes:?}"
    );
    prune_remote(&endpoint).await.unwrap();
    let (outcomes, seen, _) = build(&lane, context.path(), &driver, &args("two"), &[]).await;
    // Both mounts, restored side by side, each into its own mount.
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o.restore, Restore::Restored { .. })),
        "{outcomes:?}"
    );
    let lines: Vec<&str> = seen.lines().collect();
    assert!(
        lines[0].starts_with("one-") && !lines[0].ends_with("-b"),
        "{seen}"
    );
    assert_eq!(&lines[1..3], ["1000:1000", "1000:1000"], "{seen}");
    assert!(
        lines[3].starts_with("one-") && lines[3].ends_with("-b"),
        "{seen}"
    );
}
