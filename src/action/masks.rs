//! The secret-bearing values among the inputs, found before any input is parsed, so they
//! are registered with the runner's masker (`::add-mask::`) before any message could
//! quote them: `github-token`, the values of `secrets`, the variables `secret-envs`
//! names, the content of `secret-files`, and credential attributes of cache entries.
//!
//! The scan is tolerant: an input that will fail to parse still has its secrets masked,
//! read line by line.

use super::env::Env;
use super::inputs::Inputs;
use super::names as n;
use super::runtime::Runtime;
use super::workflow::Workflow;
use crate::action::csv::{ListOpts, get_list};
use crate::action::redact::secret_attr_values;

/// A secret file larger than this is not read for masking (a key or a token is far
/// smaller; the build still gets the whole file).
const FILE_MASK_LIMIT: u64 = 1 << 20;

/// Every secret value the inputs carry, each once, in a stable order.
pub fn input_secrets(inputs: &Inputs, env: &Env) -> Vec<String> {
    let mut out = Vec::new();
    out.push(inputs.verbatim(n::GITHUB_TOKEN).trim().to_owned());
    out.extend(after_eq(inputs.verbatim(n::SECRETS), false));
    for var in after_eq(inputs.verbatim(n::SECRET_ENVS), true) {
        out.extend(env.raw(var.trim()).map(str::to_owned));
    }
    for path in after_eq(inputs.verbatim(n::SECRET_FILES), false) {
        out.extend(file_text(path.trim()));
    }
    for input in [n::CACHE_FROM, n::CACHE_TO] {
        out.extend(secret_attr_values(inputs.verbatim(input)));
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|v| !v.trim().is_empty() && seen.insert(v.clone()));
    out
}

/// The part after the first `=` of each entry of an `id=value` list. When the list does
/// not split (an unclosed quote), each raw line stands for an entry, quotes stripped, and a
/// line without `=` counts whole: it may be a line of a multi-line value.
fn after_eq(raw: &str, commas: bool) -> Vec<String> {
    let opts = ListOpts {
        ignore_comma: !commas,
        quote: true,
        trim: false,
    };
    let entries = get_list(raw, opts).unwrap_or_else(|_| {
        raw.lines()
            .flat_map(|l| {
                if commas {
                    l.split(',').map(str::to_owned).collect()
                } else {
                    vec![l.to_owned()]
                }
            })
            .map(|l| l.trim().trim_matches('"').to_owned())
            .collect()
    });
    entries
        .iter()
        .map(|e| e.split_once('=').map_or(e.as_str(), |(_, v)| v).to_owned())
        .collect()
}

/// A secret file's text, when it is a readable UTF-8 file of reasonable size.
fn file_text(path: &str) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > FILE_MASK_LIMIT {
        return None;
    }
    String::from_utf8(std::fs::read(path).ok()?).ok()
}

/// Register every secret of the runtime with the runner's masker, before any other output.
pub fn mask_runtime<W: std::io::Write>(runtime: &Runtime, wf: &mut Workflow<W>) {
    for secret in [&runtime.token, &runtime.id_token_request_token]
        .into_iter()
        .flatten()
    {
        wf.add_mask(secret.expose());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::names::INPUTS;

    #[test]
    fn every_secret_bearing_input_is_found_even_when_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key.pem");
        std::fs::write(&file, "file-canary\n").unwrap();
        let env = Env::from_pairs([("MY_ENV", "env-canary")]);
        let inputs = Inputs::from_pairs(
            INPUTS,
            [
                ("github-token", " gh-canary ".to_owned()),
                (
                    "secrets",
                    "A=one\n\"B=multi\nline\"\nC=\"unclosed".to_owned(),
                ),
                ("secret-envs", "E=MY_ENV,F=UNSET".to_owned()),
                ("secret-files", format!("K={}", file.display())),
                ("cache-to", "type=gha,TOKEN=tok-canary,\"scope=x".to_owned()),
            ],
        )
        .unwrap();
        let found = input_secrets(&inputs, &env);
        for want in [
            "gh-canary",
            "one",
            "multi\nline",
            "\"unclosed",
            "env-canary",
            "file-canary\n",
            "tok-canary",
        ] {
            assert!(found.iter().any(|f| f == want), "{want:?} not in {found:?}");
        }
        // A list that does not split is read line by line.
        let inputs = Inputs::from_pairs(
            INPUTS,
            [(
                "secrets",
                "A=one
\"B=multi\nline"
                    .to_owned(),
            )],
        )
        .unwrap();
        assert_eq!(input_secrets(&inputs, &env), ["one", "multi", "line"]);
        let inputs =
            Inputs::from_pairs(INPUTS, [("secrets", "A=one\n\"B=multi\nline\"".to_owned())])
                .unwrap();
        assert_eq!(input_secrets(&inputs, &env), ["one", "multi\nline"]);
    }
}
