//! Reports from progress shaped as BuildKit sends it: one vertex per exporter (named for
//! its backend from 0.11 on), `writing layer` status lines announced before each write.

use std::time::Duration;

use bollard::moby::buildkit::v1::VertexStatus;

use super::*;
use crate::plan::cache::{Direction, parse_cache_entry};

fn entry(s: &str) -> CacheOption {
    parse_cache_entry(s, Direction::To).unwrap()
}

fn vertex(digest: &str, name: &str, from: u64, to: Option<u64>, error: Option<&str>) -> StepRecord {
    StepRecord {
        name: name.into(),
        digest: digest.into(),
        started_at: Some(Duration::from_millis(from)),
        completed_at: to.map(Duration::from_millis),
        error: error.map(str::to_owned),
        ..Default::default()
    }
}

fn writing(t: &mut CacheTraffic, vertex: &str, name: &str, layers: &[&str]) {
    for l in layers {
        let st = VertexStatus {
            vertex: vertex.into(),
            id: format!("writing layer {l}"),
            ..Default::default()
        };
        t.observe(&st, name);
    }
}

const GHA: &str = "exporting cache to GitHub Actions Cache";

#[test]
fn a_failed_gha_write_under_ignore_error_is_a_failed_export_with_its_counts() {
    let mut t = CacheTraffic::default();
    writing(&mut t, "v9", GHA, &["sha256:aa", "sha256:bb", "sha256:cc"]);
    let steps = [
        vertex("v1", "[1/2] FROM base", 0, Some(10), None),
        vertex(
            "v9",
            GHA,
            1_000,
            Some(7_600),
            Some("error writing layer blob: 403 Forbidden https://x/blob?sig=SECRETSIG"),
        ),
    ];
    let reports = exports(
        &[entry("type=gha,scope=web-1a2b,ignore-error=true")],
        &steps,
        &t,
        true,
    );
    let [r] = reports.as_slice() else {
        panic!("{reports:?}")
    };
    assert_eq!(r.state, CacheState::Failed);
    assert_eq!((r.attempted.len(), r.written), (3, 2));
    assert_eq!(span(&reports), Some(Duration::from_millis(6_600)));
    let w = r.export_warning().unwrap();
    assert!(
        w.starts_with("cache export to gha scope web-1a2b failed: 2 of 3 layers written and no index written; the next run will not find this build's cache (error writing layer blob: 403 Forbidden"),
        "{w}"
    );
    assert!(!w.contains("SECRETSIG"), "{w}");
}

#[test]
fn a_clean_export_is_done_with_its_real_time_and_no_warning() {
    let mut t = CacheTraffic::default();
    writing(&mut t, "v9", "exporting cache to registry", &["sha256:aa"]);
    let steps = [vertex(
        "v9",
        "exporting cache to registry",
        500,
        Some(7_100),
        None,
    )];
    let reports = exports(&[entry("type=registry,ref=r/app:cache")], &steps, &t, true);
    assert_eq!(reports[0].state, CacheState::Done);
    assert_eq!(reports[0].written, 1);
    assert_eq!(reports[0].export_warning(), None);
    assert_eq!(span(&reports), Some(Duration::from_millis(6_600)));
}

#[test]
fn exporters_pair_with_their_entries_by_type_then_by_order() {
    let t = CacheTraffic::default();
    let steps = [
        vertex(
            "a",
            "exporting cache to registry",
            0,
            Some(5),
            Some("error writing layer blob: denied"),
        ),
        vertex("b", GHA, 0, Some(9), None),
    ];
    let entries = [
        entry("type=gha,scope=s"),
        entry("type=registry,ref=r/app:c"),
    ];
    let r = exports(&entries, &steps, &t, true);
    assert_eq!(
        (r[0].state, r[1].state),
        (CacheState::Done, CacheState::Failed)
    );
    assert!(r[1].export_warning().unwrap().contains(
        "registry r/app:c failed: before any layer was written and no cache manifest pushed"
    ));
    // Old BuildKit names no backend: the one export takes the one vertex.
    let old = [vertex(
        "c",
        "exporting cache",
        0,
        Some(3),
        Some("failed to push"),
    )];
    let r = exports(&[entry("type=registry,ref=r/app:c")], &old, &t, false);
    assert_eq!(r[0].state, CacheState::Failed);
}

#[test]
fn an_export_the_failed_solve_never_reached_is_lost_and_inline_goes_with_the_image() {
    let t = CacheTraffic::default();
    let r = exports(
        &[entry("type=gha,scope=s"), entry("type=inline")],
        &[],
        &t,
        false,
    );
    assert_eq!(
        (r[0].state, r[1].state),
        (CacheState::Failed, CacheState::Failed)
    );
    assert!(
        r[0].export_warning()
            .unwrap()
            .contains("before any layer was written")
    );
    let r = exports(
        &[entry("type=inline"), entry("type=gha,scope=s")],
        &[],
        &t,
        true,
    );
    assert_eq!(
        (r[0].state, r[1].state),
        (CacheState::Done, CacheState::Unreported)
    );
    assert_eq!(r[1].export_warning(), None);
}

#[test]
fn imports_pair_by_what_they_name_and_fail_alone() {
    let t = CacheTraffic::default();
    let steps = [
        vertex(
            "i2",
            "importing cache manifest from r/app:two",
            100,
            Some(400),
            Some("not found"),
        ),
        vertex(
            "i1",
            "importing cache manifest from r/app:one",
            100,
            Some(300),
            None,
        ),
    ];
    let from = |s: &str| parse_cache_entry(s, Direction::From).unwrap();
    let r = imports(&[from("r/app:one"), from("r/app:two")], &steps, &t);
    assert_eq!(
        (r[0].state, r[1].state),
        (CacheState::Done, CacheState::Failed)
    );
    assert_eq!(span(&r), Some(Duration::from_millis(300)));
    assert_eq!(
        r[1].import_warning().unwrap(),
        "cache import from registry r/app:two failed, building without that cache: not found"
    );
}
