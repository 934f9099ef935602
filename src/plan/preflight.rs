//! The checks of a plan that need the file system: the context, the Dockerfile and
//! secret files exist, and ssh agents are sockets. Kept apart so that parsing stays free of I/O.

use super::build_plan::{BuildContext, BuildPlan, SecretSource};
use super::error::PlanError;
use super::redact::excerpt;
use crate::action::names as n;

pub fn preflight(plan: &BuildPlan) -> Result<(), PlanError> {
    if let BuildContext::Local(dir) = &plan.context {
        if !dir.is_dir() {
            return Err(PlanError::new(
                n::CONTEXT,
                format!(
                    "{} is not a directory (the build context: a directory, or a Git or https URL)",
                    excerpt(&dir.to_string_lossy())
                ),
            ));
        }
        if !plan.dockerfile.is_file() {
            return Err(PlanError::new(
                n::FILE,
                format!(
                    "{} not found (set file: to the Dockerfile's path, or check out the repository first)",
                    excerpt(&plan.dockerfile.to_string_lossy())
                ),
            ));
        }
    }
    check_target(plan)?;
    for secret in &plan.secrets {
        if let SecretSource::File(path) = &secret.source
            && !path.is_file()
        {
            return Err(PlanError::new(
                n::SECRET_FILES,
                format!(
                    "secret {}: {} not found (id=path of a readable file)",
                    excerpt(&secret.id),
                    excerpt(&path.to_string_lossy())
                ),
            ));
        }
    }
    for (id, socket) in &plan.ssh {
        check_agent(id, socket)?;
    }
    Ok(())
}

/// `target` names a stage of the Dockerfile, when the Dockerfile can be read here (a
/// remote context's cannot); stage names are case-insensitive, as in BuildKit.
fn check_target(plan: &BuildPlan) -> Result<(), PlanError> {
    let Some(target) = &plan.target else {
        return Ok(());
    };
    if !matches!(plan.context, BuildContext::Local(_)) {
        return Ok(());
    }
    let Ok(text) = std::fs::read_to_string(&plan.dockerfile) else {
        return Ok(());
    };
    let stages = crate::advice::stage_names(&text);
    if stages.contains(&target.to_ascii_lowercase()) {
        return Ok(());
    }
    let valid = if stages.is_empty() {
        "it names no stages; name one with FROM ... AS name".to_owned()
    } else {
        format!("stages: {}", stages.join(", "))
    };
    Err(PlanError::new(
        n::TARGET,
        format!(
            "{} is not a stage of {} ({valid})",
            excerpt(target),
            excerpt(&plan.dockerfile.to_string_lossy())
        ),
    ))
}

fn check_agent(id: &str, socket: &std::path::Path) -> Result<(), PlanError> {
    use std::os::unix::fs::FileTypeExt;
    let problem = match std::fs::metadata(socket) {
        Ok(m) if m.file_type().is_socket() => return Ok(()),
        Ok(m) if m.is_file() => "is a file, not an ssh-agent socket; layercache forwards agents, \
             not key files: load the key with ssh-add and give the agent's socket (SSH_AUTH_SOCK)"
            .to_owned(),
        Ok(_) => "is not an ssh-agent socket".to_owned(),
        Err(e) => format!(
            "cannot be read ({e}); in a container action, put the agent's socket under ${{{{ runner.temp }}}}"
        ),
    };
    Err(PlanError::new(
        n::SSH,
        format!("{id}: {} {problem}", excerpt(&socket.to_string_lossy())),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_wants_an_agent_socket_not_a_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_ed25519");
        std::fs::write(&key, "-----BEGIN OPENSSH PRIVATE KEY-----").unwrap();
        let e = check_agent("default", &key).unwrap_err();
        assert_eq!(e.input, "ssh");
        assert!(
            e.message.contains("is a file, not an ssh-agent socket"),
            "{e}"
        );
        assert!(!e.message.contains("BEGIN"), "{e}");
        let e = check_agent("git", &dir.path().join("gone.sock")).unwrap_err();
        assert!(
            e.message.starts_with("git: ") && e.message.contains("cannot be read"),
            "{e}"
        );
        let sock = dir.path().join("agent.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        check_agent("default", &sock).unwrap();
    }
}
