//! `cache-service-url` under the runner emulation: `expose` asks a loopback fake of the
//! runner's OIDC endpoint for the job's token (signed with a test key), exchanges it at a
//! real in-process `serve` with OIDC on, and hands later steps that service and the minted
//! token, masked and never printed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step should panic

mod oidc_support;
mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use layercache::action::names::EXPOSE_INPUTS;
use layercache::cache_service::{self, OidcConfig, ServiceConfig};
use layercache::storage::StorageConfig;
use oidc_support::{Issuer, TestKey, claims};
use support::runner::Step;

const REQUEST_TOKEN: &str = "canary-request-token-51f0";

/// The runner's ID-token endpoint: checks its bearer, signs claims for the asked audience.
async fn fake_runner(key: TestKey, issuer: String, seen: Arc<Mutex<Vec<String>>>) -> String {
    let key = Arc::new(key);
    let app = axum::Router::new().route(
        "/idtoken",
        axum::routing::get(
            move |q: axum::extract::Query<std::collections::HashMap<String, String>>,
                  h: axum::http::HeaderMap| {
                let (key, issuer, seen) = (key.clone(), issuer.clone(), seen.clone());
                async move {
                    let auth = h["authorization"].to_str().unwrap().to_owned();
                    if auth != format!("Bearer {REQUEST_TOKEN}") {
                        return Err(axum::http::StatusCode::UNAUTHORIZED);
                    }
                    let audience = q.get("audience").cloned().unwrap_or_default();
                    seen.lock().unwrap().push(audience.clone());
                    let mut c = claims(&issuer, "acme/web", "refs/pull/9/merge", "pull_request");
                    c["aud"] = audience.into();
                    c["base_ref"] = "main".into();
                    Ok(axum::Json(serde_json::json!({ "value": key.sign(&c) })))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/idtoken?api-version=2.0",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn expose_exchanges_the_jobs_oidc_token_at_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let key = TestKey::generate(dir.path(), "k1");
    let issuer = Issuer::serve(vec![key.jwk.clone()]).await;
    let mut oidc = OidcConfig::github(vec!["acme/web".into()]);
    oidc.issuer = issuer.url.clone();
    oidc.jwks_url = issuer.jwks_url.clone();
    let mut config =
        ServiceConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), StorageConfig::Memory);
    config.oidc = Some(oidc);
    config.secret = Some("fleet-secret-0123456789".into());
    let service = cache_service::spawn(config).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let id_url = fake_runner(key, issuer.url.clone(), seen.clone()).await;

    let mut step = Step::new(
        &EXPOSE_INPUTS
            .iter()
            .map(|s| (s.name, s.default))
            .collect::<Vec<_>>(),
    );
    step.input("cache-service-url", &service.base_url)
        .set("ACTIONS_ID_TOKEN_REQUEST_URL", &id_url)
        .set("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
        .set(
            "ACTIONS_RUNTIME_TOKEN",
            "github.runtime.canary-github-token",
        )
        .set(
            "ACTIONS_RESULTS_URL",
            "https://results-receiver.actions.githubusercontent.com/",
        );
    let r = tokio::task::spawn_blocking(move || step.run(&["expose"]))
        .await
        .unwrap();
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(*seen.lock().unwrap(), ["layercache"], "audience asked for");
    let env: std::collections::BTreeMap<_, _> = r.env_vars().into_iter().collect();
    let base = format!("{}/", service.base_url);
    assert_eq!(env.get("ACTIONS_RESULTS_URL"), Some(&base));
    assert_eq!(env.get("ACTIONS_CACHE_URL"), Some(&base));
    let token = env.get("ACTIONS_RUNTIME_TOKEN").unwrap().clone();
    let verifier =
        layercache::cache_service::TokenVerifier::new(Some("fleet-secret-0123456789".into()));
    let access = verifier.check(Some(&format!("Bearer {token}"))).unwrap();
    assert_eq!(access.writable(), Some("acme/web:refs/pull/9/merge"));
    assert_eq!(
        access.readable(),
        ["acme/web:refs/pull/9/merge", "acme/web:refs/heads/main"]
    );

    // Masked before anything else is printed, and printed nowhere else.
    let masks: Vec<String> = r.named("add-mask").into_iter().map(|c| c.data).collect();
    assert!(
        masks.contains(&token),
        "the cache token is not masked: {masks:?}"
    );
    let rest: String = r
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    for secret in [token.as_str(), REQUEST_TOKEN, "canary-github-token"] {
        assert!(
            !rest.contains(secret),
            "a token reached stdout:\n{}",
            r.stdout
        );
        assert!(
            !r.stderr.contains(secret),
            "a token reached stderr:\n{}",
            r.stderr
        );
    }
    service.shutdown().await;
}

#[test]
fn without_an_id_token_the_step_warns_and_exposes_no_cache() {
    let mut step = Step::new(
        &EXPOSE_INPUTS
            .iter()
            .map(|s| (s.name, s.default))
            .collect::<Vec<_>>(),
    );
    step.input("cache-service-url", "http://127.0.0.1:9/")
        .set(
            "ACTIONS_RUNTIME_TOKEN",
            "github.runtime.canary-github-token",
        )
        .set(
            "ACTIONS_RESULTS_URL",
            "https://results-receiver.actions.githubusercontent.com/",
        );
    let r = step.run(&["expose"]);
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    let warnings: Vec<String> = r.named("warning").into_iter().map(|c| c.data).collect();
    assert!(
        warnings.iter().any(|w| w.contains("id-token: write")),
        "{warnings:?}"
    );
    let env: std::collections::BTreeMap<_, _> = r.env_vars().into_iter().collect();
    assert!(
        !env.contains_key("ACTIONS_RUNTIME_TOKEN"),
        "GitHub's cache was exposed: {env:?}"
    );

    let mut bad = Step::new(&[("cache-service-url", None)]);
    bad.input("cache-service-url", "cache.internal");
    let r = bad.run(&["expose"]);
    assert_eq!(r.code(), 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("cache-service-url"), "{}", r.stdout);
}
