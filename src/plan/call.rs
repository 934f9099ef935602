//! The `call` input as buildx's `ParseCallFunc` reads it (buildx `util/buildflags/
//! callfunc.go`): a method name, `format=` and `ignorestatus=` (`check,format=json`).

use crate::action::InputError;
use crate::action::names as n;
use crate::action::redact::excerpt;

/// `call` as buildx's `ParseCallFunc` reads it: a method name, `format=` and
/// `ignorestatus=` (`check,format=json`).
#[derive(Debug)]
pub(super) struct CallInput {
    pub name: Option<String>,
    pub json: bool,
    pub ignore_status: bool,
}

pub(super) fn call_input(value: Option<String>) -> Result<CallInput, InputError> {
    let mut call = CallInput {
        name: None,
        json: false,
        ignore_status: false,
    };
    let Some(value) = value else { return Ok(call) };
    let bad = |m: String| InputError::new(n::CALL, format!("{}: {m}", excerpt(&value)));
    let fields = crate::action::csv::split_attrs(&value).map_err(|e| bad(e.to_string()))?;
    for f in fields {
        match (f.key.as_str(), f.value) {
            ("format", Some(v)) => call.json = v == "json",
            ("ignorestatus", Some(v)) => {
                call.ignore_status = match v.as_str() {
                    "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
                    "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
                    _ => {
                        return Err(bad(format!(
                            "invalid ignorestatus {} (true or false)",
                            excerpt(&v)
                        )));
                    }
                }
            }
            (k, Some(_)) => {
                return Err(bad(format!(
                    "unknown field {} (valid: format=, ignorestatus=)",
                    excerpt(k)
                )));
            }
            (name, None) if call.name.is_none() => call.name = Some(name.to_owned()),
            (_, None) => return Err(bad("names two methods".to_owned())),
        }
    }
    Ok(call)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn fields_read_as_buildx_reads_them() {
        let c = call_input(Some("check,format=json,ignorestatus=1".into())).unwrap();
        assert_eq!(c.name.as_deref(), Some("check"));
        assert!(c.json && c.ignore_status);
        assert!(call_input(None).unwrap().name.is_none());
        for (value, says) in [
            ("check,colour=red", "unknown field \"colour\""),
            ("check,outline", "names two methods"),
            ("check,ignorestatus=maybe", "invalid ignorestatus"),
        ] {
            let e = call_input(Some(value.into())).unwrap_err();
            assert_eq!(e.input, "call");
            assert!(e.message.contains(says), "{value}: {e}");
        }
    }
}
