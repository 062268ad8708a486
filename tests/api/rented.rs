//! Numbers as the carrier rents them: a pool number with (or without) its Twilio SID, and a
//! Twilio double whose number deletions answer as scripted — what the release tests share.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::delete;
use chrono::Utc;
use proxycall::domain::{CountryIso, E164, NumberType};
use proxycall::store::{NewPoolNumber, Store};

/// Adds a French mobile number to the pool, available: rented from the carrier under `sid`,
/// or put there by hand (`None`).
pub async fn add_pool_number(store: &dyn Store, number: &str, sid: Option<String>, sms: bool) {
    store
        .add_pool_number(&NewPoolNumber {
            phone_number: E164::parse(number).unwrap(),
            twilio_sid: sid,
            country_iso: CountryIso::parse("FR").unwrap(),
            number_type: NumberType::Mobile,
            voice_capable: true,
            sms_capable: sms,
            friendly_name: None,
            purchased_at: Utc::now(),
        })
        .await
        .unwrap();
}

/// The `i`-th test SID (`PN` and 32 digits).
pub fn sid(i: usize) -> String {
    format!("PN{i:032}")
}

/// A Twilio double whose number deletions answer as scripted, then 204.
#[derive(Clone, Default)]
pub struct Deletions {
    script: Arc<Mutex<Vec<u16>>>,
    /// The files deleted (`PN….json`), in order.
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Deletions {
    /// Starts the double; returns its base address.
    pub async fn start(script: Vec<u16>) -> (String, Self) {
        let double = Self {
            script: Arc::new(Mutex::new(script)),
            ..Default::default()
        };
        let router = axum::Router::new()
            .route(
                "/2010-04-01/Accounts/{acc}/IncomingPhoneNumbers/{file}",
                delete(remove),
            )
            .with_state(double.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (base, double)
    }
}

async fn remove(
    State(d): State<Deletions>,
    Path((_acc, file)): Path<(String, String)>,
) -> StatusCode {
    d.seen.lock().unwrap().push(file);
    let status = {
        let mut script = d.script.lock().unwrap();
        if script.is_empty() {
            204
        } else {
            script.remove(0)
        }
    };
    StatusCode::from_u16(status).unwrap()
}
