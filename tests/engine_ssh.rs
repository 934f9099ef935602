//! ssh-agent forwarding on the real daemon: a real `ssh-agent` holds a fresh key, and
//! `ssh-add -l` inside `RUN --mount=type=ssh` lists it through the session. `ssh-add` and
//! its libraries are copied from this machine into the image (no image can be pulled).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

mod engine_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use engine_support::*;
use layercache::engine::{BuildEvent, Recorder, run};
use layercache::plan::BuildPlan;

const COMMENT: &str = "layercache-ssh-canary";

/// A foreground `ssh-agent` on a socket in `dir`, holding one new ed25519 key; killed on drop.
struct Agent {
    child: Child,
    socket: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Self {
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ssh-agent (openssh-client) is installed by scripts/test.sh");
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let key = dir.join("id_ed25519");
        let keygen = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", COMMENT, "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(keygen.success());
        let add = Command::new("ssh-add")
            .arg(&key)
            .env("SSH_AUTH_SOCK", &socket)
            .output()
            .unwrap();
        assert!(add.status.success(), "{add:?}");
        Self { child, socket }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A context with `ssh-add` and the shared libraries it loads, at their paths.
fn context_with_ssh_add(dir: &Path, run_line: &str) -> PathBuf {
    let ctx = dir.join("ctx");
    let root = ctx.join("root");
    let ldd = Command::new("ldd")
        .arg("/usr/bin/ssh-add")
        .output()
        .unwrap();
    let listing = String::from_utf8(ldd.stdout).unwrap();
    let libs = listing
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(str::to_owned);
    for file in libs.chain(["/usr/bin/ssh-add".to_owned()]) {
        let to = root.join(file.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(std::fs::canonicalize(&file).unwrap(), &to).unwrap();
    }
    let dockerfile = format!("ARG BASE\nFROM ${{BASE}}\nCOPY root/ /\nARG RUN_ID\n{run_line}\n");
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    ctx
}

fn request(context: PathBuf, agent: &Agent, id: &str) -> BuildPlan {
    let mut req = request_at(context);
    req.build_args.insert("RUN_ID".into(), unique("run"));
    req.ssh.insert(id.into(), agent.socket.clone());
    req
}

#[tokio::test]
async fn run_mounts_reach_the_forwarded_agent() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path());
    let ctx = context_with_ssh_add(dir.path(), "RUN --mount=type=ssh ssh-add -l");
    let mut events = Recorder::default();
    run(&request(ctx, &agent, "default"), &io(&host()), &mut events)
        .await
        .unwrap();
    let listed = events
        .0
        .iter()
        .any(|e| matches!(e, BuildEvent::StepLog { text, .. } if text.contains(COMMENT)));
    assert!(listed, "ssh-add -l did not list the key: {:?}", events.0);
}

#[tokio::test]
async fn a_required_id_that_was_not_forwarded_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path());
    let ctx = context_with_ssh_add(
        dir.path(),
        "RUN --mount=type=ssh,id=deploy,required=true ssh-add -l",
    );
    let err = run(
        &request(ctx, &agent, "default"),
        &io(&host()),
        &mut Recorder::default(),
    )
    .await
    .unwrap_err();
    // BuildKit asks the session, which answers that no agent has that id.
    assert!(
        err.to_string()
            .contains("ssh agent \"deploy\" was not forwarded (add it to the ssh input)"),
        "{err}"
    );
}
