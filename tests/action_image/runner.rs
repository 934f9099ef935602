//! Emulates how GitHub's runner starts a container action (docs/runner-contract.md §
//! Starting the container, § Environment): the `docker run` flags and mounts, the
//! environment handed over by name only, and reading the file commands back with the
//! runner's own parser (docs/runner-contract.md § File commands) after the container exits.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

/// Read a variable `scripts/test.sh` exports; a missing one fails the test by name.
pub fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set: run the tests through scripts/test.sh (or eval \"$(scripts/dev-env.sh)\")"
        ),
    }
}

/// The file commands of one step, as the runner names them (`<prefix><guid>`).
const FILE_COMMANDS: [(&str, &str); 5] = [
    ("GITHUB_ENV", "set_env_"),
    ("GITHUB_OUTPUT", "set_output_"),
    ("GITHUB_STATE", "save_state_"),
    ("GITHUB_PATH", "add_path_"),
    ("GITHUB_STEP_SUMMARY", "step_summary_"),
];

/// One step of a job: the runner's temp layout on the host and the step's environment.
pub struct Step {
    _root: tempfile::TempDir,
    temp: PathBuf,
    workspace: PathBuf,
    guid: String,
    env: BTreeMap<String, String>,
    /// The job's network (`--network`), as the runner gives a container action.
    network: Option<String>,
    /// Another daemon than `LAYERCACHE_TEST_DOCKER_HOST` (a lane's).
    docker_host: Option<String>,
}

/// What the step left behind.
pub struct StepResult {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Step {
    #[allow(dead_code, reason = "each test crate uses a different subset")]
    pub fn new() -> Self {
        Self::with_layout("", "workspace")
    }

    /// A hosted runner's layout under a temp root: the user's home `home/runner`, the work
    /// directory `home/runner/work` (its `_temp` mounted), and the repository's workspace
    /// `home/runner/work/octo-app/octo-app`.
    #[allow(dead_code, reason = "each test crate uses a different subset")]
    pub fn hosted() -> Self {
        Self::with_layout("home/runner/work", "home/runner/work/octo-app/octo-app")
    }

    /// `work` holds `_temp`; both paths are relative to a new temp root.
    fn with_layout(work: &str, workspace: &str) -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let temp = root.path().join(work).join("_temp");
        let workspace = root.path().join(workspace);
        for dir in ["_github_home", "_github_workflow", "_runner_file_commands"] {
            fs::create_dir_all(temp.join(dir)).expect("runner temp dirs");
        }
        fs::create_dir_all(&workspace).expect("workspace");
        fs::write(temp.join("_github_workflow/event.json"), "{}").expect("event.json");
        let guid = uuid::Uuid::new_v4().to_string();
        for (_, prefix) in FILE_COMMANDS {
            let file = temp
                .join("_runner_file_commands")
                .join(format!("{prefix}{guid}"));
            fs::write(file, "").expect("file command file");
        }
        let mut step = Self {
            _root: root,
            temp,
            workspace,
            guid,
            env: BTreeMap::new(),
            network: None,
            docker_host: None,
        };
        step.set_context_env();
        step
    }

    /// The runner's context variables, already translated to container paths
    /// (docs/runner-contract.md § Starting the container).
    fn set_context_env(&mut self) {
        let guid = self.guid.clone();
        for (name, prefix) in FILE_COMMANDS {
            self.set(name, &format!("/github/file_commands/{prefix}{guid}"));
        }
        for (name, value) in [
            ("HOME", "/github/home"),
            ("GITHUB_WORKSPACE", "/github/workspace"),
            ("GITHUB_EVENT_PATH", "/github/workflow/event.json"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REPOSITORY", "octo-org/octo-app"),
            ("GITHUB_REPOSITORY_OWNER", "octo-org"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_REF_NAME", "main"),
            ("GITHUB_SHA", "ffac537e6cbbf934b08745a378932722df287a53"),
            ("GITHUB_RUN_ID", "1658821493"),
            ("GITHUB_RUN_ATTEMPT", "1"),
            ("GITHUB_JOB", "build"),
            ("GITHUB_ACTION", "__octo-org_layercache"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_API_URL", "https://api.github.com"),
            ("RUNNER_OS", "Linux"),
            ("RUNNER_ARCH", "X64"),
            ("RUNNER_NAME", "GitHub Actions 2"),
            ("RUNNER_TEMP", "/github/runner_temp"),
            // A host path: not reachable in the container, as on a real runner.
            ("RUNNER_TOOL_CACHE", "/opt/hostedtoolcache"),
            // Stands for `context: .` (a checkout built from the workspace); with it empty,
            // build-push-action builds the repository's Git context. A test of the default
            // clears it.
            ("INPUT_CONTEXT", "."),
        ] {
            self.set(name, value);
        }
    }

    /// Run on this Docker network, as the runner runs a job's container actions on the
    /// job's network.
    #[allow(dead_code, reason = "each test crate uses a different subset")]
    pub fn network(&mut self, name: &str) -> &mut Self {
        self.network = Some(name.to_owned());
        self
    }

    /// Run on this daemon (`unix://…`), which must hold the image.
    #[allow(dead_code, reason = "each test crate uses a different subset")]
    pub fn daemon(&mut self, docker_host: &str) -> &mut Self {
        self.docker_host = Some(docker_host.to_owned());
        self
    }

    /// The workspace directory on the host (`/github/workspace` in the container).
    #[allow(dead_code, reason = "each test crate uses a different subset")]
    pub fn workspace(&self) -> &std::path::Path {
        &self.workspace
    }

    /// The runner's temp directory on the host (`${{ runner.temp }}`).
    #[allow(dead_code, reason = "each test crate uses a different subset")]
    pub fn runner_temp(&self) -> &std::path::Path {
        &self.temp
    }

    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.env.insert(name.to_owned(), value.to_owned());
        self
    }

    /// `docker run` exactly as `DockerCommandManager.DockerRun` builds it, values passed
    /// through the docker CLI's own environment, never on its command line.
    pub fn run(&self, image: &str, args: &[&str]) -> StepResult {
        self.run_stage(image, None, args)
    }

    /// A `pre-entrypoint`/`post-entrypoint` stage: the same `docker run` with
    /// `--entrypoint` and the main step's args (docs/runner-contract.md § Entrypoints and
    /// args).
    pub fn run_stage(&self, image: &str, entrypoint: Option<&str>, args: &[&str]) -> StepResult {
        let docker_host = self
            .docker_host
            .clone()
            .unwrap_or_else(|| required_env("LAYERCACHE_TEST_DOCKER_HOST"));
        let socket = docker_host.strip_prefix("unix://").unwrap_or_else(|| {
            panic!("LAYERCACHE_TEST_DOCKER_HOST must be unix://…, got {docker_host}")
        });
        let name = format!("layercache-test_{}", &self.guid[..6]);
        let mut cmd = Command::new("docker");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DOCKER_HOST", &docker_host)
            .env("DOCKER_CONFIG", self.temp.join("docker-config"));
        cmd.args(["run", "--name", &name, "--label", "layercache-test"]);
        cmd.args(["--workdir", "/github/workspace", "--rm"]);
        if let Some(net) = &self.network {
            cmd.args(["--network", net]);
        }
        for (key, value) in &self.env {
            cmd.arg("-e").arg(key);
            cmd.env(key, value);
        }
        cmd.args(["-e", "GITHUB_ACTIONS=true", "-e", "CI=true"]);
        if let Some(entrypoint) = entrypoint {
            cmd.args(["--entrypoint", entrypoint]);
        }
        let mounts = [
            (PathBuf::from(socket), "/var/run/docker.sock"),
            (self.temp.clone(), "/github/runner_temp"),
            (self.temp.join("_github_home"), "/github/home"),
            (self.temp.join("_github_workflow"), "/github/workflow"),
            (
                self.temp.join("_runner_file_commands"),
                "/github/file_commands",
            ),
            (self.workspace.clone(), "/github/workspace"),
        ];
        for (host, container) in mounts {
            cmd.arg("-v").arg(format!("{}:{container}", host.display()));
        }
        cmd.arg(image).args(args);
        let Output {
            status,
            stdout,
            stderr,
        } = cmd.output().expect("failed to start docker");
        StepResult {
            status: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// The raw text of a file command after the step (`GITHUB_ENV`, ...).
    pub fn file(&self, variable: &str) -> String {
        let (_, prefix) = FILE_COMMANDS
            .iter()
            .find(|(name, _)| *name == variable)
            .unwrap_or_else(|| panic!("{variable} is not a file command"));
        let path = self
            .temp
            .join("_runner_file_commands")
            .join(format!("{prefix}{}", self.guid));
        fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
    }

    /// A key/value file command parsed as the runner does; panics where the runner would
    /// fail the step.
    pub fn pairs(&self, variable: &str) -> Vec<(String, String)> {
        crate::support::runner::parse_env_file(&self.file(variable))
            .unwrap_or_else(|err| panic!("the runner would reject {variable}: {err}"))
    }
}
