//! The dashboard's activations and interactions pages (issue 10), over HTTP as a browser sees
//! them: filters, keyset pages, masking for viewers, an operator's resend and expire (and a
//! viewer refused), bad input named, and both pages in a real browser.

use proxycall::app::{AppError, activation};
use proxycall::domain::{NumberType, PendingId, Role};
use serde_json::json;

use crate::admin_auth::{Browser, PASSWORD, between, operator};
use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with};

const PHONE: &str = "+33612345678";
const OTHER_PROXY: &str = "+33611111199";

async fn signed_in(app: &TestApp, email: &str, role: Role) -> Browser {
    operator(app, email, role).await;
    let browser = Browser::new(app);
    let page = browser.login(email, PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.body);
    browser
}

/// The body rows of the table with this id.
fn rows(body: &str, table: &str) -> Vec<String> {
    let Some(t) = between(body, &format!("<table id=\"{table}\">"), "</table>") else {
        return Vec::new();
    };
    let tbody = between(&t, "<tbody>", "</tbody>").unwrap();
    tbody.split("<tr").skip(1).map(|r| r.to_owned()).collect()
}

/// The `href` of the link with this id, entities decoded.
fn link(body: &str, id: &str) -> Option<String> {
    let at = body.find(&format!("id=\"{id}\""))?;
    let open = body[..at].rfind("<a ")?;
    let href = between(&body[open..at], "href=\"", "\"")?;
    Some(href.replace("&#38;", "&").replace("&amp;", "&"))
}

/// Writes `n` activations in SQL, one a second up to a minute ago (the expiry sweep leaves
/// them waiting): the `i`-th is `act-{i:03}`, EXPIRED when `i` is a multiple of 3, else
/// PENDING.
async fn seed_activations(app: &TestApp, n: usize) {
    let mut sql = String::new();
    let latest = chrono::Utc::now() - chrono::Duration::minutes(1);
    for i in 0..n {
        let status = if i % 3 == 0 { "EXPIRED" } else { "PENDING" };
        let at = (latest - chrono::Duration::seconds((n - i) as i64))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        sql.push_str(&format!(
            "insert into activations (pending_id, client_name, client_mail, client_real_phone, \
             country_iso, number_type, proxy_number, reserved, status, created_at, updated_at) \
             values ('act-{i:03}', 'Client {i}', 'client{i}@example.com', '+336123{i:05}', 'FR', \
             'mobile', '+3370000{i:04}', false, '{status}', '{at}', '{at}');\n"
        ));
    }
    app.db.exec(&sql).await;
}

#[tokio::test]
async fn activations_are_listed_by_status_50_a_page_masked_for_viewers() {
    let app = spawn_app().await;
    seed_activations(&app, 120).await;
    let viewer = signed_in(&app, "viewer@example.com", Role::Viewer).await;

    let page = viewer.get("/admin/activations").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    assert!(
        body.contains("href=\"/admin/activations\""),
        "the nav links it"
    );
    let tabs = between(body, "<ul id=\"status-tabs\">", "</ul>").unwrap();
    assert!(tabs.contains("(120)"), "{tabs}");
    assert!(
        tabs.contains("PENDING <span class=\"count\">(80)"),
        "{tabs}"
    );
    assert!(
        tabs.contains("EXPIRED <span class=\"count\">(40)"),
        "{tabs}"
    );
    assert!(tabs.contains("LOCKED <span class=\"count\">(0)"), "{tabs}");

    // Newest first, 50 a page, the keyset link to the next; phones and e-mails masked.
    let mut seen = Vec::new();
    let mut next = Some("/admin/activations".to_owned());
    let mut pages = 0;
    while let Some(path) = next {
        let page = viewer.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        let rows = rows(&page.body, "activations");
        pages += 1;
        assert_eq!(rows.len(), if pages < 3 { 50 } else { 20 }, "{path}");
        for r in &rows {
            seen.push(between(r, "id=\"a-", "\"").unwrap());
        }
        assert!(!page.body.contains("+33612300"), "viewer: phones masked");
        assert!(
            !page.body.contains("client1@example.com"),
            "viewer: e-mails masked"
        );
        next = link(&page.body, "activations-next");
    }
    let expected: Vec<String> = (0..120).rev().map(|i| format!("act-{i:03}")).collect();
    assert_eq!(seen, expected);
    let first = viewer.get("/admin/activations").await;
    assert!(first.body.contains("c***@example.com"), "{}", first.body);
    assert!(first.body.contains(">SMS<"), "the stage: {}", first.body);

    // A status: only those, paged too.
    let expired = viewer.get("/admin/activations?status=EXPIRED").await;
    assert_eq!(expired.status, 200);
    let got = rows(&expired.body, "activations");
    assert_eq!(got.len(), 40);
    assert!(got.iter().all(|r| r.contains("EXPIRED")));
    assert!(link(&expired.body, "activations-next").is_none());

    // An operator sees phones and e-mails in full.
    let ops = signed_in(&app, "ops@example.com", Role::Operator).await;
    let page = ops.get("/admin/activations").await;
    assert!(page.body.contains("+33612300119"), "{}", page.body);
    assert!(page.body.contains("client119@example.com"));

    // Bad input: the field named, HTML escaped.
    for (path, field) in [
        ("/admin/activations?status=NOPE", "status"),
        (
            "/admin/activations?status=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            "status",
        ),
        ("/admin/activations?after=a%20b", "after"),
        ("/admin/activations/not%20an%20id", "pending_id"),
    ] {
        let page = viewer.get(path).await;
        assert_eq!(page.status, 400, "{path}: {}", page.body);
        assert!(page.body.contains(&format!("“{field}”")), "{}", page.body);
        assert!(!page.body.contains("<script>"), "{}", page.body);
    }
    let unknown = viewer.get("/admin/activations/act-999").await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
}

fn limits() -> Options {
    Options {
        settings: Some(Box::new(|raw| {
            raw.otp_min_interval_secs = Some("0".into());
            raw.otp_per_phone_per_day = Some("3".into());
        })),
        ..Options::default()
    }
}

/// What the audit log holds, newest first: (actor, action, target, details).
async fn audit(app: &TestApp) -> Vec<(String, String, String, String)> {
    app.app
        .store
        .audit_page(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.action, e.target.unwrap_or_default(), e.details))
        .collect()
}

#[tokio::test]
async fn an_operator_resends_by_a_channel_and_expires_and_a_viewer_cannot() {
    let app = spawn_app_with(limits()).await;
    app.add_numbers("FR", NumberType::Mobile, 1).await;
    let started = app
        .post(
            "/confirmations/create",
            &json!({"client_name": "Jeanne Martin", "client_mail": "jeanne@example.com",
                    "client_real_phone": PHONE, "country_iso": "FR", "number_type": "mobile"}),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let id = started.body["pending_id"].as_str().unwrap().to_owned();
    let proxy = started.body["proxy_number"].as_str().unwrap().to_owned();
    assert_eq!(app.deliveries_to(PHONE, 1).await.len(), 1);
    let page_path = format!("/admin/activations/{id}");
    let resend_path = format!("{page_path}/resend");
    let expire_path = format!("{page_path}/expire");

    // A viewer sees the activation, masked, without forms; posting is refused.
    let viewer = signed_in(&app, "viewer@example.com", Role::Viewer).await;
    let page = viewer.get(&page_path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains(PHONE), "{}", page.body);
    assert!(!page.body.contains("id=\"resend\""));
    let csrf = viewer.get("/admin/activations").await.csrf();
    for (path, fields) in [
        (
            &resend_path,
            vec![("csrf_token", csrf.as_str()), ("channel", "sms")],
        ),
        (&expire_path, vec![("csrf_token", csrf.as_str())]),
    ] {
        let refused = viewer.post(path, &fields).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
    }
    assert_eq!(app.deliveries_to(PHONE, 1).await.len(), 1, "nothing sent");
    assert!(
        audit(&app)
            .await
            .iter()
            .all(|e| !e.1.starts_with("activation."))
    );

    // An operator: the page with its forms; a bad channel is named.
    let ops = signed_in(&app, "ops@example.com", Role::Operator).await;
    let page = ops.get(&page_path).await;
    assert!(page.body.contains(PHONE), "{}", page.body);
    assert!(page.body.contains(&format!("action=\"{resend_path}\"")));
    assert!(page.body.contains(&format!("action=\"{expire_path}\"")));
    let csrf = page.csrf();
    let bad = ops
        .post(&resend_path, &[("csrf_token", &csrf), ("channel", "fax")])
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("“channel”"), "{}", bad.body);

    // By SMS: a new code texted; by voice: a call placed, on the chosen channel.
    let sms = ops
        .post(&resend_path, &[("csrf_token", &csrf), ("channel", "sms")])
        .await;
    assert_eq!(sms.status, 200, "{}", sms.body);
    let got = app.deliveries_to(PHONE, 2).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].kind, "sms");
    assert_eq!(got[0].from.as_str(), proxy);
    let code = got[0].body.as_deref().unwrap().rsplit(' ').next().unwrap();
    assert!(!sms.body.contains(code), "never a code on the page");
    let voice = ops
        .post(&resend_path, &[("csrf_token", &csrf), ("channel", "voice")])
        .await;
    assert_eq!(voice.status, 200, "{}", voice.body);
    let got = app.deliveries_to(PHONE, 3).await;
    assert_eq!(got[0].kind, "call");

    // Over the day's limit (3 requests): a clear page, nothing sent.
    let limited = ops
        .post(&resend_path, &[("csrf_token", &csrf), ("channel", "sms")])
        .await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(
        limited.body.contains("DAILY_LIMIT_PHONE"),
        "{}",
        limited.body
    );
    assert_eq!(app.deliveries_to(PHONE, 3).await.len(), 3);

    // Expire: at once, its number back in the pool; a second time is refused.
    assert_eq!(app.pool_status(&proxy).await, "reserved");
    let expired = ops.post(&expire_path, &[("csrf_token", &csrf)]).await;
    assert_eq!(expired.status, 200, "{}", expired.body);
    assert_eq!(app.pool_status(&proxy).await, "available");
    let status = app
        .get(&format!("/confirmations/status?pending_id={id}"))
        .await;
    assert_eq!(status.body["status"], "EXPIRED");
    let again = ops.post(&expire_path, &[("csrf_token", &csrf)]).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("EXPIRED"), "{}", again.body);
    let late = ops
        .post(&resend_path, &[("csrf_token", &csrf), ("channel", "email")])
        .await;
    assert_eq!(late.status, 409, "{}", late.body);
    let unknown = ops
        .post(
            "/admin/activations/no-such-id/expire",
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let page = ops.get(&page_path).await;
    assert!(!page.body.contains("id=\"resend\""), "no forms once ended");

    // Each change audited, with its channel, never a code.
    let target = format!("activation:{id}");
    let entries: Vec<_> = audit(&app)
        .await
        .into_iter()
        .filter(|e| e.1.starts_with("activation."))
        .collect();
    assert_eq!(
        entries
            .iter()
            .map(|e| (e.0.as_str(), e.1.as_str(), e.2.as_str()))
            .collect::<Vec<_>>(),
        [
            ("ops@example.com", "activation.expire", target.as_str()),
            ("ops@example.com", "activation.resend", target.as_str()),
            ("ops@example.com", "activation.resend", target.as_str()),
        ]
    );
    assert!(entries[1].3.contains("voice"), "{entries:?}");
    assert!(entries[2].3.contains("sms"), "{entries:?}");
    assert!(entries.iter().all(|e| !e.3.contains(code)), "{entries:?}");
}

#[tokio::test]
async fn expiring_one_activation_refuses_an_unknown_or_ended_one() {
    let app = spawn_app().await;
    app.add_numbers("FR", NumberType::Mobile, 1).await;
    let started = app
        .post(
            "/confirmations/create",
            &json!({"client_name": "Jeanne Martin", "client_mail": "jeanne@example.com",
                    "client_real_phone": PHONE, "country_iso": "FR"}),
        )
        .await;
    let id = PendingId::parse(started.body["pending_id"].as_str().unwrap()).unwrap();
    let unknown = PendingId::parse("nobody").unwrap();
    assert!(matches!(
        activation::expire_one(&app.app, &unknown).await,
        Err(AppError::NotFound { .. })
    ));
    let expired = activation::expire_one(&app.app, &id).await.unwrap();
    assert_eq!(expired.pending_id, id);
    assert_eq!(app.pool_status(expired.proxy.as_str()).await, "available");
    assert!(matches!(
        activation::expire_one(&app.app, &id).await,
        Err(AppError::Conflict { .. })
    ));
}

/// Writes `n` interactions on `proxy` (client 1's), one an hour back from 2026-11-10T12:00,
/// alternately calls forwarded and texts refused for their country.
async fn seed_interactions(app: &TestApp, proxy: &str, n: usize) {
    let mut sql = String::new();
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-10T12:00:00+00:00").unwrap();
    for i in 0..n {
        let at = (start - chrono::Duration::hours(i as i64)).to_rfc3339();
        let (channel, outcome) = if i % 2 == 0 {
            ("voice", "forwarded")
        } else {
            ("sms", "blocked_country")
        };
        sql.push_str(&format!(
            "insert into interactions (occurred_at, proxy_number, client_id, direction, \
             channel, outcome, twilio_sid) values ('{at}', '{proxy}', 1, 'to_client', \
             '{channel}', '{outcome}', 'SID{i}');\n"
        ));
    }
    sql.push_str(&format!(
        "insert into interactions (occurred_at, proxy_number, client_id, direction, channel, \
         outcome, twilio_sid) values ('2026-11-10T13:00:00+00:00', '{OTHER_PROXY}', null, \
         'unknown', 'voice', 'unknown_proxy', 'OTHER1');\n"
    ));
    app.db.exec(&sql).await;
}

#[tokio::test]
async fn interactions_filter_page_by_50_and_mask_the_client_for_viewers() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, PHONE).await;
    seed_interactions(&app, &proxy, 120).await;
    let viewer = signed_in(&app, "viewer@example.com", Role::Viewer).await;

    let page = viewer.get("/admin/interactions").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("href=\"/admin/interactions\""),
        "the nav links it"
    );
    let first = rows(&page.body, "interactions");
    assert!(first[0].contains(OTHER_PROXY), "newest first: {}", first[0]);
    assert!(
        !page.body.contains(PHONE),
        "viewer: the client's phone masked"
    );

    // 121 rows: 50, 50, 21; newest first, without overlap.
    let mut seen = Vec::new();
    let mut next = Some("/admin/interactions".to_owned());
    while let Some(path) = next {
        let page = viewer.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        for r in rows(&page.body, "interactions") {
            seen.push(between(&r, "<td>", "</td>").unwrap());
        }
        next = link(&page.body, "interactions-next");
    }
    assert_eq!(seen.len(), 121);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    sorted.dedup();
    assert_eq!(seen, sorted, "newest first, each once");

    // Filters: proxy, channel, outcome, dates — and their pages keep them.
    let by_proxy = viewer
        .get(&format!(
            "/admin/interactions?proxy={}",
            OTHER_PROXY.replace('+', "%2B")
        ))
        .await;
    assert_eq!(
        rows(&by_proxy.body, "interactions").len(),
        1,
        "{}",
        by_proxy.body
    );
    let voice = viewer.get("/admin/interactions?channel=voice").await;
    let got = rows(&voice.body, "interactions");
    assert_eq!(got.len(), 50);
    assert!(got.iter().all(|r| r.contains(">call<")), "{got:?}");
    let next = link(&voice.body, "interactions-next").unwrap();
    assert!(next.contains("channel=voice"), "{next}");
    let page2 = viewer.get(&next).await;
    assert_eq!(
        rows(&page2.body, "interactions").len(),
        11,
        "61 calls in all"
    );
    let refused = viewer
        .get("/admin/interactions?outcome=blocked_country&channel=sms")
        .await;
    let got = rows(&refused.body, "interactions");
    assert_eq!(got.len(), 50);
    assert!(got.iter().all(|r| r.contains("country refused")));
    // 2026-11-10 from 00:00 to 12:00: 13 of the seeded rows, and the other proxy's.
    let day = viewer
        .get("/admin/interactions?from=2026-11-10&to=2026-11-10")
        .await;
    assert_eq!(rows(&day.body, "interactions").len(), 14, "{}", day.body);
    let before = viewer.get("/admin/interactions?to=2026-11-09").await;
    assert_eq!(rows(&before.body, "interactions").len(), 50);
    assert!(
        rows(&before.body, "interactions")
            .iter()
            .all(|r| r.contains("2026-11-0")),
        "{}",
        before.body
    );

    // An operator sees the client's phone.
    let ops = signed_in(&app, "ops@example.com", Role::Operator).await;
    let page = ops.get("/admin/interactions").await;
    assert!(page.body.contains(PHONE), "{}", page.body);

    // Bad input: the field named; HTML and SQL are text, never run.
    for (path, field) in [
        ("/admin/interactions?proxy=abc", "proxy"),
        ("/admin/interactions?proxy=%27%20or%201%3D1%20--", "proxy"),
        ("/admin/interactions?channel=fax", "channel"),
        (
            "/admin/interactions?outcome=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            "outcome",
        ),
        ("/admin/interactions?from=2026-13-01", "from"),
        ("/admin/interactions?from=2026-11-10&to=2026-11-01", "to"),
        ("/admin/interactions?before=-4", "before"),
        ("/admin/interactions?before=1%20or%201%3D1", "before"),
    ] {
        let page = viewer.get(path).await;
        assert_eq!(page.status, 400, "{path}: {}", page.body);
        assert!(page.body.contains(&format!("“{field}”")), "{}", page.body);
        assert!(!page.body.contains("<script>"), "{}", page.body);
    }
    let count = app.app.store.interactions(1000).await.unwrap().len();
    assert_eq!(count, 121, "nothing deleted nor changed");
}

#[tokio::test]
async fn in_a_real_browser_the_activations_and_interactions_pages_show() {
    use fantoccini::Locator;

    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, PHONE).await;
    seed_interactions(&app, &proxy, 60).await;
    seed_activations(&app, 60).await;
    operator(&app, "ops@example.com", Role::Operator).await;
    let base = app.base.clone();
    let screenshots = crate::admin_auth::screenshots();

    crate::browser::with_browser(|client| async move {
        client.set_window_size(1280, 1600).await.unwrap();
        client.goto(&format!("{base}/admin")).await.unwrap();
        let field = |id: &'static str| {
            let client = client.clone();
            async move { client.find(Locator::Id(id)).await.unwrap() }
        };
        crate::admin_auth::log_in_browser(&client, "ops@example.com", "/admin").await;
        client
            .find(Locator::LinkText("Activations"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let table = field("activations").await.text().await.unwrap();
        assert!(
            table.contains("act-059") || table.contains("Client 59"),
            "{table}"
        );
        let png = client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(screenshots.join("admin-activations.png"), png).unwrap();

        client
            .goto(&format!("{base}/admin/interactions"))
            .await
            .unwrap();
        let outcome = field("f-outcome").await;
        outcome.select_by_value("forwarded").await.unwrap();
        client
            .find(Locator::Css("form.filters button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        for _ in 0..100 {
            if client.current_url().await.unwrap().query().is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let source = client.source().await.unwrap();
        let table = between(&source, "<table id=\"interactions\">", "</table>")
            .unwrap_or_else(|| panic!("{source}"));
        assert!(table.contains("transmis"), "{table}");
        assert!(!table.contains("pays refusé"), "{table}");
        let png = client.screenshot().await.unwrap();
        std::fs::write(screenshots.join("admin-interactions.png"), png).unwrap();
    })
    .await;
}
