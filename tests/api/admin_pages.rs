//! The dashboard's pages (issue 10), over HTTP as a browser sees them: the overview's pool,
//! charts, funnel and queues; the pool's list, filters and operations; a job's page.

use chrono::{Duration, Utc};
use proxycall::domain::{NumberType, Role};
use proxycall::store::NewJob;
use serde_json::json;

use crate::admin_auth::{Browser, PASSWORD, between, operator};
use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with};

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

#[tokio::test]
async fn the_pool_page_filters_pages_by_50_and_escapes_names() {
    let app = spawn_app().await;
    let mobiles = app.add_numbers("FR", NumberType::Mobile, 53).await;
    let locals = app.add_numbers("FR", NumberType::Local, 2).await;
    proxycall::app::pool::add(
        &app.app,
        proxycall::app::pool::AddNumber {
            phone_number: proxycall::domain::E164::parse("+351919999999").unwrap(),
            country: None,
            number_type: NumberType::Mobile,
            voice: true,
            sms: true,
            friendly_name: Some("<script>alert(1)</script>".into()),
        },
    )
    .await
    .unwrap();
    let browser = signed_in(&app, "viewer@example.com", Role::Viewer).await;

    // All: 50 on the first page, numbers in full, then the rest after the last id.
    let first = browser.get("/admin/pool").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        first.body.matches("<tr><td>+").count(),
        50,
        "{}",
        first.body
    );
    assert!(first.body.contains(&format!("<td>{}</td>", mobiles[0])));
    let before_next = &first.body[..first.body.find("\" rel=\"next\"").expect("a next page")];
    let next = &before_next[before_next.rfind("href=\"").unwrap() + 6..];
    let second = browser
        .get(&next.replace("&#38;", "&").replace("&amp;", "&"))
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(
        second.body.matches("<tr><td>+").count(),
        6,
        "{}",
        second.body
    );
    assert!(second.body.contains(&format!("<td>{}</td>", locals[1])));
    assert!(!second.body.contains(&format!("<td>{}</td>", mobiles[0])));
    assert!(!second.body.contains("rel=\"next\""));
    // The name is escaped.
    assert!(!second.body.contains("<script>"), "{}", second.body);
    assert!(
        second.body.contains("&#60;script&#62;alert(1)"),
        "{}",
        second.body
    );

    // Filters: the local ones, Portugal's, the available in France.
    let local = browser
        .get("/admin/pool?country=fr&type=local&status=")
        .await;
    assert_eq!(local.body.matches("<tr><td>+").count(), 2, "{}", local.body);
    let pt = browser.get("/admin/pool?country=PT").await;
    assert_eq!(pt.body.matches("<tr><td>+").count(), 1, "{}", pt.body);
    let assigned = browser.get("/admin/pool?status=assigned").await;
    assert_eq!(assigned.body.matches("<tr><td>+").count(), 0);

    // Bad values: a 400 page naming the field; a viewer sees no form.
    for (query, field) in [
        ("country=FRANCE", "country"),
        ("type=satellite", "type"),
        ("status=sold", "status"),
        ("after=-3", "after"),
        ("after=x", "after"),
    ] {
        let page = browser.get(&format!("/admin/pool?{query}")).await;
        assert_eq!(page.status, 400, "{query}: {}", page.body);
        assert!(
            page.body.contains(&format!("“{field}”")),
            "{query}: {}",
            page.body
        );
    }
    assert!(!first.body.contains("/admin/pool/provision"));

    // A client's name given through the API is escaped too.
    let order = app
        .post(
            "/orders",
            &json!({"order_id": "CMD-X", "client_id": 7, "client_name": "<b>Evil</b> & Co",
                    "client_mail": "evil@example.com", "client_real_phone": "+33611111111"}),
        )
        .await;
    assert_eq!(order.status, 200, "{}", order.body);
    let assigned = browser.get("/admin/pool?status=assigned").await.body;
    assert_eq!(assigned.matches("<tr><td>+").count(), 1, "{assigned}");
    assert!(!assigned.contains("<b>Evil"), "{assigned}");
    assert!(assigned.contains("&#60;b&#62;Evil"), "{assigned}");
}

/// What the audit log holds, newest first: (actor, action, target).
async fn audit(app: &TestApp) -> Vec<(String, String, String)> {
    app.app
        .store
        .audit_page(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.action, e.target.unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn an_operator_provisions_from_the_pool_page_and_the_job_page_shows_the_report() {
    let app = spawn_app().await;
    let browser = signed_in(&app, "ops@example.com", Role::Operator).await;
    let pool = browser.get("/admin/pool").await;
    assert!(
        pool.body.contains("action=\"/admin/pool/provision\""),
        "{}",
        pool.body
    );
    let csrf = pool.csrf();

    // A bad batch size: the field named, nothing started.
    let bad = browser
        .post(
            "/admin/pool/provision",
            &[
                ("csrf_token", &csrf),
                ("country", "FR"),
                ("type", "mobile"),
                ("batch_size", "99"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("“batch_size”"), "{}", bad.body);

    let started = browser
        .post(
            "/admin/pool/provision",
            &[
                ("csrf_token", &csrf),
                ("country", "FR"),
                ("type", "mobile"),
                ("batch_size", "2"),
            ],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let job_page = started.location().to_owned();
    assert!(job_page.starts_with("/admin/jobs/"), "{job_page}");
    let id = job_page.trim_start_matches("/admin/jobs/");

    app.drain().await;
    let page = browser.get(&job_page).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(">done<"), "{}", page.body);
    assert!(
        !page.body.contains("id=\"job-refresh\""),
        "done: nothing more to wait for"
    );
    let report = between(&page.body, "<section id=\"report\"", "</section>").unwrap();
    let bought = app
        .app
        .store
        .pool_numbers(None, proxycall::domain::NumberTypeFilter::Any, None)
        .await
        .unwrap();
    assert_eq!(bought.len(), 2);
    for n in &bought {
        assert!(report.contains(n.phone_number.as_str()), "{report}");
    }
    assert!(report.contains("purchased_now"), "{report}");

    let entries = audit(&app).await;
    assert!(
        entries.contains(&(
            "ops@example.com".into(),
            "pool.provision".into(),
            format!("job:{id}")
        )),
        "{entries:?}"
    );
    assert_eq!(
        entries.iter().filter(|e| e.1 == "pool.provision").count(),
        1,
        "the refused one is not written: {entries:?}"
    );
}

#[tokio::test]
async fn a_viewer_or_a_form_without_its_csrf_token_starts_nothing() {
    let app = spawn_app().await;
    let viewer = signed_in(&app, "viewer@example.com", Role::Viewer).await;
    let csrf = viewer.get("/admin/pool").await.csrf();
    let refused = viewer
        .post(
            "/admin/pool/provision",
            &[
                ("csrf_token", &csrf),
                ("country", "FR"),
                ("type", "mobile"),
                ("batch_size", "1"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    let ops = signed_in(&app, "ops@example.com", Role::Operator).await;
    let no_token = ops
        .post(
            "/admin/pool/provision",
            &[("country", "FR"), ("type", "mobile"), ("batch_size", "1")],
        )
        .await;
    assert_eq!(no_token.status, 403, "{}", no_token.body);

    app.drain().await;
    let jobs = app.app.store.job_by_key("op:pool.provision").await.unwrap();
    assert!(jobs.is_none(), "{jobs:?}");
    let pool = app
        .app
        .store
        .pool_numbers(None, proxycall::domain::NumberTypeFilter::Any, None)
        .await
        .unwrap();
    assert!(pool.is_empty());
    assert!(
        !audit(&app).await.iter().any(|e| e.1 == "pool.provision"),
        "nothing written"
    );
}

#[tokio::test]
async fn in_a_real_browser_an_operator_sees_the_overview_and_watches_a_provisioning_finish() {
    use fantoccini::Locator;
    use proxycall::app::operators::totp;

    let app = spawn_app_with(low_water("3")).await;
    let proxy = app.client_with_proxy(1, "+33612345678").await;
    app.add_numbers("FR", NumberType::Local, 5).await;
    for (i, sid) in ["CA1", "CA2", "CA3"].iter().enumerate() {
        let from = format!("+3369876543{i}");
        let (status, _) = app
            .webhook(
                "/twilio/voice",
                &[("From", &from), ("To", &proxy), ("CallSid", sid)],
            )
            .await;
        assert_eq!(status, 200);
    }
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
    let email = operator(&app, "ops@example.com", Role::Operator).await;
    let by_email = || async {
        app.app
            .store
            .operator_by_email(&email)
            .await
            .unwrap()
            .unwrap()
    };
    let ops = by_email().await;
    let enrolment = totp::start_enrolment(&app.app, &ops).await.unwrap();
    let ops = by_email().await;
    let code = totp::code_at(&enrolment.secret, Utc::now()).unwrap();
    assert!(
        totp::confirm_enrolment(&app.app, &ops, &code)
            .await
            .unwrap()
            .is_some()
    );
    let base = app.base.clone();
    let screenshots = crate::admin_auth::screenshots();

    crate::browser::with_browser(|client| async move {
        client.set_window_size(1280, 2000).await.unwrap();
        client.goto(&format!("{base}/admin")).await.unwrap();
        let field = |id: &'static str| {
            let client = client.clone();
            async move { client.find(Locator::Id(id)).await.unwrap() }
        };
        let submit = || {
            let client = client.clone();
            async move {
                client
                    .find(Locator::Css("main button[type=submit]"))
                    .await
                    .unwrap()
                    .click()
                    .await
                    .unwrap()
            }
        };
        crate::admin_auth::log_in_browser(&client, "ops@example.com", "/admin/login/totp").await;
        let next = Utc::now() + Duration::seconds(30);
        field("code")
            .await
            .send_keys(&totp::code_at(&enrolment.secret, next).unwrap())
            .await
            .unwrap();
        submit().await;
        crate::admin_auth::arrived_at(&client, "/admin").await;
        let charts = client.find_all(Locator::Css("main svg")).await.unwrap();
        assert_eq!(charts.len(), 2);
        let pool = field("pool").await.text().await.unwrap();
        assert!(pool.contains("Bas"), "{pool}");
        let png = client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(screenshots.join("overview.png"), png).unwrap();

        client.goto(&format!("{base}/admin/pool")).await.unwrap();
        let batch = field("p-batch").await;
        batch.clear().await.unwrap();
        batch.send_keys("3").await.unwrap();
        client
            .find(Locator::Css("#provision button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The form answers with a redirect to the job's page.
        for _ in 0..100 {
            if client
                .current_url()
                .await
                .unwrap()
                .path()
                .starts_with("/admin/jobs/")
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            client
                .current_url()
                .await
                .unwrap()
                .path()
                .starts_with("/admin/jobs/")
        );
        // While it runs, the operator follows the page's own link to see it move on (the
        // page never reloads on a timer).
        let mut status = String::new();
        for _ in 0..40 {
            status = field("job-status").await.text().await.unwrap();
            if status == "done" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            if let Ok(refresh) = client.find(Locator::Id("job-refresh")).await {
                refresh.click().await.unwrap();
            }
        }
        assert_eq!(status, "done");
        crate::a11y::check(&client).await;
        let report = field("report").await.text().await.unwrap();
        assert!(report.contains("purchased_now"), "{report}");
        let png = client.screenshot().await.unwrap();
        std::fs::write(screenshots.join("pool-provision.png"), png).unwrap();
    })
    .await;
}

#[tokio::test]
async fn an_operator_drains_releases_and_syncs_from_the_pool_page_and_a_viewer_cannot() {
    let app = spawn_app().await;
    let numbers = app.add_numbers("FR", NumberType::Mobile, 2).await;
    let viewer = signed_in(&app, "viewer@example.com", Role::Viewer).await;
    let csrf = viewer.get("/admin/pool").await.csrf();
    let refused = viewer
        .post(
            "/admin/pool/drain",
            &[("csrf_token", &csrf), ("numbers", &numbers[0])],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(app.pool_status(&numbers[0]).await, "available");

    let ops = signed_in(&app, "ops@example.com", Role::Operator).await;
    let csrf = ops.get("/admin/pool").await.csrf();
    let bad = ops
        .post(
            "/admin/pool/drain",
            &[("csrf_token", &csrf), ("numbers", "+33 not a number")],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("“numbers”"), "{}", bad.body);

    // Drain: immediate, its report at once.
    let drained = ops
        .post(
            "/admin/pool/drain",
            &[("csrf_token", &csrf), ("numbers", &numbers[0])],
        )
        .await;
    assert_eq!(drained.status, 200, "{}", drained.body);
    let report = between(&drained.body, "<section id=\"report\"", "</section>").unwrap();
    assert!(
        report.contains(&numbers[0]) && report.contains("draining"),
        "{report}"
    );
    assert_eq!(app.pool_status(&numbers[0]).await, "draining");

    // Release: a job, then its page.
    let started = ops
        .post(
            "/admin/pool/release",
            &[
                ("csrf_token", &csrf),
                ("numbers", &format!("{}\n", numbers[1])),
            ],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    app.drain().await;
    let page = ops.get(started.location()).await;
    assert!(page.body.contains(">done<"), "{}", page.body);
    assert_eq!(app.pool_status(&numbers[1]).await, "released");

    // Sync (a dry run): a job too.
    let sync = ops.post("/admin/pool/sync", &[("csrf_token", &csrf)]).await;
    assert_eq!(sync.status, 303, "{}", sync.body);
    assert!(sync.location().starts_with("/admin/jobs/"));

    let actions: Vec<String> = audit(&app).await.into_iter().map(|e| e.1).collect();
    for action in ["pool.drain", "pool.release", "pool.sync"] {
        assert_eq!(
            actions.iter().filter(|a| *a == action).count(),
            1,
            "{action}: {actions:?}"
        );
    }
}
