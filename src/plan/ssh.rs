//! The `ssh` input: `default`, `default=/path/agent.sock` or `<id>=/path/key`, one per line,
//! as buildx takes `--ssh`. A socket is forwarded; a key file is loaded into an agent of
//! our own, as buildx does (engine `ssh_agent`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::action::InputError;
use crate::action::env::Env;
use crate::action::names as n;
use crate::action::redact::excerpt;

/// The agents to forward to `RUN --mount=type=ssh,id=<id>`: their sockets by id.
pub fn ssh(entries: &[String], env: &Env) -> Result<BTreeMap<String, PathBuf>, InputError> {
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
            return Err(InputError::new(
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
                InputError::new(
                    n::SSH,
                    format!("{} names no socket and SSH_AUTH_SOCK is not set (start an ssh-agent, or give id=/path/agent.sock)", excerpt(id)),
                )
            })?,
        };
        if out.insert(id.to_owned(), socket).is_some() {
            return Err(InputError::new(
                n::SSH,
                format!("id {} is given twice (each id once)", excerpt(id)),
            ));
        }
    }
    Ok(out)
}

/// Parse an OpenSSH private key file. The error says what is wrong, never what is in it.
pub fn load_ssh_key(text: &[u8]) -> Result<ssh_key::PrivateKey, String> {
    let key = ssh_key::PrivateKey::from_openssh(text).map_err(|_| {
        "is not an OpenSSH private key (\"-----BEGIN OPENSSH PRIVATE KEY-----\"; `ssh-keygen -p -f KEY` rewrites a PEM key so)".to_owned()
    })?;
    if key.is_encrypted() {
        return Err(
            "is protected by a passphrase (load it into an ssh-agent with ssh-add and give the agent's socket)"
                .to_owned(),
        );
    }
    Ok(key)
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
