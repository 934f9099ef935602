//! The action's inputs as raw strings, exactly as the runner (`INPUT_<NAME>`, hyphens kept)
//! or the command line gave them, with typed accessors that name the input in every error.
//!
//! Accessors record what was read, so a test can prove that every declared input is used.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use super::env::Env;
use super::names::InputSpec;
use crate::action::InputError;
use crate::action::csv::split_input;

/// `Debug` shows which inputs are set, never their values: `github-token` and `secrets`
/// are among them.
pub struct Inputs {
    specs: &'static [InputSpec],
    values: BTreeMap<&'static str, String>,
    read: RefCell<BTreeSet<&'static str>>,
    /// Inputs the runner set to bytes that are not UTF-8.
    not_utf8: Vec<&'static str>,
    /// List inputs rewritten entry by entry (host paths translated): [`Inputs::list`]
    /// gives these, already split.
    rewritten: BTreeMap<&'static str, Vec<String>>,
}

impl std::fmt::Debug for Inputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set: Vec<&str> = self
            .values
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, _)| *k)
            .collect();
        f.debug_struct("Inputs").field("set", &set).finish()
    }
}

/// The runner's variable name for an input: `INPUT_` + name with spaces as `_`, upper-cased.
pub fn env_name(input: &str) -> String {
    format!("INPUT_{}", input.replace(' ', "_").to_uppercase())
}

impl Inputs {
    /// Read every declared input from the runner's environment. An input the runner did not
    /// set (a run outside a runner) takes its declared default, if that is a literal.
    pub fn from_env(specs: &'static [InputSpec], env: &Env) -> Self {
        let values = specs
            .iter()
            .map(|spec| {
                let value = env
                    .raw(&env_name(spec.name))
                    .map(str::to_owned)
                    .unwrap_or_else(|| literal_default(spec).to_owned());
                (spec.name, value)
            })
            .collect();
        let not_utf8 = specs
            .iter()
            .map(|s| s.name)
            .filter(|name| env.is_not_utf8(&env_name(name)))
            .collect();
        Self {
            specs,
            values,
            read: RefCell::default(),
            not_utf8,
            rewritten: BTreeMap::new(),
        }
    }

    /// An input whose value is not UTF-8 is an error naming it (not an empty value).
    pub fn check_utf8(&self) -> Result<(), InputError> {
        match self.not_utf8.first() {
            Some(name) => Err(InputError::new(
                *name,
                "the value is not UTF-8 text (inputs are read as UTF-8; re-encode the value)",
            )),
            None => Ok(()),
        }
    }

    /// Inputs given by name (the command line, tests); unnamed ones take their literal default.
    pub fn from_pairs<'a>(
        specs: &'static [InputSpec],
        pairs: impl IntoIterator<Item = (&'a str, String)>,
    ) -> Result<Self, InputError> {
        let mut values: BTreeMap<&'static str, String> = specs
            .iter()
            .map(|s| (s.name, literal_default(s).to_owned()))
            .collect();
        for (name, value) in pairs {
            let spec = specs
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| InputError::new("inputs", format!("unknown input {name:?}")))?;
            values.insert(spec.name, value);
        }
        Ok(Self {
            specs,
            values,
            read: RefCell::default(),
            not_utf8: Vec::new(),
            rewritten: BTreeMap::new(),
        })
    }

    fn spec(&self, name: &str) -> &'static InputSpec {
        match self.specs.iter().find(|s| s.name == name) {
            Some(spec) => spec,
            // Reading an undeclared input is a bug in this program, caught by the
            // metadata consistency test; fail loudly rather than read nothing.
            None => panic!("input {name:?} is read but not declared in action.yml"),
        }
    }

    fn raw(&self, name: &str) -> &str {
        let spec = self.spec(name);
        self.read.borrow_mut().insert(spec.name);
        self.values.get(spec.name).map(String::as_str).unwrap_or("")
    }

    /// A text input, trimmed; `None` when empty.
    pub fn text(&self, name: &str) -> Option<String> {
        let v = self.raw(name).trim();
        (!v.is_empty()).then(|| v.to_owned())
    }

    /// A text input exactly as given (secrets keep their whitespace).
    pub fn verbatim(&self, name: &str) -> &str {
        self.raw(name)
    }

    /// A boolean input: `true` or `false` in any case; empty means the declared default.
    pub fn bool(&self, name: &str) -> Result<bool, InputError> {
        let spec = self.spec(name);
        let raw = self.raw(name).trim();
        let value = if raw.is_empty() {
            literal_default(spec)
        } else {
            raw
        };
        match value.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" | "" => Ok(false),
            _ => Err(InputError::new(
                spec.name,
                format!(
                    "expected true or false, got {}",
                    crate::action::redact::excerpt(value)
                ),
            )),
        }
    }

    /// A list input split by its declared kind (build-push-action's `getInputList`).
    pub fn list(&self, name: &str) -> Result<Vec<String>, InputError> {
        let spec = self.spec(name);
        if let Some(entries) = self.rewritten.get(spec.name) {
            self.read.borrow_mut().insert(spec.name);
            return Ok(entries.clone());
        }
        split_input(self.raw(name), spec.kind)
            .map_err(|e| InputError::new(spec.name, e.to_string()))
    }

    /// Replace a text input's value (the default Git context, `{{defaultContext}}`
    /// expanded), as the toolkit's `getInputs` does before anything reads it.
    pub fn set_text(&mut self, name: &str, value: String) {
        let spec = self.spec(name);
        self.values.insert(spec.name, value);
    }

    /// Replace a list input by entries already split (see [`Inputs::list`]).
    pub fn set_list(&mut self, name: &str, entries: Vec<String>) {
        let spec = self.spec(name);
        self.rewritten.insert(spec.name, entries);
    }

    /// Declared inputs that nothing has read yet.
    pub fn unread(&self) -> Vec<&'static str> {
        let read = self.read.borrow();
        self.specs
            .iter()
            .map(|s| s.name)
            .filter(|n| !read.contains(n))
            .collect()
    }
}

/// A default that is a literal (not a `${{ }}` expression the runner evaluates).
fn literal_default(spec: &InputSpec) -> &'static str {
    match spec.default {
        Some(d) if !d.contains("${{") => d,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::names::{INPUTS, LOAD, TAGS};

    #[test]
    fn env_names_keep_hyphens() {
        assert_eq!(env_name("cache-from"), "INPUT_CACHE-FROM");
        assert_eq!(env_name("my input"), "INPUT_MY_INPUT");
    }

    #[test]
    fn booleans_accept_any_case_and_name_the_input() {
        let env = Env::from_pairs([("INPUT_LOAD", "TRUE"), ("INPUT_PUSH", "yes")]);
        let inputs = Inputs::from_env(INPUTS, &env);
        assert!(inputs.bool(LOAD).unwrap());
        let err = inputs.bool("push").unwrap_err().to_string();
        assert_eq!(err, "push: expected true or false, got \"yes\"");
    }

    #[test]
    fn debug_never_shows_a_value() {
        let env = Env::from_pairs([
            ("INPUT_SECRETS", "A=canary-91c"),
            ("INPUT_GITHUB-TOKEN", "ghs_x"),
        ]);
        let shown = format!("{:?}", Inputs::from_env(INPUTS, &env));
        assert!(
            shown.contains("secrets") && !shown.contains("canary-91c") && !shown.contains("ghs_x"),
            "{shown}"
        );
    }

    #[test]
    fn missing_inputs_take_literal_defaults() {
        let inputs = Inputs::from_env(INPUTS, &Env::default());
        assert!(!inputs.bool(LOAD).unwrap());
        assert_eq!(inputs.text("driver").as_deref(), Some("auto"));
        assert_eq!(inputs.text("github-token"), None);
        assert!(inputs.list(TAGS).unwrap().is_empty());
    }
}
