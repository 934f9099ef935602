//! What a `call` other than build answered, for the log, the job summary and annotations:
//! the frontend's readable text (`result.txt`), for `check` each rule it flagged at its
//! Dockerfile line (from `result.json`), and whether the step fails as buildx fails it
//! (`result.statuscode` not 0).

use std::collections::BTreeMap;

/// One flagged rule: the message and its 1-based line, when located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFinding {
    pub message: String,
    pub line: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallReport {
    pub text: String,
    pub findings: Vec<CheckFinding>,
    pub failed: bool,
}

impl CallReport {
    pub fn from_result(result: &BTreeMap<String, String>) -> Self {
        let text = result.get("result.txt").cloned().unwrap_or_default();
        let failed = result
            .get("result.statuscode")
            .is_some_and(|c| c.trim() != "0");
        let json: serde_json::Value = result
            .get("result.json")
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        let findings = json["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(finding)
            .collect();
        Self {
            text,
            findings,
            failed,
        }
    }

    /// The job summary's section.
    pub fn markdown(&self, call: &str) -> String {
        format!(
            "\n### `call: {call}`\n\n```text\n{}\n```\n",
            self.text.trim_end()
        )
    }
}

/// A lint warning as BuildKit's `frontend/subrequests/lint` writes it.
fn finding(w: &serde_json::Value) -> CheckFinding {
    let rule = w["ruleName"].as_str().unwrap_or("check");
    let detail = w["detail"]
        .as_str()
        .or(w["description"].as_str())
        .unwrap_or("");
    let mut message = format!("{rule}: {detail}");
    if let Some(url) = w["url"].as_str().filter(|u| !u.is_empty()) {
        message.push_str(&format!(" ({url})"));
    }
    let line = w["location"]["ranges"][0]["start"]["line"]
        .as_u64()
        .and_then(|l| u32::try_from(l).ok())
        .filter(|l| *l > 0);
    CheckFinding { message, line }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lint_results_become_findings_at_their_line() {
        let json = r#"{"warnings":[{"ruleName":"FromAsCasing","description":"d","url":"https://docs.docker.com/go/dockerfile/rule/from-as-casing/","detail":"'as' and 'FROM' keywords' casing do not match","location":{"ranges":[{"start":{"line":2},"end":{"line":2}}]}}],"sources":[]}"#;
        let result: BTreeMap<String, String> = [
            ("result.json".to_owned(), json.to_owned()),
            ("result.txt".to_owned(), "WARNING: FromAsCasing".to_owned()),
            ("result.statuscode".to_owned(), "1".to_owned()),
        ]
        .into();
        let r = CallReport::from_result(&result);
        assert!(r.failed);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].line, Some(2));
        assert!(
            r.findings[0]
                .message
                .starts_with("FromAsCasing: 'as' and 'FROM'")
        );
        assert!(r.markdown("check").contains("WARNING: FromAsCasing"));
        let ok: BTreeMap<String, String> =
            [("result.statuscode".to_owned(), "0".to_owned())].into();
        assert!(!CallReport::from_result(&ok).failed);
    }
}
