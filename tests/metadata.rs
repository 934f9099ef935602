//! `action.yml`, `expose-runtime/action.yml`, the README and the code must agree: every
//! input the code reads is declared, every declared input is read, defaults match, and the
//! README's tables list the same inputs and outputs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should panic

mod support;

use std::collections::BTreeMap;

use layercache::action::env::Env;
use layercache::action::inputs::Inputs;
use layercache::action::names::{EXPOSE_INPUTS, INPUTS, InputSpec, OUTPUTS_DECLARED};
use layercache::action::runtime::Runtime;
use serde::Deserialize;
use support::runner::repo_root;

#[derive(Debug, Deserialize)]
struct ActionYml {
    name: String,
    description: String,
    branding: Option<BTreeMap<String, String>>,
    inputs: BTreeMap<String, InputYml>,
    #[serde(default)]
    outputs: BTreeMap<String, serde_yaml::Value>,
    runs: serde_yaml::Value,
}

#[derive(Debug, Deserialize)]
struct InputYml {
    description: String,
    default: Option<String>,
}

fn load(path: &str) -> ActionYml {
    let text =
        std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn check_inputs(path: &str, yml: &ActionYml, specs: &[InputSpec]) {
    let declared: Vec<&str> = yml.inputs.keys().map(String::as_str).collect();
    let mut coded: Vec<&str> = specs.iter().map(|s| s.name).collect();
    coded.sort_unstable();
    assert_eq!(
        declared, coded,
        "{path}: inputs in action.yml differ from the code's table"
    );
    for spec in specs {
        let input = &yml.inputs[spec.name];
        assert_eq!(
            input.default.as_deref(),
            spec.default,
            "{path}: default of {}",
            spec.name
        );
        assert!(
            !input.description.trim().is_empty(),
            "{path}: {} needs a description",
            spec.name
        );
    }
}

#[test]
fn action_yml_matches_the_input_table() {
    let yml = load("action.yml");
    check_inputs("action.yml", &yml, INPUTS);
    let outputs: Vec<&str> = yml.outputs.keys().map(String::as_str).collect();
    let mut coded: Vec<&str> = OUTPUTS_DECLARED.iter().map(|(n, _)| *n).collect();
    coded.sort_unstable();
    assert_eq!(outputs, coded);
    assert_eq!(yml.runs["using"].as_str(), Some("docker"));
    assert!(
        yml.branding
            .is_some_and(|b| b.contains_key("icon") && b.contains_key("color"))
    );
    assert!(
        !yml.name.is_empty() && yml.description.len() <= 125,
        "Marketplace descriptions are short"
    );
}

#[test]
fn expose_runtime_action_matches_its_table() {
    let yml = load("expose-runtime/action.yml");
    check_inputs("expose-runtime/action.yml", &yml, EXPOSE_INPUTS);
    let args: Vec<&str> = yml.runs["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(args, ["expose"]);
}

#[test]
fn every_declared_input_is_read_by_the_plan() {
    let env = Env::default();
    let inputs = Inputs::from_env(INPUTS, &env);
    layercache::plan::parse(&inputs, &Runtime::from_env(&env), &env)
        .expect("defaults are a valid plan");
    assert_eq!(
        inputs.unread(),
        Vec::<&str>::new(),
        "declared in action.yml but never read"
    );
}

/// Rows of the first markdown table after `heading`: the first cell, without backticks.
fn table_names(readme: &str, heading: &str) -> Vec<String> {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?} section"));
    readme[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .filter_map(|l| {
            l.split('|')
                .nth(1)
                .map(|c| c.trim().trim_matches('`').to_owned())
        })
        .collect()
}

#[test]
fn readme_tables_match_action_yml() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let yml = load("action.yml");
    let mut inputs = table_names(&readme, "### Inputs");
    inputs.sort();
    assert_eq!(
        inputs,
        yml.inputs.keys().cloned().collect::<Vec<_>>(),
        "README inputs table"
    );
    let mut outputs = table_names(&readme, "### Outputs");
    outputs.sort();
    assert_eq!(
        outputs,
        yml.outputs.keys().cloned().collect::<Vec<_>>(),
        "README outputs table"
    );
    for (name, input) in &yml.inputs {
        if let Some(d) = &input.default {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{name}`")))
                .unwrap();
            assert!(
                row.contains(&format!("`{d}`")),
                "README row of {name} shows default {d:?}: {row}"
            );
        }
    }
}
