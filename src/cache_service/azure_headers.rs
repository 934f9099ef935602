//! The headers Azure Blob Storage puts on its responses, which Azure SDK clients (the
//! official cache client among them) expect from our blob endpoints and error bodies alike.

use axum::http::{HeaderMap, HeaderValue, header};

/// The Azure REST version we claim to speak (large-block limits, as SDKs expect).
pub const AZURE_VERSION: &str = "2020-10-02";

/// Add the headers Azure puts on every response.
pub fn add_azure_headers(h: &mut HeaderMap) {
    let id = uuid::Uuid::new_v4().to_string();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-ms-request-id", v);
    }
    h.insert("x-ms-version", HeaderValue::from_static(AZURE_VERSION));
    if let Ok(v) = HeaderValue::from_str(&http_date(chrono::Utc::now())) {
        h.insert(header::DATE, v);
    }
}

pub fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}
