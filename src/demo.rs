//! `proxycall demo`: the README's first command. It prepares an admin key and a few
//! simulated French numbers, then shows the main job through the real HTTP API.

use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::app::{App, AppError, keys, pool};
use crate::domain::{E164, NumberType, Scopes};

/// Simulated numbers in a French mobile range.
const DEMO_NUMBERS: [&str; 5] = [
    "+33780000001",
    "+33780000002",
    "+33780000003",
    "+33780000004",
    "+33780000005",
];

/// Returns a fresh admin key; earlier demo keys are revoked.
pub async fn prepare(app: &App) -> Result<String, AppError> {
    for key in keys::list(app).await? {
        if key.name == "demo" && key.revoked_at.is_none() {
            keys::revoke(app, &key.id).await?;
        }
    }
    let issued = keys::create(app, "demo", Scopes::admin(), None).await?;
    for number in DEMO_NUMBERS {
        let phone_number = E164::parse(number).expect("demo numbers are valid");
        if app.store.pool_number(&phone_number).await?.is_some() {
            continue;
        }
        pool::add(
            app,
            pool::AddNumber {
                phone_number,
                country: None,
                number_type: NumberType::Mobile,
                voice: true,
                sms: true,
                friendly_name: Some("demo".into()),
            },
        )
        .await?;
    }
    Ok(issued.secret)
}

pub async fn show(address: SocketAddr, key: &str) -> Result<(), reqwest::Error> {
    let base = format!("http://{address}");
    let http = reqwest::Client::new();
    let next: Value = http
        .get(format!("{base}/clients/next-id"))
        .bearer_auth(key)
        .send()
        .await?
        .json()
        .await?;
    let client_id = next["next_client_id"].as_i64().unwrap_or(1);
    let order = json!({
        "order_id": format!("DEMO-{client_id}"),
        "client_id": client_id,
        "client_name": "Jeanne MARTIN",
        "client_mail": "jeanne.martin@example.com",
        "client_real_phone": "+33612345678",
    });
    println!("\n== ProxyCall demo on {base} (SQLite, simulated carrier) ==");
    println!("admin key (shown once): {key}\n");
    for attempt in ["new order", "same order again"] {
        let response = http
            .post(format!("{base}/orders"))
            .bearer_auth(key)
            .json(&order)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        println!("POST /orders ({attempt}) -> {status} {body}");
    }
    let available = http
        .get(format!("{base}/pool/available?country_iso=FR"))
        .bearer_auth(key)
        .send()
        .await?
        .json::<Value>()
        .await?;
    let left = available["available"].as_array().map_or(0, Vec::len);
    println!("FR numbers still available: {left}");
    println!("\nTry it:");
    println!("  curl -s -H 'Authorization: Bearer {key}' {base}/clients/{client_id}");
    println!("  curl -s {base}/openapi.json | head -c 300");
    println!("Ctrl-C stops the server.\n");
    Ok(())
}
