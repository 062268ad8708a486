use chrono::Duration;
use proxycall::app::keys;
use proxycall::domain::Scopes;
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

use proxycall::domain::NumberType;
use reqwest::StatusCode;

use crate::helpers::{Options, TestApp, order, spawn_app, spawn_app_with};

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

/// Keys are cached for a second: a revocation by another process (the `keys revoke` command,
/// another server on the same database) must still take effect within it.
#[tokio::test]
async fn a_key_revoked_by_another_process_stops_working_within_a_second() {
    let app = spawn_app().await;
    let key = app.key_with_scopes("read").await;
    assert_eq!(
        app.get_with_key("/clients/next-id", Some(&key))
            .await
            .status,
        200
    );
    // Straight in the database, as another process does: this server's cache is not told.
    let id = key.split('_').nth(1).unwrap();
    assert!(
        app.app
            .store
            .revoke_api_key(id, chrono::Utc::now())
            .await
            .unwrap()
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        app.get_with_key("/clients/next-id", Some(&key))
            .await
            .status,
        401
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

    // A key over its budget does not spend its caller's address: guesses from there are
    // refused as guesses (401)...
    for _ in 0..3 {
        let guess = app
            .get_with_key("/clients/next-id", Some("pck_guess"))
            .await;
        assert_eq!(guess.status, 401);
    }
    // ...until the address has used its own budget of refusals.
    let guess = app
        .get_with_key("/clients/next-id", Some("pck_guess"))
        .await;
    assert_eq!(guess.status, 429);
    // And another valid key, from the same address, is not limited by either.
    let other = app.key_with_scopes("read").await;
    assert_eq!(
        app.get_with_key("/clients/next-id", Some(&other))
            .await
            .status,
        200
    );

    // Health checks are not business routes and are never limited.
    assert_eq!(app.get_with_key("/health", None).await.status, 200);
}

/// The refusals of `app`'s tests below, one of each kind, from the caller `forwarded_for`
/// (behind a trusted proxy) or the test's own address.
async fn garbage(app: &TestApp, i: usize, forwarded_for: &[&str]) -> StatusCode {
    let url = |path: &str| format!("{}{path}", app.base);
    let mut req = match i % 5 {
        0 => app.http.post(url("/orders")).json(&json!({})),
        1 => app
            .http
            .post(url("/orders"))
            .header("authorization", "Basic c2hvcDpzaG9w"),
        2 => app
            .http
            .get(url("/clients/1"))
            .bearer_auth(format!("pck_0123abcd_{}", "0".repeat(64))),
        3 => app
            .http
            .get(url("/clients/1"))
            .bearer_auth("not-even-a-key"),
        _ => app
            .http
            .post(url("/twilio/voice"))
            .header("x-twilio-signature", "bm9wZQ==")
            .form(&[("From", "+33698765432"), ("To", "+33780000001")]),
    };
    for line in forwarded_for {
        req = req.header("x-forwarded-for", *line);
    }
    req.send().await.unwrap().status()
}

#[tokio::test]
async fn garbage_from_one_address_never_locks_a_valid_key_out() {
    let app = spawn_app_with(Options {
        rate_limit_per_minute: Some(20),
        ..Default::default()
    })
    .await;
    let shop = app.key_with_scopes("orders").await;
    app.add_numbers("FR", NumberType::Mobile, 15).await;
    let mut refused = 0;
    let mut limited = 0;
    for i in 0..150 {
        match garbage(&app, i, &[]).await {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("garbage answered {other}"),
        }
        // The shop, from the same address, keeps placing orders in the middle of it.
        if i % 10 == 9 {
            let n = (i / 10) as i64;
            let answer = app
                .send_with_key(
                    Method::POST,
                    "/orders",
                    &order(
                        &format!("CMD-{n}"),
                        n + 1,
                        &format!("+336{:08}", 12_000_000 + n),
                    ),
                    Some(&shop),
                )
                .await;
            assert_eq!(answer.status, 200, "order {n}: {}", answer.body);
        }
    }
    assert_eq!(refused, 20, "the address's budget of refusals");
    assert_eq!(limited, 130);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_caller_has_its_own_budget_of_refusals() {
    let app = spawn_app_with(Options {
        rate_limit_per_minute: Some(5),
        trust_forwarded_for: true,
        ..Default::default()
    })
    .await;
    // A caller spends its budget. What it writes itself in X-Forwarded-For comes first; the
    // proxy appends the address it sees, on the same line or on one of its own.
    for i in 0..5 {
        let lines: &[&str] = if i % 2 == 0 {
            &["10.0.0.1, 198.51.100.7"]
        } else {
            &["10.0.0.2", "198.51.100.7:40123"]
        };
        let refused = if i == 4 {
            StatusCode::FORBIDDEN // a bad webhook signature
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(garbage(&app, i, lines).await, refused, "{i}");
    }
    assert_eq!(
        garbage(&app, 0, &["198.51.100.7"]).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Forging another address first changes nothing: the last entry is the one counted.
    assert_eq!(
        garbage(&app, 0, &["203.0.113.9", "198.51.100.7"]).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another caller behind the same proxy is refused, not limited.
    assert_eq!(
        garbage(&app, 0, &["198.51.100.7, 203.0.113.9"]).await,
        StatusCode::UNAUTHORIZED
    );
    // The limited caller's valid key still works.
    let answer = app
        .http
        .get(format!("{}/clients/next-id", app.base))
        .bearer_auth(&app.key)
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    // IPv6 callers are counted by their /64.
    for _ in 0..5 {
        garbage(&app, 0, &["[2001:db8:1:2::1]:443"]).await;
    }
    assert_eq!(
        garbage(&app, 0, &["2001:db8:1:2:ffff::7"]).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        garbage(&app, 0, &["2001:db8:1:3::1"]).await,
        StatusCode::UNAUTHORIZED
    );
}
