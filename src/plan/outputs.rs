//! `outputs`, `load` and `push` → exporters, as buildx's `ParseExports` reads them.

use std::collections::BTreeMap;

use super::build_plan::{Output, OutputType};
use super::image::ImageRef;
use crate::action::InputError;
use crate::action::csv::split_attrs;
use crate::action::names as n;
use crate::action::redact::excerpt;

fn known_keys(kind: OutputType) -> &'static [&'static str] {
    const IMAGE: &[&str] = &[
        "name",
        "push",
        "push-by-digest",
        "insecure",
        "unpack",
        "store",
        "dangling-name-prefix",
        "name-canonical",
        "oci-mediatypes",
        "compression",
        "compression-level",
        "force-compression",
        "annotation",
        "registry.insecure",
    ];
    match kind {
        OutputType::Docker => &[
            "dest",
            "name",
            "context",
            "oci-mediatypes",
            "compression",
            "compression-level",
            "force-compression",
        ],
        OutputType::Oci => &[
            "dest",
            "name",
            "tar",
            "oci-mediatypes",
            "compression",
            "compression-level",
            "force-compression",
        ],
        OutputType::Local | OutputType::Tar => &["dest", "platform-split"],
        OutputType::Image | OutputType::Registry => IMAGE,
    }
}

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
            let valid = OutputType::ALL
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            kind = Some(
                OutputType::ALL
                    .iter()
                    .copied()
                    .find(|t| t.as_str() == value)
                    .ok_or_else(|| {
                        err(format!(
                            "unknown output type {} (valid: {valid})",
                            excerpt(&value)
                        ))
                    })?,
            );
        } else {
            map.insert(a.key, value);
        }
    }
    let kind = kind.ok_or_else(|| err("missing type= (e.g. type=local,dest=out)".to_owned()))?;
    let known = known_keys(kind);
    if let Some(k) = map
        .keys()
        .find(|k| !known.contains(&k.as_str()) && !k.starts_with("annotation"))
    {
        return Err(err(format!(
            "unknown key {} for type={} (valid: {})",
            excerpt(k),
            kind.as_str(),
            known.join(", ")
        )));
    }
    if matches!(kind, OutputType::Local | OutputType::Tar) && !map.contains_key("dest") {
        return Err(err(format!("type={} needs dest=", kind.as_str())));
    }
    if kind == OutputType::Registry {
        map.insert("push".into(), "true".into());
    }
    Ok(Output { kind, attrs: map })
}

/// All exporters: `outputs` entries, then `load` (docker) and `push` (image, push=true),
/// with tags as the `name` of every image-bearing exporter that names none.
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
        match outputs
            .iter_mut()
            .find(|o| matches!(o.kind, OutputType::Image | OutputType::Registry))
        {
            Some(o) => {
                o.attrs.insert("push".into(), "true".into());
            }
            None => outputs.push(Output {
                kind: OutputType::Image,
                attrs: [("push".to_owned(), "true".to_owned())].into(),
            }),
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
    for o in &mut outputs {
        let names_image = matches!(
            o.kind,
            OutputType::Image | OutputType::Registry | OutputType::Docker | OutputType::Oci
        );
        if names_image && !names.is_empty() {
            o.attrs
                .entry("name".into())
                .or_insert_with(|| names.clone());
        }
    }
    let pushes = outputs
        .iter()
        .any(|o| o.attrs.get("push").is_some_and(|v| v == "true"));
    if pushes && !outputs.iter().any(|o| o.attrs.contains_key("name")) {
        return Err(InputError::new(
            n::TAGS,
            "push needs at least one tag (or name= in outputs)",
        ));
    }
    Ok(outputs)
}
/// The exporters as a build runs them: loading into the daemon and pushing are switches
/// of their own (every driver does them its own way); the rest stay exporters.
pub struct Exports {
    /// A `docker` exporter without `dest` (or `load: true`).
    pub load: bool,
    /// A `registry` exporter, or `image` with `push=true` (or `push: true`).
    pub push: bool,
    pub others: Vec<Output>,
}

pub fn split_exports(outputs: Vec<Output>) -> Exports {
    let mut exports = Exports {
        load: false,
        push: false,
        others: Vec::new(),
    };
    for o in outputs {
        let pushes = o.attrs.get("push").is_some_and(|v| v == "true");
        match o.kind {
            OutputType::Docker if !o.attrs.contains_key("dest") => exports.load = true,
            OutputType::Registry => exports.push = true,
            OutputType::Image if pushes => exports.push = true,
            _ => exports.others.push(o),
        }
    }
    exports
}
