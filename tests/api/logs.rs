//! What a real `serve` process logs and prints: the key behind every change, refusals logged
//! once per address per minute and counted, and no secret in `--help`.

use std::collections::HashMap;

use proxycall::app::{App, keys};
use proxycall::domain::{NumberType, Scopes};
use proxycall::store;
use serde_json::{Value, json};

use crate::helpers::{TestDb, add_numbers, order};
use crate::processes::{BIN, free_port, server_with, stop, wait_until_up};

#[tokio::test]
async fn every_change_names_its_key_and_refusals_are_logged_once_a_minute() {
    let db = TestDb::new().await;
    let app = App::simulated(store::connect(db.url()).await.unwrap());
    add_numbers(&app, "FR", NumberType::Mobile, 4).await;
    let shop = keys::create(&app, "shop", Scopes::parse("orders").unwrap(), None)
        .await
        .unwrap();
    let ops = keys::create(&app, "ops", Scopes::admin(), None)
        .await
        .unwrap();
    let port = free_port();
    let child = server_with(&db, port, &[("LOG_LEVEL", "info")]);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_until_up(&http, &base).await;

    let send = |method: reqwest::Method, path: &str, key: &str, body: Value| {
        http.request(method, format!("{base}{path}"))
            .bearer_auth(key)
            .json(&body)
            .send()
    };
    let r = send(
        reqwest::Method::POST,
        "/orders",
        &shop.secret,
        order("CMD-1", 1, "+33611112222"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = send(
        reqwest::Method::POST,
        "/clients",
        &ops.secret,
        json!({"client_id": 2, "client_name": "Paul DURAND",
               "client_mail": "paul@example.com", "client_real_phone": "+33611113333"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = send(
        reqwest::Method::PUT,
        "/clients/1",
        &ops.secret,
        json!({"client_name": "Jeanne DUPONT"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = send(
        reqwest::Method::POST,
        "/pool/provision",
        &ops.secret,
        json!({"country_iso": "FR", "batch_size": 1}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);

    // 50 guesses from one address: each refused and counted, one logged.
    for i in 0..50 {
        let r = http
            .get(format!("{base}/clients/1"))
            .bearer_auth(format!("pck_{:08x}_{}", i, "0".repeat(64)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let metrics = http
        .get(format!("{base}/metrics"))
        .bearer_auth(&ops.secret)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "http_refusals_total{reason=\"bad_key\"} 50"),
        "{metrics}"
    );

    let logs = stop(child).await;
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let message = |l: &Value| l["fields"]["message"].as_str().unwrap_or("").to_owned();
    // Each change, and the key its line names.
    let mut changes: HashMap<String, Vec<String>> = HashMap::new();
    for line in &lines {
        // A request's lines, and those of the jobs a key asked for (a pool operation); the
        // periodic jobs name no key.
        let span = &line["span"]["name"];
        let asked = span == "job" && line["span"]["key_id"] != "-";
        if line["level"] == "INFO" && (span == "request" || asked) {
            changes
                .entry(message(line))
                .or_default()
                .push(line["span"]["key_id"].as_str().unwrap_or("none").to_owned());
        }
    }
    let by = |what: &str| changes.get(what).cloned().unwrap_or_default();
    let (shop_id, ops_id) = (shop.key.id.as_str(), ops.key.id.as_str());
    assert_eq!(by("order recorded"), [shop_id], "{changes:?}");
    assert_eq!(by("client created"), [shop_id, ops_id]);
    assert_eq!(by("client updated"), [ops_id]);
    assert_eq!(by("number bought"), [ops_id]);
    for (what, keys) in &changes {
        assert!(
            keys.iter().all(|k| *k == shop.key.id || *k == ops.key.id),
            "{what} logged without its key: {keys:?}"
        );
    }
    let refusals = lines
        .iter()
        .filter(|l| message(l).starts_with("request refused"))
        .count();
    assert_eq!(refusals, 1, "one refusal logged, the rest counted");
    assert!(!logs.contains(&shop.secret) && !logs.contains(&ops.secret));
}

#[test]
fn help_never_shows_a_secret_from_the_environment() {
    let secrets = [
        (
            "PROXYCALL_API_TOKEN",
            "api-token-0123456789abcdef0123456789",
        ),
        ("TWILIO_AUTH_TOKEN", "twilio-auth-token-current"),
        ("TWILIO_AUTH_TOKEN_PREVIOUS", "twilio-auth-token-previous"),
        ("SMTP_PASSWORD", "smtp-hunter2"),
        (
            "PROXYCALL_DATABASE_URL",
            "postgres://app:db-hunter2@db.example.com/proxycall",
        ),
        (
            "PUBLIC_BASE_URL",
            "https://hooks:url-hunter2@proxycall.example.com",
        ),
    ];
    for args in [&["--help"][..], &["serve", "--help"], &["check", "--help"]] {
        let out = std::process::Command::new(BIN)
            .args(args)
            .env_clear()
            .envs(secrets)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("PROXYCALL_DATABASE_URL"), "{help}");
        for (name, secret) in secrets {
            assert!(
                !help.contains(secret),
                "{name}'s value shows in {args:?}:\n{help}"
            );
        }
        assert!(!help.contains("hunter2"), "{help}");
    }
}
