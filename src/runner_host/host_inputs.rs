//! Host paths inside list entries. The runner rewrites an input only when its whole value
//! is a host path under a mount; `secret-files: id=${{ runner.temp }}/f`,
//! `build-contexts: name=${{ github.workspace }}/x`, `cache-to: type=local,dest=...`,
//! `outputs: type=local,dest=...` and `ssh: default=...` carry host paths past it. Each is
//! translated by this container's mounts before the inputs are parsed, so the plan sees
//! paths that exist here; a path no mount holds is an error naming the input.

use super::mounts::MountTable;
use crate::action::InputError;
use crate::action::csv::{join_attrs, split_attrs};
use crate::action::env::Env;
use crate::action::inputs::Inputs;
use crate::action::names as n;
use crate::engine::is_local_build_context;

/// How the paths sit in an input's entries.
#[derive(Clone, Copy)]
enum Shape {
    /// `key=path` (`secret-files`, `ssh`).
    KeyPath,
    /// `name=value`, a path when it is a local directory (`build-contexts`).
    NamedContext,
    /// CSV attributes; these keys hold paths for these types.
    Attrs {
        types: &'static [&'static str],
        keys: &'static [&'static str],
    },
}

const INPUTS: &[(&str, Shape)] = &[
    (n::SECRET_FILES, Shape::KeyPath),
    (n::SSH, Shape::KeyPath),
    (n::BUILD_CONTEXTS, Shape::NamedContext),
    (
        n::CACHE_FROM,
        Shape::Attrs {
            types: &["local"],
            keys: &["src"],
        },
    ),
    (
        n::CACHE_TO,
        Shape::Attrs {
            types: &["local"],
            keys: &["dest"],
        },
    ),
    (
        n::OUTPUTS,
        Shape::Attrs {
            types: &["local", "tar", "oci", "docker"],
            keys: &["dest"],
        },
    ),
];

/// Translate the host paths inside list entries; returns `input: from → to` lines for the
/// log (paths only: none of these values is a secret).
pub fn translate_inputs(
    inputs: &mut Inputs,
    mounts: &MountTable,
) -> Result<Vec<String>, InputError> {
    let mut moved = Vec::new();
    // Whole values the runner translated already when a mount holds them; one it could
    // not is out of reach, and said so here rather than as a missing directory later.
    for name in [n::CONTEXT, n::FILE] {
        let Some(value) = inputs.text(name) else {
            continue;
        };
        if value.contains("://") || value.starts_with("git@") {
            continue;
        }
        let to = mounts
            .translate(&value)
            .map_err(|e| InputError::new(name, e.to_string()))?;
        if to != value {
            moved.push(format!("{name}: {value} is {to} in the action's container"));
            inputs.set_text(name, to);
        }
    }
    for (name, shape) in INPUTS {
        let entries = inputs.list(name)?;
        let mut changed = false;
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let new = translate_entry(&entry, *shape, mounts)
                .map_err(|e| InputError::new(*name, e.to_string()))?;
            if let Some((new, from, to)) = new {
                moved.push(format!("{name}: {from} is {to} in the action's container"));
                changed = true;
                out.push(new);
            } else {
                out.push(entry);
            }
        }
        if changed {
            inputs.set_list(name, out);
        }
    }
    Ok(moved)
}

/// `SSH_AUTH_SOCK` for `ssh` entries that name no socket (`default`): the runner passes
/// it through untranslated when no mount holds it (an agent started in `/tmp`), so it is
/// translated here; out of reach, it is an error only when an entry needs it.
pub fn translate_agent_socket(
    inputs: &Inputs,
    env: &mut Env,
    mounts: &MountTable,
) -> Result<Option<String>, InputError> {
    let Some(socket) = env.get(n::env::SSH_AUTH_SOCK).map(str::to_owned) else {
        return Ok(None);
    };
    let needed = inputs
        .list(n::SSH)?
        .iter()
        .any(|e| e.split_once('=').is_none_or(|(_, p)| p.trim().is_empty()));
    match mounts.translate(&socket) {
        Ok(to) if to != socket => {
            env.set(n::env::SSH_AUTH_SOCK, to.clone());
            Ok(Some(format!(
                "SSH_AUTH_SOCK: {socket} is {to} in the action's container"
            )))
        }
        Ok(_) => Ok(None),
        Err(e) if needed => Err(InputError::new(
            n::SSH,
            format!(
                "the agent of SSH_AUTH_SOCK: {e} (start it with `ssh-agent -a ${{{{ runner.temp }}}}/ssh-agent.sock`)"
            ),
        )),
        Err(_) => Ok(None),
    }
}

/// The entry with its path translated, and the path before and after; `None` when it
/// holds no host path.
fn translate_entry(
    entry: &str,
    shape: Shape,
    mounts: &MountTable,
) -> Result<Option<(String, String, String)>, super::PathError> {
    match shape {
        Shape::KeyPath | Shape::NamedContext => {
            let Some((key, value)) = entry.split_once('=') else {
                return Ok(None);
            };
            let path = value.trim();
            if path.is_empty()
                || matches!(shape, Shape::NamedContext) && !is_local_build_context(path)
            {
                return Ok(None);
            }
            let to = mounts.translate(path)?;
            Ok((to != path).then(|| (format!("{key}={to}"), path.to_owned(), to)))
        }
        Shape::Attrs { types, keys } => {
            let Ok(mut attrs) = split_attrs(entry) else {
                return Ok(None); // the parser reports it, with the input's name
            };
            let kind = attrs
                .iter()
                .find(|a| a.key == "type")
                .and_then(|a| a.value.as_deref());
            if !kind.is_some_and(|k| types.contains(&k)) {
                return Ok(None);
            }
            let mut moved = None;
            for a in attrs.iter_mut().filter(|a| keys.contains(&a.key.as_str())) {
                let Some(path) = a.value.as_deref().map(str::trim) else {
                    continue;
                };
                if path.is_empty() || path == "-" {
                    continue; // `dest=-` is stdout
                }
                let to = mounts.translate(path)?;
                if to != path {
                    moved = Some((path.to_owned(), to.clone()));
                    a.value = Some(to);
                }
            }
            Ok(moved.map(|(from, to)| (join_attrs(&attrs), from, to)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner_host::Mount;

    fn hosted() -> MountTable {
        let m = |h: &str, c: &str| Mount {
            host: h.into(),
            container: c.into(),
        };
        MountTable::new(vec![
            m("/home/runner/work/_temp", "/github/runner_temp"),
            m("/home/runner/work/app/app", "/github/workspace"),
        ])
    }

    fn inputs(pairs: &[(&str, &str)]) -> Inputs {
        Inputs::from_pairs(n::INPUTS, pairs.iter().map(|(k, v)| (*k, (*v).to_owned()))).unwrap()
    }

    #[test]
    fn host_paths_inside_entries_are_translated() {
        let mut i = inputs(&[
            (
                n::SECRET_FILES,
                "npmrc=/home/runner/work/_temp/npmrc\nother=rel/file",
            ),
            (
                n::BUILD_CONTEXTS,
                "lib=/home/runner/work/app/app/lib\nbase=docker-image://alpine:3",
            ),
            (
                n::CACHE_TO,
                "type=local,dest=/home/runner/work/_temp/cache,mode=max",
            ),
            (
                n::CACHE_FROM,
                "type=local,src=/home/runner/work/_temp/cache\ntype=gha",
            ),
            (n::OUTPUTS, "type=local,dest=/home/runner/work/app/app/out"),
            (n::SSH, "default=/home/runner/work/_temp/agent.sock"),
        ]);
        let moved = translate_inputs(&mut i, &hosted()).unwrap();
        assert_eq!(moved.len(), 6, "{moved:?}");
        assert_eq!(
            i.list(n::SECRET_FILES).unwrap(),
            ["npmrc=/github/runner_temp/npmrc", "other=rel/file"]
        );
        assert_eq!(
            i.list(n::BUILD_CONTEXTS).unwrap(),
            ["lib=/github/workspace/lib", "base=docker-image://alpine:3"]
        );
        assert_eq!(
            i.list(n::CACHE_TO).unwrap(),
            ["type=local,dest=/github/runner_temp/cache,mode=max"]
        );
        assert_eq!(i.list(n::CACHE_FROM).unwrap()[1], "type=gha");
        assert_eq!(
            i.list(n::OUTPUTS).unwrap(),
            ["type=local,dest=/github/workspace/out"]
        );
        assert_eq!(
            i.list(n::SSH).unwrap(),
            ["default=/github/runner_temp/agent.sock"]
        );
    }

    #[test]
    fn the_agent_socket_of_ssh_default_is_translated_or_refused() {
        let mut env = Env::from_pairs([("SSH_AUTH_SOCK", "/home/runner/work/_temp/a.sock")]);
        let i = inputs(&[(n::SSH, "default")]);
        let line = translate_agent_socket(&i, &mut env, &hosted()).unwrap();
        assert!(line.is_some());
        assert_eq!(env.get("SSH_AUTH_SOCK"), Some("/github/runner_temp/a.sock"));
        let mut outside = Env::from_pairs([("SSH_AUTH_SOCK", "/tmp/ssh-x/agent.123")]);
        let err = translate_agent_socket(&i, &mut outside, &hosted()).unwrap_err();
        assert_eq!(err.input, n::SSH);
        assert!(err.message.contains("/tmp/ssh-x/agent.123"), "{err}");
        // Not needed when every entry names its socket.
        let own = inputs(&[(n::SSH, "default=/github/runner_temp/a.sock")]);
        assert_eq!(
            translate_agent_socket(&own, &mut outside, &hosted()),
            Ok(None)
        );
    }

    #[test]
    fn a_path_outside_every_mount_is_an_error_naming_input_and_path() {
        let mut i = inputs(&[(n::OUTPUTS, "type=tar,dest=/home/runner/out.tar")]);
        let err = translate_inputs(&mut i, &hosted()).unwrap_err();
        assert_eq!(err.input, n::OUTPUTS);
        assert!(err.message.contains("/home/runner/out.tar"), "{err}");
        assert!(err.message.contains("runner.temp"), "{err}");
        let mut context = inputs(&[(n::CONTEXT, "/home/runner/src")]);
        let err = translate_inputs(&mut context, &hosted()).unwrap_err();
        assert_eq!(err.input, n::CONTEXT);
        let mut git = inputs(&[(n::CONTEXT, "https://github.com/o/r.git#main:sub")]);
        assert!(translate_inputs(&mut git, &hosted()).unwrap().is_empty());
        // Registry entries and stdout are no paths.
        let mut ok = inputs(&[
            (n::OUTPUTS, "type=tar,dest=-"),
            (n::CACHE_TO, "type=registry,ref=r/a:cache"),
        ]);
        assert!(translate_inputs(&mut ok, &hosted()).unwrap().is_empty());
    }
}
