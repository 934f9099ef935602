//! `outputs`, `load` and `push` → exporters, as buildx builds them: `ParseExports` and
//! `CreateExports` (buildx `util/buildflags/export.go`, `build/opt.go`), then `--push`,
//! `--load` (`commands/build.go`) and the tags (`toSolveOpt`). Every attribute is kept as
//! given, since BuildKit reads them (`push-by-digest`, `name-canonical`, `compression`,
//! `force-compression`, `oci-mediatypes`, `rewrite-timestamp`, ...).

use std::collections::BTreeMap;

use super::build_plan::{Output, OutputType};
use super::image::ImageRef;
use crate::action::InputError;
use crate::action::csv::split_attrs;
use crate::action::names as n;
use crate::action::redact::excerpt;

/// Parse one `outputs` entry; a bare path means `type=local,dest=<path>`.
pub fn parse_output(entry: &str) -> Result<Output, InputError> {
    let quoted = excerpt(entry);
    let err = |m: String| InputError::new(n::OUTPUTS, format!("{quoted}: {m}"));
    let attrs = split_attrs(entry).map_err(|e| {
        err(format!(
            "{e} (close it; a value with commas is written \"key=a,b\")"
        ))
    })?;
    if let [single] = attrs.as_slice()
        && single.value.is_none()
    {
        if single.key == "-" {
            return Err(err(
                "dest - (standard output) is not available to an action (give a file: type=tar,dest=out.tar)"
                    .into(),
            ));
        }
        let mut attrs = BTreeMap::new();
        attrs.insert("dest".to_owned(), single.key.clone());
        return Ok(Output {
            kind: OutputType::Local,
            attrs,
        });
    }
    let mut kind = None;
    let mut map = BTreeMap::new();
    for a in attrs {
        let value = a
            .value
            .ok_or_else(|| err("a field is not key=value (e.g. type=local,dest=out)".into()))?;
        if a.key == "type" {
            kind = Some(output_type(&value).ok_or_else(|| {
                let valid: Vec<&str> = OutputType::ALL.iter().map(|t| t.as_str()).collect();
                err(format!(
                    "unknown output type {} (valid: {})",
                    excerpt(&value),
                    valid.join(", ")
                ))
            })?);
        } else {
            map.insert(a.key, value);
        }
    }
    let mut kind =
        kind.ok_or_else(|| err("missing type= (e.g. type=local,dest=out)".to_owned()))?;
    let needs_dest = match kind {
        OutputType::Local | OutputType::Tar => true,
        // `tar=false` writes an OCI layout directory; still somewhere on this side.
        OutputType::Oci => true,
        _ => false,
    };
    if needs_dest && !map.contains_key("dest") {
        return Err(err(format!("type={} needs dest=", kind.as_str())));
    }
    if map.get("dest").is_some_and(|d| d == "-") {
        return Err(err(
            "dest - (standard output) is not available to an action (give a file)".into(),
        ));
    }
    if kind == OutputType::Registry {
        // buildx CreateExports: `registry` is an image exporter that pushes and, unless
        // told otherwise, does not unpack.
        kind = OutputType::Image;
        map.insert("push".into(), "true".into());
        map.entry("unpack".into()).or_insert_with(|| "false".into());
    }
    Ok(Output { kind, attrs: map })
}

fn output_type(value: &str) -> Option<OutputType> {
    OutputType::ALL
        .iter()
        .copied()
        .find(|t| t.as_str() == value)
}

fn is_true(v: Option<&String>) -> bool {
    v.is_some_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
}

/// Whether this exporter pushes: an image exporter with `push=true`.
pub fn pushes(o: &Output) -> bool {
    o.kind == OutputType::Image && is_true(o.attrs.get("push"))
}

/// All exporters: `outputs` entries, then `push` (every image exporter pushes; one is
/// added when there is none) and `load` (a `docker` exporter without `dest`), then the tags
/// as the `name` of every `image`, `oci` and `docker` exporter (they replace a `name=` of
/// the entry, as in buildx).
pub fn resolve_outputs(
    entries: &[String],
    load: bool,
    push: bool,
    tags: &[ImageRef],
) -> Result<Vec<Output>, InputError> {
    let mut outputs = entries
        .iter()
        .map(|e| parse_output(e))
        .collect::<Result<Vec<_>, _>>()?;
    if push {
        let mut used = false;
        for o in outputs.iter_mut().filter(|o| o.kind == OutputType::Image) {
            o.attrs.insert("push".into(), "true".into());
            o.attrs
                .entry("unpack".into())
                .or_insert_with(|| "false".into());
            used = true;
        }
        if !used {
            outputs.push(Output {
                kind: OutputType::Image,
                attrs: [("push", "true"), ("unpack", "false")]
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .into(),
            });
        }
    }
    if load
        && !outputs
            .iter()
            .any(|o| o.kind == OutputType::Docker && !o.attrs.contains_key("dest"))
    {
        outputs.push(Output {
            kind: OutputType::Docker,
            attrs: BTreeMap::new(),
        });
    }
    let names = tags
        .iter()
        .map(|t| t.original.as_str())
        .collect::<Vec<_>>()
        .join(",");
    if !names.is_empty() {
        for o in &mut outputs {
            if matches!(
                o.kind,
                OutputType::Image | OutputType::Oci | OutputType::Docker
            ) {
                o.attrs.insert("name".into(), names.clone());
            }
        }
    }
    if outputs
        .iter()
        .any(|o| pushes(o) && o.attrs.get("name").is_none_or(String::is_empty))
    {
        return Err(InputError::new(
            n::TAGS,
            "push needs at least one tag (or name= in outputs)",
        ));
    }
    Ok(outputs)
}

/// The exporters as a build runs them: loading into the daemon is a switch of its own
/// (every driver does it its own way); image exporters, pushing or not, stay exporters
/// with all their attributes.
pub struct Exports {
    /// A `docker` exporter without `dest` (or `load: true`).
    pub load: bool,
    /// Some image exporter pushes (`push: true`, `type=registry`, `type=image,push=true`).
    pub push: bool,
    pub others: Vec<Output>,
}

pub fn split_exports(outputs: Vec<Output>) -> Exports {
    let mut exports = Exports {
        load: false,
        push: outputs.iter().any(pushes),
        others: Vec::new(),
    };
    for o in outputs {
        match o.kind {
            OutputType::Docker if !o.attrs.contains_key("dest") => exports.load = true,
            _ => exports.others.push(o),
        }
    }
    exports
}

/// The image names the pushing exporters push (their `name`s, split at commas), for a
/// daemon that pushes after the build.
pub fn pushed_names(outputs: &[Output]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for o in outputs.iter().filter(|o| pushes(o)) {
        for name in o.attrs.get("name").into_iter().flat_map(|n| n.split(',')) {
            let name = name.trim();
            if !name.is_empty() && !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
    }
    names
}

/// Whether an exporter pushes by digest only (no tag in the registry).
pub fn pushes_by_digest(o: &Output) -> bool {
    pushes(o) && is_true(o.attrs.get("push-by-digest"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::plan::image::parse_image_ref;

    fn attrs(o: &Output) -> Vec<(String, String)> {
        o.attrs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<_> = list
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        v.sort();
        v
    }

    /// An `outputs` entry, the exporter it gives and that exporter's attributes.
    type Case<'a> = (&'a str, OutputType, &'a [(&'a str, &'a str)]);

    #[test]
    fn every_attribute_is_kept_as_buildx_keeps_it() {
        let table: &[Case<'_>] = &[
            (
                "type=image,name=r.io/a,push-by-digest=true,name-canonical=true,push=true",
                OutputType::Image,
                &[
                    ("name", "r.io/a"),
                    ("push-by-digest", "true"),
                    ("name-canonical", "true"),
                    ("push", "true"),
                ],
            ),
            (
                "type=registry,name=r.io/a,compression=zstd,force-compression=true,oci-mediatypes=true",
                OutputType::Image,
                &[
                    ("name", "r.io/a"),
                    ("push", "true"),
                    ("unpack", "false"),
                    ("compression", "zstd"),
                    ("force-compression", "true"),
                    ("oci-mediatypes", "true"),
                ],
            ),
            (
                "type=registry,name=r.io/a,unpack=true",
                OutputType::Image,
                &[("name", "r.io/a"), ("push", "true"), ("unpack", "true")],
            ),
            (
                "type=oci,dest=o.tar,rewrite-timestamp=true",
                OutputType::Oci,
                &[("dest", "o.tar"), ("rewrite-timestamp", "true")],
            ),
            ("type=cacheonly", OutputType::CacheOnly, &[]),
            (
                "Type=local,DEST=out,platform-split=false",
                OutputType::Local,
                &[("dest", "out"), ("platform-split", "false")],
            ),
            ("out/dir", OutputType::Local, &[("dest", "out/dir")]),
        ];
        for (entry, kind, want) in table {
            let o = parse_output(entry).unwrap();
            assert_eq!(o.kind, *kind, "{entry}");
            assert_eq!(attrs(&o), pairs(want), "{entry}");
        }
    }

    #[test]
    fn bad_entries_say_what_is_valid() {
        for (entry, says) in [
            (
                "type=nope",
                "valid: docker, oci, local, tar, image, registry, cacheonly",
            ),
            ("type=local", "needs dest="),
            ("-", "standard output"),
            ("type=tar,dest=-", "standard output"),
            ("name=x", "missing type="),
        ] {
            let e = parse_output(entry).unwrap_err();
            assert_eq!(e.input, "outputs");
            assert!(e.message.contains(says), "{entry}: {e}");
        }
    }

    #[test]
    fn push_load_and_tags_apply_as_in_buildx() {
        let tags = [parse_image_ref("r.io/a:1").unwrap()];
        let entry = |s: &str| vec![s.to_owned()];
        // push marks every image exporter and keeps its attributes; tags name it.
        let out = resolve_outputs(
            &entry("type=image,push-by-digest=true,name-canonical=true"),
            false,
            true,
            &tags,
        )
        .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            attrs(&out[0]),
            pairs(&[
                ("name", "r.io/a:1"),
                ("push", "true"),
                ("unpack", "false"),
                ("push-by-digest", "true"),
                ("name-canonical", "true"),
            ])
        );
        assert!(pushes_by_digest(&out[0]));
        // Tags replace an entry's name (buildx toSolveOpt).
        let out =
            resolve_outputs(&entry("type=image,name=x/y,push=true"), false, false, &tags).unwrap();
        assert_eq!(out[0].attrs["name"], "r.io/a:1");
        // Without tags, the entry's name is what is pushed.
        let out =
            resolve_outputs(&entry("type=image,name=x/y,push=true"), false, false, &[]).unwrap();
        assert_eq!(pushed_names(&out), ["x/y"]);
        // push alone adds an image exporter; load a docker one, once.
        let out = resolve_outputs(&[], true, true, &tags).unwrap();
        let kinds: Vec<_> = out.iter().map(|o| o.kind).collect();
        assert_eq!(kinds, [OutputType::Image, OutputType::Docker]);
        let ex = split_exports(out);
        assert!(ex.load && ex.push);
        assert_eq!(pushed_names(&ex.others), ["r.io/a:1"]);
        // Pushing needs a name.
        let e = resolve_outputs(&entry("type=image,push=true"), false, false, &[]).unwrap_err();
        assert_eq!(e.input, "tags");
        // cacheonly stays (it opts out of the default exporter) and pushes nothing.
        let ex =
            split_exports(resolve_outputs(&entry("type=cacheonly"), false, false, &[]).unwrap());
        assert!(!ex.push && !ex.load);
        assert_eq!(ex.others[0].kind, OutputType::CacheOnly);
    }
}
