//! A stand-in for GitHub's Actions cache REST API on a loopback port, written from the
//! documented behaviour (docs.github.com/rest/actions/cache, API version 2022-11-28):
//! `GET /repos/{o}/{r}/actions/caches` with `key` (prefix), `ref`, `sort`, `direction`,
//! `per_page` (default 30, max 100), `page` and a `Link` header; `DELETE .../caches/{id}`
//! (204, 404); `GET .../actions/cache/usage`; `GET .../actions/cache/storage-limit`;
//! `Bearer` auth (401 otherwise), 403 with GitHub's error JSON for a read-only token, 404 for
//! an unknown repository. It answers under `/` and under `/api/v3` (GHES) alike.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub key: String,
    pub git_ref: String,
    pub size: u64,
    pub created_at: DateTime<Utc>,
    pub last_accessed_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct State {
    pub repository: String,
    pub token: String,
    /// When false, deletes answer 403 like a token without `actions: write`.
    pub can_write: bool,
    pub entries: Vec<Entry>,
    /// Ids that vanish before a delete arrives (evicted, or deleted by another job).
    pub vanished: Vec<i64>,
    pub storage_limit_gb: Option<u32>,
    /// Every request: method, path and query, and whether it carried the right token.
    pub log: Vec<(String, bool)>,
}

pub type Shared = Arc<Mutex<State>>;

/// Start the stub; returns its base URL (`http://127.0.0.1:PORT`) and state.
pub async fn start(state: State) -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(state));
    let app = Router::new().fallback({
        let shared = shared.clone();
        move |req: Request<Body>| {
            let shared = shared.clone();
            async move { handle(&shared, &req) }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), shared)
}

fn error(status: StatusCode, message: &str, doc: &str) -> Response {
    let body = json!({
        "message": message,
        "documentation_url": format!("https://docs.github.com/rest/actions/cache#{doc}"),
        "status": status.as_u16().to_string(),
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn handle(shared: &Shared, req: &Request<Body>) -> Response {
    let mut st = shared.lock().unwrap();
    let path = req.uri().path();
    let path = path.strip_prefix("/api/v3").unwrap_or(path).to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let authed = bearer(req.headers()).is_some_and(|t| t == st.token);
    st.log
        .push((format!("{} {path}?{query}", req.method()), authed));
    if !authed {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials", "");
    }
    let prefix = format!("/repos/{}/actions/", st.repository);
    let Some(rest) = path.strip_prefix(&prefix) else {
        return error(
            StatusCode::NOT_FOUND,
            "Not Found",
            "list-github-actions-caches-for-a-repository",
        );
    };
    match (req.method(), rest) {
        (&Method::GET, "caches") => list(&st, &path, &query),
        (&Method::DELETE, r) if r.starts_with("caches/") => delete(&mut st, &r["caches/".len()..]),
        (&Method::GET, "cache/usage") => {
            let bytes: u64 = st.entries.iter().map(|e| e.size).sum();
            let body = json!({
                "full_name": st.repository,
                "active_caches_size_in_bytes": bytes,
                "active_caches_count": st.entries.len(),
            });
            axum::Json(body).into_response()
        }
        (&Method::GET, "cache/storage-limit") => match st.storage_limit_gb {
            Some(gb) => axum::Json(json!({ "max_cache_size_gb": gb })).into_response(),
            None => error(
                StatusCode::NOT_FOUND,
                "Not Found",
                "get-github-actions-cache-storage-limit-for-a-repository",
            ),
        },
        _ => error(StatusCode::NOT_FOUND, "Not Found", ""),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("token "))
}

fn list(st: &State, path: &str, query: &str) -> Response {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let per_page: usize = get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: usize = get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let mut hits: Vec<&Entry> = st
        .entries
        .iter()
        .filter(|e| get("key").is_none_or(|k| e.key.starts_with(k)))
        .filter(|e| get("ref").is_none_or(|r| e.git_ref == r))
        .collect();
    match get("sort").unwrap_or("last_accessed_at") {
        "created_at" => hits.sort_by_key(|e| e.created_at),
        "size_in_bytes" => hits.sort_by_key(|e| e.size),
        _ => hits.sort_by_key(|e| e.last_accessed_at),
    }
    if get("direction").unwrap_or("desc") == "desc" {
        hits.reverse();
    }
    let total = hits.len();
    let items: Vec<_> = hits
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|e| {
            json!({
                "id": e.id, "ref": e.git_ref, "key": e.key,
                "version": "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2",
                "last_accessed_at": e.last_accessed_at, "created_at": e.created_at,
                "size_in_bytes": e.size,
            })
        })
        .collect();
    let last = total.div_ceil(per_page).max(1);
    let link_to = |p: usize| {
        let others: Vec<String> = params
            .iter()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
            .collect();
        format!(
            "<https://api.github.com{path}?{}&page={p}>",
            others.join("&")
        )
    };
    let mut links = Vec::new();
    if page < last {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
        links.push(format!("{}; rel=\"last\"", link_to(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
        links.push(format!("{}; rel=\"first\"", link_to(1)));
    }
    let mut resp =
        axum::Json(json!({ "total_count": total, "actions_caches": items })).into_response();
    if !links.is_empty() {
        resp.headers_mut()
            .insert(header::LINK, links.join(", ").parse().unwrap());
    }
    resp
}

fn delete(st: &mut State, id: &str) -> Response {
    let doc = "delete-a-github-actions-cache-for-a-repository-using-a-cache-id";
    if !st.can_write {
        return error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
            doc,
        );
    }
    let Ok(id) = id.parse::<i64>() else {
        return error(StatusCode::NOT_FOUND, "Not Found", doc);
    };
    let before = st.entries.len();
    st.entries.retain(|e| e.id != id);
    if st.entries.len() == before || st.vanished.contains(&id) {
        return error(StatusCode::NOT_FOUND, "Not Found", doc);
    }
    StatusCode::NO_CONTENT.into_response()
}
