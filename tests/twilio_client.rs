//! The Twilio REST client against a double of Twilio: what each request looks like on the
//! wire, how each refusal is read, what is retried, and the outbox worker sending through it.
//!
//! The double records every request and answers from a script. The last test checks the
//! same request shapes against Twilio's own OpenAPI spec, served by Prism (`.ci/prism`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::Utc;
use proxycall::carrier::twilio::TwilioClient;
use proxycall::carrier::{
    Carrier, CarrierError, CarrierResult, NumberSearch, Purchase, SendFailure, WebhookUpdate,
};
use proxycall::domain::{CountryIso, E164, NumberType};
use proxycall::jobs::{Registry, Worker};
use proxycall::store::{self, NewOutbound, OutboundKind, OutboundMessage, Store};
use serde_json::{Value, json};

#[path = "common/test_db.rs"]
mod test_db;
#[path = "common/twilio_sim.rs"]
mod twilio_sim;
use test_db::TestDb;
use twilio_sim::{Fault, TwilioSim};

/// An account SID of the shape Twilio (and Prism) require.
const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "test-auth-token";
const NUMBER_SID: &str = "PN0123456789abcdef0123456789abcdef";
const ADDRESS_SID: &str = "AD0123456789abcdef0123456789abcdef";
const BUNDLE_SID: &str = "BU0123456789abcdef0123456789abcdef";
/// The proxy number we send from, and the person we send to.
const PROXY: &str = "+33780000001";
const PERSON: &str = "+33612345678";

/// A path under our account, e.g. `acct("/Messages.json")`; `acct(".json")` is the account.
fn acct(path: &str) -> String {
    format!("/2010-04-01/Accounts/{ACCOUNT_SID}{path}")
}

fn e164(raw: &str) -> E164 {
    E164::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
}

// ---------------------------------------------------------------------------------------
// The double
// ---------------------------------------------------------------------------------------

/// One request as the double saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    form: Vec<(String, String)>,
    authorization: Option<String>,
    content_type: Option<String>,
}

impl Seen {
    fn query(&self, key: &str) -> Option<&str> {
        lookup(&self.query, key)
    }

    fn form(&self, key: &str) -> Option<&str> {
        lookup(&self.form, key)
    }

    /// The form's pairs sorted, to compare with what we expect regardless of order.
    fn sorted_form(&self) -> Vec<(String, String)> {
        let mut pairs = self.form.clone();
        pairs.sort();
        pairs
    }
}

fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    pairs.sort();
    pairs
}

/// One scripted answer.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn empty(status: u16) -> Self {
        Self {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    /// Twilio's error body, e.g. `{"code":21211,"message":…,"more_info":…,"status":400}`.
    fn twilio_error(status: u16, code: u32, message: &str) -> Self {
        Self::json(
            status,
            json!({
                "code": code,
                "message": message,
                "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
                "status": status,
            }),
        )
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).expect("a valid status");
        let mut response = match self.body {
            Some(body) => (status, axum::Json(body)).into_response(),
            None => status.into_response(),
        };
        for (name, value) in self.headers {
            response
                .headers_mut()
                .insert(name, value.parse().expect("a valid header value"));
        }
        response
    }
}

#[derive(Default)]
struct Script {
    /// Answers per (method, path), in order; the last one repeats.
    replies: HashMap<(String, String), VecDeque<Reply>>,
    seen: Vec<Seen>,
}

/// A Twilio on 127.0.0.1 that answers from a script and remembers every request.
struct TwilioDouble {
    base: String,
    script: Arc<Mutex<Script>>,
}

impl TwilioDouble {
    async fn start() -> Self {
        proxycall::install_crypto_provider();
        let script = Arc::new(Mutex::new(Script::default()));
        let router = axum::Router::new()
            .fallback(answer)
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { base, script }
    }

    /// Scripts the answers to `method path`; after the last, the last one repeats.
    fn answer(&self, method: Method, path: &str, replies: impl IntoIterator<Item = Reply>) {
        let replies: VecDeque<Reply> = replies.into_iter().collect();
        assert!(!replies.is_empty(), "script at least one reply");
        self.script
            .lock()
            .unwrap()
            .replies
            .insert((method.to_string(), path.to_owned()), replies);
    }

    fn client(&self) -> TwilioClient {
        TwilioClient::new(&self.base, ACCOUNT_SID, AUTH_TOKEN.into())
    }

    fn requests(&self) -> Vec<Seen> {
        self.script.lock().unwrap().seen.clone()
    }

    fn requests_to(&self, method: Method, path: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method.as_str() && r.path == path)
            .collect()
    }

    /// The only request the double received.
    fn single_request(&self) -> Seen {
        let mut all = self.requests();
        assert_eq!(all.len(), 1, "expected exactly one request: {all:#?}");
        all.remove(0)
    }
}

async fn answer(
    axum::extract::State(script): axum::extract::State<Arc<Mutex<Script>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let decode = |raw: &[u8]| {
        form_urlencoded::parse(raw)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect::<Vec<_>>()
    };
    let seen = Seen {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: decode(uri.query().unwrap_or_default().as_bytes()),
        form: decode(&body),
        authorization: header("authorization"),
        content_type: header("content-type"),
    };
    let mut script = script.lock().unwrap();
    let key = (seen.method.clone(), seen.path.clone());
    script.seen.push(seen);
    match script.replies.get_mut(&key) {
        Some(queue) if queue.len() > 1 => queue.pop_front().unwrap(),
        Some(queue) => queue.front().unwrap().clone(),
        // Unscripted: the way Twilio answers an unknown resource.
        None => Reply::twilio_error(404, 20404, "The requested resource was not found"),
    }
    .into_response()
}

// ---------------------------------------------------------------------------------------
// Twilio's answers
// ---------------------------------------------------------------------------------------

fn message_created(sid: &str) -> Reply {
    Reply::json(
        201,
        json!({"sid": sid, "status": "queued", "to": PERSON, "from": PROXY, "body": "hello"}),
    )
}

fn incoming_number(sid: &str, phone: &str, capabilities: Value) -> Value {
    json!({
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "phone_number": phone,
        "friendly_name": "proxy",
        "voice_url": "https://proxy.example.com/webhooks/voice",
        "voice_method": "POST",
        "sms_url": "",
        "sms_method": "POST",
        "capabilities": capabilities,
    })
}

fn purchase(address_sid: Option<&str>, bundle_sid: Option<&str>) -> Purchase {
    Purchase {
        phone_number: e164("+33780000042"),
        voice_url: "https://proxy.example.com/webhooks/voice".into(),
        sms_url: "https://proxy.example.com/webhooks/sms".into(),
        friendly_name: "proxycall FR mobile".into(),
        address_sid: address_sid.map(str::to_owned),
        bundle_sid: bundle_sid.map(str::to_owned),
    }
}

fn search(country: &str, number_type: NumberType, limit: u32) -> NumberSearch {
    NumberSearch {
        country: CountryIso::parse(country).unwrap(),
        number_type,
        sms: true,
        voice: true,
        limit,
    }
}

// ---------------------------------------------------------------------------------------
// Request shapes
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn send_sms_posts_a_form_with_basic_auth_and_returns_the_sid_twilio_gives() {
    // Arrange
    let twilio = TwilioDouble::start().await;
    let sid = "SM0123456789abcdef0123456789abcdef";
    twilio.answer(
        Method::POST,
        &acct("/Messages.json"),
        [message_created(sid)],
    );

    // Act
    let returned = twilio
        .client()
        .send_sms(
            &e164(PROXY),
            &e164(PERSON),
            "Bonjour ✓",
            Some("https://proxy.example.com/webhooks/status"),
        )
        .await;

    // Assert
    assert_eq!(returned, Ok(sid.to_owned()));
    let request = twilio.single_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, acct("/Messages.json"));
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        request.sorted_form(),
        pairs(&[
            ("To", PERSON),
            ("From", PROXY),
            ("Body", "Bonjour ✓"),
            (
                "StatusCallback",
                "https://proxy.example.com/webhooks/status"
            ),
        ])
    );
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"));
    assert_eq!(request.authorization, Some(format!("Basic {credentials}")));
}

#[tokio::test]
async fn send_mms_posts_one_media_url_per_picture_and_no_body_for_pictures_alone() {
    // Arrange
    let twilio = TwilioDouble::start().await;
    let sid = "MM0123456789abcdef0123456789abcdef";
    twilio.answer(
        Method::POST,
        &acct("/Messages.json"),
        [message_created(sid), message_created(sid)],
    );
    let origin = proxycall::domain::MediaOrigin::twilio();
    let media: Vec<proxycall::domain::MediaUrl> = ["ME1", "ME2"]
        .iter()
        .map(|me| {
            proxycall::domain::MediaUrl::parse(
                &format!("https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/{me}"),
                &origin,
            )
            .unwrap()
        })
        .collect();
    let client = twilio.client();

    // Act
    let with_words = client
        .send_mms(&e164(PROXY), &e164(PERSON), "Voici", &media, None)
        .await;
    let alone = client
        .send_mms(&e164(PROXY), &e164(PERSON), "", &media[..1], None)
        .await;

    // Assert
    assert_eq!(with_words, Ok(sid.to_owned()));
    assert_eq!(alone, Ok(sid.to_owned()));
    let requests = twilio.requests();
    assert_eq!(
        requests[0].form,
        vec![
            ("To".to_owned(), PERSON.to_owned()),
            ("From".to_owned(), PROXY.to_owned()),
            ("Body".to_owned(), "Voici".to_owned()),
            ("MediaUrl".to_owned(), media[0].as_str().to_owned()),
            ("MediaUrl".to_owned(), media[1].as_str().to_owned()),
        ]
    );
    assert_eq!(lookup(&requests[1].form, "Body"), None, "pictures alone");
    assert_eq!(
        lookup(&requests[1].form, "MediaUrl"),
        Some(media[0].as_str())
    );
}

#[tokio::test]
async fn search_numbers_asks_for_sms_and_voice_mobiles_and_reads_both_capability_spellings() {
    // Arrange: Twilio spells them `voice`, `SMS`, `MMS` in this answer.
    let twilio = TwilioDouble::start().await;
    let path = acct("/AvailablePhoneNumbers/FR/Mobile.json");
    twilio.answer(
        Method::GET,
        &path,
        [Reply::json(
            200,
            json!({"available_phone_numbers": [
                {"phone_number": "+33780000042", "capabilities": {"voice": true, "SMS": true, "MMS": false}},
                {"phone_number": "+33780000043", "capabilities": {"voice": false, "sms": true}},
            ]}),
        )],
    );

    // Act
    let found = twilio
        .client()
        .search_numbers(&search("FR", NumberType::Mobile, 5))
        .await
        .unwrap();

    // Assert
    let request = twilio.single_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", path.as_str())
    );
    assert_eq!(request.query("SmsEnabled"), Some("true"));
    assert_eq!(request.query("VoiceEnabled"), Some("true"));
    assert_eq!(request.query("PageSize"), Some("5"));
    let found: Vec<(&str, bool, bool)> = found
        .iter()
        .map(|n| (n.phone_number.as_str(), n.voice, n.sms))
        .collect();
    assert_eq!(
        found,
        [("+33780000042", true, true), ("+33780000043", false, true)]
    );
}

#[tokio::test]
async fn search_numbers_for_local_numbers_asks_local_json_and_leaves_out_filters_not_wanted() {
    // Arrange
    let twilio = TwilioDouble::start().await;
    let path = acct("/AvailablePhoneNumbers/FR/Local.json");
    twilio.answer(
        Method::GET,
        &path,
        [Reply::json(
            200,
            json!({"available_phone_numbers": [
                {"phone_number": "+33140000042", "capabilities": {"voice": true, "SMS": false}},
            ]}),
        )],
    );
    let voice_only = NumberSearch {
        sms: false,
        ..search("FR", NumberType::Local, 20)
    };

    // Act
    let found = twilio.client().search_numbers(&voice_only).await.unwrap();

    // Assert
    let request = twilio.single_request();
    assert_eq!(request.path, path);
    assert_eq!(request.query("VoiceEnabled"), Some("true"));
    assert_eq!(request.query("SmsEnabled"), None);
    assert_eq!(request.query("PageSize"), Some("20"));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].phone_number.as_str(), "+33140000042");
    assert!(found[0].voice && !found[0].sms);
}

#[tokio::test]
async fn incoming_numbers_follows_next_page_uri_and_returns_every_page() {
    // Arrange: two pages on the same path; the second is reached through `next_page_uri`,
    // a path from the API's root, and the first spells capabilities in lower case, the
    // second in upper case.
    let twilio = TwilioDouble::start().await;
    let path = acct("/IncomingPhoneNumbers.json");
    let next = format!("{path}?Page=1&PageSize=1000&PageToken=PAnext");
    twilio.answer(
        Method::GET,
        &path,
        [
            Reply::json(
                200,
                json!({
                    "incoming_phone_numbers": [
                        incoming_number("PN01", "+33780000001", json!({"voice": true, "sms": true, "mms": false, "fax": false})),
                        incoming_number("PN02", "+33780000002", json!({"voice": true, "sms": false})),
                    ],
                    "next_page_uri": next,
                }),
            ),
            Reply::json(
                200,
                json!({
                    "incoming_phone_numbers": [
                        incoming_number("PN03", "+33780000003", json!({"Voice": true, "SMS": true, "MMS": false})),
                    ],
                    "next_page_uri": null,
                }),
            ),
        ],
    );

    // Act
    let numbers = twilio.client().incoming_numbers().await.unwrap();

    // Assert
    let read: Vec<(&str, &str, bool, bool)> = numbers
        .iter()
        .map(|n| (n.sid.as_str(), n.phone_number.as_str(), n.voice, n.sms))
        .collect();
    assert_eq!(
        read,
        [
            ("PN01", "+33780000001", true, true),
            ("PN02", "+33780000002", true, false),
            ("PN03", "+33780000003", true, true),
        ]
    );
    // An empty `sms_url` means none.
    assert_eq!(numbers[0].sms_url, None);
    let pages = twilio.requests_to(Method::GET, &path);
    assert_eq!(pages.len(), 2, "{pages:#?}");
    assert_eq!(pages[0].query("PageSize"), Some("1000"));
    assert_eq!(pages[1].query("PageToken"), Some("PAnext"));
    assert_eq!(pages[1].query("Page"), Some("1"));
}

#[tokio::test]
async fn incoming_numbers_of_type_reads_twilios_typed_list_every_page() {
    // Arrange: Twilio's mobile list over two pages; its local list, empty.
    let twilio = TwilioDouble::start().await;
    let mobile = acct("/IncomingPhoneNumbers/Mobile.json");
    let next = format!("{mobile}?Page=1&PageSize=1000&PageToken=PAnext");
    twilio.answer(
        Method::GET,
        &mobile,
        [
            Reply::json(
                200,
                json!({
                    "incoming_phone_numbers": [
                        incoming_number("PN01", "+33780000001", json!({"voice": true, "sms": false, "mms": true})),
                    ],
                    "next_page_uri": next,
                }),
            ),
            Reply::json(
                200,
                json!({
                    "incoming_phone_numbers": [
                        incoming_number("PN02", "+33780000002", json!({"Voice": false, "SMS": true, "MMS": false})),
                    ],
                    "next_page_uri": null,
                }),
            ),
        ],
    );
    let local = acct("/IncomingPhoneNumbers/Local.json");
    twilio.answer(
        Method::GET,
        &local,
        [Reply::json(
            200,
            json!({"incoming_phone_numbers": [], "next_page_uri": null}),
        )],
    );

    // Act
    let mobiles = twilio
        .client()
        .incoming_numbers_of_type(NumberType::Mobile)
        .await
        .unwrap();
    let locals = twilio
        .client()
        .incoming_numbers_of_type(NumberType::Local)
        .await
        .unwrap();

    // Assert: each classed as the list that named it, with its capabilities.
    let read: Vec<_> = mobiles
        .iter()
        .map(|n| {
            (
                n.phone_number.as_str(),
                n.number_type,
                n.voice,
                n.sms,
                n.mms,
            )
        })
        .collect();
    assert_eq!(
        read,
        [
            ("+33780000001", Some(NumberType::Mobile), true, false, true),
            ("+33780000002", Some(NumberType::Mobile), false, true, false),
        ]
    );
    assert!(locals.is_empty());
    let pages = twilio.requests_to(Method::GET, &mobile);
    assert_eq!(pages.len(), 2, "{pages:#?}");
    assert_eq!(pages[0].query("PageSize"), Some("1000"));
    assert_eq!(pages[1].query("PageToken"), Some("PAnext"));
    assert_eq!(twilio.requests_to(Method::GET, &local).len(), 1);
    // The full list says nothing of a type: nothing is guessed.
    twilio.answer(
        Method::GET,
        &acct("/IncomingPhoneNumbers.json"),
        [Reply::json(
            200,
            json!({"incoming_phone_numbers": [incoming_number("PN01", "+33780000001", json!({"voice": true}))], "next_page_uri": null}),
        )],
    );
    let all = twilio.client().incoming_numbers().await.unwrap();
    assert_eq!(all[0].number_type, None);
}

#[tokio::test]
async fn buy_number_sends_the_webhooks_the_name_and_the_regulatory_sids() {
    // Arrange
    let twilio = TwilioDouble::start().await;
    let path = acct("/IncomingPhoneNumbers.json");
    twilio.answer(
        Method::POST,
        &path,
        [Reply::json(
            201,
            incoming_number(
                NUMBER_SID,
                "+33780000042",
                json!({"voice": true, "sms": true}),
            ),
        )],
    );

    // Act
    let bought = twilio
        .client()
        .buy_number(&purchase(Some(ADDRESS_SID), Some(BUNDLE_SID)))
        .await
        .unwrap();

    // Assert
    assert_eq!(bought.sid, NUMBER_SID);
    assert_eq!(bought.phone_number.as_str(), "+33780000042");
    let request = twilio.single_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", path.as_str())
    );
    assert_eq!(
        request.sorted_form(),
        pairs(&[
            ("PhoneNumber", "+33780000042"),
            ("VoiceUrl", "https://proxy.example.com/webhooks/voice"),
            ("VoiceMethod", "POST"),
            ("SmsUrl", "https://proxy.example.com/webhooks/sms"),
            ("SmsMethod", "POST"),
            ("FriendlyName", "proxycall FR mobile"),
            ("AddressSid", ADDRESS_SID),
            ("BundleSid", BUNDLE_SID),
        ])
    );
}

#[tokio::test]
async fn buy_number_without_regulatory_sids_sends_none() {
    let twilio = TwilioDouble::start().await;
    twilio.answer(
        Method::POST,
        &acct("/IncomingPhoneNumbers.json"),
        [Reply::json(
            201,
            incoming_number(
                NUMBER_SID,
                "+33780000042",
                json!({"voice": true, "sms": true}),
            ),
        )],
    );

    twilio
        .client()
        .buy_number(&purchase(None, None))
        .await
        .unwrap();

    let request = twilio.single_request();
    assert_eq!(request.form("AddressSid"), None);
    assert_eq!(request.form("BundleSid"), None);
    assert_eq!(request.form("PhoneNumber"), Some("+33780000042"));
}

#[tokio::test]
async fn update_number_sends_each_url_with_its_method_and_nothing_else() {
    // Arrange
    let twilio = TwilioDouble::start().await;
    let path = acct(&format!("/IncomingPhoneNumbers/{NUMBER_SID}.json"));
    twilio.answer(
        Method::POST,
        &path,
        [Reply::json(
            200,
            incoming_number(
                NUMBER_SID,
                "+33780000042",
                json!({"voice": true, "sms": true}),
            ),
        )],
    );
    let update = WebhookUpdate {
        voice_url: Some("https://new.example.com/voice".into()),
        sms_url: Some("https://new.example.com/sms".into()),
        friendly_name: None,
    };

    // Act
    let updated = twilio
        .client()
        .update_number(NUMBER_SID, &update)
        .await
        .unwrap();

    // Assert
    assert_eq!(updated.sid, NUMBER_SID);
    let request = twilio.single_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", path.as_str())
    );
    assert_eq!(
        request.sorted_form(),
        pairs(&[
            ("VoiceUrl", "https://new.example.com/voice"),
            ("VoiceMethod", "POST"),
            ("SmsUrl", "https://new.example.com/sms"),
            ("SmsMethod", "POST"),
        ])
    );
}

#[tokio::test]
async fn release_number_sends_delete_and_accepts_204_with_an_empty_body() {
    let twilio = TwilioDouble::start().await;
    let path = acct(&format!("/IncomingPhoneNumbers/{NUMBER_SID}.json"));
    twilio.answer(Method::DELETE, &path, [Reply::empty(204)]);

    let released = twilio.client().release_number(NUMBER_SID).await;

    assert_eq!(released, Ok(()));
    let request = twilio.single_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("DELETE", path.as_str())
    );
}

const RECORDING_SID: &str = "RE0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn recording_audio_gets_the_mp3_with_the_accounts_credentials_and_retries_a_5xx() {
    let twilio = TwilioDouble::start().await;
    let path = acct(&format!("/Recordings/{RECORDING_SID}.mp3"));
    twilio.answer(
        Method::GET,
        &path,
        [Reply::empty(500), Reply::json(200, json!("ID3-audio"))],
    );

    let audio = twilio
        .client()
        .recording_audio(RECORDING_SID)
        .await
        .unwrap();

    assert_eq!(audio, br#""ID3-audio""#.to_vec(), "the body as it came");
    let requests = twilio.requests_to(Method::GET, &path);
    assert_eq!(requests.len(), 2, "a read is tried again");
    assert!(
        requests[1]
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")),
        "{:?}",
        requests[1].authorization
    );
}

#[tokio::test]
async fn delete_recording_sends_delete_and_a_recording_already_gone_counts_as_deleted() {
    let twilio = TwilioDouble::start().await;
    let path = acct(&format!("/Recordings/{RECORDING_SID}.json"));
    twilio.answer(
        Method::DELETE,
        &path,
        [
            Reply::empty(204),
            Reply::twilio_error(404, 20404, "The requested resource was not found"),
        ],
    );
    let client = twilio.client();
    assert_eq!(client.delete_recording(RECORDING_SID).await, Ok(()));
    assert_eq!(client.delete_recording(RECORDING_SID).await, Ok(()));
    assert_eq!(twilio.requests_to(Method::DELETE, &path).len(), 2);
}

#[tokio::test]
async fn a_malformed_recording_sid_never_reaches_twilio() {
    let twilio = TwilioDouble::start().await;
    let client = twilio.client();
    for sid in ["RE../../Calls", "CA0123456789abcdef0123456789abcdef", ""] {
        assert!(client.recording_audio(sid).await.is_err(), "{sid}");
        assert!(client.delete_recording(sid).await.is_err(), "{sid}");
    }
    assert!(twilio.requests().is_empty());
}

#[tokio::test]
async fn place_call_posts_to_from_the_twiml_url_and_its_status_callback_with_post() {
    let twilio = TwilioDouble::start().await;
    let sid = "CA0123456789abcdef0123456789abcdef";
    twilio.answer(
        Method::POST,
        &acct("/Calls.json"),
        [Reply::json(201, json!({"sid": sid, "status": "queued"}))],
    );

    let returned = twilio
        .client()
        .place_call(
            &e164(PROXY),
            &e164(PERSON),
            "https://proxy.example.com/twiml/1",
            Some("https://proxy.example.com/twilio/voice/status?outbound_id=7"),
        )
        .await;

    assert_eq!(returned, Ok(sid.to_owned()));
    assert_eq!(
        twilio.single_request().sorted_form(),
        pairs(&[
            ("To", PERSON),
            ("From", PROXY),
            ("Url", "https://proxy.example.com/twiml/1"),
            ("Method", "POST"),
            (
                "StatusCallback",
                "https://proxy.example.com/twilio/voice/status?outbound_id=7"
            ),
            ("StatusCallbackMethod", "POST"),
        ])
    );
}

// ---------------------------------------------------------------------------------------
// Refusals: each maps to what the caller can do about it
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_bundle_that_does_not_fit_the_number_is_a_bundle_mismatch_and_is_not_retried() {
    let twilio = TwilioDouble::start().await;
    twilio.answer(
        Method::POST,
        &acct("/IncomingPhoneNumbers.json"),
        [Reply::twilio_error(400, 21649, "Bundle does not fit")],
    );

    let bought = twilio
        .client()
        .buy_number(&purchase(Some(ADDRESS_SID), Some(BUNDLE_SID)))
        .await;

    assert_eq!(bought, Err(CarrierError::BundleMismatch));
    assert_eq!(twilio.requests().len(), 1);
}

#[tokio::test]
async fn an_address_outside_the_bundle_is_address_not_in_bundle() {
    let twilio = TwilioDouble::start().await;
    twilio.answer(
        Method::POST,
        &acct("/IncomingPhoneNumbers.json"),
        [Reply::twilio_error(
            400,
            21651,
            "Address not contained in bundle",
        )],
    );

    let bought = twilio
        .client()
        .buy_number(&purchase(Some(ADDRESS_SID), Some(BUNDLE_SID)))
        .await;

    assert_eq!(bought, Err(CarrierError::AddressNotInBundle));
}

#[tokio::test]
async fn twilio_code_20003_means_bad_credentials_whatever_the_status() {
    // A 403, so that only the code can make this BadCredentials.
    let twilio = TwilioDouble::start().await;
    twilio.answer(
        Method::GET,
        &acct(".json"),
        [Reply::twilio_error(403, 20003, "Authenticate")],
    );

    let account = twilio.client().account().await;

    assert_eq!(account, Err(CarrierError::BadCredentials));
    assert_eq!(twilio.requests().len(), 1, "a refusal is not retried");
}

#[tokio::test]
async fn a_401_without_a_body_means_bad_credentials() {
    let twilio = TwilioDouble::start().await;
    twilio.answer(Method::GET, &acct(".json"), [Reply::empty(401)]);

    let account = twilio.client().account().await;

    assert_eq!(account, Err(CarrierError::BadCredentials));
}

#[tokio::test]
async fn a_429_is_rate_limited_with_its_retry_after_and_send_sms_leaves_the_retry_to_the_outbox() {
    let twilio = TwilioDouble::start().await;
    twilio.answer(
        Method::POST,
        &acct("/Messages.json"),
        [Reply::twilio_error(429, 20429, "Too Many Requests").header("Retry-After", "7")],
    );

    let sent = twilio
        .client()
        .send_sms(&e164(PROXY), &e164(PERSON), "hello", None)
        .await;

    assert_eq!(
        sent,
        Err(CarrierError::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        })
    );
    assert_eq!(twilio.requests().len(), 1);
}

#[tokio::test]
async fn twilio_code_20429_is_rate_limited_even_without_a_429_status() {
    let twilio = TwilioDouble::start().await;
    twilio.answer(
        Method::POST,
        &acct("/Messages.json"),
        [Reply::twilio_error(400, 20429, "Too Many Requests")],
    );

    let sent = twilio
        .client()
        .send_sms(&e164(PROXY), &e164(PERSON), "hello", None)
        .await;

    assert_eq!(sent, Err(CarrierError::RateLimited { retry_after: None }));
}

#[tokio::test]
async fn any_other_4xx_is_rejected_with_its_status_and_code() {
    let twilio = TwilioDouble::start().await;
    twilio.answer(
        Method::POST,
        &acct("/Messages.json"),
        [Reply::twilio_error(400, 21211, "Invalid 'To' Phone Number")],
    );

    let sent = twilio
        .client()
        .send_sms(&e164(PROXY), &e164(PERSON), "hello", None)
        .await;

    assert_eq!(
        sent,
        Err(CarrierError::Rejected {
            status: 400,
            code: Some(21211)
        })
    );
}

#[tokio::test]
async fn a_read_that_keeps_failing_with_500_is_tried_four_times_then_is_a_server_error() {
    let twilio = TwilioDouble::start().await;
    twilio.answer(
        Method::GET,
        &acct(".json"),
        [Reply::twilio_error(500, 20500, "Internal Server Error")],
    );

    let account = twilio.client().account().await;

    assert_eq!(account, Err(CarrierError::Server { status: 500 }));
    // The first try and three retries.
    assert_eq!(twilio.requests().len(), 4);
}

#[tokio::test]
async fn a_read_that_fails_once_with_503_succeeds_on_the_retry() {
    let twilio = TwilioDouble::start().await;
    twilio.answer(
        Method::GET,
        &acct(".json"),
        [
            Reply::empty(503),
            Reply::json(
                200,
                json!({"sid": ACCOUNT_SID, "status": "active", "friendly_name": "ProxyCall"}),
            ),
        ],
    );

    let account = twilio.client().account().await.unwrap();

    assert_eq!(
        (
            account.sid.as_str(),
            account.status.as_str(),
            account.friendly_name.as_str()
        ),
        (ACCOUNT_SID, "active", "ProxyCall")
    );
    assert_eq!(twilio.requests().len(), 2);
}

#[tokio::test]
async fn a_write_is_not_retried_after_a_500_because_it_may_have_been_done() {
    let twilio = TwilioDouble::start().await;
    twilio.answer(
        Method::POST,
        &acct("/IncomingPhoneNumbers.json"),
        [Reply::empty(500)],
    );

    let bought = twilio.client().buy_number(&purchase(None, None)).await;

    assert_eq!(bought, Err(CarrierError::Server { status: 500 }));
    assert_eq!(twilio.requests().len(), 1);
}

#[tokio::test]
async fn a_write_is_retried_after_a_429_because_nothing_was_done() {
    let twilio = TwilioDouble::start().await;
    twilio.answer(
        Method::POST,
        &acct("/IncomingPhoneNumbers.json"),
        [
            Reply::twilio_error(429, 20429, "Too Many Requests"),
            Reply::json(
                201,
                incoming_number(
                    NUMBER_SID,
                    "+33780000042",
                    json!({"voice": true, "sms": true}),
                ),
            ),
        ],
    );

    let bought = twilio.client().buy_number(&purchase(None, None)).await;

    assert_eq!(bought.map(|n| n.sid), Ok(NUMBER_SID.to_owned()));
    assert_eq!(twilio.requests().len(), 2);
}

#[tokio::test]
async fn a_closed_port_is_unreachable_so_the_text_surely_did_not_leave() {
    // Arrange: a port that was just free and is now closed.
    proxycall::install_crypto_provider();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = TwilioClient::new(&closed, ACCOUNT_SID, AUTH_TOKEN.into());

    // Act
    let sent = client
        .send_sms(&e164(PROXY), &e164(PERSON), "hello", None)
        .await;

    // Assert
    assert!(
        matches!(sent, Err(CarrierError::Unreachable(_))),
        "{sent:?}"
    );
    assert_eq!(sent.unwrap_err().send_failure(), SendFailure::NotSent);
}

// ---------------------------------------------------------------------------------------
// The outbox worker sending through the client
// ---------------------------------------------------------------------------------------

/// A real store (SQLite, or PostgreSQL with `PROXYCALL_TEST_DATABASE_URL`), with a worker
/// sending through `twilio`.
struct Outbox {
    _db: TestDb,
    store: Arc<dyn Store>,
    app: proxycall::app::App,
    worker: Worker,
}

impl Outbox {
    async fn new(twilio: &TwilioDouble) -> Self {
        Self::with_carrier(Arc::new(twilio.client())).await
    }

    async fn with_carrier(carrier: Arc<dyn Carrier>) -> Self {
        let db = TestDb::new().await;
        let store = store::connect(db.url()).await.expect("the store opens");
        let app = proxycall::app::App::new(store.clone(), carrier);
        let worker = Self::worker(&app);
        Self {
            _db: db,
            store,
            app,
            worker,
        }
    }

    fn worker(app: &proxycall::app::App) -> Worker {
        let registry = Registry::new().register::<proxycall::outbox::SendOutbound>();
        Worker::new(app.clone(), Arc::new(registry))
    }

    /// A worker of another process, on the same database, sending through `carrier`.
    fn worker_with(&self, carrier: Arc<dyn Carrier>) -> Worker {
        Self::worker(&proxycall::app::App::new(self.store.clone(), carrier))
    }

    /// Runs every job due at `now` until none is left; returns how many ran.
    async fn run_all_at(&self, now: chrono::DateTime<Utc>) -> usize {
        let mut handled = 0;
        loop {
            match self.worker.run_once_at(now).await.unwrap() {
                0 => return handled,
                n => handled += n,
            }
        }
    }

    async fn enqueue_sms(&self, body: &str) {
        let message = NewOutbound {
            kind: OutboundKind::Sms,
            purpose: "relay",
            from: e164(PROXY),
            to: e164(PERSON),
            body: Some(body.into()),
            url: None,
            dedupe_key: None,
            relay: None,
        };
        assert!(
            self.store
                .enqueue(&message, Utc::now())
                .await
                .unwrap()
                .is_some()
        );
    }

    /// The one message in the outbox.
    async fn message(&self) -> OutboundMessage {
        let mut all = self.store.outbound_messages(10).await.unwrap();
        assert_eq!(all.len(), 1, "{all:#?}");
        all.remove(0)
    }

    /// Runs the worker at each of these moments; returns how many messages each run handled.
    async fn run_at(&self, moments: &[chrono::DateTime<Utc>]) -> Vec<usize> {
        let mut handled = Vec::new();
        for &now in moments {
            handled.push(self.worker.run_once_at(now).await.unwrap());
        }
        handled
    }
}

fn hours(n: i64) -> chrono::Duration {
    chrono::Duration::hours(n)
}

#[tokio::test]
async fn twilio_turning_texts_away_with_503_then_recovering_the_message_is_sent_once() {
    // Arrange: a 503 with Retry-After says the request was not carried out.
    let twilio = TwilioDouble::start().await;
    let messages = acct("/Messages.json");
    let sid = "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01";
    let away = || Reply::empty(503).header("Retry-After", "30");
    twilio.answer(
        Method::POST,
        &messages,
        [away(), away(), message_created(sid)],
    );
    let outbox = Outbox::new(&twilio).await;
    outbox.enqueue_sms("Votre livreur arrive").await;
    let now = Utc::now();

    // Act: each later run is past the retry's back-off (seconds), so it is due.
    let handled = outbox
        .run_at(&[now, now + hours(1), now + hours(2), now + hours(3)])
        .await;

    // Assert
    assert_eq!(
        handled,
        [1, 1, 1, 0],
        "the fourth run finds nothing to send"
    );
    assert_eq!(twilio.requests_to(Method::POST, &messages).len(), 3);
    let message = outbox.message().await;
    assert_eq!(message.status, "sent");
    assert_eq!(message.twilio_sid.as_deref(), Some(sid));
    assert_eq!(message.attempts, 3);
}

#[tokio::test]
async fn twilio_rate_limiting_once_the_message_is_sent_once_after_the_time_twilio_asked() {
    // Arrange: Twilio asks to come back in two minutes.
    let twilio = TwilioDouble::start().await;
    let messages = acct("/Messages.json");
    let sid = "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa02";
    twilio.answer(
        Method::POST,
        &messages,
        [
            Reply::twilio_error(429, 20429, "Too Many Requests").header("Retry-After", "120"),
            message_created(sid),
        ],
    );
    let outbox = Outbox::new(&twilio).await;
    outbox.enqueue_sms("Votre livreur arrive").await;
    let now = Utc::now();

    // Act: one minute later is too early; an hour later is not.
    let one_minute = chrono::Duration::minutes(1);
    let handled = outbox
        .run_at(&[now, now + one_minute, now + hours(1), now + hours(2)])
        .await;

    // Assert
    assert_eq!(handled, [1, 0, 1, 0]);
    assert_eq!(twilio.requests_to(Method::POST, &messages).len(), 2);
    let message = outbox.message().await;
    assert_eq!(message.status, "sent");
    assert_eq!(message.twilio_sid.as_deref(), Some(sid));
    assert_eq!(message.attempts, 2);
}

#[tokio::test]
async fn a_refused_message_fails_after_one_post_and_its_error_names_the_code_but_no_number() {
    // Arrange: Twilio's message quotes the number; we must not keep it.
    let twilio = TwilioDouble::start().await;
    let messages = acct("/Messages.json");
    twilio.answer(
        Method::POST,
        &messages,
        [Reply::twilio_error(
            400,
            21211,
            &format!("The 'To' number {PERSON} is not a valid phone number."),
        )],
    );
    let outbox = Outbox::new(&twilio).await;
    outbox.enqueue_sms("Votre livreur arrive").await;
    let now = Utc::now();

    // Act
    let handled = outbox.run_at(&[now, now + hours(1), now + hours(24)]).await;

    // Assert
    assert_eq!(handled, [1, 0, 0], "a refusal is never retried");
    assert_eq!(twilio.requests_to(Method::POST, &messages).len(), 1);
    let message = outbox.message().await;
    assert_eq!(message.status, "failed");
    assert_eq!(message.attempts, 1);
    let error = message.last_error.expect("the error is kept");
    assert!(error.contains("21211"), "{error}");
    for number in [PERSON, PROXY] {
        // The national digits, with or without the country code.
        assert!(!error.contains(&number[3..]), "{error} quotes {number}");
    }
}

// ---------------------------------------------------------------------------------------
// Nothing sent twice, nothing lost: a Twilio that took the text and then failed
// ---------------------------------------------------------------------------------------

/// The real client against the double with a memory; a short time-out, so that a Twilio that
/// never answers costs the test half a second.
fn sim_client(sim: &TwilioSim) -> Arc<dyn Carrier> {
    Arc::new(
        TwilioClient::new(&sim.base, ACCOUNT_SID, AUTH_TOKEN.into())
            .with_timeout(Duration::from_millis(500)),
    )
}

/// A client to a port nothing listens on: the connection is refused.
fn refused_client() -> Arc<dyn Carrier> {
    proxycall::install_crypto_provider();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    Arc::new(TwilioClient::new(&closed, ACCOUNT_SID, AUTH_TOKEN.into()))
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

#[tokio::test]
async fn a_text_twilio_took_before_failing_is_sent_once_and_settled_by_the_listing() {
    for fault in [
        Fault::AcceptThenHang,
        Fault::AcceptThen500,
        Fault::AcceptThenCut,
    ] {
        // Arrange: Twilio takes the text, then times out, answers 500, or cuts the answer.
        let sim = TwilioSim::start().await;
        sim.faults([fault]);
        let outbox = Outbox::with_carrier(sim_client(&sim)).await;
        outbox.enqueue_sms("Votre livreur arrive").await;
        let now = Utc::now();

        // Act: the first try's outcome is unknown.
        assert_eq!(outbox.run_all_at(now).await, 1);
        let doubt = outbox.message().await;
        assert_eq!(doubt.status, "sending", "{fault:?}: in doubt");
        assert!(
            doubt
                .last_error
                .as_deref()
                .unwrap()
                .contains("outcome unknown"),
            "{fault:?}: {doubt:?}"
        );
        // Within the grace period, nothing is asked and nothing sent.
        assert_eq!(outbox.run_all_at(now + minutes(1)).await, 0, "{fault:?}");
        assert_eq!(sim.lists(), 0, "{fault:?}");
        // Then the listing shows the text: it was sent.
        assert_eq!(outbox.run_all_at(now + minutes(3)).await, 1, "{fault:?}");
        for hour in [1, 5, 30] {
            assert_eq!(outbox.run_all_at(now + hours(hour)).await, 0, "{fault:?}");
        }

        // Assert: one text, never two, and the message knows its SID.
        assert_eq!(sim.posts(), 1, "{fault:?}: never posted twice");
        let texts = sim.texts();
        assert_eq!(texts.len(), 1, "{fault:?}");
        assert_eq!(sim.lists(), 1, "{fault:?}");
        let sent = outbox.message().await;
        assert_eq!(sent.status, "sent", "{fault:?}");
        assert_eq!(sent.twilio_sid.as_deref(), Some(texts[0].sid.as_str()));
        // The listing tells the status it saw: still queued, not sent yet.
        assert_eq!(sent.delivery_status.as_deref(), Some("queued"));
        assert!(sent.body.is_none(), "its text is erased once sent");
        // The status callback we gave Twilio names the message.
        assert_eq!(
            texts[0].status_callback.as_deref(),
            Some(
                format!(
                    "http://127.0.0.1:8000/twilio/sms/status?outbound_id={}",
                    sent.id
                )
                .as_str()
            )
        );
    }
}

#[tokio::test]
async fn a_text_twilio_never_took_is_proved_absent_and_sent_once() {
    // Arrange: the request is written, and Twilio never answers nor takes it.
    let sim = TwilioSim::start().await;
    sim.faults([Fault::HangWithoutAccepting]);
    let outbox = Outbox::with_carrier(sim_client(&sim)).await;
    outbox.enqueue_sms("Votre livreur arrive").await;
    let now = Utc::now();

    // Act
    outbox.run_all_at(now).await;
    assert_eq!(outbox.message().await.status, "sending");
    outbox.run_all_at(now + minutes(3)).await;
    outbox.run_all_at(now + hours(2)).await;

    // Assert: posted twice, taken once.
    assert_eq!(sim.posts(), 2);
    assert_eq!(sim.texts().len(), 1);
    let sent = outbox.message().await;
    assert_eq!(sent.status, "sent");
    assert_eq!(sent.twilio_sid, Some(sim.texts()[0].sid.clone()));
}

#[tokio::test]
async fn while_the_listing_fails_a_text_in_doubt_is_never_sent_again() {
    // Arrange
    let sim = TwilioSim::start().await;
    sim.faults([Fault::AcceptThen500]);
    sim.list_fails(true);
    let outbox = Outbox::with_carrier(sim_client(&sim)).await;
    outbox.enqueue_sms("Votre livreur arrive").await;
    let now = Utc::now();

    // Act: hours of failing listings.
    for minute in (0..=300).step_by(5) {
        outbox.run_all_at(now + minutes(minute)).await;
    }
    let doubt = outbox.message().await;
    sim.list_fails(false);
    for minute in (300..=360).step_by(5) {
        outbox.run_all_at(now + minutes(minute)).await;
    }

    // Assert
    assert_eq!(doubt.status, "sending", "still in doubt: {doubt:?}");
    assert!(sim.lists() > 3, "asked again and again: {}", sim.lists());
    assert_eq!(sim.posts(), 1, "never posted again");
    let sent = outbox.message().await;
    assert_eq!(sent.status, "sent");
    assert_eq!(sent.twilio_sid, Some(sim.texts()[0].sid.clone()));
}

#[tokio::test]
async fn a_refused_connection_is_retried_and_the_text_sent_once() {
    // Arrange: this process cannot reach Twilio; another, later, can.
    let sim = TwilioSim::start().await;
    let outbox = Outbox::with_carrier(refused_client()).await;
    outbox.enqueue_sms("Votre livreur arrive").await;
    let now = Utc::now();

    // Act
    outbox.run_all_at(now).await;
    let waiting = outbox.message().await;
    let reachable = outbox.worker_with(sim_client(&sim));
    reachable.run_once_at(now + hours(1)).await.unwrap();

    // Assert: nothing could have left, so it is pending, not in doubt, and is sent once.
    assert_eq!(waiting.status, "pending", "{waiting:?}");
    assert!(waiting.last_error.unwrap().contains("unreachable"));
    assert_eq!(sim.posts(), 1);
    assert_eq!(sim.lists(), 0, "nothing to settle");
    assert_eq!(outbox.message().await.status, "sent");
}

/// A carrier that is Twilio seen from a process that can, or cannot, reach it.
struct Reach {
    up: Arc<dyn Carrier>,
    down: Arc<dyn Carrier>,
    reachable: std::sync::atomic::AtomicBool,
}

impl Reach {
    fn now(&self) -> &dyn Carrier {
        if self.reachable.load(std::sync::atomic::Ordering::SeqCst) {
            self.up.as_ref()
        } else {
            self.down.as_ref()
        }
    }
}

#[async_trait::async_trait]
impl Carrier for Reach {
    fn name(&self) -> &'static str {
        "twilio"
    }
    async fn send_sms(
        &self,
        from: &E164,
        to: &E164,
        body: &str,
        cb: Option<&str>,
    ) -> CarrierResult<String> {
        self.now().send_sms(from, to, body, cb).await
    }
    async fn send_mms(
        &self,
        from: &E164,
        to: &E164,
        body: &str,
        media: &[proxycall::domain::MediaUrl],
        cb: Option<&str>,
    ) -> CarrierResult<String> {
        self.now().send_mms(from, to, body, media, cb).await
    }
    async fn place_call(
        &self,
        from: &E164,
        to: &E164,
        url: &str,
        cb: Option<&str>,
    ) -> CarrierResult<String> {
        self.now().place_call(from, to, url, cb).await
    }
    async fn sent_messages(
        &self,
        from: &E164,
        to: &E164,
        since: chrono::DateTime<Utc>,
    ) -> CarrierResult<Vec<proxycall::carrier::SentMessage>> {
        self.now().sent_messages(from, to, since).await
    }
    async fn search_numbers(
        &self,
        s: &NumberSearch,
    ) -> CarrierResult<Vec<proxycall::carrier::AvailableNumber>> {
        self.now().search_numbers(s).await
    }
    async fn buy_number(&self, p: &Purchase) -> CarrierResult<proxycall::carrier::IncomingNumber> {
        self.now().buy_number(p).await
    }
    async fn incoming_numbers(&self) -> CarrierResult<Vec<proxycall::carrier::IncomingNumber>> {
        self.now().incoming_numbers().await
    }
    async fn incoming_numbers_of_type(
        &self,
        t: NumberType,
    ) -> CarrierResult<Vec<proxycall::carrier::IncomingNumber>> {
        self.now().incoming_numbers_of_type(t).await
    }
    async fn update_number(
        &self,
        sid: &str,
        u: &WebhookUpdate,
    ) -> CarrierResult<proxycall::carrier::IncomingNumber> {
        self.now().update_number(sid, u).await
    }
    async fn release_number(&self, sid: &str) -> CarrierResult<()> {
        self.now().release_number(sid).await
    }
    async fn account(&self) -> CarrierResult<proxycall::carrier::Account> {
        self.now().account().await
    }
    async fn recording_audio(&self, sid: &str) -> CarrierResult<Vec<u8>> {
        self.now().recording_audio(sid).await
    }
    async fn delete_recording(&self, sid: &str) -> CarrierResult<()> {
        self.now().delete_recording(sid).await
    }
}

#[tokio::test]
async fn an_hour_of_twilio_outage_ends_with_every_relay_delivered_exactly_once() {
    // Arrange: ten relays queued as Twilio goes down for an hour: unreachable for twenty
    // minutes, then answering with every failure it has (turning texts away, or taking them
    // and then failing) while its listing fails, then unreachable again.
    let sim = TwilioSim::start().await;
    let reach = Arc::new(Reach {
        up: sim_client(&sim),
        down: refused_client(),
        reachable: std::sync::atomic::AtomicBool::new(false),
    });
    let outbox = Outbox::with_carrier(reach.clone()).await;
    let bodies: Vec<String> = (0..10).map(|i| format!("Relais {i}")).collect();
    for body in &bodies {
        outbox.enqueue_sms(body).await;
    }
    let failures = [
        Fault::Away503,
        Fault::AcceptThen500,
        Fault::AcceptThenHang,
        Fault::HangWithoutAccepting,
        Fault::AcceptThenCut,
    ];
    sim.faults(failures.iter().copied().cycle().take(500));
    sim.list_fails(true);
    let t0 = Utc::now();

    // Act: a worker running every minute for four hours.
    for minute in 0..240 {
        let up = (20..40).contains(&minute) || minute >= 60;
        reach
            .reachable
            .store(up, std::sync::atomic::Ordering::SeqCst);
        if minute == 60 {
            // Twilio is back.
            sim.clear_faults();
            sim.always(Fault::None);
            sim.list_fails(false);
        }
        outbox.run_all_at(t0 + minutes(minute)).await;
    }

    // Assert: each relay taken by Twilio exactly once, and recorded with its SID.
    let texts = sim.texts();
    for body in &bodies {
        let copies: Vec<_> = texts.iter().filter(|t| &t.body == body).collect();
        assert_eq!(copies.len(), 1, "{body}: {copies:#?}");
    }
    let messages = outbox.store.outbound_messages(100).await.unwrap();
    assert_eq!(messages.len(), 10);
    for m in &messages {
        assert_eq!(m.status, "sent", "{m:?}");
        assert!(texts.iter().any(|t| Some(&t.sid) == m.twilio_sid.as_ref()));
    }
    assert!(
        sim.posts() > 10,
        "the outage was met: {} posts",
        sim.posts()
    );
}

#[tokio::test]
async fn after_the_retry_horizon_a_text_fails_and_the_operator_requeues_it() {
    // Arrange: Twilio turns every text away for more than a day.
    let sim = TwilioSim::start().await;
    sim.always(Fault::Away503);
    let outbox = Outbox::with_carrier(sim_client(&sim)).await;
    outbox.enqueue_sms("Votre livreur arrive").await;
    let now = Utc::now();

    // Act
    for hour in 0..=25 {
        for minute in (0..60).step_by(10) {
            outbox.run_all_at(now + hours(hour) + minutes(minute)).await;
        }
    }
    let failed = outbox.message().await;
    let job = outbox
        .store
        .jobs(Some(proxycall::store::SEND_JOB_KIND), None, 1)
        .await
        .unwrap()
        .remove(0);
    let requeued = proxycall::app::outbox::requeue(&outbox.app, &[failed.id], now + hours(26))
        .await
        .unwrap();
    sim.always(Fault::None);
    outbox.run_all_at(now + hours(26)).await;

    // Assert: failed at the horizon, not by the job's cap, its text kept; then sent once.
    assert_eq!(failed.status, "failed");
    assert!(
        failed
            .last_error
            .as_deref()
            .unwrap()
            .contains("within 24 h"),
        "{failed:?}"
    );
    assert_eq!(failed.body.as_deref(), Some("Votre livreur arrive"));
    assert!(
        job.attempts > 8,
        "more tries than the 8 of before, until the horizon: {}",
        job.attempts
    );
    assert_eq!(job.status, proxycall::store::JobStatus::Failed);
    assert_eq!(requeued.requeued.len(), 1, "{requeued:?}");
    assert_eq!(sim.texts().len(), 1);
    let sent = outbox.message().await;
    assert_eq!(sent.status, "sent");
    // Requeueing a sent message is refused.
    let again = proxycall::app::outbox::requeue(&outbox.app, &[sent.id], now + hours(27))
        .await
        .unwrap();
    assert!(again.requeued.is_empty());
    assert_eq!(again.refused[0].1, "sent already");
}

/// A text whose outcome stayed unknown past the horizon (the listing failed all along) may
/// have left: requeued, it is settled first, never sent blindly.
#[tokio::test]
async fn a_text_failed_in_doubt_is_settled_when_requeued_never_sent_blindly() {
    // Arrange: Twilio takes the text, then fails; its listing fails for more than a day.
    let sim = TwilioSim::start().await;
    sim.faults([Fault::AcceptThen500]);
    sim.list_fails(true);
    let outbox = Outbox::with_carrier(sim_client(&sim)).await;
    outbox.enqueue_sms("Votre livreur arrive").await;
    let now = Utc::now();
    // (Few runs: each failed listing is retried by the client, with real pauses.)
    for minute in [0, 5, 60, 12 * 60, 25 * 60] {
        outbox.run_all_at(now + minutes(minute)).await;
    }
    let failed = outbox.message().await;

    // Act: the operator requeues it once Twilio answers again.
    sim.list_fails(false);
    let requeued = proxycall::app::outbox::requeue(&outbox.app, &[failed.id], now + hours(26))
        .await
        .unwrap();
    let back = outbox.message().await;
    outbox.run_all_at(now + hours(26)).await;

    // Assert
    assert_eq!(failed.status, "failed", "{failed:?}");
    assert!(
        failed.send_started_at.is_some(),
        "it may have left: {failed:?}"
    );
    assert_eq!(requeued.requeued.len(), 1, "{requeued:?}");
    assert_eq!(
        back.status, "sending",
        "back in doubt, to be settled: {back:?}"
    );
    assert_eq!(sim.posts(), 1, "never posted again");
    assert_eq!(sim.texts().len(), 1);
    let sent = outbox.message().await;
    assert_eq!(sent.status, "sent", "settled by the listing: {sent:?}");
    assert_eq!(sent.twilio_sid, Some(sim.texts()[0].sid.clone()));
}

#[tokio::test]
async fn sent_messages_lists_every_page_from_the_proxy_to_the_number() {
    // Arrange
    let twilio = TwilioDouble::start().await;
    let path = acct("/Messages.json");
    let next = format!("{path}?From=x&Page=1&PageToken=PAnext");
    twilio.answer(
        Method::GET,
        &path,
        [
            Reply::json(
                200,
                json!({"messages": [{"sid": "SM01", "body": "un", "status": "delivered",
                        "date_created": "Mon, 30 Nov 2026 10:47:12 +0000"}],
                       "next_page_uri": next}),
            ),
            Reply::json(
                200,
                json!({"messages": [{"sid": "SM02", "body": null, "status": "queued",
                        "date_created": null}],
                       "next_page_uri": null}),
            ),
        ],
    );
    let since = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 30, 10, 0, 0).unwrap();

    // Act
    let listed = twilio
        .client()
        .sent_messages(&e164(PROXY), &e164(PERSON), since)
        .await
        .unwrap();

    // Assert
    let requests = twilio.requests_to(Method::GET, &path);
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first.query("From"), Some(PROXY));
    assert_eq!(first.query("To"), Some(PERSON));
    // Not filtered by `DateSent`: a text still queued has none, and would be hidden.
    assert_eq!(first.query("DateSent>"), None);
    assert_eq!(first.query("PageSize"), Some("1000"));
    assert_eq!(requests[1].query("PageToken"), Some("PAnext"));
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].sid, "SM01");
    assert_eq!(listed[0].body.as_deref(), Some("un"));
    assert_eq!(
        listed[0].created_at,
        Some(chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 30, 10, 47, 12).unwrap())
    );
    assert_eq!(listed[1].body, None);
    assert_eq!(listed[1].created_at, None);
}

#[tokio::test]
async fn a_503_says_not_sent_only_with_retry_after_a_401_not_sent_and_a_time_out_unknown() {
    let twilio = TwilioDouble::start().await;
    let path = acct("/Messages.json");
    twilio.answer(
        Method::POST,
        &path,
        [
            Reply::empty(503).header("Retry-After", "30"),
            Reply::empty(503),
            Reply::empty(502),
            Reply::empty(401),
        ],
    );
    let client = twilio.client();
    let (from, to) = (e164(PROXY), e164(PERSON));
    let send = || client.send_sms(&from, &to, "hello", None);

    let away = send().await.unwrap_err();
    let failed = send().await.unwrap_err();
    let bad_gateway = send().await.unwrap_err();
    let refused_token = send().await.unwrap_err();

    // A 401 took nothing: the text waits (within the horizon) for the operator's fix.
    assert_eq!(refused_token, CarrierError::BadCredentials);
    assert_eq!(refused_token.send_failure(), SendFailure::NotSent);

    assert_eq!(
        away,
        CarrierError::Unavailable {
            retry_after: Some(Duration::from_secs(30))
        }
    );
    assert_eq!(away.send_failure(), SendFailure::NotSent);
    assert_eq!(failed, CarrierError::Server { status: 503 });
    assert_eq!(failed.send_failure(), SendFailure::Unknown);
    assert_eq!(bad_gateway.send_failure(), SendFailure::Unknown);

    let sim = TwilioSim::start().await;
    sim.faults([Fault::AcceptThenHang]);
    let timed_out = sim_client(&sim)
        .send_sms(&e164(PROXY), &e164(PERSON), "hello", None)
        .await
        .unwrap_err();
    assert!(
        matches!(timed_out, CarrierError::Network(_)),
        "{timed_out:?}"
    );
    assert_eq!(timed_out.send_failure(), SendFailure::Unknown);
}

// ---------------------------------------------------------------------------------------
// Twilio's OpenAPI spec, through Prism
// ---------------------------------------------------------------------------------------

/// Every method's request, checked against Twilio's OpenAPI spec by Prism, which answers
/// 422 to a request the spec does not allow (seen here as `Rejected { status: 422 }`).
/// Runs when `PROXYCALL_PRISM_URL` is set, as `.ci/prism` does.
#[tokio::test]
async fn every_request_shape_passes_twilios_openapi_spec() {
    let Ok(prism) = std::env::var("PROXYCALL_PRISM_URL") else {
        println!(
            "every_request_shape_passes_twilios_openapi_spec: skipped, PROXYCALL_PRISM_URL is \
             not set (run .ci/prism)"
        );
        return;
    };
    proxycall::install_crypto_provider();
    let twilio = TwilioClient::new(&prism, ACCOUNT_SID, "any-token-passes-prism".into());
    let (from, to) = (e164(PROXY), e164(PERSON));
    let update = WebhookUpdate {
        voice_url: Some("https://proxy.example.com/webhooks/voice".into()),
        sms_url: Some("https://proxy.example.com/webhooks/sms".into()),
        friendly_name: Some("proxycall FR mobile".into()),
    };

    // Act: every call, each outcome kept so that one run reports every refusal.
    let outcomes = [
        outcome(
            "send_sms",
            twilio
                .send_sms(
                    &from,
                    &to,
                    "Bonjour ✓",
                    Some("https://proxy.example.com/status"),
                )
                .await,
        ),
        outcome(
            "place_call",
            twilio
                .place_call(
                    &from,
                    &to,
                    "https://proxy.example.com/twiml/1",
                    Some("https://proxy.example.com/twilio/voice/status?outbound_id=1"),
                )
                .await,
        ),
        outcome(
            "sent_messages",
            // Prism's example always names a next page, the same one: the client follows it
            // up to its limit of pages, each request checked by Prism on the way.
            match twilio
                .sent_messages(&from, &to, Utc::now() - chrono::Duration::hours(1))
                .await
            {
                Err(CarrierError::Protocol(e)) if e.contains("more than") => Ok(Vec::new()),
                other => other,
            },
        ),
        outcome(
            "search_numbers Mobile",
            twilio
                .search_numbers(&search("FR", NumberType::Mobile, 5))
                .await,
        ),
        outcome(
            "search_numbers Local",
            twilio
                .search_numbers(&search("FR", NumberType::Local, 5))
                .await,
        ),
        outcome(
            "buy_number",
            twilio
                .buy_number(&purchase(Some(ADDRESS_SID), Some(BUNDLE_SID)))
                .await,
        ),
        outcome("incoming_numbers", twilio.incoming_numbers().await),
        outcome(
            "incoming_numbers_of_type Mobile",
            twilio.incoming_numbers_of_type(NumberType::Mobile).await,
        ),
        outcome(
            "incoming_numbers_of_type Local",
            twilio.incoming_numbers_of_type(NumberType::Local).await,
        ),
        outcome(
            "update_number",
            twilio.update_number(NUMBER_SID, &update).await,
        ),
        outcome("release_number", twilio.release_number(NUMBER_SID).await),
        outcome("account", twilio.account().await),
        // `recording_audio` asks `Recordings/{Sid}.mp3`, the recording's media, which the
        // spec does not describe (only `.json`): checked against the double only.
        outcome(
            "delete_recording",
            twilio.delete_recording(RECORDING_SID).await,
        ),
    ];

    // An MMS: Twilio's wire form for its `MediaUrl` array is the key once per picture (as
    // `send_mms_posts_one_media_url_per_picture…` checks against the double), which Prism
    // falsely refuses, even once (`must be array`, PRISM.md). Its other fields must pass:
    // a refusal other than that 422 fails.
    let mms = twilio
        .send_mms(
            &from,
            &to,
            "",
            &[proxycall::domain::MediaUrl::stored(
                "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages/MM1/Media/ME1",
            )],
            Some("https://proxy.example.com/status"),
        )
        .await;
    assert!(
        matches!(mms, Ok(_) | Err(CarrierError::Rejected { status: 422, .. })),
        "{mms:?}"
    );

    // Assert
    let refused: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(refused.is_empty(), "refused by the spec: {refused:#?}");
    // Prism does validate: a number SID of the wrong shape is refused, and that is how a
    // refusal looks to us, so the checks above could have failed.
    let bad_sid = twilio.update_number("PNshort", &update).await;
    assert!(
        matches!(bad_sid, Err(CarrierError::Rejected { status: 422, .. })),
        "{bad_sid:?}"
    );
}

fn outcome<T: std::fmt::Debug>(name: &str, result: CarrierResult<T>) -> Result<(), String> {
    println!("{name}: {result:?}");
    result.map(|_| ()).map_err(|e| format!("{name}: {e:?}"))
}
