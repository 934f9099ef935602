//! Moving a mount's contents in and out of BuildKit's cache mount through BuildKit itself:
//! a small generated build, never a look into the builder's state on disk, so it works
//! the same for every driver.
//!
//! Restore: `RUN --mount=type=cache,id=ID --mount=type=bind,source=content` copies a local
//! context directory into the mount. Save: the same mount copied into a stage exported
//! with the `local` exporter. The copy runs `layercache mount-copy` from a static
//! layercache sent in the context, on `FROM scratch` ([`super::copy_tool`]): nothing is
//! pulled, whatever the stage's base image weighs. Without a static layercache (a
//! dynamically linked install), `cp -a` in the stage's own base image does it. A fresh
//! nonce in each `RUN` keeps the layer cache from answering instead of running it. The
//! builtin Dockerfile frontend is used (no `# syntax=`), so no frontend image is needed
//! either.
//!
//! [`transfer_request`] is the only code here that builds a plan of its own.

use std::path::{Path, PathBuf};

use super::copy_tool::{self, KEPT};
use super::discover::CacheMount;
use crate::action::env::Env;
use crate::engine::{self, BuildEvent, DaemonFacts, EngineError, EventSink, Recorder, Resolved};
use crate::plan::{BuildPlan, DriverChoice, NetworkMode, Output, OutputType};

/// Where a cache mount sits inside the transfer builds.
const MOUNT_AT: &str = "/layercache-mount";
const CONTENT_AT: &str = "/layercache-content";
const OUT_AT: &str = "/layercache-out";
const TOOL_AT: &str = "/layercache-tool";
/// The static layercache's name in the transfer's context (its `tool/` directory).
const TOOL_NAME: &str = "layercache";

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("failed to prepare the transfer build: {0}")]
    Io(#[from] std::io::Error),
    #[error("the copy step failed: {error}{log}")]
    Step { error: String, log: String },
}

/// Which way the contents go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From `<dir>/content` into the mount.
    Restore,
    /// From the mount into `<dir>/out`.
    Save,
}

/// The builder the user's build runs on, and how to reach it.
#[derive(Debug, Clone)]
pub struct Transfers {
    main: BuildPlan,
    io: Resolved,
    /// A static layercache to copy with, when there is one.
    tool: Option<PathBuf>,
}

impl Transfers {
    /// For `plan`'s build. `auto` is resolved here to the driver the build itself will
    /// take, so the copies land in the same BuildKit.
    pub async fn for_plan(plan: &BuildPlan, env: &Env) -> Result<Self, TransferError> {
        // The user's build secrets are not the transfers' business: the host and the
        // registry credentials (for the base image) are all they need.
        let tool = copy_tool::static_self(env.get("LAYERCACHE_MOUNT_TOOL"));
        Self::new(plan.clone(), Resolved::without_secrets(env)?, tool).await
    }

    pub async fn new(
        mut main: BuildPlan,
        io: Resolved,
        tool: Option<PathBuf>,
    ) -> Result<Self, TransferError> {
        if main.driver == DriverChoice::Auto {
            let docker = io.host.docker()?;
            let facts = DaemonFacts::probe(&docker)
                .await
                .map_err(|e| io.host.unreachable(e.to_string()))?;
            main.driver = match engine::choose(&main, &facts)?.driver {
                "docker" => DriverChoice::Docker,
                _ => DriverChoice::DockerContainer,
            };
        }
        Ok(Self { main, io, tool })
    }

    /// Run one transfer of `mount` with the working directory `dir` (see [`Direction`]).
    /// `Ok(false)`: a restore left a mount that already had contents alone.
    pub async fn run(
        &self,
        mount: &CacheMount,
        dir: &Path,
        direction: Direction,
    ) -> Result<bool, TransferError> {
        self.run_telling(mount, dir, direction, &|_| {}).await
    }

    /// [`Transfers::run`], telling `tell` when BuildKit starts the copy's step (from then
    /// on the copy no longer needs BuildKit's scheduler) and when that step has finished
    /// (the mount is in place and released; the rest of the transfer's solve needs the
    /// scheduler again).
    pub async fn run_telling(
        &self,
        mount: &CacheMount,
        dir: &Path,
        direction: Direction,
        tell: &(dyn Fn(CopyStage) + Sync),
    ) -> Result<bool, TransferError> {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let copy = match &self.tool {
            Some(tool) => {
                let at = dir.join("tool");
                std::fs::create_dir_all(&at)?;
                let to = at.join(TOOL_NAME);
                if std::fs::hard_link(tool, &to).is_err() {
                    std::fs::copy(tool, &to)?;
                }
                Copy::Tool
            }
            None => Copy::Shell,
        };
        std::fs::write(
            dir.join("Dockerfile"),
            transfer_dockerfile(mount, direction, copy, &nonce),
        )?;
        // A save exports the mount's copy. A restore with the tool exports its root file
        // system (mount points only) to a directory nobody reads: without an output, the
        // docker driver's image exporter would leave an untagged image per transfer.
        let out = match (direction, copy) {
            (Direction::Save, _) => Some(dir.join("out")),
            (Direction::Restore, Copy::Tool) => Some(dir.join("discard")),
            (Direction::Restore, Copy::Shell) => None,
        };
        if let Some(out) = &out {
            std::fs::create_dir_all(out)?;
        }
        let req = transfer_request(&self.main, dir, out.as_ref());
        let mut events = Telling {
            events: Recorder::default(),
            tell,
        };
        match engine::run(&req, &self.io, &mut events).await {
            Ok(outcome) => {
                log_timings(&outcome, direction);
                Ok(!events
                    .events
                    .0
                    .iter()
                    .any(|e| matches!(e, BuildEvent::StepLog { text, .. } if text.contains(KEPT))))
            }
            Err(EngineError::Solve(error)) => Err(TransferError::Step {
                error,
                log: log_tail(&events.events.0),
            }),
            Err(e) => Err(e.into()),
        }
    }
}

/// Where a transfer's copy step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyStage {
    Started,
    Finished,
}

/// Records a transfer's events and says when its copy step (the only `RUN`) starts and
/// finishes.
struct Telling<'a> {
    events: Recorder,
    tell: &'a (dyn Fn(CopyStage) + Sync),
}

impl EventSink for Telling<'_> {
    fn event(&mut self, event: BuildEvent) {
        match &event {
            BuildEvent::StepStarted { name, .. } if name.contains(" RUN ") => {
                (self.tell)(CopyStage::Started);
            }
            BuildEvent::StepFinished { name, .. } if name.contains(" RUN ") => {
                (self.tell)(CopyStage::Finished);
            }
            _ => {}
        }
        self.events.event(event);
    }
}

/// The plan of one transfer build: the user's builder (driver, BuildKit container),
/// nothing else of the user's build (registry credentials come with [`Transfers`]).
fn transfer_request(main: &BuildPlan, dir: &Path, output: Option<&PathBuf>) -> BuildPlan {
    let mut req = BuildPlan::local(dir);
    req.network = NetworkMode::None;
    req.driver = main.driver.clone();
    req.builder = main.builder.clone();
    // BuildKit prefixes cache mount ids with this build arg: keep the user's namespace.
    if let Some(ns) = main.build_args.get("BUILDKIT_CACHE_MOUNT_NS") {
        req.build_args
            .insert("BUILDKIT_CACHE_MOUNT_NS".to_owned(), ns.clone());
    }
    if let Some(out) = output {
        req.outputs.push(Output {
            kind: OutputType::Local,
            attrs: [("dest".to_owned(), out.display().to_string())].into(),
        });
    }
    req
}

/// What runs the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copy {
    /// `layercache mount-copy` from the context's `tool/`, on `FROM scratch`.
    Tool,
    /// `cp -a` in the stage's own base image.
    Shell,
}

/// The generated Dockerfile of one transfer.
pub fn transfer_dockerfile(
    mount: &CacheMount,
    direction: Direction,
    copy: Copy,
    nonce: &str,
) -> String {
    let mut cache = format!(
        "type=cache,{},target={MOUNT_AT},sharing=locked",
        csv_field("id", &mount.id)
    );
    for (key, value) in [
        ("uid", mount.uid.map(|v| v.to_string())),
        ("gid", mount.gid.map(|v| v.to_string())),
        ("mode", mount.mode.clone()),
    ] {
        if let Some(v) = value {
            cache.push_str(&format!(",{}", csv_field(key, &v)));
        }
    }
    let owner = match (mount.uid, mount.gid) {
        (None, None) => None,
        (uid, gid) => Some(format!("{}:{}", uid.unwrap_or(0), gid.unwrap_or(0))),
    };
    let content = format!("--mount=type=bind,source=content,target={CONTENT_AT}");
    let tool = format!("--mount=type=bind,source=tool,target={TOOL_AT}");
    // Exec form: the scratch root has no shell. JSON strings, as the frontend reads them.
    let exec = |args: &[&str]| {
        let mut all = vec![format!("{TOOL_AT}/{TOOL_NAME}"), "mount-copy".to_owned()];
        all.extend(["--nonce", nonce].map(str::to_owned));
        all.extend(args.iter().map(|a| (*a).to_owned()));
        serde_json::to_string(&all).unwrap_or_default()
    };
    match (direction, copy) {
        (Direction::Restore, Copy::Tool) => {
            let mut args = vec!["--keep-filled", "--from", CONTENT_AT, "--to", MOUNT_AT];
            if let Some(o) = &owner {
                args.extend(["--owner", o]);
            }
            format!(
                "FROM scratch\nRUN --mount={cache} {content} {tool} {}\n",
                exec(&args)
            )
        }
        (Direction::Restore, Copy::Shell) => {
            let chown = owner
                .map(|o| format!(" && chown -R {o} {MOUNT_AT}"))
                .unwrap_or_default();
            format!(
                "FROM {base}\nRUN --mount={cache} {content} echo {nonce} >/dev/null && if [ -n \"$(ls -A {MOUNT_AT})\" ]; then echo '{KEPT}'; else cp -a {CONTENT_AT}/. {MOUNT_AT}/{chown}; fi\n",
                base = mount.base
            )
        }
        (Direction::Save, Copy::Tool) => format!(
            "FROM scratch AS mount\nRUN --mount={cache} {tool} {}\nFROM scratch\nCOPY --from=mount {OUT_AT}/ /\n",
            exec(&["--from", MOUNT_AT, "--to", OUT_AT])
        ),
        (Direction::Save, Copy::Shell) => format!(
            "FROM {base} AS mount\nRUN --mount={cache} echo {nonce} >/dev/null && mkdir -p {OUT_AT} && cp -a {MOUNT_AT}/. {OUT_AT}/\nFROM scratch\nCOPY --from=mount {OUT_AT}/ /\n",
            base = mount.base
        ),
    }
}

/// `key=value` as one CSV field of a `--mount` value, quoted when it must be.
fn csv_field(key: &str, value: &str) -> String {
    if value.contains([',', '"']) {
        format!("\"{key}={}\"", value.replace('"', "\"\""))
    } else {
        format!("{key}={value}")
    }
}

/// Where a transfer's time went (`RUST_LOG=layercache=debug`): the whole run, BuildKit's
/// solve, and each vertex by BuildKit's own clock.
fn log_timings(outcome: &engine::Outcome, direction: Direction) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let t0 = outcome.steps.iter().filter_map(|s| s.started_at).min();
    let ms = |d: std::time::Duration| d.as_millis() as u64;
    let steps: Vec<String> = outcome
        .steps
        .iter()
        .map(|s| {
            let at = s.started_at.zip(t0).map(|(a, t)| ms(a.saturating_sub(t)));
            let took = s.duration.map(ms);
            format!("{} @{at:?}ms +{took:?}ms", s.name)
        })
        .collect();
    tracing::debug!(
        ?direction,
        wall_ms = ms(outcome.wall),
        solve_ms = ms(outcome.solve),
        steps = %steps.join("; "),
        "transfer timings"
    );
}

/// The last lines the failed step printed, for the warning.
fn log_tail(events: &[BuildEvent]) -> String {
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::StepLog { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.len() {
        0 => String::new(),
        n => format!(" ({})", lines[n.saturating_sub(3)..].join(" / ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_mounts::Sharing;

    fn mount(id: &str, uid: Option<u32>) -> CacheMount {
        CacheMount {
            id: id.to_owned(),
            target: "/root/.cache".to_owned(),
            sharing: Sharing::Shared,
            uid,
            gid: None,
            mode: None,
            base: "debian:12".to_owned(),
            line: 3,
        }
    }

    #[test]
    fn dockerfiles_use_the_stage_base_and_the_mount_identity() {
        let restore = transfer_dockerfile(
            &mount("pip", Some(1000)),
            Direction::Restore,
            Copy::Shell,
            "n1",
        );
        assert_eq!(
            restore,
            "FROM debian:12\nRUN --mount=type=cache,id=pip,target=/layercache-mount,sharing=locked,uid=1000 --mount=type=bind,source=content,target=/layercache-content echo n1 >/dev/null && if [ -n \"$(ls -A /layercache-mount)\" ]; then echo 'layercache: the mount has contents, kept as they are'; else cp -a /layercache-content/. /layercache-mount/ && chown -R 1000:0 /layercache-mount; fi\n"
        );
        let save = transfer_dockerfile(&mount("a,b", None), Direction::Save, Copy::Shell, "n2");
        assert!(
            save.starts_with("FROM debian:12 AS mount\nRUN --mount=type=cache,\"id=a,b\",target="),
            "{save}"
        );
        assert!(save.ends_with("FROM scratch\nCOPY --from=mount /layercache-out/ /\n"));
    }

    #[test]
    fn with_the_tool_nothing_is_pulled_and_no_shell_runs() {
        let restore = transfer_dockerfile(
            &mount("pip", Some(1000)),
            Direction::Restore,
            Copy::Tool,
            "n1",
        );
        assert_eq!(
            restore,
            "FROM scratch\nRUN --mount=type=cache,id=pip,target=/layercache-mount,sharing=locked,uid=1000 --mount=type=bind,source=content,target=/layercache-content --mount=type=bind,source=tool,target=/layercache-tool [\"/layercache-tool/layercache\",\"mount-copy\",\"--nonce\",\"n1\",\"--keep-filled\",\"--from\",\"/layercache-content\",\"--to\",\"/layercache-mount\",\"--owner\",\"1000:0\"]\n"
        );
        let save = transfer_dockerfile(&mount("pip", None), Direction::Save, Copy::Tool, "n2");
        assert!(save.starts_with("FROM scratch AS mount\n"), "{save}");
        assert!(!save.contains("debian"), "{save}");
    }

    #[test]
    fn the_request_keeps_only_the_builder_of_the_main_build() {
        let mut main = BuildPlan::local("/src");
        main.driver = DriverChoice::Remote {
            endpoint: "tcp://127.0.0.1:1".into(),
        };
        main.tags = vec![crate::plan::image::parse_image_ref("app").unwrap()];
        main.push = true;
        main.build_args = [
            ("BUILDKIT_CACHE_MOUNT_NS".to_owned(), "ns".to_owned()),
            ("OTHER".to_owned(), "x".to_owned()),
        ]
        .into();
        let out = PathBuf::from("/tmp/t/out");
        let req = transfer_request(&main, Path::new("/tmp/t"), Some(&out));
        assert_eq!(req.driver, main.driver);
        assert!(req.tags.is_empty() && !req.push && !req.load);
        assert_eq!(req.build_args.len(), 1);
        assert_eq!(req.outputs[0].attrs["dest"], "/tmp/t/out");
        assert!(req.cache_from.is_empty() && req.cache_to.is_empty());
        assert_eq!(req.network, NetworkMode::None);
        assert_eq!(req.dockerfile, Path::new("/tmp/t/Dockerfile"));
    }
}
