//! `layercache serve` as a process keeps its memory flat whatever the blob size, for every
//! way real clients upload (Put Blob; BuildKit's 1 MiB blocks plus a block list; v1
//! chunks out of order) and download (whole and ranged): the service's peak RSS
//! (`VmHWM`) stays under a bound far below the bytes moved, and every byte comes back as
//! sent. The data is generated piecewise from its offset, so this test never holds a
//! blob either (issue #23).
#![expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use layercache::cache_service::TokenIssuer;
use layercache::secret::Secret;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_layercache");
const VERSION: &str = "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2";
const TWIRP: &str = "/twirp/github.actions.results.api.v1.CacheService";
const MIB: u64 = 1 << 20;
/// The service's peak RSS must stay under this (an idle debug build is ~15 MiB); the old
/// block-list commit held the whole blob, 256 MiB here.
const PEAK_BOUND_MIB: u64 = 96;

/// Byte `p` of blob `seed`: a hash of its 8-byte word, so any range is made from its offset.
fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    let word = |k: u64| {
        let mut z = (seed ^ k).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)).to_le_bytes()
    };
    let mut p = offset;
    let mut rest = &mut buf[..];
    // The unaligned head, then whole words.
    while !p.is_multiple_of(8) && !rest.is_empty() {
        rest[0] = word(p / 8)[(p % 8) as usize];
        rest = &mut rest[1..];
        p += 1;
    }
    let mut chunks = rest.chunks_mut(8);
    for c in &mut chunks {
        let w = word(p / 8);
        c.copy_from_slice(&w[..c.len()]);
        p += c.len() as u64;
    }
}

fn piece(seed: u64, offset: u64, len: u64) -> Bytes {
    let mut v = vec![0; len as usize];
    fill(seed, offset, &mut v);
    Bytes::from(v)
}

/// `len` bytes of blob `seed` from `offset`, as a body streamed 1 MiB at a time.
fn body(seed: u64, offset: u64, len: u64) -> reqwest::Body {
    let pieces = (0..len.div_ceil(MIB)).map(move |i| {
        let at = i * MIB;
        Ok::<_, std::io::Error>(piece(seed, offset + at, MIB.min(len - at)))
    });
    reqwest::Body::wrap_stream(futures::stream::iter(pieces))
}

struct Serve {
    child: Child,
    base: String,
    token: Secret,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let secret = "memory-test-secret-0123456789";
        std::fs::write(dir.path().join("secret"), secret).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--store"])
            .arg(dir.path().join("store"))
            .arg("--secret-file")
            .arg(dir.path().join("secret"))
            .env("LAYERCACHE_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut up = false;
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                up = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        assert!(up, "serve did not listen on {port}");
        let token = TokenIssuer::new(Secret::new(secret)).for_ref(
            "refs/heads/main",
            &[],
            chrono::Duration::hours(1),
        );
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            token,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// The service's peak RSS so far, in MiB.
    fn peak_mib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib / 1024
    }

    fn assert_flat(&self, what: &str, moved_mib: u64) {
        let peak = self.peak_mib();
        eprintln!("{what}: service peak RSS {peak} MiB after moving {moved_mib} MiB");
        assert!(
            peak < PEAK_BOUND_MIB,
            "{what}: the service's peak RSS reached {peak} MiB (bound {PEAK_BOUND_MIB} MiB)"
        );
    }

    async fn twirp(&self, method: &str, body: serde_json::Value) -> serde_json::Value {
        let resp = self
            .http
            .post(format!("{}{TWIRP}/{method}", self.base))
            .bearer_auth(self.token.expose())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{method}: {}", resp.status());
        resp.json().await.unwrap()
    }

    async fn create(&self, key: &str) -> String {
        let v = self
            .twirp("CreateCacheEntry", json!({"key": key, "version": VERSION}))
            .await;
        v["signed_upload_url"].as_str().unwrap().to_owned()
    }

    async fn finalize(&self, key: &str, size: u64) {
        let fin = json!({"key": key, "version": VERSION, "size_bytes": size.to_string()});
        self.twirp("FinalizeCacheEntryUpload", fin).await;
    }

    async fn put(&self, url: String, body: reqwest::Body, blob_type: bool) {
        let mut req = self.http.put(url).body(body);
        if blob_type {
            req = req.header("x-ms-blob-type", "BlockBlob");
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    }

    /// Download `range` (or all) of `key` and check it against blob `seed`.
    async fn check_download(&self, key: &str, seed: u64, size: u64, range: Option<(u64, u64)>) {
        let v = self
            .twirp(
                "GetCacheEntryDownloadURL",
                json!({"key": key, "version": VERSION}),
            )
            .await;
        let url = v["signed_download_url"].as_str().unwrap();
        let mut req = self.http.get(url);
        let (start, end) = range.unwrap_or((0, size));
        if range.is_some() {
            req = req.header("x-ms-range", format!("bytes={start}-{}", end - 1));
        }
        let mut resp = req.send().await.unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        let mut at = start;
        let mut want = Vec::new();
        while let Some(chunk) = resp.chunk().await.unwrap() {
            want.resize(chunk.len(), 0);
            fill(seed, at, &mut want);
            assert!(chunk[..] == want[..], "{key}: bytes differ near {at}");
            at += chunk.len() as u64;
        }
        assert_eq!(at, end, "{key}: the download ended early");
    }
}

/// BuildKit's pattern (the Azure SDK's `UploadStream`: 1 MiB blocks one at a time, ids of
/// 64 bytes in base64, then a block list), 256 MiB; downloads whole and ranged.
async fn blocks_and_block_list(s: &Serve) {
    let (seed, size) = (1, 256 * MIB);
    let url = s.create("blocks").await;
    let prefix = uuid::Uuid::new_v4().hyphenated().to_string();
    let mut ids = Vec::new();
    for n in 0..size / MIB {
        let id = base64::engine::general_purpose::STANDARD.encode(format!("{prefix}{n:028}"));
        let block_url = format!("{url}&comp=block&blockid={}", urlencode(&id));
        s.put(block_url, body(seed, n * MIB, MIB), false).await;
        ids.push(id);
    }
    let xml = layercache::cache_client::block_list_xml(&ids);
    s.put(format!("{url}&comp=blocklist"), xml.into(), false)
        .await;
    s.finalize("blocks", size).await;
    s.assert_flat("blocks + block list", 256);
    s.check_download("blocks", seed, size, None).await;
    s.check_download("blocks", seed, size, Some((3, 200 * MIB + 5)))
        .await;
    s.assert_flat("whole and ranged downloads", 256 + 456);
}

fn urlencode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// v1: 16 MiB chunks sent last first, committed, downloaded.
async fn v1_chunks_in_reverse(s: &Serve) {
    let (seed, size, chunk) = (2, 128 * MIB, 16 * MIB);
    let api = format!("{}/_apis/artifactcache", s.base);
    let resp = s
        .http
        .post(format!("{api}/caches"))
        .bearer_auth(s.token.expose())
        .json(&json!({"key": "chunks", "version": VERSION}))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = resp.json().await.unwrap();
    let id = v["cacheId"].as_u64().unwrap();
    for n in (0..size / chunk).rev() {
        let at = n * chunk;
        let resp = s
            .http
            .patch(format!("{api}/caches/{id}"))
            .bearer_auth(s.token.expose())
            .header("content-range", format!("bytes {at}-{}/*", at + chunk - 1))
            .body(body(seed, at, chunk))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
    }
    let resp = s
        .http
        .post(format!("{api}/caches/{id}"))
        .bearer_auth(s.token.expose())
        .json(&json!({"size": size}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    s.assert_flat("v1 chunks in reverse", 128);
    s.check_download("chunks", seed, size, None).await;
}

/// One Put Blob of 128 MiB.
async fn put_blob(s: &Serve) {
    let (seed, size) = (3, 128 * MIB);
    let url = s.create("blob").await;
    s.put(url, body(seed, 0, size), true).await;
    s.finalize("blob", size).await;
    s.check_download("blob", seed, size, None).await;
    s.assert_flat("Put Blob", 256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_memory_stays_flat_for_every_upload_pattern() {
    let s = Serve::start();
    blocks_and_block_list(&s).await;
    v1_chunks_in_reverse(&s).await;
    put_blob(&s).await;
}
