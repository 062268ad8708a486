//! The dashboard's pages (issue 10), over HTTP as a browser sees them: the overview's pool,
//! charts, funnel and queues; the pool's list, filters and operations; a job's page.

use chrono::{Duration, Utc};
use proxycall::domain::{NumberType, Role};
use proxycall::store::NewJob;
use serde_json::json;

use crate::admin_auth::{Browser, PASSWORD, between, operator};
use crate::helpers::{Options, TestApp, spawn_app_with};

const COURIER: &str = "+33698765432";

fn low_water(mark: &'static str) -> Options {
    Options {
        settings: Some(Box::new(move |raw| {
            raw.pool_low_water = Some(mark.to_owned())
        })),
        ..Options::default()
    }
}

async fn signed_in(app: &TestApp, email: &str, role: Role) -> Browser {
    operator(app, email, role).await;
    let browser = Browser::new(app);
    let page = browser.login(email, PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.body);
    browser
}

/// The text of the element with this id: from its opening tag to the next `</tr>`.
fn row(body: &str, id: &str) -> String {
    between(body, &format!("id=\"{id}\""), "</tr>").unwrap_or_else(|| panic!("no {id} in {body}"))
}

/// The cells (`<th>`, `<td>`) of a row, tags removed.
fn cells(row: &str) -> Vec<String> {
    row.split("<t")
        .skip(1)
        .filter(|c| c.starts_with('d') || c.starts_with('h'))
        .filter_map(|c| c.split_once('>').map(|(_, rest)| rest))
        .map(|c| strip_tags(c.split("</t").next().unwrap_or("")))
        .collect()
}

fn strip_tags(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => text.push(ch),
            _ => {}
        }
    }
    text.trim().to_owned()
}

#[tokio::test]
async fn the_overview_shows_the_pool_charts_funnel_and_queues() {
    let app = spawn_app_with(low_water("3")).await;
    let proxy = app.client_with_proxy(1, "+33612345678").await;
    app.add_numbers("FR", NumberType::Local, 2).await;
    let (status, _) = app
        .webhook(
            "/twilio/voice",
            &[("From", COURIER), ("To", &proxy), ("CallSid", "CA1")],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .webhook(
            "/twilio/sms",
            &[
                ("From", COURIER),
                ("To", &proxy),
                ("Body", "En bas"),
                ("MessageSid", "SM1"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let started = app
        .post(
            "/confirmations/create",
            &json!({"client_name": "<script>alert(1)</script>", "client_mail": "paul@example.com",
                    "client_real_phone": "+33644444444", "country_iso": "FR"}),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);

    let browser = signed_in(&app, "viewer@example.com", Role::Viewer).await;
    let page = browser.get("/admin").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    assert!(!body.contains("<script"), "{body}");
    assert!(!body.contains("style="), "no inline style (CSP)");

    // The pool: FR local 1 available (the activation reserved one of two), FR mobile 0 (the
    // client has it); both under the mark of 3, said in words.
    let pool = between(body, "<table id=\"pool\">", "</table>").unwrap();
    let lines: Vec<Vec<String>> = pool
        .split("<tr")
        .skip(2)
        .map(|r| cells(&format!("<tr{r}")))
        .collect();
    assert_eq!(
        lines,
        [
            ["FR", "local", "1", "1", "0", "0", "0", "0", "1", "3", "Low"],
            [
                "FR", "mobile", "0", "0", "1", "0", "0", "0", "0", "3", "Low"
            ],
        ],
        "{pool}"
    );

    // Two inline SVG charts, each with this hour's interaction in its description.
    assert_eq!(body.matches("<svg").count(), 2, "{body}");
    let calls = between(body, "id=\"calls-desc\">", "</desc>").unwrap();
    let texts = between(body, "id=\"texts-desc\">", "</desc>").unwrap();
    assert!(calls.contains(": 1"), "{calls}");
    assert!(texts.contains(": 1"), "{texts}");
    // Seven or eight midnights labelled under each chart, no hour label.
    let calls_svg = between(body, "id=\"calls-title\"", "</svg>").unwrap();
    let day_labels = calls_svg.matches("font-size=\"11\">").count() - 2;
    assert!((6..=7).contains(&day_labels), "{calls_svg}");

    // The funnel: one started, waiting.
    assert_eq!(cells(&row(body, "funnel-started"))[1], "1");
    assert_eq!(cells(&row(body, "funnel-waiting"))[1], "1");
    assert_eq!(cells(&row(body, "funnel-promoted"))[1], "0");

    // The queues: once the workers have sent the texts, the outbox is empty; a job of a kind
    // no process here knows waits, 90 minutes overdue.
    app.drain().await;
    app.app
        .store
        .enqueue_job(
            &NewJob {
                kind: "elsewhere.unknown".into(),
                payload: "{}".into(),
                due_at: Utc::now() - Duration::minutes(90),
                max_attempts: 1,
                dedupe_key: None,
            },
            Utc::now(),
        )
        .await
        .unwrap();
    let body = browser.get("/admin").await.body;
    assert_eq!(
        cells(&row(&body, "queue-outbox")),
        ["Outbox (texts to send)", "0", "—", "0"]
    );
    let jobs = cells(&row(&body, "queue-jobs"));
    assert_eq!(jobs[0], "Jobs");
    assert!(jobs[1].parse::<i64>().unwrap() >= 1, "{jobs:?}");
    assert_eq!(jobs[2], "1 h 30 min", "{jobs:?}");

    // French by default.
    let fr = browser.get("/admin?lang=fr").await.body;
    assert!(fr.contains("Numéros par pays et type"), "{fr}");
    assert!(fr.contains(">Bas<"), "{fr}");
}
