//! The low pool (issue 9 item 8): the operator's e-mail, sent to a real SMTP server on loopback
//! once per cool-down; auto-buy through a Twilio double up to its target, within the month's
//! budget, and nothing once it is spent; numbers cooling off do not count; and two `serve`
//! processes on one database deciding at once never buy more than the budget nor send two
//! e-mails — on SQLite and PostgreSQL.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Duration, Utc};
use mail_parser::MessageParser;
use proxycall::app::low_water::{LowWaterCheck, budget_month};
use proxycall::app::{App, keys};
use proxycall::domain::{CountryIso, E164, NumberType, NumberTypeFilter, Scopes};
use proxycall::jobs;
use proxycall::store::{self, JobStatus, PoolStatus};
use serde_json::{Value, json};

use crate::helpers::{
    ACCOUNT_SID, Options, SMTP_FROM, SMTP_PASSWORD, SMTP_USER, TestApp, TestDb, add_numbers,
    spawn_app_with,
};
use crate::processes::{free_port, server_with, stop, wait_until_up};
use crate::smtp_server::SmtpServer;

const OPERATOR: &str = "operator@proxycall.example.com";
const SUBJECT: &str = "[ProxyCall] Pool de numeros proxy a reapprovisionner";

/// A Wednesday morning, far from the weekly report's Sunday window, early in its month.
fn t0() -> DateTime<Utc> {
    "2026-10-07T08:00:00Z".parse().unwrap()
}

/// The form of each purchase the double accepted.
type Forms = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// A Twilio double that sells French mobiles from a stock of 60, each once: a number sold
/// already is refused as Twilio refuses it (21422), as when two processes try the same one.
#[derive(Clone, Default)]
struct Carrier {
    sold: Forms,
    /// How long a purchase takes: long enough for processes to decide meanwhile.
    delay: StdDuration,
}

impl Carrier {
    fn stock() -> impl Iterator<Item = String> {
        (0..60).map(|i| format!("+33789{i:06}"))
    }

    fn sold(&self) -> Vec<Vec<(String, String)>> {
        self.sold.lock().unwrap().clone()
    }

    fn is_sold(&self, number: &str) -> bool {
        self.sold
            .lock()
            .unwrap()
            .iter()
            .any(|f| f.iter().any(|(k, v)| k == "PhoneNumber" && v == number))
    }

    async fn start(&self) -> String {
        let router = axum::Router::new()
            .route(
                "/2010-04-01/Accounts/{acc}/AvailablePhoneNumbers/{cc}/{kind}",
                get(offer),
            )
            .route(
                "/2010-04-01/Accounts/{acc}/IncomingPhoneNumbers.json",
                post(sell),
            )
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        base
    }
}

async fn offer(
    State(c): State<Carrier>,
    Path((_acc, country, kind)): Path<(String, String, String)>,
) -> axum::Json<Value> {
    let rows: Vec<Value> = if country == "FR" && kind == "Mobile.json" {
        Carrier::stock()
            .filter(|n| !c.is_sold(n))
            .take(20)
            .map(|n| json!({"phone_number": n, "capabilities": {"voice": true, "SMS": true, "MMS": false}}))
            .collect()
    } else {
        Vec::new()
    };
    axum::Json(json!({ "available_phone_numbers": rows }))
}

async fn sell(State(c): State<Carrier>, body: String) -> (StatusCode, axum::Json<Value>) {
    let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let number = form
        .iter()
        .find(|(k, _)| k == "PhoneNumber")
        .unwrap()
        .1
        .clone();
    tokio::time::sleep(c.delay).await;
    let mut sold = c.sold.lock().unwrap();
    if sold
        .iter()
        .any(|f| f.iter().any(|(k, v)| k == "PhoneNumber" && *v == number))
    {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"code": 21422, "message": "not available", "status": 400})),
        );
    }
    sold.push(form);
    let sid = format!("PN{:032x}", sold.len());
    (
        StatusCode::CREATED,
        axum::Json(
            json!({"sid": sid, "phone_number": number, "friendly_name": "x",
                          "capabilities": {"voice": true, "sms": true}}),
        ),
    )
}

/// A server e-mailing `OPERATOR` through `smtp`, buying from `carrier`, with these low-pool
/// settings: (low water, auto-buy target, monthly budget). The test runs the jobs itself.
async fn low_app(
    smtp: &SmtpServer,
    carrier: &Carrier,
    low_water: &'static str,
    auto_buy: Option<(&'static str, &'static str)>,
) -> TestApp {
    spawn_app_with(Options {
        smtp: Some(smtp.address()),
        twilio_api_base: Some(carrier.start().await),
        job_workers: Some(0),
        settings: Some(Box::new(move |raw| {
            raw.alert_email = Some(OPERATOR.into());
            raw.pool_low_water = Some(low_water.into());
            raw.pool_auto_buy_to = auto_buy.map(|(to, _)| to.into());
            raw.pool_monthly_budget = auto_buy.map(|(_, budget)| budget.into());
        })),
        ..Default::default()
    })
    .await
}

/// The periodic jobs of `at`'s period, run as if it were `at` (the e-mails they queue sent).
async fn look_at(app: &TestApp, at: DateTime<Utc>) {
    jobs::schedule::enqueue_periodic(app.app.store.as_ref(), &app.jobs, at)
        .await
        .unwrap();
    app.run_jobs_at(at).await;
}

/// The text of each e-mail received, in order.
fn bodies(smtp: &SmtpServer) -> Vec<String> {
    smtp.received()
        .iter()
        .map(|r| {
            assert_eq!(r.rcpt_to, [OPERATOR]);
            assert_eq!(r.mail_from, SMTP_FROM);
            let parsed = MessageParser::default().parse(&r.data).unwrap();
            assert_eq!(parsed.subject(), Some(SUBJECT));
            parsed.body_text(0).unwrap().into_owned()
        })
        .collect()
}

async fn available(app: &App, number_type: NumberType) -> usize {
    app.store
        .pool_numbers(
            Some(CountryIso::parse("FR").unwrap()),
            NumberTypeFilter::Only(number_type),
            Some(PoolStatus::Available),
        )
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn the_operator_is_alerted_once_within_the_cool_down_and_again_after_it() {
    let smtp = SmtpServer::start().await;
    let carrier = Carrier::default();
    let app = low_app(&smtp, &carrier, "5", None).await;
    app.add_numbers("FR", NumberType::Mobile, 3).await;
    // Above the mark: never mentioned.
    app.add_numbers("FR", NumberType::Local, 6).await;

    look_at(&app, t0()).await;
    let sent = bodies(&smtp);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let body = &sent[0];
    assert!(body.contains("FR (mobile)"), "{body}");
    assert!(
        body.contains("3 numéro(s) disponible(s), sous le seuil de 5"),
        "{body}"
    );
    assert!(body.contains("Achat automatique : désactivé"), "{body}");
    assert!(!body.contains("local"), "{body}");
    assert!(carrier.sold().is_empty(), "auto-buy is off");

    // Every five minutes for the next 8 hours: still low, not e-mailed again.
    for minutes in [5, 60, 7 * 60 + 55] {
        look_at(&app, t0() + Duration::minutes(minutes)).await;
    }
    assert_eq!(smtp.received().len(), 1, "within the cool-down");
    // The job's report says why.
    let done = app
        .app
        .store
        .jobs(Some("pool.low_water"), None, 20)
        .await
        .unwrap();
    let report: Value = serde_json::from_str(done[0].result.as_deref().unwrap()).unwrap();
    assert_eq!(report["low"][0]["alert"], "cooling_down", "{report}");
    assert_eq!(report["low"][0]["auto_buy"]["outcome"], "off", "{report}");

    look_at(&app, t0() + Duration::hours(8) + Duration::minutes(5)).await;
    assert_eq!(bodies(&smtp).len(), 2, "after the cool-down");
    let emails = app.app.store.emails(10).await.unwrap();
    assert!(emails.iter().all(|e| e.purpose == "pool_alert"));
}

#[tokio::test]
async fn auto_buy_brings_the_pool_to_its_target_with_this_servers_webhooks() {
    let smtp = SmtpServer::start().await;
    let carrier = Carrier::default();
    let app = low_app(&smtp, &carrier, "5", Some(("8", "100"))).await;
    app.add_numbers("FR", NumberType::Mobile, 2).await;

    look_at(&app, t0()).await;
    let sold = carrier.sold();
    assert_eq!(sold.len(), 6, "2 available, brought to 8");
    for form in &sold {
        let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(
            field("VoiceUrl"),
            Some(format!("{}/twilio/voice", app.base))
        );
        assert_eq!(field("SmsUrl"), Some(format!("{}/twilio/sms", app.base)));
    }
    assert_eq!(available(&app.app, NumberType::Mobile).await, 8);
    let body = &bodies(&smtp)[0];
    assert!(
        body.contains("2 numéro(s) disponible(s), sous le seuil de 5"),
        "{body}"
    );
    assert!(
        body.contains("6 numéro(s) acheté(s), pour en avoir 8 ; budget du mois : 6 sur 100"),
        "{body}"
    );
    assert_eq!(
        app.app
            .store
            .auto_buy_spent(&budget_month(t0()))
            .await
            .unwrap(),
        6
    );

    // No longer low: nothing more bought, nobody e-mailed.
    look_at(&app, t0() + Duration::hours(9)).await;
    assert_eq!(carrier.sold().len(), 6);
    assert_eq!(smtp.received().len(), 1);
}

#[tokio::test]
async fn the_monthly_budget_caps_auto_buy_and_once_spent_nothing_is_bought_and_the_email_says_so() {
    let smtp = SmtpServer::start().await;
    let carrier = Carrier::default();
    let app = low_app(&smtp, &carrier, "5", Some(("10", "4"))).await;
    let ours = app.add_numbers("FR", NumberType::Mobile, 1).await;

    // 9 wanted, 4 allowed this month.
    look_at(&app, t0()).await;
    assert_eq!(carrier.sold().len(), 4);
    assert_eq!(available(&app.app, NumberType::Mobile).await, 5);
    let body = &bodies(&smtp)[0];
    assert!(
        body.contains("4 numéro(s) acheté(s), pour en avoir 10 ; budget du mois : 4 sur 4"),
        "{body}"
    );

    // Low again later in the month: the budget is spent.
    let bought: Vec<String> = carrier
        .sold()
        .iter()
        .map(|f| {
            f.iter()
                .find(|(k, _)| k == "PhoneNumber")
                .unwrap()
                .1
                .clone()
        })
        .collect();
    for n in bought.iter().take(3).chain(&ours) {
        app.app
            .store
            .mark_released(&E164::parse(n).unwrap(), false, Utc::now())
            .await
            .unwrap()
            .unwrap();
    }
    let later = t0() + Duration::days(3);
    look_at(&app, later).await;
    assert_eq!(carrier.sold().len(), 4, "nothing bought over the budget");
    let sent = bodies(&smtp);
    assert_eq!(sent.len(), 2);
    assert!(
        sent[1].contains("1 numéro(s) disponible(s), sous le seuil de 5"),
        "{}",
        sent[1]
    );
    assert!(
        sent[1].contains("aucun achat, le budget du mois est épuisé (4 sur 4)"),
        "{}",
        sent[1]
    );
    let month = budget_month(later);
    assert_eq!(app.app.store.auto_buy_spent(&month).await.unwrap(), 4);

    // A new month, a new budget.
    let next_month: DateTime<Utc> = "2026-11-02T08:00:00Z".parse().unwrap();
    look_at(&app, next_month).await;
    assert_eq!(carrier.sold().len(), 8, "this month's 4");
    assert_eq!(
        app.app
            .store
            .auto_buy_spent(&budget_month(next_month))
            .await
            .unwrap(),
        4
    );
}

#[tokio::test]
async fn numbers_cooling_off_do_not_count_as_available() {
    let smtp = SmtpServer::start().await;
    let carrier = Carrier::default();
    let app = low_app(&smtp, &carrier, "3", None).await;
    let numbers = app.add_numbers("FR", NumberType::Mobile, 4).await;
    // A client's proxy is changed: the old one is `available`, cooling off for 30 days.
    let first = app.client_with_proxy(1, "+33612345678").await;
    let other = numbers.iter().find(|n| **n != first).unwrap();
    let moved = app
        .put("/clients/1", &json!({"client_proxy_number": other}))
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(
        available(&app.app, NumberType::Mobile).await,
        3,
        "three shown available"
    );

    let now = Utc::now();
    look_at(&app, now).await;
    let sent = bodies(&smtp);
    assert_eq!(sent.len(), 1, "two can be given, under 3");
    assert!(
        sent[0].contains("2 numéro(s) disponible(s), sous le seuil de 3"),
        "{}",
        sent[0]
    );

    // Once it has rested, three can be given: not low, no e-mail though the cool-down is over.
    look_at(&app, now + Duration::days(31)).await;
    assert_eq!(smtp.received().len(), 1);
    let last = app
        .app
        .store
        .jobs(Some("pool.low_water"), None, 1)
        .await
        .unwrap();
    assert_eq!(
        last[0].result.as_deref(),
        Some(r#"{"low":[]}"#),
        "{last:#?}"
    );
}

/// Two `serve` processes on one database (one SQLite file, or one PostgreSQL database), both
/// running workers and the low-pool job, buying through one Twilio double whose purchases take
/// a while, with a budget of 3: several looks decide at the same time.
#[tokio::test]
async fn two_processes_deciding_at_once_never_exceed_the_budget_and_send_one_email() {
    let smtp = SmtpServer::start().await;
    let carrier = Carrier {
        delay: StdDuration::from_millis(300),
        ..Default::default()
    };
    let twilio = carrier.start().await;
    let db = TestDb::new().await;
    let app = App::simulated(store::connect(db.url()).await.unwrap());
    let ops = keys::create(&app, "ops", Scopes::admin(), None)
        .await
        .unwrap();
    add_numbers(&app, "FR", NumberType::Mobile, 2).await;
    // Looks beyond the period's one, due now: the two processes' workers take them together.
    let now = Utc::now();
    for i in 0..16 {
        jobs::enqueue(
            app.store.as_ref(),
            &LowWaterCheck::default(),
            now,
            Some(format!("race:{i}")),
        )
        .await
        .unwrap()
        .unwrap();
    }
    let smtp_port = smtp.address().port().to_string();
    let ports = [free_port(), free_port()];
    let mut children = Vec::new();
    for port in ports {
        let public = format!("http://127.0.0.1:{port}");
        children.push(server_with(
            &db,
            port,
            &[
                ("PROXYCALL_CARRIER", "twilio"),
                ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
                ("TWILIO_AUTH_TOKEN", "test-auth-token"),
                ("TWILIO_API_BASE", &twilio),
                ("PUBLIC_BASE_URL", &public),
                ("SMTP_HOST", "127.0.0.1"),
                ("SMTP_PORT", &smtp_port),
                ("SMTP_TLS", "none"),
                ("SMTP_USER", SMTP_USER),
                ("SMTP_PASSWORD", SMTP_PASSWORD),
                ("SMTP_FROM", SMTP_FROM),
                ("PROXYCALL_ALERT_EMAIL", OPERATOR),
                ("PROXYCALL_POOL_LOW_WATER", "8"),
                ("PROXYCALL_POOL_AUTO_BUY_TO", "10"),
                ("PROXYCALL_POOL_MONTHLY_BUDGET", "3"),
                ("LOG_LEVEL", "info"),
                ("PROXYCALL_JOB_WORKERS", "8"),
            ],
        ));
    }
    let http = reqwest::Client::new();
    for port in ports {
        wait_until_up(&http, &format!("http://127.0.0.1:{port}")).await;
    }

    // Every look done, and the e-mail sent.
    let mut looks = Vec::new();
    for _ in 0..600 {
        looks = app
            .store
            .jobs(Some("pool.low_water"), None, 50)
            .await
            .unwrap();
        let emails = app.store.emails(10).await.unwrap();
        if looks.len() >= 17
            && looks.iter().all(|j| j.status == JobStatus::Done)
            && emails.iter().any(|e| e.status == "sent")
        {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert!(
        looks.len() >= 17 && looks.iter().all(|j| j.status == JobStatus::Done),
        "{looks:#?}"
    );

    assert_eq!(carrier.sold().len(), 3, "the budget, never more");
    assert_eq!(
        app.store.auto_buy_spent(&budget_month(now)).await.unwrap(),
        3
    );
    assert_eq!(available(&app, NumberType::Mobile).await, 5);
    let emails = app.store.emails(10).await.unwrap();
    assert_eq!(emails.len(), 1, "{emails:#?}");
    assert_eq!(emails[0].purpose, "pool_alert");
    let sent = bodies(&smtp);
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].contains("3 numéro(s) acheté(s)") || sent[0].contains("aucun achat"),
        "{}",
        sent[0]
    );

    // Each process counted its own decisions; together, the budget bought, the rest refused.
    let mut bought = 0.0;
    let mut refused = 0.0;
    for port in ports {
        let metrics = http
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .bearer_auth(&ops.secret)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let sum = |name: &str| -> f64 {
            metrics
                .lines()
                .filter(|l| l.starts_with(name))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        bought += sum("proxycall_pool_auto_bought_total{country=\"FR\",number_type=\"mobile\"}");
        refused += sum("proxycall_pool_auto_buy_refused_total{reason=\"budget_spent\"}");
    }
    assert_eq!(bought, 3.0);
    assert!(refused >= 1.0, "the later looks found the budget spent");

    let mut logs = String::new();
    for child in children {
        logs.push_str(&stop(child).await);
    }
    assert!(logs.contains("pool low"), "{logs}");
    assert!(logs.contains("auto-buy budget"), "{logs}");
    for form in carrier.sold() {
        let number = &form.iter().find(|(k, _)| k == "PhoneNumber").unwrap().1;
        assert!(
            !logs.contains(number.as_str()),
            "{number} unmasked in the logs"
        );
    }
    assert!(!logs.contains(OPERATOR), "the operator's address unmasked");
}

/// `proxycall check` with these variables and the database: its output, and whether it passed.
fn check(db: &TestDb, env: &[(&str, &str)]) -> (bool, String) {
    let out = std::process::Command::new(crate::processes::BIN)
        .arg("check")
        .env_clear()
        .env("PROXYCALL_DATABASE_URL", db.url())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[tokio::test]
async fn check_shows_the_low_pool_settings_and_refuses_auto_buy_without_a_budget() {
    let db = TestDb::new().await;
    store::connect(db.url()).await.unwrap();
    let (_, said) = check(&db, &[]);
    assert!(
        said.contains(
            "low pool: under 10 per country and type; alert every 8 h at most; auto-buy: off"
        ),
        "{said}"
    );
    let (_, said) = check(
        &db,
        &[
            ("PROXYCALL_POOL_LOW_WATER", "4"),
            ("PROXYCALL_POOL_AUTO_BUY_TO", "12"),
            ("PROXYCALL_POOL_MONTHLY_BUDGET", "30"),
            ("PROXYCALL_POOL_ALERT_COOLDOWN_HOURS", "2"),
        ],
    );
    assert!(
        said.contains("low pool: under 4 per country and type; alert every 2 h at most; auto-buy: up to 12, 30 a month"),
        "{said}"
    );

    // Every problem at once, each naming its setting.
    let (passed, said) = check(
        &db,
        &[
            ("PROXYCALL_POOL_AUTO_BUY_TO", "12"),
            ("PROXYCALL_POOL_LOW_WATER", "few"),
        ],
    );
    assert!(!passed, "{said}");
    assert!(
        said.contains("PROXYCALL_POOL_MONTHLY_BUDGET: is required with PROXYCALL_POOL_AUTO_BUY_TO"),
        "{said}"
    );
    assert!(said.contains("PROXYCALL_POOL_LOW_WATER: 'few'"), "{said}");
}

#[tokio::test]
async fn a_carrier_with_nothing_to_sell_gives_the_budget_back_and_the_email_says_it_failed() {
    let smtp = SmtpServer::start().await;
    let carrier = Carrier::default();
    let app = low_app(&smtp, &carrier, "5", Some(("8", "10"))).await;
    // The double sells mobiles only.
    app.add_numbers("FR", NumberType::Local, 1).await;

    look_at(&app, t0()).await;
    assert!(carrier.sold().is_empty());
    let body = &bodies(&smtp)[0];
    assert!(body.contains("FR (local)"), "{body}");
    assert!(
        body.contains("Achat automatique : échec (no number available for FR"),
        "{body}"
    );
    assert!(body.contains("0 numéro(s) acheté(s)"), "{body}");
    assert_eq!(
        app.app
            .store
            .auto_buy_spent(&budget_month(t0()))
            .await
            .unwrap(),
        0,
        "what was reserved and not bought is given back"
    );
}
