//! The listing BuildKit receives: fsutil's order, `.dockerignore` excludes with
//! re-includes, include patterns, hard links; and the exchange of requests for data.

use std::fs;

use super::*;

fn paths(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.stat.path.as_str()).collect()
}

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for d in ["a", "a/b", "a.b", "logs", "logs/keep", "docker"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    for f in [
        "a/b/c.txt",
        "a.b/x",
        "Dockerfile",
        "logs/1.log",
        "logs/keep/k.log",
        "docker/app.Dockerfile",
    ] {
        fs::write(root.join(f), f).unwrap();
    }
    fs::hard_link(root.join("Dockerfile"), root.join("Dockerfile.copy")).unwrap();
    std::os::unix::fs::symlink("a/b/c.txt", root.join("link")).unwrap();
    dir
}

#[test]
fn the_listing_is_in_walk_order_with_hard_links_and_symlinks() {
    let dir = tree();
    let all = list(dir.path(), &Selection::default()).unwrap();
    assert_eq!(
        paths(&all),
        [
            "Dockerfile",
            "Dockerfile.copy",
            "a",
            "a/b",
            "a/b/c.txt",
            "a.b",
            "a.b/x",
            "docker",
            "docker/app.Dockerfile",
            "link",
            "logs",
            "logs/1.log",
            "logs/keep",
            "logs/keep/k.log",
        ]
    );
    let by = |p: &str| all.iter().find(|e| e.stat.path == p).unwrap();
    assert_eq!(by("Dockerfile.copy").stat.linkname, "Dockerfile");
    assert!(
        by("Dockerfile.copy").file.is_none(),
        "hard links carry no data"
    );
    assert_eq!(by("Dockerfile").stat.size, 10);
    assert_eq!(by("link").stat.linkname, "a/b/c.txt");
    assert_ne!(by("link").stat.mode & MODE_SYMLINK, 0);
    assert_eq!(by("a").stat.mode & MODE_DIR, MODE_DIR);
}

#[test]
fn excluded_directories_come_back_only_for_what_is_re_included() {
    let dir = tree();
    let selection = Selection {
        excludes: vec!["logs".into(), "!logs/keep/k.log".into(), "a.b".into()],
        includes: Vec::new(),
    };
    let kept = list(dir.path(), &selection).unwrap();
    let kept = paths(&kept);
    assert!(kept.contains(&"logs/keep/k.log"), "{kept:?}");
    // Its parents are listed (fsutil needs them) though excluded; nothing else of them is.
    assert!(
        kept.contains(&"logs") && kept.contains(&"logs/keep"),
        "{kept:?}"
    );
    assert!(
        !kept.contains(&"logs/1.log") && !kept.contains(&"a.b/x"),
        "{kept:?}"
    );
}

#[test]
fn include_patterns_pick_files_and_their_parents() {
    let dir = tree();
    let selection = Selection {
        excludes: Vec::new(),
        includes: vec!["docker/app.Dockerfile".into(), ".dockerignore".into()],
    };
    let picked = list(dir.path(), &selection).unwrap();
    assert_eq!(paths(&picked), ["docker", "docker/app.Dockerfile"]);
}

#[tokio::test]
async fn files_go_out_as_they_are_asked_for_then_fin() {
    let dir = tree();
    let entries = list(
        dir.path(),
        &Selection {
            excludes: Vec::new(),
            includes: vec!["a/b/c.txt".into()],
        },
    )
    .unwrap();
    assert_eq!(paths(&entries), ["a", "a/b", "a/b/c.txt"]);
    let (out, mut rx) = tokio::sync::mpsc::channel(64);
    let inbound = futures::stream::iter([
        Ok(packet(PacketType::PacketReq, 2, Vec::new())),
        Ok(packet(PacketType::PacketFin, 0, Vec::new())),
    ]);
    let sent = send(inbound, &out, entries).await.unwrap();
    assert_eq!((sent.files, sent.bytes), (1, 9));
    drop(out);
    let mut kinds = Vec::new();
    while let Some(Ok(p)) = rx.recv().await {
        kinds.push((p.r#type, p.id, p.data.len()));
    }
    let (stat, data, fin) = (
        PacketType::PacketStat as i32,
        PacketType::PacketData as i32,
        PacketType::PacketFin as i32,
    );
    assert_eq!(
        kinds,
        [
            (stat, 0, 0),
            (stat, 0, 0),
            (stat, 0, 0),
            (stat, 0, 0),
            (data, 2, 9),
            (data, 2, 0),
            (fin, 0, 0)
        ]
    );
}

#[tokio::test]
async fn a_request_for_a_directory_or_unknown_id_is_an_error() {
    let dir = tree();
    let entries = list(dir.path(), &Selection::default()).unwrap();
    let (out, _rx) = tokio::sync::mpsc::channel(64);
    let inbound = futures::stream::iter([Ok(packet(PacketType::PacketReq, 2, Vec::new()))]);
    let err = send(inbound, &out, entries).await.unwrap_err();
    assert!(err.contains("unknown file 2"), "{err}");
}
