use serde_json::json;

use super::chains::Meanings;
use super::*;

/// What BuildKit v0.32.2 wrote for a three-step build (`mode=max`), digests shortened:
/// layer 1 sits on layer 0, so it has no `parent` key.
const BUILDKIT: &str = r#"{"layers":[
 {"blob":"sha256:aa","parent":-1,"annotations":{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","diffID":"sha256:da","size":1024,"createdAt":"2026-11-30T10:00:00.123456789Z"}},
 {"blob":"sha256:bb","annotations":{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","diffID":"sha256:db","size":99,"createdAt":"2026-11-30T10:00:01Z"}},
 {"blob":"sha256:cc","parent":1}],
 "records":[
 {"digest":"sha256:r0"},
 {"layers":[{"layer":0,"createdAt":"2026-11-30T10:00:00Z"}],"digest":"sha256:r1","inputs":[[{"link":0}]]},
 {"layers":[{"layer":2,"createdAt":"2026-11-30T10:00:02Z"}],"digest":"sha256:r2","inputs":[[{"selector":"sha256:sel","link":1}]]}]}"#;

#[test]
fn absent_fields_have_buildkits_meaning() {
    let c = CacheConfig::from_slice(BUILDKIT.as_bytes()).unwrap();
    assert_eq!(c.layers[0].parent, None);
    assert_eq!(c.layers[1].parent, Some(0), "absent parent is layer 0");
    assert_eq!(c.layers[2].parent, Some(1));
    assert_eq!(c.records[1].results[0].layer, 0);
    assert_eq!(c.records[1].inputs[0][0].link, 0);
    assert_eq!(c.records[1].inputs[0][0].selector, "");
    let a = c.layers[0].annotations.as_ref().unwrap();
    assert_eq!(a.size, 1024);
    assert_eq!(
        a.created_at.unwrap().timestamp_subsec_nanos(),
        123_456_789,
        "Go's nanoseconds survive"
    );
}

#[test]
fn encoding_leaves_zeros_out_as_go_does() {
    let c = CacheConfig::from_slice(BUILDKIT.as_bytes()).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&c.to_vec().unwrap()).unwrap();
    assert_eq!(v["layers"][0]["parent"], json!(-1));
    assert!(v["layers"][1].get("parent").is_none(), "{v}");
    assert_eq!(v["layers"][2]["parent"], json!(1));
    assert_eq!(v["records"][1]["inputs"][0][0], json!({"link": 0}));
    assert_eq!(v["records"][1]["layers"][0]["layer"], json!(0));
    assert!(v["records"][0].get("layers").is_none());
    let again = CacheConfig::from_slice(&c.to_vec().unwrap()).unwrap();
    assert_eq!(again, c);
}

#[test]
fn fields_a_newer_buildkit_adds_are_kept() {
    let body = r#"{"layers":[{"blob":"sha256:aa","parent":-1,"future":1}],"records":[{"digest":"sha256:r","inputs":[],"x":[2]}],"top":"t"}"#;
    let c = CacheConfig::from_slice(body.as_bytes()).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&c.to_vec().unwrap()).unwrap();
    assert_eq!(v["layers"][0]["future"], json!(1));
    assert_eq!(v["records"][0]["x"], json!([2]));
    assert_eq!(v["top"], json!("t"));
}

#[test]
fn what_buildkit_refuses_is_refused() {
    for bad in [
        r#"{"layers":[{"blob":"a","parent":-2}]}"#,
        r#"{"records":[{"layers":[{"layer":-1}]}]}"#,
        r#"{"records":[{"inputs":[[{"link":-1}]]}]}"#,
        r#"[]"#,
    ] {
        assert!(CacheConfig::from_slice(bad.as_bytes()).is_err(), "{bad}");
    }
    for bad in [
        r#"{"layers":[{"blob":"a","parent":1},{"blob":"b"}]}"#,
        r#"{"layers":[{"blob":"a","parent":3}]}"#,
        r#"{"layers":[{"blob":"a","parent":-1}],"records":[{"layers":[{"layer":1}]}]}"#,
        r#"{"records":[{"digest":"r","inputs":[[{"link":0}]]}]}"#,
        r#"{"records":[{"digest":"r","inputs":[[]]}]}"#,
        r#"{"records":[{"digest":"r","inputs":[[{"link":5}]]}]}"#,
    ] {
        let c = CacheConfig::from_slice(bad.as_bytes()).unwrap();
        assert!(Meanings::of(&c).is_err(), "{bad}");
    }
}

#[test]
fn a_layer_means_its_chain() {
    let c = CacheConfig::from_slice(BUILDKIT.as_bytes()).unwrap();
    let m = Meanings::of(&c).unwrap();
    assert_eq!(m.layers[2], vec!["sha256:aa", "sha256:bb", "sha256:cc"]);
    let results: Vec<_> = m.records[2].1.iter().cloned().collect();
    assert_eq!(results, vec![vec!["sha256:aa", "sha256:bb", "sha256:cc"]]);
    // The same config with its layers in another order means the same.
    let mut moved = c.clone();
    moved.layers.swap(0, 2);
    moved.layers[0].parent = Some(1);
    moved.layers[1].parent = Some(2);
    moved.layers[2].parent = None;
    moved.records[1].results[0].layer = 2;
    moved.records[2].results[0].layer = 0;
    let m2 = Meanings::of(&moved).unwrap();
    assert!(m.lost_in(None, &m2).is_empty());
    assert!(m2.lost_in(None, &m).is_empty());
    // Dropping the parent (what the old merge did to a layer on layer 0) loses records.
    let mut broken = c.clone();
    broken.layers[1].parent = None;
    let m3 = Meanings::of(&broken).unwrap();
    assert_eq!(m.lost_in(None, &m3), vec![2]);
}
