//! Spawning a real server on a real database for each test.
//!
//! The database is a fresh SQLite file, or with `PROXYCALL_TEST_DATABASE_URL=postgres://…`
//! a fresh PostgreSQL database created on that server (and dropped afterwards): the same
//! tests run on both engines.

use std::sync::atomic::{AtomicU32, Ordering};

pub use crate::test_db::TestDb;

use proxycall::app::{App, keys, pool, routing};
use proxycall::config::{RawSettings, Settings};
use proxycall::domain::{E164, NumberType, Scopes};
use proxycall::{server, store};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    /// An admin key.
    pub key: String,
    pub app: App,
    /// The kinds of job the server runs.
    pub jobs: std::sync::Arc<proxycall::jobs::Registry>,
    /// Removed on `Drop`.
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
}

/// The token the tests' webhooks are signed with.
pub const WEBHOOK_TOKEN: &str = "test-webhook-token";

/// A change to a test server's settings.
pub type SettingsChange = Box<dyn FnOnce(&mut RawSettings) + Send>;

#[derive(Default)]
pub struct Options {
    pub rate_limit_per_minute: Option<u32>,
    pub api_token: Option<String>,
    pub body_limit_bytes: Option<usize>,
    /// Use the Twilio REST client against this base URL instead of the simulated carrier.
    pub twilio_api_base: Option<String>,
    /// Job workers in the server; `Some(0)` lets a test drive the jobs itself.
    pub job_workers: Option<usize>,
    pub allowed_calling_codes: Option<String>,
    pub language: Option<String>,
    pub relay_limit_per_sender_hour: Option<u32>,
    pub relay_limit_per_proxy_hour: Option<u32>,
    /// A routing engine whose batch panics when it holds a call with this `CallSid`, and
    /// which pauses `PANIC_RESTART` after two panics in a row.
    pub engine_panics_on: Option<&'static str>,
    /// `PROXYCALL_TRUST_FORWARDED_FOR`.
    pub trust_forwarded_for: bool,
    /// `PUBLIC_BASE_URL`, instead of the server's own address.
    pub public_base_url: Option<String>,
    /// `TWILIO_AUTH_TOKEN_PREVIOUS`.
    pub webhook_token_previous: Option<String>,
    /// Changes the settings further (activation's limits, say).
    pub settings: Option<SettingsChange>,
    /// Send e-mails to the SMTP server listening there (a test's `SmtpServer::address()`), in
    /// clear (`SMTP_TLS=none`), as `SMTP_USER`/`SMTP_PASSWORD` from `SMTP_FROM`. Without it the
    /// server has no mailer.
    pub smtp: Option<std::net::SocketAddr>,
}

/// The SMTP settings of a test server with `Options::smtp`.
pub const SMTP_USER: &str = "proxycall-test";
pub const SMTP_PASSWORD: &str = "smtp-test-password";
pub const SMTP_FROM: &str = "noreply@proxycall.example.com";

/// How long a test engine pauses after two panics in a row (`Options::engine_panics_on`):
/// long enough for a test to queue webhooks meanwhile, which then share one batch.
pub const PANIC_RESTART: std::time::Duration = std::time::Duration::from_millis(1500);

/// A Twilio account SID of the right shape.
pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    init_logs();
    let db = TestDb::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let base = format!("http://{address}");
    let mut raw = RawSettings {
        database_url: Some(db.url().to_owned()),
        listen: Some(address.to_string()),
        carrier: Some(
            if options.twilio_api_base.is_some() {
                "twilio"
            } else {
                "simulated"
            }
            .into(),
        ),
        public_base_url: Some(options.public_base_url.unwrap_or_else(|| base.clone())),
        rate_limit_per_minute: Some(
            options
                .rate_limit_per_minute
                .unwrap_or(1_000_000)
                .to_string(),
        ),
        body_limit_bytes: options.body_limit_bytes.map(|b| b.to_string()),
        job_workers: Some(options.job_workers.unwrap_or(2).to_string()),
        allowed_calling_codes: options.allowed_calling_codes,
        language: options.language,
        relay_limit_per_sender_hour: options.relay_limit_per_sender_hour.map(|n| n.to_string()),
        relay_limit_per_proxy_hour: options.relay_limit_per_proxy_hour.map(|n| n.to_string()),
        trust_forwarded_for: Some(options.trust_forwarded_for.to_string()),
        ..Default::default()
    };
    if let Some(change) = options.settings {
        change(&mut raw);
    }
    raw.env.twilio_auth_token_previous = options.webhook_token_previous;
    raw.env.api_token = options.api_token;
    raw.env.twilio_auth_token = Some(WEBHOOK_TOKEN.into());
    if let Some(smtp) = options.smtp {
        raw.env.smtp_host = Some(smtp.ip().to_string());
        raw.env.smtp_port = Some(smtp.port().to_string());
        raw.env.smtp_tls = Some("none".into());
        raw.env.smtp_user = Some(SMTP_USER.into());
        raw.env.smtp_password = Some(SMTP_PASSWORD.into());
        raw.env.smtp_from = Some(SMTP_FROM.into());
    }
    if let Some(api_base) = options.twilio_api_base {
        raw.env.twilio_account_sid = Some(ACCOUNT_SID.into());
        raw.env.twilio_api_base = Some(api_base);
    }
    let settings = Settings::from_raw(&raw).expect("test settings are valid");
    let store = store::connect(db.url()).await.expect("test database opens");
    let mut parts = server::assemble(settings, store, address).await.unwrap();
    if let Some(sid) = options.engine_panics_on {
        parts.app = parts
            .app
            .clone()
            .with_engine(panicking_engine(&parts.app, sid));
        parts.state.app = parts.app.clone();
    }
    let app = parts.app.clone();
    let jobs = parts.jobs.clone();
    let key = keys::create(&app, "test-admin", Scopes::admin(), None)
        .await
        .unwrap()
        .secret;
    let (tx, rx) = oneshot::channel();
    tokio::spawn(server::run(listener, parts, async {
        let _ = rx.await;
    }));
    TestApp {
        base,
        http: reqwest::Client::new(),
        key,
        app,
        jobs,
        db,
        shutdown: Some(tx),
    }
}

/// The app's routing, except that a batch holding a call with `CallSid` `sid` panics.
fn panicking_engine(app: &App, sid: &'static str) -> routing::Engine {
    let (store, routing, wake) = (app.store.clone(), app.routing.clone(), app.job_wake.clone());
    routing::engine_with(PANIC_RESTART, move |jobs: Vec<routing::Inbound>| {
        let (store, routing, wake) = (store.clone(), routing.clone(), wake.clone());
        let poisoned = jobs
            .iter()
            .any(|j| matches!(j, routing::Inbound::Call(c) if c.sid.as_deref() == Some(sid)));
        async move {
            assert!(!poisoned, "a test's poisoned batch");
            routing::route_batch(store.as_ref(), &routing, &wake, jobs).await
        }
    })
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn init_logs() {
    if std::env::var("TEST_LOG").is_ok() {
        proxycall::telemetry::init("debug", false);
    }
}

/// A response read whole: status, headers and JSON body (`Null` when not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    /// The body as sent, for what `Value` forgets (key order).
    pub text: String,
}

impl Answer {
    pub async fn read(r: Response) -> Self {
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Self {
            status,
            headers,
            body,
            text,
        }
    }

    /// The sorted keys of the JSON object.
    pub fn keys(&self) -> Vec<String> {
        keys_of(&self.body)
    }

    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn field(&self) -> &str {
        self.body["field"].as_str().unwrap_or("")
    }
}

pub fn keys_of(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

pub fn sorted(keys: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

impl TestApp {
    pub async fn get(&self, path: &str) -> Answer {
        self.get_with_key(path, Some(&self.key.clone())).await
    }

    pub async fn get_with_key(&self, path: &str, key: Option<&str>) -> Answer {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        Answer::read(req.send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send_with_key(reqwest::Method::POST, path, body, Some(&self.key.clone()))
            .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.send_with_key(reqwest::Method::PUT, path, body, Some(&self.key.clone()))
            .await
    }

    pub async fn send_with_key(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        key: Option<&str>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .json(body);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        Answer::read(req.send().await.unwrap()).await
    }

    /// A raw body with a content type, for malformed input.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Answer {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", content_type)
            .body(body);
        Answer::read(req.send().await.unwrap()).await
    }

    /// Adds `n` available numbers of a country and type to the pool and returns them.
    pub async fn add_numbers(
        &self,
        country: &str,
        number_type: NumberType,
        n: usize,
    ) -> Vec<String> {
        add_numbers(&self.app, country, number_type, n).await
    }

    pub async fn key_with_scopes(&self, scopes: &str) -> String {
        keys::create(&self.app, "test", Scopes::parse(scopes).unwrap(), None)
            .await
            .unwrap()
            .secret
    }
}

/// Valid numbers, distinct per call: French mobiles +3378…, French geographic +3314…,
/// Portuguese mobiles +35191….
pub async fn add_numbers(
    app: &App,
    country: &str,
    number_type: NumberType,
    n: usize,
) -> Vec<String> {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let mut added = Vec::new();
    for _ in 0..n {
        let i = NEXT.fetch_add(1, Ordering::SeqCst);
        let raw = match (country, number_type) {
            ("FR", NumberType::Mobile) => format!("+3378{i:07}"),
            ("FR", NumberType::Local) => format!("+3314{i:07}"),
            ("PT", NumberType::Mobile) => format!("+35191{i:07}"),
            ("PT", NumberType::Local) => format!("+35121{i:07}"),
            other => panic!("no test numbers for {other:?}"),
        };
        let phone_number = E164::parse(&raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
        pool::add(
            app,
            pool::AddNumber {
                phone_number,
                country: None,
                number_type,
                voice: true,
                sms: true,
                friendly_name: None,
            },
        )
        .await
        .unwrap();
        added.push(raw);
    }
    added
}

/// A valid order body for a new client.
pub fn order(order_id: &str, client_id: i64, phone: &str) -> Value {
    serde_json::json!({
        "order_id": order_id,
        "client_id": client_id,
        "client_name": "Jeanne MARTIN",
        "client_mail": format!("jeanne{client_id}@example.com"),
        "client_real_phone": phone,
    })
}

impl TestApp {
    pub async fn break_table(&self, table: &str) {
        self.db.drop_table(table).await;
    }

    /// Posts a webhook form signed as Twilio signs it.
    pub async fn webhook(&self, path: &str, params: &[(&str, &str)]) -> (StatusCode, String) {
        let owned: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let url = format!("{}{path}", self.base);
        let signature = proxycall::carrier::signature::sign(WEBHOOK_TOKEN.as_bytes(), &url, &owned);
        self.webhook_signed(path, params, &signature).await
    }

    /// Posts a webhook form with the given signature header.
    pub async fn webhook_signed(
        &self,
        path: &str,
        params: &[(&str, &str)],
        signature: &str,
    ) -> (StatusCode, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("x-twilio-signature", signature)
            .form(params)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// A client with a proxy, through the API: returns the proxy.
    pub async fn client_with_proxy(&self, client_id: i64, real_phone: &str) -> String {
        if self.get("/pool/available?country_iso=FR").await.body["available"]
            .as_array()
            .is_none_or(Vec::is_empty)
        {
            self.add_numbers("FR", NumberType::Mobile, 1).await;
        }
        let answer = self
            .post(
                "/orders",
                &order(&format!("CMD-{client_id}"), client_id, real_phone),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body["client_proxy_number"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Runs every due job until none is due or running, here or in the server's workers: what a
    /// test waits for before it looks at what was (or was not) sent.
    pub async fn drain(&self) {
        proxycall::jobs::drain(&self.app, &self.jobs)
            .await
            .expect("jobs run");
    }

    /// The pool's status of `number` (which must be in the pool).
    pub async fn pool_status(&self, number: &str) -> &'static str {
        let number = E164::parse_shape(number).unwrap();
        self.app
            .store
            .pool_number(&number)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{number:?} is not in the pool"))
            .status
            .as_str()
    }

    /// Runs every job due at `at` (a time ahead, to reach a scheduled step) until none is.
    pub async fn run_jobs_at(&self, at: chrono::DateTime<chrono::Utc>) {
        let worker = proxycall::jobs::Worker::new(self.app.clone(), self.jobs.clone());
        for _ in 0..100 {
            if worker.run_once_at(at).await.expect("jobs run") == 0 {
                return;
            }
        }
        panic!("jobs kept coming");
    }

    /// The latest outbound messages, newest first, once every due job has run; at least `n`
    /// of them sent.
    pub async fn sent_messages(&self, n: usize) -> Vec<proxycall::store::OutboundMessage> {
        self.drain().await;
        let all = self.app.store.outbound_messages(100).await.unwrap();
        let sent = all.iter().filter(|m| m.status == "sent").count();
        assert!(sent >= n, "{sent} messages sent, not {n}: {all:#?}");
        all
    }

    /// What the simulated carrier delivered to `to`, newest first, once every due job has run;
    /// at least `n` deliveries.
    pub async fn deliveries_to(
        &self,
        to: &str,
        n: usize,
    ) -> Vec<proxycall::store::SimulatedDelivery> {
        self.drain().await;
        let to = E164::parse_shape(to).unwrap();
        let got = self
            .app
            .store
            .simulated_deliveries(Some(&to), 100)
            .await
            .unwrap();
        assert!(
            got.len() >= n,
            "{} deliveries to {to:?}, not {n}",
            got.len()
        );
        got
    }
}
