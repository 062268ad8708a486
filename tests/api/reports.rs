//! The weekly report (SPEC §4 `GET /reports/weekly`, §9): what the week saw, counted from what
//! a test made; its bounds; a malformed week; its scope; and its e-mail on Sunday night, sent
//! once to a real SMTP server on loopback — on SQLite and PostgreSQL.

use chrono::{DateTime, Duration, Utc};
use mail_parser::MessageParser;
use proxycall::app::report::{IsoWeek, WeeklyReportEmail};
use proxycall::domain::NumberType;
use proxycall::jobs;
use serde_json::{Value, json};

use crate::helpers::{Options, SMTP_FROM, TestApp, spawn_app, spawn_app_with};
use crate::smtp_server::SmtpServer;

const OPERATOR: &str = "operator@proxycall.example.com";
const COURIER: &str = "+33698765432";

/// A timestamp as both engines store and compare it.
fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

async fn report(app: &TestApp, week: IsoWeek) -> Value {
    let a = app.get(&format!("/reports/weekly?week={week}")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body
}

fn total(by_outcome: &Value) -> i64 {
    by_outcome
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum()
}

#[tokio::test]
async fn the_report_counts_what_the_week_saw_and_nothing_outside_it() {
    let app = spawn_app().await;
    let now = Utc::now();
    let week = IsoWeek::containing(now);
    let before = IsoWeek::containing(now - Duration::days(7));

    // Two clients through orders; their proxies are assigned.
    let proxy = app.client_with_proxy(1, "+33611111111").await;
    app.client_with_proxy(2, "+33622222222").await;
    // An activation started, then expired.
    app.add_numbers("FR", NumberType::Mobile, 2).await;
    let started = app
        .post(
            "/confirmations/create",
            &json!({
                "client_name": "Jeanne Martin",
                "client_mail": "jeanne@example.com",
                "client_real_phone": "+33633333333",
                "country_iso": "FR",
                "number_type": "mobile",
            }),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let expired = app
        .post("/confirmations/expire", &json!({"hours": 0}))
        .await;
    assert_eq!(expired.status, 200, "{}", expired.body);
    // Another, promoted to a new client by the code it was texted.
    let promoted = app
        .post(
            "/confirmations/create",
            &json!({
                "client_name": "Paul Durand",
                "client_mail": "paul@example.com",
                "client_real_phone": "+33644444444",
                "country_iso": "FR",
                "number_type": "mobile",
            }),
        )
        .await;
    assert_eq!(promoted.status, 200, "{}", promoted.body);
    let code = app
        .deliveries_to("+33644444444", 1)
        .await
        .iter()
        .filter_map(|d| d.body.clone())
        .find_map(|b| {
            b.strip_prefix("ProxyCall - Code de confirmation: ")
                .map(str::to_owned)
        })
        .expect("a code was texted");
    let proxy_of_paul = promoted.body["proxy_number"].as_str().unwrap();
    let (status, _) = app
        .webhook(
            "/twilio/sms",
            &[
                ("From", "+33644444444"),
                ("To", proxy_of_paul),
                ("Body", &code),
                ("MessageSid", "SM-CODE"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    // Two calls from an allowed courier, one from a country not served, one text.
    for sid in ["CA1", "CA2"] {
        let (status, _) = app
            .webhook(
                "/twilio/voice",
                &[("From", COURIER), ("To", &proxy), ("CallSid", sid)],
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = app
        .webhook(
            "/twilio/voice",
            &[("From", "+12025550123"), ("To", &proxy), ("CallSid", "CA3")],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .webhook(
            "/twilio/sms",
            &[
                ("From", COURIER),
                ("To", &proxy),
                ("Body", "Je suis en bas"),
                ("MessageSid", "SM1"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    app.drain().await;
    // One pool number bought the week before, one released this week, one text failed.
    let in_week = stamp(now);
    let last_week = stamp(now - Duration::days(7));
    app.db
        .exec(&format!(
            "update pool_numbers set purchased_at = '{last_week}' \
             where id = (select min(id) from pool_numbers)"
        ))
        .await;
    app.db
        .exec(&format!(
            "update pool_numbers set status = 'released', released_at = '{in_week}' \
             where id = (select max(id) from pool_numbers where status = 'available')"
        ))
        .await;
    app.db
        .exec(&format!(
            "update outbound_messages set status = 'failed', updated_at = '{in_week}' \
             where id = (select min(id) from outbound_messages where kind = 'sms')"
        ))
        .await;

    let r = report(&app, week).await;
    assert_eq!(r["week"], week.to_string());
    assert_eq!(
        r["from"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        week.start()
    );
    assert_eq!(
        r["to"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(),
        week.end()
    );
    assert_eq!(r["clients"], json!({"total": 3, "new": 3}));
    assert_eq!(
        r["activations"],
        json!({"started": 2, "promoted": 1, "updated": 0, "expired": 1, "locked": 0})
    );
    // The allowed calls share one outcome, the refused one has another.
    let calls = &r["calls"];
    assert_eq!(total(calls), 3, "{calls}");
    let mut counts: Vec<i64> = calls
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, [1, 2], "{calls}");
    // The relayed text, and the code that answered the activation.
    assert_eq!(r["texts"], json!({"forwarded": 1, "otp_accepted": 1}));
    // The pool now: 1 + 1 + 2 numbers added, three assigned, the expired activation's back
    // and then released.
    let pool = r["pool"].as_array().unwrap();
    let count = |status: &str| -> i64 {
        pool.iter()
            .filter(|g| g["status"] == status)
            .map(|g| g["count"].as_i64().unwrap())
            .sum()
    };
    assert!(
        pool.iter()
            .all(|g| g["country"] == "FR" && g["number_type"] == "mobile")
    );
    assert_eq!(count("assigned"), 3, "{pool:?}");
    assert_eq!(count("released"), 1, "{pool:?}");
    assert_eq!(count("available"), 0, "{pool:?}");
    assert_eq!(r["numbers"], json!({"bought": 3, "released": 1}));
    assert_eq!(
        r["outbox_failures"],
        json!({"texts": 1, "calls": 0, "emails": 0})
    );

    // The week before saw none of it, but the number bought then; the pool is today's.
    let r = report(&app, before).await;
    assert_eq!(r["clients"], json!({"total": 0, "new": 0}));
    assert_eq!(
        r["activations"],
        json!({"started": 0, "promoted": 0, "updated": 0, "expired": 0, "locked": 0})
    );
    assert_eq!(r["calls"], json!({}));
    assert_eq!(r["texts"], json!({}));
    assert_eq!(r["numbers"], json!({"bought": 1, "released": 0}));
    assert_eq!(
        r["outbox_failures"],
        json!({"texts": 0, "calls": 0, "emails": 0})
    );
    assert_eq!(r["pool"].as_array().unwrap().len(), pool.len());

    // Without a week: the last complete one.
    let a = app.get("/reports/weekly").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["week"], before.to_string());
}

#[tokio::test]
async fn a_malformed_week_is_refused_naming_it() {
    let app = spawn_app().await;
    for bad in [
        "2026-48", "2026-W60", "2025-W53", "W10-2026", "2026-W1", "soon",
    ] {
        let a = app.get(&format!("/reports/weekly?week={bad}")).await;
        assert_eq!(a.status, 422, "{bad}: {}", a.body);
        assert_eq!(a.field(), "week", "{bad}: {}", a.body);
    }
    let a = app.get("/reports/weekly?weak=2026-W10").await;
    assert_eq!(a.status, 422, "{}", a.body);
}

#[tokio::test]
async fn the_report_needs_the_read_scope() {
    let app = spawn_app().await;
    let path = "/reports/weekly?week=2026-W10";
    assert_eq!(app.get_with_key(path, None).await.status, 401);
    let orders = app.key_with_scopes("orders,clients,pool").await;
    let refused = app.get_with_key(path, Some(&orders)).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let read = app.key_with_scopes("read").await;
    assert_eq!(app.get_with_key(path, Some(&read)).await.status, 200);
}

/// E-mails to `OPERATOR`, the low pool's alert aside (`low_water.rs`): these tests' pools are
/// low, and only the report is looked for.
fn only_the_report(raw: &mut proxycall::config::RawSettings) {
    raw.alert_email = Some(OPERATOR.into());
    raw.pool_low_water = Some("0".into());
}

async fn mailing_app(smtp: Option<&SmtpServer>) -> TestApp {
    spawn_app_with(Options {
        smtp: smtp.map(SmtpServer::address),
        job_workers: Some(0),
        settings: Some(Box::new(only_the_report)),
        ..Default::default()
    })
    .await
}

/// Enqueues this hour's periodic jobs as if it were `at`, and runs every job due then.
async fn hour_at(app: &TestApp, at: DateTime<Utc>) {
    jobs::schedule::enqueue_periodic(app.app.store.as_ref(), &app.jobs, at)
        .await
        .unwrap();
    app.run_jobs_at(at).await;
}

#[tokio::test]
async fn the_report_is_emailed_once_on_sunday_night_and_not_on_monday() {
    let smtp = SmtpServer::start().await;
    let app = mailing_app(Some(&smtp)).await;
    app.client_with_proxy(1, "+33611111111").await;
    let week = IsoWeek::containing(Utc::now());
    let sunday = week.start() + Duration::days(6) + Duration::minutes(23 * 60 + 30);

    // Sunday 22:30: outside the window.
    hour_at(&app, sunday - Duration::hours(1)).await;
    assert!(smtp.received().is_empty());

    hour_at(&app, sunday).await;
    let received = smtp.received();
    assert_eq!(received.len(), 1, "one e-mail");
    assert_eq!(received[0].mail_from, SMTP_FROM);
    assert_eq!(received[0].rcpt_to, [OPERATOR]);
    let parsed = MessageParser::default().parse(&received[0].data).unwrap();
    assert_eq!(parsed.subject(), Some("[ProxyCall] Rapport hebdomadaire"));
    let body = parsed.body_text(0).unwrap();
    assert!(body.contains(&week.to_string()), "{body}");
    assert!(body.contains("Clients : 1 au total, 1 nouveaux."), "{body}");

    // The same hour again, a later one in the window, and the job run once more by hand: the
    // week's e-mail exists, nothing more is sent.
    hour_at(&app, sunday + Duration::minutes(15)).await;
    jobs::enqueue(
        app.app.store.as_ref(),
        &WeeklyReportEmail::default(),
        sunday,
        Some("by-hand".into()),
    )
    .await
    .unwrap()
    .expect("a new job");
    app.run_jobs_at(sunday + Duration::minutes(15)).await;
    assert_eq!(smtp.received().len(), 1, "never twice");

    // Monday: the job runs, nothing is sent.
    hour_at(&app, sunday + Duration::hours(1)).await;
    assert_eq!(smtp.received().len(), 1);
    let emails = app.app.store.emails(10).await.unwrap();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].purpose, "weekly_report");
}

#[tokio::test]
async fn without_a_mailer_nothing_is_queued() {
    let app = mailing_app(None).await;
    let week = IsoWeek::containing(Utc::now());
    let sunday = week.start() + Duration::days(6) + Duration::minutes(23 * 60 + 30);
    hour_at(&app, sunday).await;
    let ran = app
        .app
        .store
        .jobs(Some("report.weekly_email"), None, 10)
        .await
        .unwrap();
    // This hour's job, and the one the server queued for the real hour, both run on Sunday.
    assert!(!ran.is_empty());
    for job in &ran {
        assert!(
            job.result
                .as_deref()
                .unwrap_or("")
                .contains("\"queued\":false"),
            "{:?}",
            job.result
        );
    }
    assert!(app.app.store.emails(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn in_english_the_email_is_in_english() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(Options {
        smtp: Some(smtp.address()),
        job_workers: Some(0),
        language: Some("en".into()),
        settings: Some(Box::new(only_the_report)),
        ..Default::default()
    })
    .await;
    let week = IsoWeek::containing(Utc::now());
    hour_at(&app, week.start() + Duration::days(6) + Duration::hours(23)).await;
    let received = smtp.received();
    assert_eq!(received.len(), 1);
    let parsed = MessageParser::default().parse(&received[0].data).unwrap();
    assert_eq!(parsed.subject(), Some("[ProxyCall] Weekly report"));
    let body = parsed.body_text(0).unwrap().replace("\r\n", "\n");
    assert!(body.contains("Clients: 0 in all, 0 new."), "{body}");
    assert!(body.contains("Calls by outcome:\n  none"), "{body}");
}
