//! The runner's side of the contract, re-implemented from actions/runner so tests can read
//! what the action wrote exactly as the runner would, and fail where the runner would.

#![allow(dead_code)] // each test binary uses a different part
#![allow(clippy::expect_used)] // test support: a failed set-up should panic

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `EnvFileKeyValuePairs` (runner `FileCommandManager.cs`): `\n` separates lines, empty
/// lines are skipped, `NAME=VALUE` when `=` comes before `<<`, else `NAME<<DELIM` with the
/// value up to a line equal to DELIM, and every value line ending in `\n`.
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut lines = text.split_inclusive('\n');
    while let Some(raw) = lines.next() {
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        if line.is_empty() {
            continue;
        }
        let eq = line.find('=');
        let heredoc = line.find("<<");
        match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                let (name, value) = (&line[..e], &line[e + 1..]);
                if name.is_empty() {
                    return Err(format!("invalid format {line:?}: name must not be empty"));
                }
                pairs.push((name.to_owned(), value.to_owned()));
            }
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                if name.is_empty() || delimiter.is_empty() {
                    return Err(format!("invalid format {line:?}"));
                }
                pairs.push((name.to_owned(), heredoc_value(&mut lines, delimiter)?));
            }
            _ => return Err(format!("invalid format {line:?}")),
        }
    }
    Ok(pairs)
}

fn heredoc_value<'a>(
    lines: &mut impl Iterator<Item = &'a str>,
    delimiter: &str,
) -> Result<String, String> {
    let mut value: Vec<&str> = Vec::new();
    loop {
        let Some(raw) = lines.next() else {
            return Err(format!("matching delimiter not found {delimiter:?}"));
        };
        let line = raw.strip_suffix('\n');
        if line.unwrap_or(raw) == delimiter {
            return Ok(value.join("\n"));
        }
        match line {
            Some(line) => value.push(line),
            None => return Err(format!("EOF marker missing new line {delimiter:?}")),
        }
    }
}

/// A workflow command seen on stdout/stderr (ActionCommand.TryParseV2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowCommand {
    pub name: String,
    pub props: BTreeMap<String, String>,
    pub data: String,
}

fn unescape_data(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

fn unescape_prop(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

pub fn parse_command(line: &str) -> Option<WorkflowCommand> {
    let rest = line.trim_start().strip_prefix("::")?;
    let end = rest.find("::")?;
    let (head, data) = (&rest[..end], &rest[end + 2..]);
    let (name, props_s) = head.split_once(' ').unwrap_or((head, ""));
    let mut props = BTreeMap::new();
    for p in props_s.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = p.split_once('=')?;
        props.insert(k.to_ascii_lowercase(), unescape_prop(v));
    }
    Some(WorkflowCommand {
        name: name.to_ascii_lowercase(),
        props,
        data: unescape_data(data),
    })
}

/// Commands in order, honouring `stop-commands` (commands inside are not commands).
pub fn commands(stdout: &str) -> Vec<WorkflowCommand> {
    let mut out = Vec::new();
    let mut stopped: Option<String> = None;
    for line in stdout.lines() {
        if let Some(tok) = &stopped {
            if line.trim() == format!("::{tok}::") {
                stopped = None;
            }
            continue;
        }
        if let Some(cmd) = parse_command(line) {
            if cmd.name == "stop-commands" {
                stopped = Some(cmd.data.clone());
                continue;
            }
            out.push(cmd);
        }
    }
    out
}

/// An emulated runner step: a workspace, the file-command files, and the environment a
/// runner gives a container action (docs/runner-contract.md § Environment).
pub struct Step {
    pub dir: tempfile::TempDir,
    pub env: BTreeMap<String, String>,
    /// Variables whose value is not UTF-8 (the runner passes bytes as it gets them).
    pub os_env: BTreeMap<String, std::ffi::OsString>,
}

pub struct StepResult {
    pub output: Output,
    pub stdout: String,
    pub stderr: String,
    pub env_file: String,
    pub output_file: String,
    pub state_file: String,
    pub summary_file: String,
    pub path_file: String,
}

impl Step {
    /// Every declared input present (empty or its literal default), like the runner does.
    pub fn new(inputs: &[(&str, Option<&str>)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in [
            "workspace",
            "file_commands",
            "home",
            "runner_temp",
            "workflow",
        ] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        let fc = dir.path().join("file_commands");
        let mut env = BTreeMap::new();
        for (name, default) in inputs {
            let value = default.filter(|d| !d.contains("${{")).unwrap_or("");
            env.insert(format!("INPUT_{}", name.to_uppercase()), value.to_owned());
        }
        // build-push-action builds the repository's Git context when `context` is empty;
        // these steps stand for workflows that check out and build the workspace
        // (`context: .`). A test of the default clears it.
        if let Some(context) = env.get_mut("INPUT_CONTEXT") {
            context.clear();
            context.push('.');
        }
        let p = |f: &str| fc.join(f).display().to_string();
        for (k, v) in [
            ("GITHUB_ACTIONS", "true".to_owned()),
            ("CI", "true".to_owned()),
            ("GITHUB_ENV", p("set_env_1")),
            ("GITHUB_OUTPUT", p("set_output_1")),
            ("GITHUB_STATE", p("save_state_1")),
            ("GITHUB_STEP_SUMMARY", p("step_summary_1")),
            ("GITHUB_PATH", p("add_path_1")),
            (
                "GITHUB_WORKSPACE",
                dir.path().join("workspace").display().to_string(),
            ),
            ("HOME", dir.path().join("home").display().to_string()),
            (
                "RUNNER_TEMP",
                dir.path().join("runner_temp").display().to_string(),
            ),
            ("GITHUB_REPOSITORY", "octo/app".to_owned()),
            ("GITHUB_SERVER_URL", "https://github.com".to_owned()),
            ("GITHUB_API_URL", "https://api.github.com".to_owned()),
            ("GITHUB_REF", "refs/heads/main".to_owned()),
            (
                "GITHUB_SHA",
                "0000000000000000000000000000000000000000".to_owned(),
            ),
            ("RUNNER_OS", "Linux".to_owned()),
        ] {
            env.insert(k.to_owned(), v);
        }
        for f in [
            "set_env_1",
            "set_output_1",
            "save_state_1",
            "step_summary_1",
            "add_path_1",
        ] {
            std::fs::write(fc.join(f), "").expect("touch");
        }
        Self {
            dir,
            env,
            os_env: BTreeMap::new(),
        }
    }

    pub fn workspace(&self) -> PathBuf {
        self.dir.path().join("workspace")
    }

    pub fn set(&mut self, k: &str, v: &str) -> &mut Self {
        self.env.insert(k.to_owned(), v.to_owned());
        self
    }

    pub fn input(&mut self, name: &str, v: &str) -> &mut Self {
        self.set(&format!("INPUT_{}", name.to_uppercase()), v)
    }

    /// Run the binary with exactly this environment (nothing inherited but PATH).
    pub fn run(&self, args: &[&str]) -> StepResult {
        let output = Command::new(env!("CARGO_BIN_EXE_layercache"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.env)
            .envs(&self.os_env)
            .current_dir(self.workspace())
            .output()
            .expect("run layercache");
        let read = |f: &str| {
            std::fs::read_to_string(self.dir.path().join("file_commands").join(f))
                .unwrap_or_default()
        };
        StepResult {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            env_file: read("set_env_1"),
            output_file: read("set_output_1"),
            state_file: read("save_state_1"),
            summary_file: read("step_summary_1"),
            path_file: read("add_path_1"),
            output,
        }
    }
}

impl StepResult {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    /// GITHUB_ENV as the runner reads it; panics where the runner would fail the step.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        parse_env_file(&self.env_file)
            .unwrap_or_else(|e| panic!("runner rejects GITHUB_ENV: {e}\n{}", self.env_file))
    }

    pub fn outputs(&self) -> BTreeMap<String, String> {
        parse_env_file(&self.output_file)
            .unwrap_or_else(|e| panic!("runner rejects GITHUB_OUTPUT: {e}"))
            .into_iter()
            .collect()
    }

    pub fn commands(&self) -> Vec<WorkflowCommand> {
        commands(&self.stdout)
    }

    /// The commands called `name` (`warning`, `error`, `add-mask`, ...), in order.
    pub fn named(&self, name: &str) -> Vec<WorkflowCommand> {
        self.commands()
            .into_iter()
            .filter(|c| c.name == name)
            .collect()
    }

    pub fn runner_files_empty(&self) -> bool {
        self.env_file.is_empty()
            && self.output_file.is_empty()
            && self.state_file.is_empty()
            && self.summary_file.is_empty()
            && self.path_file.is_empty()
    }

    /// Every runner file by name, for checks that must cover all of them.
    pub fn runner_files(&self) -> [(&'static str, &str); 5] {
        [
            ("GITHUB_ENV", &self.env_file),
            ("GITHUB_OUTPUT", &self.output_file),
            ("GITHUB_STATE", &self.state_file),
            ("GITHUB_STEP_SUMMARY", &self.summary_file),
            ("GITHUB_PATH", &self.path_file),
        ]
    }
}

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn parser_follows_the_runner() {
    let ok = "A=1\n\nB<<EOF\nx\ny\nEOF\nC<<D\nD\nE=a=b<<c\n";
    let parsed = parse_env_file(ok).expect("valid file");
    let want = [("A", "1"), ("B", "x\ny"), ("C", ""), ("E", "a=b<<c")];
    let want: Vec<_> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(parsed, want);
    assert!(parse_env_file("B<<EOF\nx\n").is_err(), "no delimiter");
    assert!(
        parse_env_file("B<<EOF\nx").is_err(),
        "no newline after value"
    );
    assert!(parse_env_file("=1\n").is_err(), "empty name");
    assert!(
        parse_env_file("<<EOF\nEOF\n").is_err(),
        "heredoc without name"
    );
    assert!(parse_env_file("JUSTTEXT\n").is_err(), "neither form");
    assert_eq!(
        parse_env_file("B<<E\nx\nE")
            .expect("last line may lack \\n")
            .len(),
        1
    );
}
