//! `layercache build`: the action's build from a terminal, with flags named like the
//! inputs (`--cache-to type=gha`, `--tags a --tags b`), and the phases the action shares.

use clap::{Arg, ArgAction, ArgMatches, Command, FromArgMatches};

use super::{CommandError, post};

const DRY_RUN: &str = "dry-run";
/// CLI only: the action always prints plain lines.
const PROGRESS: &str = "progress";
use crate::action::env::Env;
use crate::action::expose::expose;
use crate::cache_client;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::action::files::{FileCommand, RunnerFiles};
use crate::action::inputs::Inputs;
use crate::action::masks;
use crate::action::names::{self, INPUTS, InputKind};
use crate::action::oidc;
use crate::action::runtime::Runtime;
use crate::action::workflow::{Style, Workflow};
use crate::cache_service::{self, RunningService, ServiceConfig};
use crate::engine;
use crate::plan::{self, BuildPlan};
use crate::report::{self, ActionLog, LiveProgress, ProgressMode, ProgressView, step_log};
use crate::storage::StorageConfig;

/// Flags generated from the input table, so the CLI and `action.yml` cannot drift apart.
#[derive(Debug, Default)]
pub struct Args {
    pairs: Vec<(&'static str, String)>,
    dry_run: bool,
    progress: ProgressMode,
}

impl FromArgMatches for Args {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut pairs = Vec::new();
        for spec in INPUTS {
            if let Some(values) = m.get_many::<String>(spec.name) {
                let joined = values.cloned().collect::<Vec<_>>().join("\n");
                pairs.push((spec.name, joined));
            }
        }
        if let Some(path) = m.get_one::<String>("PATH") {
            pairs.push((crate::action::names::CONTEXT, path.clone()));
        }
        let progress = m
            .get_one::<String>(PROGRESS)
            .map_or(Ok(ProgressMode::Auto), |v| {
                ProgressMode::parse(v).map_err(|e| {
                    clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{e}\n"))
                })
            })?;
        Ok(Self {
            pairs,
            dry_run: m.get_flag(DRY_RUN),
            progress,
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for Args {
    fn augment_args(cmd: Command) -> Command {
        let cmd = cmd
            .arg(
                Arg::new(DRY_RUN)
                    .long(DRY_RUN)
                    .action(ArgAction::SetTrue)
                    .help("Validate the inputs and show the plan without building"),
            )
            .arg(
                Arg::new(PROGRESS)
                    .long(PROGRESS)
                    .value_name("MODE")
                    .value_parser(ProgressMode::NAMES)
                    .default_value("auto")
                    .help(
                        "Build progress: tty (live view on stderr), plain (buildx-plain lines), \
                         auto (tty when stderr is a terminal and CI/GITHUB_ACTIONS are unset)",
                    ),
            )
            .arg(
                Arg::new("PATH")
                    .help("The build context (same as --context)")
                    .conflicts_with(crate::action::names::CONTEXT),
            );
        INPUTS.iter().fold(cmd, |cmd, spec| {
            let repeat = !matches!(spec.kind, InputKind::Text | InputKind::Bool);
            let mut arg = Arg::new(spec.name)
                .long(spec.name)
                .help(spec.description)
                .action(if repeat {
                    ArgAction::Append
                } else {
                    ArgAction::Set
                });
            if spec.name == crate::action::names::GITHUB_TOKEN {
                // Tokens do not belong on a command line, where `ps` shows them.
                arg = arg.env("GITHUB_TOKEN").hide_env_values(true);
            }
            if spec.kind == InputKind::Bool {
                arg = arg
                    .num_args(0..=1)
                    .require_equals(true)
                    .default_missing_value("true")
                    .value_name("BOOL");
            }
            cmd.arg(arg)
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// Workflow commands when running in a GitHub Actions job, plain lines elsewhere.
/// build-push-action's default provenance depends on whether the repository is private,
/// which only the event payload says; read it once here so parsing does no I/O.
fn note_repository_visibility(env: &mut Env) {
    let payload = env
        .get("GITHUB_EVENT_PATH")
        .and_then(|p| std::fs::read_to_string(p).ok());
    if let Some(private) = payload.as_deref().and_then(plan::repository_private) {
        env.set(plan::REPOSITORY_PRIVATE, private.to_string());
    }
}

pub fn style(env: &Env) -> Style {
    if env.get("GITHUB_ACTIONS") == Some("true") {
        Style::GitHub
    } else {
        Style::Plain
    }
}

pub async fn run(args: Args) -> Result<(), CommandError> {
    let mut env = Env::from_process();
    note_repository_visibility(&mut env);
    let style = style(&env);
    let inputs = Inputs::from_pairs(INPUTS, args.pairs.iter().map(|(k, v)| (*k, v.clone())))
        .map_err(|e| CommandError::Usage(e.to_string()))?;
    let own_service = inputs.text(names::CACHE_SERVICE_URL).is_some();
    let view = args
        .progress
        .view(&env, LiveProgress::can_draw())
        .map_err(|e| CommandError::Usage(e.to_string()))?;
    let service = if args.dry_run {
        None
    } else if own_service {
        oidc_cache_service(&inputs, &mut env, style).await;
        None
    } else {
        local_cache_service(&inputs, &mut env).await
    };
    let result = run_build(&env, &inputs, style, view, args.dry_run).await;
    if let Some(service) = service {
        service.shutdown().await;
    }
    result
}

/// `cache-service-url`: trade the job's OIDC token for a token of that service, or use no
/// cache at all (never GitHub's, which the user chose not to use).
pub(super) async fn oidc_cache_service(inputs: &Inputs, env: &mut Env, style: Style) {
    // A malformed URL is reported by the plan, with every other input error.
    let Ok(Some(url)) = oidc::parse_url(inputs.text(names::CACHE_SERVICE_URL)) else {
        return;
    };
    let mut wf = Workflow::stdout(style);
    if let Err(e) = oidc::use_service(env, &url, &mut wf).await {
        wf.warning(&format!("{e}; going on without a cache"));
        for name in [
            names::env::ACTIONS_RESULTS_URL,
            names::env::ACTIONS_CACHE_URL,
            names::env::ACTIONS_RUNTIME_TOKEN,
        ] {
            env.set(name, "");
        }
    }
}

/// Outside GitHub, `type=gha` entries have no service to talk to. Start ours in-process, on
/// disk under the user's cache directory, and point the runtime at it, so the same
/// `cache-to: type=gha` works on a laptop (the service `layercache serve` runs;
/// docs/serve.md).
async fn local_cache_service(inputs: &Inputs, env: &mut Env) -> Option<RunningService> {
    let runtime = Runtime::from_env(env);
    let wants_gha =
        plan::parse(inputs, &runtime, env).is_ok_and(|p| p.cache_skipped.iter().any(|s| s.warn));
    if !wants_gha || runtime.protocol.is_some() {
        return None;
    }
    let dir = local_cache_dir(env);
    let config = ServiceConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        StorageConfig::Disk(dir.clone()),
    );
    match cache_service::spawn(config).await {
        Ok(service) => {
            tracing::info!(url = %service.base_url, dir = %dir.display(), "started a local cache service for type=gha");
            env.set(
                names::env::ACTIONS_RESULTS_URL,
                format!("{}/", service.base_url),
            );
            env.set(
                names::env::ACTIONS_RUNTIME_TOKEN,
                service.token(LOCAL_REF).expose(),
            );
            Some(service)
        }
        Err(e) => {
            tracing::warn!("could not start a local cache service for type=gha: {e}");
            None
        }
    }
}

/// The ref local builds write their cache under.
const LOCAL_REF: &str = "refs/heads/local";

fn local_cache_dir(env: &Env) -> PathBuf {
    if let Some(dir) = env.get("LAYERCACHE_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = env
        .get("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("layercache").join("actions-cache")
}

/// Decide v1 or v2 when the runtime leaves it open, by asking the service (once per step).
pub(super) async fn settle_protocol(runtime: &mut Runtime) {
    runtime
        .settle(|endpoint, token| async move { cache_client::speaks_v2(&endpoint, &token).await })
        .await;
}

/// The phases of a build, shared by the action and the CLI. Each phase is a log group;
/// the build's own progress is shown as `view` says.
pub async fn run_build(
    env: &Env,
    inputs: &Inputs,
    style: Style,
    view: ProgressView,
    dry_run: bool,
) -> Result<(), CommandError> {
    let mut wf = Workflow::stdout(style);
    let mut runtime = Runtime::from_env(env);
    masks::mask_runtime(&runtime, &mut wf);
    settle_protocol(&mut runtime).await;
    // Before any input is parsed: a parse error must not be the first to show a secret.
    for secret in masks::input_secrets(inputs, env) {
        wf.add_mask(&secret);
    }
    let files = RunnerFiles::from_env(env);

    let plan = match plan::parse(inputs, &runtime, env).and_then(plan::preflight) {
        Ok(plan) => plan,
        Err(err) => {
            return Err(CommandError::Usage(err.to_string()));
        }
    };
    step_log::runtime(&runtime, &mut wf);
    for w in &plan.warnings {
        wf.warning(w);
    }
    // A dry run writes no runner file: it only shows what the build would do.
    if plan.expose_runtime && style == Style::GitHub && !dry_run {
        let exposed = expose(env, &runtime, &files).map_err(|e| e.to_string());
        step_log::exposed(exposed, &mut wf);
    }
    step_log::cache_plan(&plan, &mut wf);
    super::phases::advise(&plan, &mut wf);
    if dry_run {
        wf.line("dry run: inputs are valid; not building");
        return Ok(());
    }
    build_image(&plan, &runtime, env, &files, view, &mut wf).await
}

async fn build_held(
    plan: &BuildPlan,
    env: &Env,
    hold: Option<engine::StepHold>,
    sink: &mut dyn engine::EventSink,
) -> Result<engine::Outcome, engine::EngineError> {
    match hold {
        Some(hold) => engine::run_plan_held(plan, env, hold, sink).await,
        None => engine::run_plan(plan, env, sink).await,
    }
}

/// The build itself, then outputs, housekeeping and the job summary. Outputs are set
/// before anything that could still fail.
async fn build_image<W: std::io::Write>(
    plan: &BuildPlan,
    runtime: &Runtime,
    env: &Env,
    files: &RunnerFiles,
    view: ProgressView,
    wf: &mut Workflow<W>,
) -> Result<(), CommandError> {
    let mut mounts = super::mount_phases::prepare(plan, runtime, env, wf).await;
    wf.group("Build");
    let started = chrono::Utc::now();
    let build = async |hold: Option<engine::StepHold>| match view {
        ProgressView::Plain => build_held(plan, env, hold, &mut ActionLog::new(wf)).await,
        ProgressView::Live => {
            let mut live = LiveProgress::stderr();
            let result = build_held(plan, env, hold, &mut live).await;
            live.finish(result.is_ok());
            result
        }
    };
    let result = super::mount_phases::restore_alongside(mounts.as_mut(), build).await;
    wf.end_group();
    if let Some(keeper) = &mounts {
        super::mount_phases::restored(keeper, wf);
    }
    if let (Ok(outcome), Some(keeper)) = (&result, mounts.as_mut()) {
        keeper.saw_build(outcome);
        super::mount_phases::save(keeper, wf).await;
    }
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(err) => {
            // A registry that refused the build, with no credentials found for it: say
            // exactly what to add.
            if let Some(hint) =
                crate::runner_host::credentials::hint_for_plan(&err.to_string(), plan, env)
            {
                wf.error(&hint);
            }
            let workspace = env
                .get(names::env::GITHUB_WORKSPACE)
                .map(PathBuf::from)
                .unwrap_or_default();
            return Err(match report::failure_annotation(&err, &workspace) {
                Some((message, at)) => CommandError::FailedAt { message, at },
                None => CommandError::Failed(err.to_string()),
            });
        }
    };
    if let Some(builder) = &outcome.builder
        && files.has(FileCommand::State)
        && let Err(e) = files.append(FileCommand::State, post::BUILDER_STATE, builder)
    {
        wf.warning(&format!(
            "the post step will not remove builder {builder}: {e}"
        ));
    }
    step_log::build_checks(plan, env, &outcome, wf);
    let call = plan.call.as_deref().map(|c| {
        let mut answer = report::CallReport::from_result(&outcome.frontend_result);
        // `format=json` shows the frontend's JSON answer, as buildx prints it.
        if let Some(json) = outcome
            .frontend_result
            .get("result.json")
            .filter(|_| plan.call_json)
        {
            answer.text = json.clone();
        }
        (c, answer)
    });
    if let Some((name, answer)) = &call {
        step_log::call(plan, env, name, answer, wf);
    }
    let outputs = report::BuildOutputs::from_outcome(&outcome);
    for (name, value) in outputs.pairs() {
        if !files.has(FileCommand::Output) {
            step_log::output_line(name, value, wf);
        } else if let Err(e) = files.append(FileCommand::Output, name, value) {
            wf.warning(&e.to_string());
        }
    }
    let api = super::phases::RepositoryApi::new(plan, env);
    let pruned = super::phases::prune(plan, runtime, &api, wf).await;
    let repository = super::phases::repository_cache(plan, runtime, &api, started).await;
    if let Some(notice) = repository.notice() {
        wf.notice(&notice);
    }
    let summary = report::job_summary(
        &outcome,
        mounts.as_ref().map_or(&[], |keeper| keeper.outcomes()),
        &repository,
        pruned.as_ref(),
        call.as_ref().map(|(name, answer)| (*name, answer)),
    );
    // build-push-action's switch: DOCKER_BUILD_SUMMARY=false writes no job summary.
    let summary_wanted = !env
        .get("DOCKER_BUILD_SUMMARY")
        .is_some_and(step_log::is_false);
    if files.has_summary()
        && summary_wanted
        && let Err(e) = files.append_summary(&summary)
    {
        wf.warning(&e.to_string());
    }
    match call {
        // buildx fails `--call=check` when a check flagged something.
        Some((name, answer)) if answer.failed && !plan.call_ignore_status => {
            Err(CommandError::Failed(format!(
                "call {name}: {} problem(s) found",
                answer.findings.len().max(1)
            )))
        }
        _ => Ok(()),
    }
}
