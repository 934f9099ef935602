//! The receiver against hand-made packet streams: what a well-behaved sender produces
//! lands in `dest`; anything unsafe or cut off fails and leaves `dest` as it was.

use super::*;

const DIR: u32 = MODE_DIR | 0o755;

fn stat(path: &str, mode: u32, linkname: &str) -> Packet {
    Packet {
        r#type: PacketType::PacketStat as i32,
        stat: Some(Stat {
            path: path.into(),
            mode,
            linkname: linkname.into(),
            mod_time: 1_000_000_000_000_000_000,
            ..Default::default()
        }),
        id: 0,
        data: Vec::new(),
    }
}

fn end_of_listing() -> Packet {
    packet(PacketType::PacketStat, 0, Vec::new())
}

fn data(id: u32, bytes: &[u8]) -> Packet {
    packet(PacketType::PacketData, id, bytes.to_vec())
}

/// Run the receiver over `packets`; returns its result and the packets it sent.
async fn run(packets: Vec<Packet>, dest: &Path) -> (Result<(), String>, Vec<Packet>) {
    let (out, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let inbound = futures::stream::iter(packets.into_iter().map(Ok));
    let result = receive(inbound, &out, dest).await;
    drop(out);
    let mut sent = Vec::new();
    while let Some(Ok(p)) = rx.recv().await {
        sent.push(p);
    }
    (result, sent)
}

fn siblings(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn files_are_asked_for_by_their_index_and_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("out");
    let packets = vec![
        stat("a", DIR, ""),
        stat("a/f", 0o640, ""),
        stat("a/l", MODE_SYMLINK | 0o777, "f"),
        stat("g", 0o600, ""),
        end_of_listing(),
        data(3, b"gg"),
        data(1, b"ff"),
        data(3, b""),
        data(1, b""),
    ];
    let (result, sent) = run(packets, &dest).await;
    result.unwrap();
    let asked: Vec<u32> = sent
        .iter()
        .filter(|p| p.r#type == PacketType::PacketReq as i32)
        .map(|p| p.id)
        .collect();
    assert_eq!(asked, [1, 3]);
    assert_eq!(sent.last().unwrap().r#type, PacketType::PacketFin as i32);
    assert_eq!(std::fs::read(dest.join("a/f")).unwrap(), b"ff");
    assert_eq!(std::fs::read(dest.join("a/l")).unwrap(), b"ff");
    assert_eq!(std::fs::read(dest.join("g")).unwrap(), b"gg");
    assert_eq!(siblings(tmp.path()), ["out"]);
}

#[tokio::test]
async fn unsafe_or_cut_off_streams_leave_dest_untouched() {
    let cases: Vec<(Vec<Packet>, &str)> = vec![
        (vec![stat("../escape", 0o644, "")], "unsafe path"),
        (vec![stat("/etc/x", 0o644, "")], "unsafe path"),
        (
            vec![
                stat("l", MODE_SYMLINK | 0o777, "/etc"),
                stat("l/passwd", 0o644, ""),
            ],
            "below a symlink",
        ),
        (vec![stat("h", 0o644, "../outside")], "unsafe path"),
        (
            vec![stat("f", 0o644, ""), end_of_listing(), data(0, b"half")],
            "ended before every file arrived",
        ),
        (vec![data(7, b"x")], "unknown file 7"),
    ];
    for (packets, want) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("out");
        std::fs::create_dir(&dest).unwrap();
        std::fs::write(dest.join("keep"), "k").unwrap();
        let (result, sent) = run(packets, &dest).await;
        let err = result.unwrap_err();
        assert!(err.contains(want), "{want}: {err}");
        assert_eq!(sent.last().unwrap().r#type, PacketType::PacketErr as i32);
        assert_eq!(siblings(&dest), ["keep"], "{want}");
        assert_eq!(siblings(tmp.path()), ["out"], "{want}: staging left");
    }
}
