//! `layercache serve` with the OIDC exchange, as a process: tokens signed with a key pair
//! and JWKS the test makes (served on loopback) are verified; every kind of bad token is a
//! 401 with a log line saying why; the minted cache token writes the job's ref, reads the
//! default branch, and a pull request can never write the branch it targets.
mod oidc_support;

use oidc_support::serve::{Serve, exchange_at};
use oidc_support::{Issuer, TestKey, claims};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn bad_oidc_tokens_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let key = TestKey::generate(dir.path(), "k1");
    let stranger = TestKey::generate(dir.path(), "k2");
    let issuer = Issuer::serve(vec![key.jwk.clone()]).await;
    let serve = Serve::start(dir.path(), &issuer, &[]);
    let good = claims(&issuer.url, "acme/web", "refs/heads/main", "push");
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let now = chrono::Utc::now().timestamp();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            key.sign(&with("exp", json!(now - 3600))),
            "expired",
        ),
        (
            "wrong audience",
            key.sign(&with("aud", json!("sts.amazonaws.com"))),
            "wrong audience",
        ),
        (
            "wrong issuer",
            key.sign(&with(
                "iss",
                json!("https://token.actions.githubusercontent.com"),
            )),
            "wrong issuer",
        ),
        ("unknown key", stranger.sign(&good), "unknown key id \"k2\""),
        (
            "disallowed repository",
            key.sign(&claims(&issuer.url, "evil/web", "refs/heads/main", "push")),
            "is not allowed",
        ),
        (
            "not yet valid",
            key.sign(&with("nbf", json!(now + 3600))),
            "not valid yet",
        ),
        // `tools/*` allows owner `tools`: a repository of another owner may not borrow it
        // through `repository_owner`, nor the other way round.
        (
            "owner rule, foreign repository",
            key.sign(&{
                let mut c = claims(&issuer.url, "evil/x", "refs/heads/main", "push");
                c["repository_owner"] = json!("tools");
                c
            }),
            "is not a repository of repository_owner",
        ),
        (
            "owner rule, foreign owner",
            key.sign(&{
                let mut c = claims(&issuer.url, "tools/x", "refs/heads/main", "push");
                c["repository_owner"] = json!("evil");
                c
            }),
            "is not a repository of repository_owner",
        ),
        (
            "repository with a scope separator",
            key.sign(&with("repository", json!("acme/web:refs/heads/x"))),
            "is not owner/name",
        ),
    ];
    for (name, token, why) in &cases {
        let (status, body) = serve.exchange(token).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert!(
            body["message"].as_str().unwrap_or("").contains(why),
            "{name}: {body}"
        );
    }
    // A token signed by another key under the known kid: the signature does not verify.
    let forged = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(&header, &good, &stranger.encoding).unwrap()
    };
    let (status, body) = serve.exchange(&forged).await;
    assert_eq!(status, 401, "{body}");
    // The owner of an `owner/*` entry is allowed while its stranger is not.
    let (status, _) = serve
        .exchange(&key.sign(&claims(&issuer.url, "tools/x", "refs/heads/a", "push")))
        .await;
    assert_eq!(status, 200);

    let log = serve.log();
    for why in [
        "expired",
        "wrong audience",
        "wrong issuer",
        "unknown key id",
        "evil/web",
        "not valid yet",
        "signature does not verify",
        "repository_owner",
    ] {
        let line = log
            .lines()
            .find(|l| l.contains("OIDC token refused") && l.contains(why));
        assert!(line.is_some(), "no refusal log line for {why:?}:\n{log}");
    }
    for (_, token, _) in &cases {
        let sig = token.rsplit('.').next().unwrap();
        assert!(!log.contains(sig), "a token reached the log");
    }
    // One fetch at start-up of verification, and the unknown kid may not force another
    // within the refresh floor.
    assert_eq!(issuer.fetch_count(), 1, "JWKS fetched more than once");
}

#[tokio::test(flavor = "multi_thread")]
async fn minted_tokens_write_their_ref_read_main_and_prs_never_write_main() {
    let dir = tempfile::tempdir().unwrap();
    let key = TestKey::generate(dir.path(), "k1");
    let issuer = Issuer::serve(vec![key.jwk.clone()]).await;
    let serve = Serve::start(dir.path(), &issuer, &[]);
    let exchange = |c: Value| {
        let token = key.sign(&c);
        let serve = &serve;
        async move {
            let (status, body) = serve.exchange(&token).await;
            assert_eq!(status, 200, "{body}");
            body["token"].as_str().unwrap().to_owned()
        }
    };
    let main = exchange(claims(&issuer.url, "acme/web", "refs/heads/main", "push")).await;
    assert_eq!(serve.save(&main, "from-main").await["ok"], true);

    let feature = exchange(claims(
        &issuer.url,
        "acme/web",
        "refs/heads/feature",
        "push",
    ))
    .await;
    assert!(
        serve.found(&feature, "from-main").await,
        "feature cannot read main"
    );
    assert_eq!(serve.save(&feature, "from-feature").await["ok"], true);
    assert!(serve.found(&feature, "from-feature").await);
    assert!(
        !serve.found(&main, "from-feature").await,
        "main sees feature's entry"
    );

    let mut pr = claims(&issuer.url, "acme/web", "refs/pull/7/merge", "pull_request");
    pr["base_ref"] = json!("main");
    let pr = exchange(pr).await;
    assert!(
        serve.found(&pr, "from-main").await,
        "a PR cannot read its base"
    );
    assert_eq!(serve.save(&pr, "from-pr").await["ok"], true);
    assert!(!serve.found(&main, "from-pr").await, "a PR wrote main");

    // `pull_request_target` runs carry the base branch as their ref: read-only.
    let mut target = claims(
        &issuer.url,
        "acme/web",
        "refs/heads/main",
        "pull_request_target",
    );
    target["base_ref"] = json!("main");
    let target = exchange(target).await;
    let denied = serve.save(&target, "from-target").await;
    assert_eq!(denied["ok"], false, "{denied}");
    assert!(serve.found(&target, "from-main").await);

    // Another allowed repository shares nothing with this one.
    let other = exchange(claims(&issuer.url, "tools/x", "refs/heads/main", "push")).await;
    assert!(
        !serve.found(&other, "from-main").await,
        "repositories share a scope"
    );

    let log = serve.log();
    for t in [&main, &feature, &pr, &target, &other] {
        let sig = t.rsplit('.').next().unwrap();
        assert!(!log.contains(sig), "a minted token reached the log");
    }
    assert!(log.contains("OIDC token exchanged"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_key_id_is_quoted_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    let key = TestKey::generate(dir.path(), "k1");
    let issuer = Issuer::serve(vec![key.jwk.clone()]).await;
    let serve = Serve::start(dir.path(), &issuer, &[]);
    let kid = "q".repeat(100_000);
    let token = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.clone());
        let good = claims(&issuer.url, "acme/web", "refs/heads/main", "push");
        jsonwebtoken::encode(&header, &good, &key.encoding).unwrap()
    };
    let (status, body) = serve.exchange(&token).await;
    assert_eq!(status, 401, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("\"{}\"… (100000 characters)", &kid[..64])),
        "{message}"
    );
    assert!(message.len() < 200, "{} bytes of message", message.len());
    let log = serve.log();
    assert!(log.contains("OIDC token refused"), "{log}");
    assert!(
        !log.contains(&kid[..65]),
        "the whole key id reached the log"
    );
    assert!(log.len() < 20_000, "{} bytes of log", log.len());
}

/// Key fetches are held by the test: a token naming an unknown key waits for its fetch, and
/// meanwhile tokens with known keys are exchanged; a burst of unknown keys shares fetches.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_key_fetch_does_not_stall_tokens_with_known_keys() {
    let dir = tempfile::tempdir().unwrap();
    let key = TestKey::generate(dir.path(), "k1");
    let stranger = TestKey::generate(dir.path(), "k2");
    let issuer = Issuer::serve(vec![key.jwk.clone()]).await;
    // No rate limit, so every unknown key may cause a fetch and only sharing limits them.
    let serve = Serve::start(dir.path(), &issuer, &["--oidc-jwks-min-refresh-secs", "0"]);
    let good = claims(&issuer.url, "acme/web", "refs/heads/main", "push");
    assert_eq!(serve.exchange(&key.sign(&good)).await.0, 200);
    assert_eq!(issuer.fetch_count(), 1);

    let hold = issuer.hold().await;
    let unknown = || {
        let (base, token) = (serve.base.clone(), stranger.sign(&good));
        tokio::spawn(async move { exchange_at(&base, &token).await })
    };
    let first = unknown();
    issuer.wait_for_fetches(2).await;
    let burst: Vec<_> = (0..5).map(|_| unknown()).collect();
    for _ in 0..3 {
        let (status, body) = serve.exchange(&key.sign(&good)).await;
        assert_eq!(status, 200, "{body}");
    }
    assert!(
        !first.is_finished(),
        "the unknown key's exchange ended before its key fetch was let through"
    );
    // Let the burst reach the service before the held fetch ends.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(hold);
    for task in std::iter::once(first).chain(burst) {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 401, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("unknown key id"),
            "{body}"
        );
    }
    // One fetch at a time; the held one, then one the burst (all waiting behind it) shared.
    assert_eq!(
        issuer
            .most_at_once
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert!(
        issuer.fetch_count() <= 3,
        "{} fetches",
        issuer.fetch_count()
    );
}
