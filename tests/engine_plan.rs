//! The `BuildPlan`, parsed from action inputs, built on the real daemon through the
//! engine's adapter: what the action itself will do.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

mod engine_support;

use engine_support::*;
use layercache::action::env::Env;
use layercache::action::inputs::Inputs;
use layercache::action::names::INPUTS;
use layercache::action::runtime::Runtime;
use layercache::engine::{BuildEvent, Recorder, Resolved, run};

#[tokio::test]
async fn a_plan_from_action_inputs_builds_on_the_daemon() {
    let host = host();
    let name = unique("lc-engine-plan");
    let context = fixture("basic").display().to_string();
    let pairs = [
        ("context", context),
        ("build-args", format!("BASE={}\nGREETING=hi", base_image())),
        ("target", "build".to_owned()),
        ("tags", format!("{name}:a,{name}:b")),
        ("labels", "org.example.from=plan".to_owned()),
        ("load", "true".to_owned()),
        (
            "secret-envs",
            "tok=LAYERCACHE_ENGINE_PLAN_SECRET".to_owned(),
        ),
    ];
    let inputs = Inputs::from_pairs(INPUTS, pairs.iter().map(|(k, v)| (*k, v.clone()))).unwrap();
    let docker_host = required("LAYERCACHE_TEST_DOCKER_HOST");
    let env = Env::from_pairs([
        ("LAYERCACHE_ENGINE_PLAN_SECRET", "v"),
        ("DOCKER_HOST", docker_host.as_str()),
    ]);
    let plan = layercache::plan::parse(&inputs, &Runtime::from_env(&env), &env).unwrap();
    let resolved = Resolved::from_env(&plan, &env).unwrap_or_else(|e| panic!("{e}"));
    let tags: Vec<String> = plan.tags.iter().map(ToString::to_string).collect();
    assert_eq!(tags, vec![format!("{name}:a"), format!("{name}:b")]);
    assert!(plan.load && !plan.push);
    assert_eq!(resolved.secrets["tok"].expose(), b"v");
    assert_eq!(resolved.host, host);
    let mut events = Recorder::default();
    let outcome = run(&plan, &resolved, &mut events)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let docker = host.docker().unwrap();
    let inspect = docker.inspect_image(&format!("{name}:b")).await.unwrap();
    assert_eq!(inspect.id, outcome.image_id);
    let labels = inspect.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(
        labels.get("org.example.from").map(String::as_str),
        Some("plan")
    );
    assert!(
        events
            .0
            .iter()
            .any(|e| matches!(e, BuildEvent::StepFinished { .. }))
    );
    remove_images(&docker, &plan.tags).await;
}
