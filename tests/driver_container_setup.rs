//! How the `docker-container` driver sets its BuildKit container up, on the newest-BuildKit
//! lane (scripts/setup.d/20-buildkit-lane.sh): the builder image pulled with registry
//! credentials and retried while the registry is down, the log naming image and digest;
//! `driver-opts` reaching the container; `buildkitd-config-inline` used by BuildKit (a
//! registry mirror) and `buildkitd-flags` passed to it. Skipped without the lane, except
//! the check of the container's mounts, which needs no BuildKit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

mod engine_support;

use std::net::TcpListener;

use bollard::query_parameters::{PushImageOptions, RemoveImageOptions, TagImageOptions};
use engine_support::*;
use futures::StreamExt;
use layercache::engine::{BuildEvent, Recorder, RegistryAuth, remove_builder, run};
use layercache::plan::{BuildPlan, BuilderOptions, DriverChoice};

fn credentials(password: &str) -> RegistryAuth {
    RegistryAuth {
        username: "layercache".into(),
        password: password.into(),
    }
}

fn container_request(image: &str, builder: &str) -> BuildPlan {
    let mut req = request("cached");
    req.driver = DriverChoice::DockerContainer;
    req.builder.image = image.to_owned();
    req.builder.name = builder.to_owned();
    req.builder.options = BuilderOptions {
        network: Some("host".into()),
        ..Default::default()
    };
    req
}

fn notices(events: &[BuildEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::Notice(n) | BuildEvent::Warning(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_lane_the_builder_image_is_pulled_with_credentials_and_retried_while_the_registry_is_down()
 {
    let Some(lane) = lane_image("the_builder_image_is_pulled_with_credentials_and_retried") else {
        return;
    };
    let host = host();
    let docker = host.docker().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let mut registry = auth_registry(&addr, dir.path());
    let repo = format!("{addr}/{}", unique("buildkit"));
    let image = format!("{repo}:v0");
    let opts = TagImageOptions {
        repo: Some(repo.clone()),
        tag: Some("v0".into()),
    };
    docker.tag_image(&lane, Some(opts)).await.unwrap();
    let creds = bollard::auth::DockerCredentials {
        username: Some("layercache".into()),
        password: Some("right-password".into()),
        serveraddress: Some(addr.clone()),
        ..Default::default()
    };
    let push = PushImageOptions {
        tag: Some("v0".into()),
        platform: None,
    };
    let mut stream = docker.push_image(&repo, Some(push), Some(creds));
    while let Some(item) = stream.next().await {
        item.unwrap();
    }
    docker
        .remove_image(&image, None::<RemoveImageOptions>, None)
        .await
        .unwrap();

    // Wrong password: refused at once, named, not retried, the password nowhere.
    let builder = unique("lc-pull");
    let mut req = container_request(&image, &builder);
    req.build_args
        .insert("BASE".into(), pushed_base_image().await);
    let mut auth = io(&host);
    auth.registry_auth
        .insert(addr.clone(), credentials("canary-wrong-pw-91c"));
    let started = std::time::Instant::now();
    let err = run(&req, &auth, &mut Recorder::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&image) && err.contains("pull"), "{err}");
    assert!(!err.contains("canary-wrong-pw-91c"), "{err}");
    assert!(!err.contains("attempts"), "a refusal is not retried: {err}");
    assert!(started.elapsed().as_secs() < 20);

    // The registry goes away and comes back 2.5 s later: the pull is retried until it works.
    registry.kill().unwrap();
    registry.wait().unwrap();
    let (addr2, dir2) = (addr.clone(), dir.path().to_owned());
    let back = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(2500));
        auth_registry(&addr2, &dir2)
    });
    auth.registry_auth
        .insert(addr.clone(), credentials("right-password"));
    let mut events = Recorder::default();
    let outcome = run(&req, &auth, &mut events).await;
    let mut registry = back.join().unwrap();
    let shown = notices(&events.0);
    outcome.unwrap_or_else(|e| panic!("{e}; {shown:?}"));
    let digest = docker
        .inspect_image(&image)
        .await
        .unwrap()
        .repo_digests
        .unwrap();
    let digest = digest[0].split_once('@').unwrap().1;
    assert!(
        shown.iter().any(|n| n.contains(&format!(
            "builder image {image} ({digest}, pulled after retries)"
        ))),
        "{shown:?}"
    );
    remove_builder(&host, &builder).await.unwrap();
    docker
        .remove_image(&image, None::<RemoveImageOptions>, None)
        .await
        .unwrap();
    registry.kill().unwrap();
    registry.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_lane_driver_opts_config_and_flags_reach_the_builder() {
    let Some(lane) = lane_image("buildkit_lane_driver_opts_config_and_flags_reach_the_builder")
    else {
        return;
    };
    let host = host();
    let docker = host.docker().unwrap();
    // A Docker Hub name that only the mirror in the config can serve (no internet here).
    let hub_name = format!("library/{}", unique("lc-mirrored"));
    let mirrored = format!("{}/{hub_name}", registry());
    let opts = TagImageOptions {
        repo: Some(mirrored.clone()),
        tag: Some("latest".into()),
    };
    docker.tag_image(&base_image(), Some(opts)).await.unwrap();
    let mut stream = docker.push_image(
        &mirrored,
        Some(PushImageOptions {
            tag: Some("latest".into()),
            platform: None,
        }),
        None,
    );
    while let Some(item) = stream.next().await {
        item.unwrap();
    }

    let builder = unique("lc-opts");
    let mut req = container_request(&lane, &builder);
    req.build_args
        .insert("BASE".into(), format!("docker.io/{hub_name}:latest"));
    req.builder.options = BuilderOptions {
        network: Some("host".into()),
        privileged: false,
        cap_drop: vec!["SYS_RESOURCE".into()],
        env: [("LC_CANARY_ENV".to_owned(), "on".to_owned())].into(),
        memory: Some(2 << 30),
        config_toml: Some(format!(
            "[registry.\"docker.io\"]\n  mirrors = [\"{r}\"]\n[registry.\"{r}\"]\n  http = true\n",
            r = registry()
        )),
        flags: vec![
            "--allow-insecure-entitlement=network.host".into(),
            "--debug".into(),
        ],
        ..Default::default()
    };
    let mut events = Recorder::default();
    let outcome = run(&req, &io(&host), &mut events).await;
    let shown = notices(&events.0);
    outcome.unwrap_or_else(|e| panic!("FROM through the mirror: {e}; {shown:?}"));
    assert!(
        shown.iter().all(|n| !n.contains("refused a privileged")),
        "privileged=false skips the privileged try: {shown:?}"
    );

    let c = docker.inspect_container(&builder, None).await.unwrap();
    let hc = c.host_config.unwrap();
    assert_eq!(hc.privileged, Some(false));
    assert_eq!(hc.cap_add.unwrap(), ["ALL"]);
    assert_eq!(hc.cap_drop.unwrap(), ["SYS_RESOURCE"]);
    assert_eq!(hc.memory, Some(2 << 30));
    assert_eq!(hc.network_mode.as_deref(), Some("host"));
    let config = c.config.unwrap();
    assert!(config.env.unwrap().contains(&"LC_CANARY_ENV=on".to_owned()));
    assert_eq!(
        config.cmd.unwrap(),
        [
            "--allow-insecure-entitlement=network.host",
            "--debug",
            "--config",
            "/etc/buildkit/buildkitd.toml"
        ]
    );
    remove_builder(&host, &builder).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_lane_a_flag_buildkitd_rejects_is_named_and_nothing_is_left_behind() {
    let Some(lane) =
        lane_image("buildkit_lane_a_flag_buildkitd_rejects_is_named_and_nothing_is_left_behind")
    else {
        return;
    };
    let host = host();
    let builder = unique("lc-badflag");
    let mut req = container_request(&lane, &builder);
    req.builder.options.privileged = false;
    req.builder.options.cap_drop = vec!["SYS_RESOURCE".into()];
    req.builder.options.flags = vec!["--no-such-flag".into()];
    let err = run(&req, &io(&host), &mut Recorder::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("buildkitd exited") && err.contains("no-such-flag"),
        "{err}"
    );
    let docker = host.docker().unwrap();
    assert!(docker.inspect_container(&builder, None).await.is_err());
}

/// The locked-down daemon's setup: `privileged=false` with the user's own `/sys/fs/cgroup`
/// bind, which layercache adds too. Docker refuses two binds on one destination at create
/// ("Duplicate mount point"), so this needs no BuildKit: the base image stands in for it
/// (`buildkitd-flags` become its command, `sleep`), the container is looked at while the
/// driver waits for a BuildKit that never answers, and is gone once the driver gives up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_cgroup_volume_is_the_only_bind_there() {
    let host = host();
    let docker = host.docker().unwrap();
    let builder = unique("lc-cgroup");
    let mut req = container_request(&base_image(), &builder);
    req.builder.options.privileged = false;
    req.builder.options.cap_drop = vec!["SYS_RESOURCE".into()];
    req.builder.options.volumes = vec!["/sys/fs/cgroup:/sys/fs/cgroup:rw".into()];
    req.builder.options.flags = vec!["sleep".into(), "60".into()];
    let io = io(&host);
    let mut events = Recorder::default();
    let done = std::sync::atomic::AtomicBool::new(false);
    let build = async {
        let outcome = run(&req, &io, &mut events).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        outcome
    };
    let watch = async {
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            if let Ok(c) = docker.inspect_container(&builder, None).await
                && c.state.as_ref().and_then(|s| s.running) == Some(true)
            {
                return Some(c);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        None
    };
    let (outcome, inspected) = tokio::join!(build, watch);
    let err = outcome.unwrap_err().to_string();
    let c = inspected.unwrap_or_else(|| panic!("the builder container never ran: {err}"));
    let binds = c.host_config.unwrap().binds.unwrap();
    let cgroup: Vec<_> = binds
        .iter()
        .filter(|b| b.split(':').nth(1) == Some("/sys/fs/cgroup"))
        .collect();
    assert_eq!(cgroup, ["/sys/fs/cgroup:/sys/fs/cgroup:rw"], "{binds:?}");
    assert!(!err.contains("Duplicate mount point"), "{err}");
    assert!(
        docker.inspect_container(&builder, None).await.is_err(),
        "a builder whose BuildKit never answered is removed"
    );
}
