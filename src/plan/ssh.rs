//! The `ssh` input: `default`, `default=/path/agent.sock` or `<id>=/path/agent.sock`, one
//! per line, as buildx takes `--ssh`. layercache forwards ssh-agent sockets; buildx also
//! loads key files into an agent of its own, which a `FROM scratch` action has no agent for,
//! so a key file is refused in preflight with what to do instead.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::error::PlanError;
use super::redact::excerpt;
use crate::action::env::Env;
use crate::action::names as n;

/// The agents to forward to `RUN --mount=type=ssh,id=<id>`: their sockets by id.
pub fn ssh(entries: &[String], env: &Env) -> Result<BTreeMap<String, PathBuf>, PlanError> {
    let mut out = BTreeMap::new();
    for entry in entries {
        let (id, path) = match entry.split_once('=') {
            Some((id, path)) => (id.trim(), Some(path.trim())),
            None => (entry.trim(), None),
        };
        let valid_id = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid_id {
            return Err(PlanError::new(
                n::SSH,
                format!(
                    "{} is not default, default=/path/agent.sock or id=/path/agent.sock",
                    excerpt(entry)
                ),
            ));
        }
        let socket = match path.filter(|p| !p.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => env.get(n::env::SSH_AUTH_SOCK).map(PathBuf::from).ok_or_else(|| {
                PlanError::new(
                    n::SSH,
                    format!("{} names no socket and SSH_AUTH_SOCK is not set (start an ssh-agent, or give id=/path/agent.sock)", excerpt(id)),
                )
            })?,
        };
        if out.insert(id.to_owned(), socket).is_some() {
            return Err(PlanError::new(
                n::SSH,
                format!("id {} is given twice (each id once)", excerpt(id)),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(sock: Option<&str>) -> Env {
        Env::from_pairs(sock.map(|s| (n::env::SSH_AUTH_SOCK, s)))
    }

    #[test]
    fn ids_and_sockets() {
        let got = ssh(
            &["default".into(), "git=/run/git.sock".into()],
            &env(Some("/tmp/agent.sock")),
        )
        .unwrap();
        assert_eq!(
            got,
            BTreeMap::from([
                ("default".to_owned(), PathBuf::from("/tmp/agent.sock")),
                ("git".to_owned(), PathBuf::from("/run/git.sock")),
            ])
        );
    }

    #[test]
    fn bad_entries_name_the_input() {
        let e = ssh(&["default".into()], &env(None)).unwrap_err();
        assert_eq!(e.input, "ssh");
        assert!(e.message.contains("SSH_AUTH_SOCK is not set"), "{e}");
        let e = ssh(&["a b=/x".into()], &env(None)).unwrap_err();
        assert!(
            e.to_string().starts_with("ssh: \"a b=/x\" is not default"),
            "{e}"
        );
        let e = ssh(&["x=/a".into(), "x=/b".into()], &env(None)).unwrap_err();
        assert_eq!(e.to_string(), "ssh: id \"x\" is given twice (each id once)");
    }
}
