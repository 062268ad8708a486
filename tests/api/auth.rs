use chrono::Duration;
use proxycall::app::keys;
use proxycall::domain::Scopes;
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::{Options, spawn_app, spawn_app_with};

#[tokio::test]
async fn requests_without_a_valid_key_are_401() {
    let app = spawn_app().await;
    let none = app.get_with_key("/clients/next-id", None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.code(), "unauthorized");
    assert_eq!(none.headers["www-authenticate"], "Bearer");

    let wrong = app
        .get_with_key("/clients/next-id", Some("pck_00000000_nope"))
        .await;
    assert_eq!(wrong.status, 401);

    let basic = app
        .http
        .get(format!("{}/clients/next-id", app.base))
        .header("authorization", format!("Basic {}", app.key))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);

    // Every business route is protected, whatever its method.
    for (method, path) in [
        (Method::POST, "/orders"),
        (Method::POST, "/clients"),
        (Method::PUT, "/clients/1"),
        (Method::GET, "/clients/1"),
        (Method::GET, "/clients/by-proxy/+33780000001"),
        (Method::GET, "/pool/available?country_iso=FR"),
        (Method::POST, "/pool/assign"),
        (Method::GET, "/metrics"),
    ] {
        let answer = app
            .send_with_key(method.clone(), path, &json!({}), None)
            .await;
        assert_eq!(answer.status, 401, "{method} {path}");
    }
}

#[tokio::test]
async fn a_key_without_the_scope_is_403() {
    let app = spawn_app().await;
    let reader = app.key_with_scopes("read").await;
    assert_eq!(
        app.get_with_key("/clients/next-id", Some(&reader))
            .await
            .status,
        200
    );
    let refused = app
        .send_with_key(Method::POST, "/pool/assign", &json!({}), Some(&reader))
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.code(), "forbidden");
    assert!(refused.body["message"].as_str().unwrap().contains("pool"));

    let orders_only = app.key_with_scopes("orders").await;
    assert_eq!(
        app.get_with_key("/clients/1", Some(&orders_only))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn revoked_and_expired_keys_stop_working_and_several_keys_live_at_once() {
    let app = spawn_app().await;
    let old = app.key_with_scopes("read").await;
    let new = app.key_with_scopes("read").await;
    assert_eq!(
        app.get_with_key("/clients/next-id", Some(&old))
            .await
            .status,
        200
    );
    assert_eq!(
        app.get_with_key("/clients/next-id", Some(&new))
            .await
            .status,
        200
    );

    let old_id = old.split('_').nth(1).unwrap();
    assert!(keys::revoke(&app.app, old_id).await.unwrap());
    assert_eq!(
        app.get_with_key("/clients/next-id", Some(&old))
            .await
            .status,
        401
    );
    assert_eq!(
        app.get_with_key("/clients/next-id", Some(&new))
            .await
            .status,
        200
    );

    let expired = keys::create(
        &app.app,
        "short",
        Scopes::admin(),
        Some(Duration::seconds(-1)),
    )
    .await
    .unwrap();
    assert_eq!(
        app.get_with_key("/clients/next-id", Some(&expired.secret))
            .await
            .status,
        401
    );

    // What the database holds of a key is its SHA-256, and no other column holds the key or
    // its secret part.
    let new_id = new.split('_').nth(1).unwrap();
    let secret_part = new.rsplit('_').next().unwrap();
    let rows = app
        .db
        .text_columns(&format!("select * from api_keys where id = '{new_id}'"))
        .await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    let hash = row
        .iter()
        .find(|(name, _)| name == "key_hash")
        .and_then(|(_, v)| v.clone())
        .expect("a key_hash column");
    assert_eq!(hash, hex::encode(Sha256::digest(new.as_bytes())));
    assert!(row.len() >= 4, "the text columns were read: {row:?}");
    for (column, value) in row {
        let value = value.as_deref().unwrap_or("");
        assert!(
            !value.contains(secret_part),
            "{column} holds the key's secret"
        );
    }
}

#[tokio::test]
async fn the_legacy_token_is_an_admin_key() {
    let token = "legacy-token-0123456789abcdef0123456789";
    let app = spawn_app_with(Options {
        api_token: Some(token.into()),
        ..Default::default()
    })
    .await;
    assert_eq!(
        app.get_with_key("/clients/next-id", Some(token))
            .await
            .status,
        200
    );
    assert_eq!(
        app.get_with_key(
            "/clients/next-id",
            Some("legacy-token-0123456789abcdef012345678")
        )
        .await
        .status,
        401
    );
}

#[tokio::test]
async fn too_many_requests_are_429_with_retry_after() {
    let app = spawn_app_with(Options {
        rate_limit_per_minute: Some(3),
        ..Default::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.get("/clients/next-id").await.status, 200);
    }
    let limited = app.get("/clients/next-id").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.code(), "rate_limited");
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");

    // Guessing keys from one address is limited too.
    let guess = app
        .get_with_key("/clients/next-id", Some("pck_guess"))
        .await;
    assert_eq!(guess.status, 429);

    // Health checks are not business routes and are never limited.
    assert_eq!(app.get_with_key("/health", None).await.status, 200);
}
