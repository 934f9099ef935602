//! The checks of a plan that need the file system: the context, the Dockerfile and
//! secret files exist, and ssh agents are sockets. Kept apart so that parsing stays free of I/O.

use super::build_plan::{BuildContext, BuildPlan, SecretSource};
use crate::action::InputError;
use crate::action::names as n;
use crate::action::redact::excerpt;

/// The plan, checked; a `secret-files` entry whose file is missing is left out with a
/// warning naming it, as build-push-action does (`Build.resolveSecretFile` throws, the
/// action warns and builds without it).
pub fn preflight(mut plan: BuildPlan) -> Result<BuildPlan, InputError> {
    let mut missing = Vec::new();
    plan.secrets.retain(|secret| match &secret.source {
        SecretSource::File(path) if !path.is_file() => {
            missing.push(format!(
                "{}: secret {} is not passed to the build: file {} not found",
                n::SECRET_FILES,
                excerpt(&secret.id),
                excerpt(&path.to_string_lossy())
            ));
            false
        }
        _ => true,
    });
    plan.warnings.extend(missing);
    check(&plan)?;
    Ok(plan)
}

fn check(plan: &BuildPlan) -> Result<(), InputError> {
    if let BuildContext::Local(dir) = &plan.context {
        if !dir.is_dir() {
            return Err(InputError::new(
                n::CONTEXT,
                format!(
                    "{} is not a directory (the build context: a directory, or a Git or https URL)",
                    excerpt(&dir.to_string_lossy())
                ),
            ));
        }
        if !plan.dockerfile.is_file() {
            return Err(InputError::new(
                n::FILE,
                format!(
                    "{} not found (set file: to the Dockerfile's path, or check out the repository first)",
                    excerpt(&plan.dockerfile.to_string_lossy())
                ),
            ));
        }
    }
    check_target(plan)?;
    for (id, socket) in &plan.ssh {
        check_agent(id, socket)?;
    }
    Ok(())
}

/// `target` names a stage of the Dockerfile when the Dockerfile can be read here (stage
/// names are case-insensitive, as in BuildKit); the error lists the stages. When it
/// cannot (a remote context), `target` must at least be a stage name BuildKit allows.
fn check_target(plan: &BuildPlan) -> Result<(), InputError> {
    let Some(target) = &plan.target else {
        return Ok(());
    };
    let text = match plan.context {
        BuildContext::Local(_) => std::fs::read_to_string(&plan.dockerfile).ok(),
        BuildContext::Remote(_) => None,
    };
    let lower = target.to_ascii_lowercase();
    let problem = match text.map(|t| crate::dockerfile::stage_names(&t)) {
        Some(stages) if stages.contains(&lower) => return Ok(()),
        Some(stages) if stages.is_empty() => format!(
            "is not a stage of {}: it names no stages (name one with FROM ... AS name)",
            excerpt(&plan.dockerfile.to_string_lossy())
        ),
        Some(stages) => format!(
            "is not a stage of {} (stages: {})",
            excerpt(&plan.dockerfile.to_string_lossy()),
            stages.join(", ")
        ),
        None if is_stage_name(&lower) => return Ok(()),
        None => "is not a stage name (a letter, then letters, digits, '-', '_' or '.', as in FROM ... AS name)".to_owned(),
    };
    Err(InputError::new(
        n::TARGET,
        format!("{} {problem}", excerpt(target)),
    ))
}

/// A stage name as BuildKit's Dockerfile frontend allows it, lower-cased.
fn is_stage_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn check_agent(id: &str, socket: &std::path::Path) -> Result<(), InputError> {
    use std::os::unix::fs::FileTypeExt;
    let problem = match std::fs::metadata(socket) {
        Ok(m) if m.file_type().is_socket() => return Ok(()),
        // A key file: served by an agent of our own, as buildx does (engine/session/ssh_agent.rs).
        Ok(m) if m.is_file() => match std::fs::read(socket)
            .map_err(|e| format!("cannot be read ({e})"))
            .and_then(|text| super::ssh::load_ssh_key(&text).map(|_| ()))
        {
            Ok(()) => return Ok(()),
            Err(why) => why,
        },
        Ok(_) => "is not an ssh-agent socket".to_owned(),
        Err(e) => format!(
            "cannot be read ({e}); in a container action, put the agent's socket under ${{{{ runner.temp }}}}"
        ),
    };
    Err(InputError::new(
        n::SSH,
        format!("{id}: {} {problem}", excerpt(&socket.to_string_lossy())),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_takes_an_agent_socket_or_a_usable_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_ed25519");
        std::fs::write(&key, "-----BEGIN OPENSSH PRIVATE KEY-----\nsecretbits").unwrap();
        let e = check_agent("default", &key).unwrap_err();
        assert_eq!(e.input, "ssh");
        assert!(e.message.contains("is not an OpenSSH private key"), "{e}");
        assert!(!e.message.contains("secretbits"), "{e}");
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
