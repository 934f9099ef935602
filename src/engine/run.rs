//! One build from plan to outcome: pick the driver, pack the context, open the session,
//! solve while streaming status, then push. Why our own control-API client rather than
//! bollard's build helpers: bollard 0.21.1's `/build` path cannot import or export cache
//! entries beyond registry refs and inline, has no secrets and one tag; its gRPC path
//! drops the `SolveResponse` (no image id, no digest) and reports no progress. Speaking
//! `Control.Solve` + `Control.Status` + `Control.Session` with bollard's generated protos
//! gives all of them, through the daemon's `/grpc` and against a remote buildkitd alike.

use std::time::Instant;

use bollard::Docker;
use bollard::moby::buildkit::v1::control_client::ControlClient;
use tonic::transport::Channel;

use super::builder::driver::{Capabilities, DaemonFacts, choose};
use super::error::EngineError;
use super::images::load::LoadTarget;
use super::records::cache_report;
use super::records::outcome::Outcome;
use super::records::progress::{BuildEvent, EventSink, Tracker};
use super::resolved::Resolved;
use super::session::attachables::{Session, SessionServices};
use super::session::file_send::FileSendTarget;
use super::solve::context::{CONTEXT_DIR, ContextSource};
use super::solve::control::solve_streaming;
use super::solve::frontend::{OutputDestination, SolveInputs, output_destinations, solve_request};
use super::solve::local_cache::LocalCache;
use super::solve::solve_failure::{Failure, failure};
use super::transport::{client, remote_channel, remote_control};
use crate::plan::{BuildContext, BuildPlan, DriverChoice};

/// Run `req` against the daemon (and the BuildKit the driver picks) `io` names.
pub async fn run(
    req: &BuildPlan,
    io: &Resolved,
    sink: &mut dyn EventSink,
) -> Result<Outcome, EngineError> {
    run_held(req, io, None, sink).await
}

/// [`run`], with no step of the build running before `hold` says so
/// ([`super::builder::cache_relay::hold_steps`]).
pub async fn run_held(
    req: &BuildPlan,
    io: &Resolved,
    hold: Option<super::StepHold>,
    sink: &mut dyn EventSink,
) -> Result<Outcome, EngineError> {
    let started = Instant::now();
    let mut source = match &req.context {
        BuildContext::Remote(_) => ContextSource::remote(&req.dockerfile),
        BuildContext::Local(dir) => ContextSource::local(dir, &req.dockerfile)?,
    };
    source.add_build_contexts(&req.build_contexts);
    let asked = req;
    let (caps, channel, docker, reduced) = connect(req, io, sink).await?;
    let control = client(channel.clone());
    let mut req = reduced.unwrap_or_else(|| req.clone());
    let (local_cache, local_warnings) = LocalCache::prepare(&mut req);
    for w in local_warnings {
        sink.event(BuildEvent::Warning(w));
    }
    // What the driver dropped, judged before the relay points the entries at itself.
    let why = "not run: the daemon's BuildKit cannot use it";
    let dropped_imports = cache_report::dropped(&asked.cache_from, &req.cache_from, why);
    let dropped_exports = cache_report::dropped(&asked.cache_to, &req.cache_to, why);
    let relay = super::builder::cache_relay::start(
        &mut req.cache_from,
        &mut req.cache_to,
        (&req.driver, &caps, &control),
        (docker.as_ref(), &io.host, &req.builder.name),
        io.relay_address.as_deref(),
        sink,
    )
    .await;
    if let Some(hold) = hold {
        super::builder::cache_relay::hold_steps(&req, relay.as_ref(), hold).await;
    }
    let req = &req;
    // Which cache (and, for gha, which scope) is read and written, without secrets.
    for e in &req.cache_from {
        sink.event(BuildEvent::Notice(format!(
            "cache import: {}",
            e.describe()
        )));
    }
    for e in &req.cache_to {
        sink.event(BuildEvent::Notice(format!(
            "cache export: {}",
            e.describe()
        )));
    }
    let destinations = output_destinations(req, &caps);
    let load_target = match destinations
        .iter()
        .any(|(_, d)| *d == OutputDestination::DaemonLoad)
    {
        true => Some(LoadTarget::new()?),
        false => None,
    };
    let export = destinations
        .into_iter()
        .filter_map(|(i, d)| {
            let target = match d {
                OutputDestination::File(p) => FileSendTarget::Tar(p),
                OutputDestination::Directory(d) => FileSendTarget::Directory(d),
                OutputDestination::DaemonLoad => {
                    FileSendTarget::Tar(load_target.as_ref()?.path().to_owned())
                }
            };
            Some((i, target))
        })
        .collect();
    let solve = Solve {
        req,
        io,
        content_stores: &local_cache.stores,
        caps: &caps,
        control: &control,
        channel: &channel,
        source: &source,
        export,
    };
    let mut outcome = solve_with_fallback(&solve, sink).await?;
    outcome.cache_imports.extend(dropped_imports);
    outcome.cache_exports.extend(dropped_exports);
    let export_failed = outcome
        .cache_exports
        .iter()
        .any(|r| r.state == super::CacheState::Failed);
    if !export_failed && let Err(e) = local_cache.tag_exports(&outcome.exporter_response) {
        let w = format!("cache export to a local directory is incomplete: {e}");
        sink.event(BuildEvent::Warning(w.clone()));
        outcome.warnings.push(w);
    }
    if let (Some(target), Some(docker)) = (&load_target, &docker) {
        sink.event(BuildEvent::Phase(
            "loading the image into the daemon".to_owned(),
        ));
        super::images::load::load(docker, target.path()).await?;
    }
    if caps.driver == "docker-container" {
        outcome.builder = Some(req.builder.name.clone());
    }
    let daemon_pushes = req.push && !caps.direct_push() && req.call.is_none();
    if let (true, Some(docker)) = (daemon_pushes, &docker) {
        push_all(req, io, docker, &mut outcome, sink).await?;
    }
    super::builder::cache_relay::finish(relay, &mut outcome, sink).await;
    outcome.wall = started.elapsed();
    Ok(outcome)
}

/// Choose the driver and open its control API. `remote` needs no Docker daemon at all.
type Connection = (Capabilities, Channel, Option<Docker>, Option<BuildPlan>);

/// The BuildKit to talk to. The last element is set when the request had to be reduced
/// (see [`without_cache_gaps`]); the build then uses it instead of `req`.
async fn connect(
    req: &BuildPlan,
    io: &Resolved,
    sink: &mut dyn EventSink,
) -> Result<Connection, EngineError> {
    let host = &io.host;
    if let DriverChoice::Remote { endpoint } = &req.driver {
        let caps = choose(req, &DaemonFacts::default())?;
        sink.event(BuildEvent::Phase(format!("driver remote ({endpoint})")));
        let docker = if req.load { Some(host.docker()?) } else { None };
        return Ok((caps, remote_channel(endpoint).await?, docker, None));
    }
    let docker = host.docker()?;
    let facts = DaemonFacts::probe(&docker)
        .await
        .map_err(|e| host.unreachable(e.to_string()))?;
    let caps = choose(req, &facts)?;
    let store = if facts.containerd_store {
        "containerd"
    } else {
        "graphdriver"
    };
    sink.event(BuildEvent::Phase(format!(
        "driver {} (Engine {}, {store} image store)",
        caps.driver, facts.engine_version
    )));
    let control = match caps.driver {
        "docker-container" => {
            let b = &req.builder;
            sink.event(BuildEvent::Phase(format!(
                "builder container {} from {}",
                b.name, b.image
            )));
            match super::builder::container::builder(&docker, b, &io.registry_auth).await {
                Ok(builder) => {
                    builder.report(sink);
                    builder.channel
                }
                Err(err) => {
                    let Some(reduced) = without_cache_gaps(req, &facts) else {
                        return Err(err);
                    };
                    sink.event(BuildEvent::Warning(format!(
                        "{err}; building with the daemon's BuildKit without the cache it cannot use: {}",
                        dropped(req, &reduced)
                    )));
                    let caps = choose(&reduced, &facts)?;
                    return Ok((
                        caps,
                        host.control_channel().await?,
                        Some(docker),
                        Some(reduced),
                    ));
                }
            }
        }
        _ => host.control_channel().await?,
    };
    Ok((caps, control, Some(docker), None))
}

/// `auto` chose a BuildKit container only for cache entries the daemon's BuildKit cannot
/// serve, and the container could not start. Cache trouble must not fail a build: the
/// same request without those entries, unless one of them is an export the user made
/// strict (`ignore-error=false`) or something else also needs the container.
fn without_cache_gaps(req: &BuildPlan, facts: &DaemonFacts) -> Option<BuildPlan> {
    if req.driver != DriverChoice::Auto {
        return None;
    }
    let docker = Capabilities::docker(facts);
    let mut reduced = req.clone();
    reduced
        .cache_from
        .retain(|e| docker.cache_import.contains(&e.kind));
    reduced
        .cache_to
        .retain(|e| docker.cache_export.contains(&e.kind));
    let strict = req
        .cache_to
        .iter()
        .filter(|e| !reduced.cache_to.contains(e))
        .any(|e| e.attrs.get("ignore-error").is_some_and(|v| v == "false"));
    (!strict && docker.gaps(&reduced).is_empty()).then_some(reduced)
}

/// The entries `reduced` lacks, described without secrets.
fn dropped(req: &BuildPlan, reduced: &BuildPlan) -> String {
    let from = req
        .cache_from
        .iter()
        .filter(|e| !reduced.cache_from.contains(e));
    let to = req
        .cache_to
        .iter()
        .filter(|e| !reduced.cache_to.contains(e));
    from.map(|e| format!("cache-from {}", e.describe()))
        .chain(to.map(|e| format!("cache-to {}", e.describe())))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Drop a remote BuildKit's whole build cache (tests and `bench` use it to start cold).
pub async fn prune_remote(endpoint: &str) -> Result<(), EngineError> {
    let mut control = remote_control(endpoint).await?;
    let req = bollard::moby::buildkit::v1::PruneRequest {
        all: true,
        ..Default::default()
    };
    let mut stream = control
        .prune(req)
        .await
        .map_err(|s| EngineError::Solve(s.message().to_owned()))?
        .into_inner();
    while let Ok(Some(_)) = stream.message().await {}
    Ok(())
}

/// Solve; when only a cache export failed and every export allows it (`ignore-error`),
/// warn and solve again without exports (everything is cached, so this is quick). Old
/// BuildKit does not know `ignore-error` itself. The warning names each lost export from
/// the failed solve's own progress.
async fn solve_with_fallback(
    solve: &Solve<'_>,
    sink: &mut dyn EventSink,
) -> Result<Outcome, EngineError> {
    let req = solve.req;
    match solve_once(solve, sink).await {
        Err(Failure {
            error,
            cache_export: true,
            exports,
        }) if req
            .cache_to
            .iter()
            .all(|e| e.attr("ignore-error") == Some("true")) =>
        {
            let warnings = cache_report::lost_exports(&exports, &error);
            for w in &warnings {
                sink.event(BuildEvent::Warning(w.clone()));
            }
            let mut retry = req.clone();
            retry.cache_to.clear();
            let mut outcome = solve_once(
                &Solve {
                    req: &retry,
                    ..solve.clone()
                },
                sink,
            )
            .await
            .map_err(|f| f.error)?;
            outcome.cache_exports = exports;
            outcome.warnings.extend(warnings);
            Ok(outcome)
        }
        other => other.map_err(|f| f.error),
    }
}

/// Everything one solve needs besides the event sink.
#[derive(Clone)]
struct Solve<'a> {
    req: &'a BuildPlan,
    io: &'a Resolved,
    caps: &'a Capabilities,
    control: &'a ControlClient<Channel>,
    /// The same connection, for the gateway bridge (`call` other than build).
    channel: &'a Channel,
    content_stores: &'a std::collections::BTreeMap<String, std::path::PathBuf>,
    source: &'a ContextSource,
    export: std::collections::BTreeMap<usize, FileSendTarget>,
}

async fn solve_once(solve: &Solve<'_>, sink: &mut dyn EventSink) -> Result<Outcome, Failure> {
    let Solve {
        req,
        caps,
        control,
        source,
        ..
    } = *solve;
    let fail = |error| Failure {
        error,
        cache_export: false,
        exports: Vec::new(),
    };
    let services = SessionServices {
        local_dirs: source.dirs.clone(),
        shared_key: source.shared_key(),
        secrets: solve.io.secrets.clone(),
        registry_auth: solve.io.registry_auth.clone(),
        export: solve.export.clone(),
        ssh: req.ssh.clone(),
        content_stores: solve.content_stores.clone(),
    };
    let session = Session::start(control, services).await.map_err(fail)?;
    let build_ref = uuid::Uuid::new_v4().simple().to_string();
    let inputs = SolveInputs {
        build_ref: &build_ref,
        session_id: &session.id,
        remote_context: match &req.context {
            BuildContext::Remote(url) => Some(url),
            BuildContext::Local(_) => None,
        },
        dockerfile_name: &source.dockerfile_name,
    };
    let solve_req = solve_request(req, caps, &inputs);
    // Never log the request itself: cache attributes carry tokens.
    tracing::debug!(driver = caps.driver, %build_ref, "buildkit: solve");
    let mut tracker = Tracker::default();
    let (result, solve_time, answer) = match req.call.as_deref() {
        None => {
            let (r, t) = solve_streaming(control, solve_req, &build_ref, &mut tracker, sink).await;
            (r, t, None)
        }
        Some(call) => {
            super::solve::gateway::call_frontend(
                control,
                solve.channel,
                call,
                solve_req,
                &mut tracker,
                sink,
            )
            .await
        }
    };
    session.exports_finished().await;
    // BuildKit sees only a broken stream when writing an export here failed; say why.
    let result = match (result, session.export_error()) {
        (Err(buildkit), Some(ours)) => Err(format!("{ours} (BuildKit: {buildkit})")),
        (result, _) => result,
    };
    let sent = session.sent(CONTEXT_DIR);
    session.close();
    tracing::debug!(%build_ref, ok = result.is_ok(), ms = solve_time.as_millis() as u64, "buildkit: solve ended");
    let response = result.map_err(|message| failure(message, &tracker, source, req))?;
    let mut outcome = outcome_of(response, caps, &tracker);
    outcome.report_caches(req, sink);
    locate_steps(&mut outcome, source);
    outcome.frontend_result = answer.unwrap_or_default();
    // The history API: a standalone BuildKit, or the daemon's on the containerd store.
    if caps.direct_push() && req.call.is_none() {
        outcome.provenance = super::solve::history::provenance(solve.channel, &build_ref).await;
    }
    outcome.context_files = sent.files;
    outcome.context_bytes = sent.bytes;
    outcome.tags = req.tags.iter().map(|t| t.original.clone()).collect();
    outcome.build_ref = build_ref;
    outcome.solve = solve_time;
    Ok(outcome)
}

/// What BuildKit answered, with ids named the same whatever the BuildKit version.
fn outcome_of(
    response: bollard::moby::buildkit::v1::SolveResponse,
    caps: &Capabilities,
    tracker: &Tracker,
) -> Outcome {
    // With `prefer-image-digest` (driver docker on the containerd store) the daemon reports
    // no config digest for an index; `imageid` is then the index digest, as with buildx.
    let exporter_response: std::collections::BTreeMap<String, String> =
        response.exporter_response.into_iter().collect();
    let manifest = exporter_response.get("containerimage.digest").cloned();
    // Engine 20.10's moby exporter reports the image id as `containerimage.digest`; newer
    // BuildKit reports the config digest separately and the manifest as the digest.
    let image_id = match exporter_response.get("containerimage.config.digest") {
        Some(config) => Some(config.clone()),
        None if caps.daemon_store => manifest.clone(),
        None => None,
    };
    Outcome {
        driver: caps.driver,
        image_id,
        digest: manifest.filter(|_| caps.direct_push()),
        exporter_response,
        steps: tracker.steps(),
        build_warnings: tracker.build_warnings(),
        cache_traffic: tracker.traffic(),
        ..Default::default()
    }
}

async fn push_all(
    req: &BuildPlan,
    io: &Resolved,
    docker: &Docker,
    outcome: &mut Outcome,
    sink: &mut dyn EventSink,
) -> Result<(), EngineError> {
    let started = Instant::now();
    // What the pushing exporters name (the tags, or `name=` of an `outputs` entry), as
    // buildx pushes a docker driver's image (`pushWithMoby`).
    let names = crate::plan::pushed_names(&req.outputs);
    let names = match names.is_empty() {
        true => req.tags.iter().map(|t| t.original.clone()).collect(),
        false => names,
    };
    for (i, tag) in names.iter().enumerate() {
        sink.event(BuildEvent::Phase(format!("pushing {tag}")));
        let digest = super::images::push::push(docker, tag, &io.registry_auth).await?;
        if i == 0 {
            outcome.digest = Some(digest);
        }
    }
    outcome.push = Some(started.elapsed());
    Ok(())
}

/// Dockerfile steps get their line, so the summary can list them in Dockerfile order.
fn locate_steps(outcome: &mut Outcome, source: &ContextSource) {
    if let Ok(text) = std::fs::read_to_string(&source.dockerfile_path) {
        for step in outcome.steps.iter_mut().filter(|s| s.dockerfile_step) {
            step.line = crate::dockerfile::locate_step(&text, &step.name);
        }
    }
}

/// Build `plan` against the daemon `DOCKER_HOST` names (the socket the runner mounts by
/// default): the entry point for the action and `layercache build`.
pub async fn run_plan(
    plan: &BuildPlan,
    env: &crate::action::env::Env,
    sink: &mut dyn EventSink,
) -> Result<Outcome, EngineError> {
    let resolved = Resolved::from_env(plan, env)?;
    run(plan, &resolved, sink).await
}

/// [`run_plan`] with the build's steps held as `hold` says ([`run_held`]).
pub async fn run_plan_held(
    plan: &BuildPlan,
    env: &crate::action::env::Env,
    hold: super::StepHold,
    sink: &mut dyn EventSink,
) -> Result<Outcome, EngineError> {
    let resolved = Resolved::from_env(plan, env)?;
    run_held(plan, &resolved, Some(hold), sink).await
}
