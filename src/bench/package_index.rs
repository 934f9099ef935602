//! The package index of `layercache-bench project`: a PEP 503 "simple" index serving a
//! directory of wheels, with the caching headers PyPI sends, so pip's HTTP cache in a kept
//! `--mount=type=cache,target=/root/.cache/pip` is worth what it is worth against PyPI.
//!
//! Files are immutable (`Cache-Control: max-age=365000000, immutable, public`, as
//! files.pythonhosted.org); project pages are revalidated (pip asks them with
//! `Cache-Control: max-age=0`) and answered `304` when their `ETag` still matches. A
//! delay before each answer and a bandwidth cap stand for the distance to PyPI.
//! <https://peps.python.org/pep-0503/>

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// What the index answered, since it started.
#[derive(Debug, Default)]
pub struct Served {
    pub requests: AtomicU64,
    /// Body bytes sent (a `304` sends none).
    pub bytes: AtomicU64,
}

impl Served {
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::SeqCst),
            self.bytes.load(Ordering::SeqCst),
        )
    }
}

/// How far away the index is.
#[derive(Debug, Clone, Copy)]
pub struct Distance {
    /// Before each answer.
    pub latency: Duration,
    /// Body bytes per second; 0: no cap.
    pub bytes_per_sec: u64,
}

struct Index {
    /// Normalized project name → (file name, sha256 hex).
    projects: BTreeMap<String, Vec<(String, String)>>,
    files: BTreeMap<String, Arc<Vec<u8>>>,
    distance: Distance,
    served: Arc<Served>,
}

/// PEP 503's normalized name.
pub fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The project a wheel's file name belongs to (`flask-3.1.3-py3-none-any.whl` → `flask`).
fn project_of(file: &str) -> Option<String> {
    let stem = file.strip_suffix(".whl")?;
    stem.split_once('-').map(|(name, _)| normalize(name))
}

/// Serve the wheels in `dir` on `bind`; returns the bound address.
pub async fn serve(
    dir: &Path,
    bind: SocketAddr,
    distance: Distance,
    served: Arc<Served>,
) -> std::io::Result<SocketAddr> {
    let mut projects: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        let Some(project) = project_of(&name) else {
            continue;
        };
        let bytes = std::fs::read(&path)?;
        let hash = hex::encode(Sha256::digest(&bytes));
        projects
            .entry(project)
            .or_default()
            .push((name.clone(), hash));
        files.insert(name, Arc::new(bytes));
    }
    if projects.is_empty() {
        return Err(std::io::Error::other(format!(
            "no wheels (*.whl) in {}",
            dir.display()
        )));
    }
    let index = Arc::new(Index {
        projects,
        files,
        distance,
        served,
    });
    let app = axum::Router::new()
        .route("/simple/", axum::routing::get(root))
        .route("/simple/{project}/", axum::routing::get(project))
        .route("/files/{file}", axum::routing::get(file))
        .with_state(index);
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

async fn root(State(ix): State<Arc<Index>>, headers: HeaderMap) -> Response {
    let mut body = String::from("<!DOCTYPE html><html><body>\n");
    for name in ix.projects.keys() {
        body.push_str(&format!("<a href=\"{name}/\">{name}</a>\n"));
    }
    body.push_str("</body></html>\n");
    page(&ix, &headers, body).await
}

async fn project(
    State(ix): State<Arc<Index>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let Some(files) = ix.projects.get(&normalize(&name)) else {
        tokio::time::sleep(ix.distance.latency).await;
        ix.served.requests.fetch_add(1, Ordering::SeqCst);
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut body = String::from("<!DOCTYPE html><html><body>\n");
    for (file, hash) in files {
        body.push_str(&format!(
            "<a href=\"../../files/{file}#sha256={hash}\">{file}</a>\n"
        ));
    }
    body.push_str("</body></html>\n");
    page(&ix, &headers, body).await
}

/// An index page: revalidated by `ETag`, cacheable for ten minutes (as PyPI's).
async fn page(ix: &Index, headers: &HeaderMap, body: String) -> Response {
    tokio::time::sleep(ix.distance.latency).await;
    ix.served.requests.fetch_add(1, Ordering::SeqCst);
    let etag = format!(
        "\"{}\"",
        &hex::encode(Sha256::digest(body.as_bytes()))[..32]
    );
    let cache = [
        (header::CACHE_CONTROL, "max-age=600, public"),
        (header::VARY, "Accept-Encoding"),
    ];
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, cache, [(header::ETAG, etag)]).into_response();
    }
    ix.served
        .bytes
        .fetch_add(body.len() as u64, Ordering::SeqCst);
    (
        cache,
        [
            (header::ETAG, etag),
            (header::CONTENT_TYPE, "text/html".to_owned()),
        ],
        body,
    )
        .into_response()
}

async fn file(State(ix): State<Arc<Index>>, UrlPath(name): UrlPath<String>) -> Response {
    tokio::time::sleep(ix.distance.latency).await;
    ix.served.requests.fetch_add(1, Ordering::SeqCst);
    let Some(bytes) = ix.files.get(&name).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let size = bytes.len() as u64;
    ix.served.bytes.fetch_add(size, Ordering::SeqCst);
    if ix.distance.bytes_per_sec > 0 {
        // The whole body's time at the cap, before it is sent: simple, and what pip waits for.
        let secs = size as f64 / ix.distance.bytes_per_sec as f64;
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    }
    let mut res = Response::new(axum::body::Body::from(bytes.as_ref().clone()));
    let h = res.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=365000000, immutable, public"),
    );
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized_as_pep_503_says() {
        assert_eq!(normalize("Charset_Normalizer"), "charset-normalizer");
        assert_eq!(normalize("a.-_b"), "a-b");
        assert_eq!(
            project_of("markdown_it_py-4.3.0-py3-none-any.whl").as_deref(),
            Some("markdown-it-py")
        );
        assert_eq!(project_of("README.txt"), None);
    }

    #[tokio::test]
    async fn pages_revalidate_and_files_are_immutable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Demo_Pkg-1.0-py3-none-any.whl"), b"wheel").unwrap();
        let served = Arc::new(Served::default());
        let distance = Distance {
            latency: Duration::ZERO,
            bytes_per_sec: 0,
        };
        let addr = serve(
            dir.path(),
            ([127, 0, 0, 1], 0).into(),
            distance,
            served.clone(),
        )
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let page = http
            .get(format!("http://{addr}/simple/demo-pkg/"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let etag = page.headers()[header::ETAG].clone();
        let body = page.text().await.unwrap();
        let hash = hex::encode(Sha256::digest(b"wheel"));
        assert!(
            body.contains(&format!(
                "../../files/Demo_Pkg-1.0-py3-none-any.whl#sha256={hash}"
            )),
            "{body}"
        );
        let again = http
            .get(format!("http://{addr}/simple/Demo.Pkg/"))
            .header(header::IF_NONE_MATCH, etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        let wheel = http
            .get(format!("http://{addr}/files/Demo_Pkg-1.0-py3-none-any.whl"))
            .send()
            .await
            .unwrap();
        assert!(
            wheel.headers()[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        assert_eq!(wheel.bytes().await.unwrap().as_ref(), b"wheel");
        assert_eq!(served.snapshot(), (3, body.len() as u64 + 5));
    }
}
