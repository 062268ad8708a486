//! `proxycall demo`: the README's first command. It prepares an admin key and simulated French
//! numbers, then shows the main job through the real HTTP API and signed webhooks: a client
//! gets a proxy, a courier's call and text reach the client, the client's reply reaches the
//! courier, and nobody sees a real number.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::app::{App, AppError, keys, pool};
use crate::domain::{CountryIso, E164, NumberType, NumberTypeFilter, Scopes};
use crate::simulate;
use crate::store::{PoolStatus, Store};

const CLIENT_PHONE: &str = "+33612345678";
const COURIER_PHONE: &str = "+33698765432";
const SHOP_PHONE: &str = "+33687654321";

/// Marks a database the demo set up: the demo runs again on it, and on no other.
const DEMO_MARKER: &str = "demo_database";

/// Why the demo would not run here.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(
        "this database already holds data that is not the demo's (clients, keys or numbers): \
         the demo would write demo numbers into a real pool. Run it on its own database, e.g. \
         PROXYCALL_DATABASE_URL=sqlite://demo.db proxycall demo"
    )]
    NotADemoDatabase,
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<crate::store::StoreError> for DemoError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::App(e.into())
    }
}

/// Whether the demo may use the database at `url`: one the demo marked, or one that holds
/// nothing yet. Looks without migrating or creating anything, so that a database it refuses
/// is left exactly as it was.
pub async fn accept_database(url: &str) -> Result<(), DemoError> {
    let store = match crate::store::connect_as_is(url).await {
        Ok(store) => store,
        // No database yet: the demo creates its own.
        Err(_) => return Ok(()),
    };
    if store.migration_status().await?.applied == 0 {
        return Ok(());
    }
    // A database older than the secrets table has no marker.
    if let Ok(Some(_)) = store.existing_secret(DEMO_MARKER).await {
        return Ok(());
    }
    if store.holds_data().await? {
        return Err(DemoError::NotADemoDatabase);
    }
    Ok(())
}
/// Returns a fresh admin key (earlier demo keys are revoked) and makes sure the French pool
/// has numbers to hand out, on a database `accept_database` accepted.
pub async fn prepare(app: &App) -> Result<String, DemoError> {
    // Accepted (`accept_database`): from now on it is the demo's.
    app.store.secret(DEMO_MARKER, "yes").await?;
    for key in keys::list(app).await? {
        if key.name == "demo" && key.revoked_at.is_none() {
            keys::revoke(app, &key.id).await?;
        }
    }
    let issued = keys::create(app, "demo", Scopes::admin(), None).await?;
    let fr = CountryIso::parse("FR").expect("FR is a country");
    let mut candidate = 1;
    while app
        .store
        .pool_numbers(Some(fr), NumberTypeFilter::Any, Some(PoolStatus::Available))
        .await?
        .len()
        < 3
    {
        // Simulated numbers in a French mobile range.
        let phone_number = E164::parse(&format!("+3378{candidate:07}")).expect("a valid FR mobile");
        candidate += 1;
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

/// A new client activates their proxy with the code texted from it (SPEC §7).
async fn activation(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    token: &[u8],
    store: &dyn Store,
    run: i64,
) -> Result<(), reqwest::Error> {
    // A phone and e-mail of this run: a second demo on the same database starts afresh.
    let phone = format!("+336111{:05}", run % 100_000);
    let request = json!({
        "client_name": "Paul DURAND",
        "client_mail": format!("paul.durand{run}@example.com"),
        "client_real_phone": phone,
        "country_iso": "FR",
    });
    let before = inbox_size(store, &phone).await;
    let response = http
        .post(format!("{base}/confirmations/create"))
        .bearer_auth(key)
        .json(&request)
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    println!(
        "\n8. A new client, Paul ({phone}), activates a proxy:\n   POST /confirmations/create -> {status} {body}"
    );
    let (Some(id), Some(proxy)) = (body["pending_id"].as_str(), body["proxy_number"].as_str())
    else {
        return Ok(());
    };
    let Some(got) = delivered(store, &phone, before).await else {
        println!("   (no code texted yet)");
        return Ok(());
    };
    println!("   Paul's phone receives, from his proxy:\n   {got}");
    let code: String = got
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let sid = crate::carrier::sid("SM");
    simulate::post_webhook(
        http,
        base,
        "/twilio/sms",
        token,
        &simulate::sms_params(&phone, proxy, &code, &sid),
    )
    .await?;
    let status: Value = http
        .get(format!("{base}/confirmations/status?pending_id={id}"))
        .bearer_auth(key)
        .send()
        .await?
        .json()
        .await?;
    println!(
        "   He texts the code back to the proxy. GET /confirmations/status -> {}",
        status["status"]
    );
    println!(
        "   (Without an answer, a call from the proxy reads the code a minute later, then a \
         link follows by SMS and e-mail.)"
    );
    Ok(())
}

/// Choosing a contact: the shop texts too, Jeanne lists her recent contacts, writes to the
/// courier by number, and calls her proxy (a keypad menu).
async fn contacts(
    http: &reqwest::Client,
    base: &str,
    token: &[u8],
    store: &dyn Store,
    proxy: &str,
) -> Result<(), reqwest::Error> {
    let text = |from: &'static str, body: &'static str| {
        let sid = crate::carrier::sid("SM");
        async move {
            simulate::post_webhook(
                http,
                base,
                "/twilio/sms",
                token,
                &simulate::sms_params(from, proxy, body, &sid),
            )
            .await
        }
    };
    let to_client = inbox_size(store, CLIENT_PHONE).await;
    text(SHOP_PHONE, "Votre commande est prête").await?;
    delivered(store, CLIENT_PHONE, to_client).await;
    let (_, twiml) = text(CLIENT_PHONE, "#?").await?;
    println!(
        "\n4. The shop ({SHOP_PHONE}) texts too. Jeanne texts \"#?\" to her proxy and reads:\n   {}",
        twiml_message(&twiml).replace('\n', "\n   ")
    );
    let to_courier = inbox_size(store, COURIER_PHONE).await;
    text(CLIENT_PHONE, "#2 Je descends dans une minute").await?;
    let got = delivered(store, COURIER_PHONE, to_courier).await;
    println!(
        "5. Jeanne texts \"#2 Je descends dans une minute\". The courier (#2) receives:\n   {}",
        got.unwrap_or_else(|| "(nothing yet)".into())
    );
    let sid = crate::carrier::sid("CA");
    let (_, twiml) = simulate::post_webhook(
        http,
        base,
        "/twilio/voice",
        token,
        &simulate::call_params(CLIENT_PHONE, proxy, &sid),
    )
    .await?;
    println!("6. Jeanne calls her proxy: a keypad menu, the most recent by default:\n   {twiml}");

    // A missed call: the shop calls, Jeanne does not pick up, the shop leaves no message.
    let to_client = inbox_size(store, CLIENT_PHONE).await;
    let sid = crate::carrier::sid("CA");
    let call = simulate::call_params(SHOP_PHONE, proxy, &sid);
    simulate::post_webhook(http, base, "/twilio/voice", token, &call).await?;
    let status = [
        ("CallSid", sid.as_str()),
        ("DialCallStatus", "no-answer"),
        ("From", SHOP_PHONE),
        ("To", proxy),
    ];
    let (_, twiml) =
        simulate::post_webhook(http, base, "/twilio/voice/dial-status", token, &status).await?;
    println!("7. The shop calls; Jeanne does not answer. The caller hears:\n   {twiml}");
    let nothing = [("CallSid", sid.as_str()), ("RecordingDuration", "0")];
    simulate::post_webhook(http, base, "/twilio/voice/recorded", token, &nothing).await?;
    let got = delivered(store, CLIENT_PHONE, to_client).await;
    println!(
        "   The shop leaves no message. Jeanne's phone receives, from her proxy:\n   {}",
        got.unwrap_or_else(|| "(nothing yet)".into())
    );
    Ok(())
}

/// The text of a TwiML `<Message>`, unescaped.
fn twiml_message(twiml: &str) -> String {
    let inner = twiml
        .split_once("<Message>")
        .and_then(|(_, rest)| rest.split_once("</Message>"))
        .map_or(twiml, |(inner, _)| inner);
    quick_xml::escape::unescape(inner).map_or_else(|_| inner.to_owned(), |s| s.into_owned())
}

/// Waits for the simulated carrier to deliver a text to `to` after `before` others.
async fn delivered(store: &dyn Store, to: &str, before: usize) -> Option<String> {
    let to = E164::parse_shape(to).ok()?;
    for _ in 0..50 {
        let got = store.simulated_deliveries(Some(&to), 100).await.ok()?;
        if got.len() > before {
            let d = &got[0];
            return Some(format!(
                "{} -> {}: \"{}\"",
                d.from,
                d.to,
                d.body.clone().unwrap_or_default()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

async fn inbox_size(store: &dyn Store, to: &str) -> usize {
    let to = E164::parse_shape(to).expect("a demo number");
    store
        .simulated_deliveries(Some(&to), 1000)
        .await
        .map_or(0, |d| d.len())
}

pub async fn show(
    base: &str,
    key: &str,
    token: &SecretString,
    store: &dyn Store,
) -> Result<(), reqwest::Error> {
    let http = reqwest::Client::new();
    let token = token.expose_secret().as_bytes();
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
        "client_real_phone": CLIENT_PHONE,
    });
    println!("\n== ProxyCall demo on {base} (SQLite, simulated carrier) ==");
    println!("admin key (shown once): {key}\n");
    let mut proxy = String::new();
    for attempt in ["a new order", "the same order again"] {
        let response = http
            .post(format!("{base}/orders"))
            .bearer_auth(key)
            .json(&order)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        println!("POST /orders ({attempt}) -> {status} {body}");
        proxy = body["client_proxy_number"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    }
    if proxy.is_empty() {
        println!("no proxy: see the answer above");
        return Ok(());
    }
    println!(
        "\nJeanne's real phone is {CLIENT_PHONE}; her proxy is {proxy}. The courier is {COURIER_PHONE}."
    );

    let sid = crate::carrier::sid("CA");
    let (_, twiml) = simulate::post_webhook(
        &http,
        base,
        "/twilio/voice",
        token,
        &simulate::call_params(COURIER_PHONE, &proxy, &sid),
    )
    .await?;
    println!("\n1. The courier calls the proxy. ProxyCall answers Twilio:\n   {twiml}");

    let to_client = inbox_size(store, CLIENT_PHONE).await;
    let sid = crate::carrier::sid("SM");
    simulate::post_webhook(
        &http,
        base,
        "/twilio/sms",
        token,
        &simulate::sms_params(
            COURIER_PHONE,
            &proxy,
            "Bonjour, je suis devant chez vous",
            &sid,
        ),
    )
    .await?;
    let got = delivered(store, CLIENT_PHONE, to_client).await;
    println!(
        "2. The courier texts the proxy. Jeanne's phone receives, from the proxy:\n   {}",
        got.unwrap_or_else(|| "(nothing yet)".into())
    );

    let to_courier = inbox_size(store, COURIER_PHONE).await;
    let sid = crate::carrier::sid("SM");
    simulate::post_webhook(
        &http,
        base,
        "/twilio/sms",
        token,
        &simulate::sms_params(CLIENT_PHONE, &proxy, "J'arrive !", &sid),
    )
    .await?;
    let got = delivered(store, COURIER_PHONE, to_courier).await;
    println!(
        "3. Jeanne replies to the proxy. The courier's phone receives, from the proxy:\n   {}",
        got.unwrap_or_else(|| "(nothing yet)".into())
    );

    contacts(&http, base, token, store, &proxy).await?;

    activation(&http, base, key, token, store, client_id).await?;

    println!("\nTry it (in another terminal):");
    println!("  cargo run -- simulate call --from +33611223344 --to {proxy}");
    println!("  cargo run -- simulate sms --from +33611223344 --to {proxy} --body 'Colis livré'");
    println!("  cargo run -- simulate inbox --to {CLIENT_PHONE}");
    println!("  curl -s -H 'Authorization: Bearer {key}' {base}/clients/{client_id}");
    println!("Ctrl-C stops the server.\n");
    Ok(())
}
