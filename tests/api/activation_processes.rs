//! Activation across real `serve` processes: the cascade survives a restart and runs once
//! with two processes, and no log line holds a code, a token or a text's body.

use std::time::Duration;

use chrono::Utc;
use proxycall::app::{App, keys};
use proxycall::domain::{E164, NumberType, Scopes};
use proxycall::store::{self, SimulatedDelivery};
use serde_json::json;

use crate::helpers::{TestDb, add_numbers};
use crate::processes::{Server, free_port, server_with, stop, wait_until_up};

const PHONE: &str = "+33612345678";

fn server(db: &TestDb, port: u16) -> Server {
    server_with(
        db,
        port,
        &[
            ("PROXYCALL_OTP_CALL_AFTER_SECS", "3"),
            ("PROXYCALL_OTP_LINK_AFTER_SECS", "2"),
            ("PROXYCALL_JOB_WORKERS", "2"),
        ],
    )
}

async fn deliveries(app: &App) -> Vec<SimulatedDelivery> {
    let phone = E164::parse(PHONE).unwrap();
    app.store
        .simulated_deliveries(Some(&phone), 100)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_cascade_resumes_after_a_restart_and_two_processes_call_once() {
    let db = TestDb::new().await;
    let app = App::simulated(store::connect(db.url()).await.unwrap());
    add_numbers(&app, "FR", NumberType::Mobile, 2).await;
    let key = keys::create(&app, "ops", Scopes::admin(), None)
        .await
        .unwrap()
        .secret;
    let http = reqwest::Client::new();

    // One process takes the request, then stops before the call is due.
    let port = free_port();
    let first = server(&db, port);
    let base = format!("http://127.0.0.1:{port}");
    wait_until_up(&http, &base).await;
    let started_at = Utc::now();
    let r = http
        .post(format!("{base}/confirmations/create"))
        .bearer_auth(&key)
        .json(
            &json!({"client_name": "Jeanne Martin", "client_mail": "jeanne@example.com",
                      "client_real_phone": PHONE, "country_iso": "FR"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let created: serde_json::Value = r.json().await.unwrap();
    let id = created["pending_id"].as_str().unwrap().to_owned();
    let mut logs = stop(first).await;
    assert!(
        Utc::now() < started_at + chrono::Duration::seconds(3),
        "stopped before the call was due"
    );

    // Two processes come back: the call goes out once, at its time, then the link once.
    let ports = [free_port(), free_port()];
    let children: Vec<Server> = ports.iter().map(|p| server(&db, *p)).collect();
    for p in ports {
        wait_until_up(&http, &format!("http://127.0.0.1:{p}")).await;
    }
    let pid = proxycall::domain::PendingId::parse(&id).unwrap();
    let mut status = String::new();
    for _ in 0..300 {
        status = app
            .store
            .activation(&pid)
            .await
            .unwrap()
            .unwrap()
            .status
            .to_string();
        let links = deliveries(&app)
            .await
            .iter()
            .filter(|d| {
                d.body
                    .as_deref()
                    .is_some_and(|b| b.contains("verify?token="))
            })
            .count();
        if status == "PENDING_MAIL" && links > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "PENDING_MAIL");
    // Time for a second process to send anything twice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = deliveries(&app).await;
    let calls: Vec<_> = got.iter().filter(|d| d.kind == "call").collect();
    assert_eq!(calls.len(), 1, "one call: {got:#?}");
    assert!(calls[0].delivered_at >= started_at + chrono::Duration::seconds(3));
    let texts: Vec<&str> = got.iter().filter_map(|d| d.body.as_deref()).collect();
    assert_eq!(
        texts.len(),
        2,
        "the code and the link, once each: {texts:?}"
    );
    let code = texts
        .iter()
        .find_map(|t| t.strip_prefix("ProxyCall - Code de confirmation: "))
        .unwrap()
        .to_owned();
    let link = texts
        .iter()
        .find_map(|t| t.strip_prefix("ProxyCall - Confirmez votre numéro ici : "))
        .unwrap()
        .to_owned();
    let token = link.split("token=").nth(1).unwrap().to_owned();

    // The code answers by SMS through one of them, signed as Twilio signs.
    let proxy = created["proxy_number"].as_str().unwrap();
    let token_name = proxycall::server::SIMULATED_TOKEN;
    let signing = app
        .store
        .existing_secret(token_name)
        .await
        .unwrap()
        .unwrap();
    let url = format!("http://127.0.0.1:{}/twilio/sms", ports[0]);
    let form = [
        ("From", PHONE),
        ("To", proxy),
        ("Body", code.as_str()),
        ("MessageSid", "SM1"),
    ];
    let owned: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let signature = proxycall::carrier::signature::sign(signing.as_bytes(), &url, &owned);
    let r = http
        .post(&url)
        .header("x-twilio-signature", signature)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let activation = app.store.activation(&pid).await.unwrap().unwrap();
    assert_eq!(activation.status.as_str(), "PROMOTED");
    for child in children {
        logs.push_str(&stop(child).await);
    }
    assert!(logs.contains("activation started"), "{logs}");
    assert!(logs.contains("verification call queued"));
    assert!(logs.contains("activation promoted"));
    for secret in [
        code.as_str(),
        token.as_str(),
        "Code de confirmation",
        "Confirmez votre",
    ] {
        assert!(!logs.contains(secret), "the logs hold {secret:?}");
    }
    for personal in [PHONE, proxy, "jeanne@example.com"] {
        assert!(
            !logs.contains(personal),
            "the logs hold {personal} unmasked"
        );
    }
}
