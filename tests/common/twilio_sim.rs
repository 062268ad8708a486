//! A Twilio double with a memory: it keeps the texts it accepted (`POST Messages.json`) and
//! lists them (`GET Messages.json` with `From`, `To`, and `DateSent>` as Twilio reads it: texts
//! not sent yet, without a `date_sent`, never match it), and fails as it is told
//! to, in the ways Twilio fails — before or after it has taken the text.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde_json::json;

/// How the double answers one `POST Messages.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Takes the text and answers 201.
    None,
    /// Takes the text, then never answers (the client times out).
    AcceptThenHang,
    /// Takes the text, then answers 500.
    AcceptThen500,
    /// Takes the text, answers 201 and cuts the body short (the connection breaks).
    AcceptThenCut,
    /// Turns the text away with 503 and `Retry-After`.
    Away503,
    /// Never answers, and never takes the text.
    HangWithoutAccepting,
    /// Turns the text away as Twilio does for a recipient who opted out of the sender's
    /// texts: 400, code 21610.
    OptedOut21610,
}

#[derive(Debug, Clone)]
pub struct SimText {
    pub sid: String,
    pub from: String,
    pub to: String,
    pub body: String,
    pub date_created: DateTime<Utc>,
    pub status_callback: Option<String>,
    /// Its `MediaUrl` parameters, in order.
    pub media: Vec<String>,
}

#[derive(Default)]
struct SimState {
    texts: Vec<SimText>,
    /// Faults for the next POSTs, in order; then `default_fault`.
    faults: VecDeque<Fault>,
    default_fault: Option<Fault>,
    /// `GET Messages.json` answers 500.
    list_fails: bool,
    posts: usize,
    lists: usize,
    /// How long each `POST Messages.json` takes before it is answered.
    latency: Duration,
    /// POSTs being answered now, and the most at once.
    in_flight: usize,
    max_in_flight: usize,
    /// `GET Recordings/{Sid}.mp3`: the SID and the `Authorization` header of each.
    recording_fetches: Vec<(String, Option<String>)>,
    /// `DELETE Recordings/{Sid}.json`: the SIDs.
    recordings_deleted: Vec<String>,
}

/// The audio the double serves for any recording.
pub const SIM_RECORDING: &[u8] = b"ID3\x03\x00\x00\x00\x00\x00\x00twilio-double-recording";

#[derive(Clone)]
pub struct TwilioSim {
    pub base: String,
    state: Arc<Mutex<SimState>>,
}

impl TwilioSim {
    pub async fn start() -> Self {
        proxycall::install_crypto_provider();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(SimState::default()));
        let router = axum::Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/Messages.json",
                post(create).get(list),
            )
            .route(
                "/2010-04-01/Accounts/{account}/Recordings/{file}",
                axum::routing::get(recording_audio).delete(delete_recording),
            )
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { base, state }
    }

    /// The next POSTs meet these faults, in order.
    pub fn faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state.lock().unwrap().faults.extend(faults);
    }

    /// Forgets the faults queued by `faults`.
    pub fn clear_faults(&self) {
        self.state.lock().unwrap().faults.clear();
    }

    /// Every POST meets this fault (after those queued by `faults`).
    pub fn always(&self, fault: Fault) {
        self.state.lock().unwrap().default_fault = Some(fault);
    }

    pub fn list_fails(&self, fails: bool) {
        self.state.lock().unwrap().list_fails = fails;
    }

    /// The texts it took.
    pub fn texts(&self) -> Vec<SimText> {
        self.state.lock().unwrap().texts.clone()
    }

    /// Each POST takes this long before it is answered (Twilio's own round trip).
    pub fn latency(&self, latency: Duration) {
        self.state.lock().unwrap().latency = latency;
    }

    /// The most POSTs it answered at once.
    pub fn max_concurrent(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }

    pub fn posts(&self) -> usize {
        self.state.lock().unwrap().posts
    }

    pub fn lists(&self) -> usize {
        self.state.lock().unwrap().lists
    }

    /// The recordings fetched, each with the `Authorization` header it came with.
    pub fn recording_fetches(&self) -> Vec<(String, Option<String>)> {
        self.state.lock().unwrap().recording_fetches.clone()
    }

    /// The recordings deleted.
    pub fn recordings_deleted(&self) -> Vec<String> {
        self.state.lock().unwrap().recordings_deleted.clone()
    }
}

async fn recording_audio(
    State(state): State<Arc<Mutex<SimState>>>,
    axum::extract::Path((_, file)): axum::extract::Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> Response {
    let Some(sid) = file.strip_suffix(".mp3") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    state
        .lock()
        .unwrap()
        .recording_fetches
        .push((sid.to_owned(), auth));
    ([("content-type", "audio/mpeg")], SIM_RECORDING).into_response()
}

async fn delete_recording(
    State(state): State<Arc<Mutex<SimState>>>,
    axum::extract::Path((_, file)): axum::extract::Path<(String, String)>,
) -> Response {
    let Some(sid) = file.strip_suffix(".json") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    state
        .lock()
        .unwrap()
        .recordings_deleted
        .push(sid.to_owned());
    StatusCode::NO_CONTENT.into_response()
}

fn form(body: &[u8], key: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Counts a POST in flight until it is answered (or its client hangs up).
struct InFlight(Arc<Mutex<SimState>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().unwrap().in_flight -= 1;
    }
}

async fn create(State(state): State<Arc<Mutex<SimState>>>, body: axum::body::Bytes) -> Response {
    let latency = {
        let mut s = state.lock().unwrap();
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        s.latency
    };
    let _in_flight = InFlight(state.clone());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = {
        let mut s = state.lock().unwrap();
        s.posts += 1;
        s.faults
            .pop_front()
            .or(s.default_fault)
            .unwrap_or(Fault::None)
    };
    if matches!(fault, Fault::Away503) {
        return (StatusCode::SERVICE_UNAVAILABLE, [("Retry-After", "30")]).into_response();
    }
    if matches!(fault, Fault::OptedOut21610) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({
                "code": 21610,
                "message": "Attempt to send to unsubscribed recipient",
                "status": 400,
            })),
        )
            .into_response();
    }
    if matches!(fault, Fault::HangWithoutAccepting) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let text = SimText {
        sid: proxycall::carrier::sid("SM"),
        from: form(&body, "From").unwrap_or_default(),
        to: form(&body, "To").unwrap_or_default(),
        body: form(&body, "Body").unwrap_or_default(),
        date_created: Utc::now(),
        status_callback: form(&body, "StatusCallback"),
        media: form_urlencoded::parse(&body)
            .filter(|(k, _)| k == "MediaUrl")
            .map(|(_, v)| v.into_owned())
            .collect(),
    };
    let sid = text.sid.clone();
    state.lock().unwrap().texts.push(text);
    match fault {
        Fault::AcceptThenHang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Fault::AcceptThen500 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Fault::AcceptThenCut => {
            let broken = futures_util::stream::once(async {
                Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("cut"))
            });
            (StatusCode::CREATED, axum::body::Body::from_stream(broken)).into_response()
        }
        _ => (
            StatusCode::CREATED,
            axum::Json(json!({"sid": sid, "status": "queued"})),
        )
            .into_response(),
    }
}

async fn list(
    State(state): State<Arc<Mutex<SimState>>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let get = |key: &str| q.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let mut s = state.lock().unwrap();
    s.lists += 1;
    if s.list_fails {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    // Twilio filters by the day a text was sent: one still queued, which every text here is,
    // has no `date_sent` and never matches.
    let day = get("DateSent>");
    let messages: Vec<_> = s
        .texts
        .iter()
        .rev()
        .filter(|t| get("From").is_none_or(|f| f == t.from))
        .filter(|t| get("To").is_none_or(|to| to == t.to))
        .filter(|_| day.is_none())
        .map(|t| {
            json!({
                "sid": t.sid,
                "from": t.from,
                "to": t.to,
                "body": t.body,
                "status": "queued",
                "date_created": t.date_created.to_rfc2822(),
                "date_sent": null,
            })
        })
        .collect();
    axum::Json(json!({"messages": messages, "next_page_uri": null})).into_response()
}
