//! A Twilio double for the benchmark, in the bench's own process: the server runs with the
//! real `twilio` carrier pointed at it (`TWILIO_API_BASE`), so that the outbox pays what it
//! pays in production (HTTP, Basic auth, JSON) and waits as long as Twilio makes it wait.
//! It answers `POST Messages.json` after a set delay, and the few reads the carrier may make
//! (listing texts to settle one in doubt, the account, the rented numbers) at once, empty.
//! It keeps no text, only counts, and what a sampled relay carried (see `load::SMS_SAMPLE`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::load::{SMS_SAMPLE, sms_tag};

/// What one sampled text carried to the double.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: String,
    pub body: String,
}

#[derive(Default)]
struct DoubleState {
    delay: Duration,
    posts: AtomicU64,
    lists: AtomicU64,
    other: AtomicU64,
    sampled: Mutex<HashMap<u64, Received>>,
}

pub struct Double {
    pub base: String,
    state: Arc<DoubleState>,
    task: tokio::task::JoinHandle<()>,
}

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";

impl Double {
    pub async fn start(delay: Duration) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(DoubleState {
            delay,
            ..Default::default()
        });
        let router = axum::Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/Messages.json",
                post(create_message).get(list_messages),
            )
            .route(
                "/2010-04-01/Accounts/{account}/Calls.json",
                post(create_call),
            )
            .route(
                "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
                get(incoming_numbers),
            )
            .route("/2010-04-01/Accounts/{file}", get(account))
            .fallback(other)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self { base, state, task })
    }

    /// Texts posted so far.
    pub fn posts(&self) -> u64 {
        self.state.posts.load(Ordering::Relaxed)
    }

    /// Listings (a text in doubt being settled) and requests the double does not know.
    pub fn lists_and_other(&self) -> (u64, u64) {
        (
            self.state.lists.load(Ordering::Relaxed),
            self.state.other.load(Ordering::Relaxed),
        )
    }

    /// The sampled text tagged `n`, if it came.
    pub fn sampled(&self, n: u64) -> Option<Received> {
        self.state.sampled.lock().expect("lock").get(&n).cloned()
    }

    pub fn forget_samples(&self) {
        self.state.sampled.lock().expect("lock").clear();
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn field(body: &[u8], key: &str) -> String {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn create_message(State(s): State<Arc<DoubleState>>, body: axum::body::Bytes) -> Response {
    s.posts.fetch_add(1, Ordering::Relaxed);
    let text = field(&body, "Body");
    if let Some(n) = sms_tag(&text).filter(|n| n % SMS_SAMPLE == 0) {
        let received = Received {
            from: field(&body, "From"),
            to: field(&body, "To"),
            body: text,
        };
        s.sampled.lock().expect("lock").insert(n, received);
    }
    tokio::time::sleep(s.delay).await;
    (
        StatusCode::CREATED,
        axum::Json(json!({"sid": crate::carrier::sid("SM"), "status": "queued"})),
    )
        .into_response()
}

async fn list_messages(State(s): State<Arc<DoubleState>>) -> Response {
    s.lists.fetch_add(1, Ordering::Relaxed);
    axum::Json(json!({"messages": [], "next_page_uri": null})).into_response()
}

async fn create_call(State(s): State<Arc<DoubleState>>) -> Response {
    s.other.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(s.delay).await;
    (
        StatusCode::CREATED,
        axum::Json(json!({"sid": crate::carrier::sid("CA"), "status": "queued"})),
    )
        .into_response()
}

async fn incoming_numbers(State(s): State<Arc<DoubleState>>) -> Response {
    s.other.fetch_add(1, Ordering::Relaxed);
    axum::Json(json!({"incoming_phone_numbers": [], "next_page_uri": null})).into_response()
}

async fn account(State(s): State<Arc<DoubleState>>, Path(file): Path<String>) -> Response {
    s.other.fetch_add(1, Ordering::Relaxed);
    let sid = file.trim_end_matches(".json");
    axum::Json(json!({"sid": sid, "status": "active", "friendly_name": "bench"})).into_response()
}

async fn other(State(s): State<Arc<DoubleState>>) -> Response {
    s.other.fetch_add(1, Ordering::Relaxed);
    StatusCode::NOT_FOUND.into_response()
}
