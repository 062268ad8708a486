//! The dashboard's Jobs and outbox, API keys, Operators and Settings pages (issue 10), over
//! HTTP as a browser sees them, and an admin creating and revoking a key in headless Chromium.

use chrono::{Duration, Utc};
use proxycall::domain::{E164, Role};
use proxycall::store::{JobEnd, JobOutcome, JobStatus, NewJob, NewOutbound, OutboundKind};
use serde_json::json;

use crate::admin_auth::{Browser, PASSWORD, between, operator};
use crate::helpers::{Options, SMTP_PASSWORD, TestApp, WEBHOOK_TOKEN, spawn_app, spawn_app_with};

async fn signed_in(app: &TestApp, email: &str, role: Role) -> Browser {
    operator(app, email, role).await;
    let browser = Browser::new(app);
    let page = browser.login(email, PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.body);
    browser
}

/// No workers: the test decides when jobs run.
async fn no_workers() -> TestApp {
    spawn_app_with(Options {
        job_workers: Some(0),
        ..Options::default()
    })
    .await
}

/// A job of `kind` that ran and failed with `error`, as a worker records it.
async fn failed_job(app: &TestApp, kind: &str, payload: serde_json::Value, error: &str) -> i64 {
    let store = &app.app.store;
    let now = Utc::now();
    // Due long ago, so that the claim below takes this job and not one of the same kind the
    // scheduler enqueued meanwhile (`jobs.purge` is periodic: its period's job is due too).
    let id = store
        .enqueue_job(
            &NewJob {
                kind: kind.into(),
                payload: payload.to_string(),
                due_at: now - Duration::days(3650),
                max_attempts: 1,
                dedupe_key: None,
            },
            now,
        )
        .await
        .unwrap()
        .unwrap();
    // PostgreSQL's claim skips rows another transaction holds (the scheduler's, a moment):
    // try again until it is taken.
    let mut claimed = Vec::new();
    for _ in 0..500 {
        claimed = store
            .claim_jobs(&[kind], now, now + Duration::seconds(60), 1)
            .await
            .unwrap();
        if !claimed.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(claimed.len(), 1, "{kind}: job {id} was never claimable");
    assert_eq!(claimed[0].id, id, "the claim took another job of that kind");
    store
        .finish_jobs(
            &[JobOutcome {
                id,
                attempt: claimed[0].attempts,
                end: JobEnd::Failed {
                    error: error.into(),
                },
            }],
            now,
        )
        .await
        .unwrap();
    id
}

/// A text to `to` whose send failed, its send job gone with it.
async fn failed_text(app: &TestApp, key: &str, to: &str) -> i64 {
    let store = &app.app.store;
    let id = store
        .enqueue(
            &NewOutbound {
                kind: OutboundKind::Sms,
                purpose: "relay",
                from: E164::parse("+33780000001").unwrap(),
                to: E164::parse(to).unwrap(),
                body: Some("Secret body 4242".into()),
                url: None,
                dedupe_key: Some(key.into()),
                relay: None,
            },
            Utc::now(),
        )
        .await
        .unwrap()
        .unwrap();
    store
        .outbound_failed(
            id,
            "carrier refused: 21610",
            false,
            Some(&proxycall::store::Bounce { body: "bounce" }),
            Utc::now(),
        )
        .await
        .unwrap();
    app.db
        .exec(&format!(
            "update jobs set status = 'failed' where dedupe_key = 'outbound:{id}'"
        ))
        .await;
    id
}

/// The pager's link to the next page.
fn next_link(body: &str) -> String {
    let end = body.find("\" rel=\"next\"").expect("a next page");
    let start = body[..end].rfind("href=\"").unwrap() + "href=\"".len();
    body[start..end].replace("&#38;", "&")
}

async fn actions(app: &TestApp) -> Vec<(String, String, String)> {
    app.app
        .store
        .audit_page(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.target.unwrap_or_default(), e.details))
        .collect()
}

#[tokio::test]
async fn the_jobs_page_lists_failed_jobs_with_their_error_and_an_operator_queues_one_again() {
    let app = no_workers().await;
    let id = failed_job(
        &app,
        "jobs.purge",
        json!({"keep_days": 30}),
        "the disk <was> full",
    )
    .await;
    let send = failed_job(&app, "outbound.send", json!({"outbound_id": 1}), "boom").await;

    let viewer = signed_in(&app, "viewer@example.com", Role::Viewer).await;
    let page = viewer.get("/admin/jobs?status=failed").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let row = between(&page.body, &format!("id=\"job-{id}\""), "</tr>").unwrap();
    assert!(
        row.contains("jobs.purge") && row.contains("failed"),
        "{row}"
    );
    assert!(
        row.contains("<code>the disk &#60;was&#62; full</code>"),
        "escaped: {row}"
    );
    assert!(row.contains(&format!("href=\"/admin/jobs/{id}\"")), "{row}");
    // A viewer sees no form, and one posted anyway changes nothing.
    assert!(!page.body.contains("/requeue\""), "{}", page.body);
    let csrf = page.csrf();
    let refused = viewer
        .post(
            &format!("/admin/jobs/{id}/requeue"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let job = app.app.store.job(id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Failed);

    let ops = signed_in(&app, "ops@example.com", Role::Operator).await;
    let page = ops.get("/admin/jobs?status=failed&kind=").await;
    assert!(
        page.body
            .contains(&format!("action=\"/admin/jobs/{id}/requeue\"")),
        "{}",
        page.body
    );
    // A send goes back through the outbox: no button, and a post is refused with the reason.
    assert!(
        !page
            .body
            .contains(&format!("action=\"/admin/jobs/{send}/requeue\"")),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    let outbox = ops
        .post(
            &format!("/admin/jobs/{send}/requeue"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(outbox.status, 409, "{}", outbox.body);
    assert!(outbox.body.contains("outbox"), "{}", outbox.body);
    let without_token = ops.post(&format!("/admin/jobs/{id}/requeue"), &[]).await;
    assert_eq!(without_token.status, 403);

    let requeued = ops
        .post(
            &format!("/admin/jobs/{id}/requeue"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(requeued.status, 303, "{}", requeued.body);
    assert_eq!(requeued.location(), format!("/admin/jobs/{id}"));
    let job = app.app.store.job(id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.attempts, 0, "its tries are counted afresh");
    assert!(job.due_at <= Utc::now());
    app.drain().await;
    let job = app.app.store.job(id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Done);
    let again = ops
        .post(
            &format!("/admin/jobs/{id}/requeue"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(again.status, 409, "done: {}", again.body);

    let audit = actions(&app).await;
    let requeues: Vec<_> = audit.iter().filter(|a| a.0 == "job.requeue").collect();
    assert_eq!(requeues.len(), 1, "{audit:?}");
    assert_eq!(requeues[0].1, format!("job:{id}"));
}

#[tokio::test]
async fn the_jobs_page_filters_and_pages_by_keyset_and_names_a_bad_filter() {
    let app = no_workers().await;
    let store = &app.app.store;
    let now = Utc::now();
    for i in 0..57 {
        store
            .enqueue_job(
                &NewJob {
                    kind: if i < 53 { "test.page" } else { "test.other" }.into(),
                    payload: "{}".into(),
                    due_at: now + Duration::hours(1),
                    max_attempts: 3,
                    dedupe_key: None,
                },
                now,
            )
            .await
            .unwrap();
    }
    let viewer = signed_in(&app, "viewer@example.com", Role::Viewer).await;
    // The server's own periodic jobs are there too: the filter keeps the test's.
    let first = viewer.get("/admin/jobs?kind=test.page").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body.matches("<tr id=\"job-").count(), 50);
    let next = next_link(&first.body);
    assert!(next.contains("kind=test.page&after="), "{next}");
    let second = viewer.get(&next).await;
    assert_eq!(second.body.matches("<tr id=\"job-").count(), 3);
    assert!(!second.body.contains("rel=\"next\""));
    // The newest first: page two holds the three oldest, no job twice.
    let ids = |body: &str| -> Vec<i64> {
        body.split("<tr id=\"job-")
            .skip(1)
            .map(|r| r.split('"').next().unwrap().parse().unwrap())
            .collect()
    };
    let (a, b) = (ids(&first.body), ids(&second.body));
    assert!(a.windows(2).all(|w| w[0] > w[1]));
    assert!(a.last().unwrap() > b.first().unwrap());

    let other = viewer
        .get("/admin/jobs?kind=test.other&status=queued")
        .await;
    assert_eq!(other.body.matches("<tr id=\"job-").count(), 4);
    assert!(!other.body.contains("test.page"));
    let none = viewer
        .get("/admin/jobs?kind=test.other&status=failed")
        .await;
    assert_eq!(none.body.matches("<tr id=\"job-").count(), 0);

    for (query, field) in [
        ("status=lost", "“status”"),
        ("kind=DROP%20TABLE", "“kind”"),
        ("after=-1", "“after”"),
        ("after=x", "“after”"),
    ] {
        let bad = viewer.get(&format!("/admin/jobs?{query}")).await;
        assert_eq!(bad.status, 400, "{query}: {}", bad.body);
        assert!(bad.body.contains(field), "{query}: {}", bad.body);
    }
}

#[tokio::test]
async fn the_outbox_page_lists_failed_messages_masked_without_their_text_and_requeues_one() {
    let app = no_workers().await;
    let mut ids = Vec::new();
    for i in 0..51 {
        ids.push(failed_text(&app, &format!("m{i}"), &format!("+336123456{i:02}")).await);
    }
    let viewer = signed_in(&app, "viewer@example.com", Role::Viewer).await;
    let page = viewer.get("/admin/outbox").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body.matches("<tr id=\"outbound-").count(), 50);
    assert!(!page.body.contains("Secret body"), "never a body");
    assert!(!page.body.contains("+33612345650"), "masked: {}", page.body);
    let newest = between(&page.body, &format!("id=\"outbound-{}\"", ids[50]), "</tr>").unwrap();
    assert!(newest.contains("carrier refused: 21610"), "{newest}");
    assert!(newest.contains("relay"), "{newest}");
    assert!(!page.body.contains("/requeue\""), "a viewer has no form");
    let next = next_link(&page.body);
    assert_eq!(next, format!("/admin/outbox?after={}", ids[1]));
    let last = viewer.get(&next).await;
    assert_eq!(last.body.matches("<tr id=\"outbound-").count(), 1);
    assert!(last.body.contains(&format!("id=\"outbound-{}\"", ids[0])));
    let bad = viewer.get("/admin/outbox?after=0").await;
    assert_eq!(bad.status, 400);
    let csrf = page.csrf();
    let refused = viewer
        .post(
            &format!("/admin/outbox/{}/requeue", ids[0]),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(refused.status, 403);

    let ops = signed_in(&app, "ops@example.com", Role::Operator).await;
    let csrf = ops.get("/admin/outbox").await.csrf();
    let done = ops
        .post(
            &format!("/admin/outbox/{}/requeue", ids[0]),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let notice = between(&done.body, "id=\"outbox-notice\"", "</p>").unwrap();
    assert!(notice.contains("queued again"), "{notice}");
    let sent = app.sent_messages(1).await;
    assert!(
        sent.iter()
            .any(|m| m.id == ids[0] && m.status == proxycall::store::OutboundStatus::Sent)
    );
    // Sent now: the outbox says why not, nothing changes.
    let again = ops
        .post(
            &format!("/admin/outbox/{}/requeue", ids[0]),
            &[("csrf_token", &csrf)],
        )
        .await;
    let notice = between(&again.body, "id=\"outbox-notice\"", "</p>").unwrap();
    assert!(notice.contains("sent already"), "{notice}");
    let audit = actions(&app).await;
    let requeues: Vec<_> = audit.iter().filter(|a| a.0 == "outbox.requeue").collect();
    assert_eq!(requeues.len(), 1, "{audit:?}");
    assert!(!requeues[0].2.contains("+336"), "{:?}", requeues[0]);
}

#[tokio::test]
async fn an_admin_creates_a_key_shown_once_that_the_api_takes_until_it_is_revoked() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin@example.com", Role::Admin).await;
    let page = admin.get("/admin/keys").await;
    assert_eq!(page.status, 200, "{}", page.body);
    for scope in ["admin", "orders", "clients", "pool", "activations", "read"] {
        assert!(
            page.body
                .contains(&format!("name=\"scope\" value=\"{scope}\"")),
            "{scope}"
        );
    }
    let csrf = page.csrf();
    for (fields, field) in [
        (vec![("name", ""), ("scope", "read")], "“name”"),
        (vec![("name", "shop")], "“scope”"),
        (vec![("name", "shop"), ("scope", "everything")], "“scope”"),
    ] {
        let mut form = vec![("csrf_token", csrf.as_str())];
        form.extend(fields);
        let bad = admin.post("/admin/keys", &form).await;
        assert_eq!(bad.status, 400, "{}", bad.body);
        assert!(bad.body.contains(field), "{}", bad.body);
    }

    let created = admin
        .post(
            "/admin/keys",
            &[
                ("csrf_token", &csrf),
                ("name", "shop <back-end>"),
                ("scope", "read"),
                ("scope", "orders"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(
        created.headers.get("cache-control").unwrap(),
        "no-store",
        "the key's page is never cached"
    );
    let secret = between(&created.body, "<code id=\"key-secret\">", "</code>").unwrap();
    assert!(secret.starts_with("pck_"), "{secret}");
    let id = secret[4..12].to_owned();
    assert!(created.body.contains("orders,read"), "{}", created.body);

    // Shown once: the list has its id, never the key again.
    let list = admin.get("/admin/keys").await;
    assert!(!list.body.contains(&secret));
    let row = between(&list.body, &format!("id=\"key-{id}\""), "</tr>").unwrap();
    assert!(
        row.contains("shop &#60;back-end&#62;") && row.contains("never"),
        "{row}"
    );

    // The API takes it, and its use shows (recorded off the request's path).
    let answer = app
        .get_with_key("/pool/available?country_iso=FR", Some(&secret))
        .await;
    assert_ne!(answer.status, 401, "{}", answer.text);
    assert_ne!(answer.status, 403, "{}", answer.text);
    let mut used = None;
    for _ in 0..50 {
        let keys = app.app.store.api_keys().await.unwrap();
        used = keys.iter().find(|k| k.id == id).unwrap().last_used_at;
        if used.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let used = used.expect("its use is recorded");
    let row = between(
        &admin.get("/admin/keys").await.body,
        &format!("id=\"key-{id}\""),
        "</tr>",
    )
    .unwrap();
    assert!(
        row.contains(&used.format("%Y-%m-%d %H:%M").to_string()),
        "{row}"
    );

    // Revoked: the API refuses it from then on.
    let revoked = admin
        .post(
            &format!("/admin/keys/{id}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert!(revoked.body.contains("revoked"), "{}", revoked.body);
    let answer = app
        .get_with_key("/pool/available?country_iso=FR", Some(&secret))
        .await;
    assert_eq!(answer.status, 401, "{}", answer.text);
    let twice = admin
        .post(
            &format!("/admin/keys/{id}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(twice.status, 404);
    let unknown = admin
        .post("/admin/keys/not-a-key/revoke", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(unknown.status, 404);

    // The audit log names the key by its id, never the key.
    let audit = actions(&app).await;
    for action in ["key.create", "key.revoke"] {
        let entry = audit.iter().find(|a| a.0 == action).unwrap();
        assert_eq!(entry.1, format!("key:{id}"));
        assert!(!entry.2.contains(&secret[12..]), "{entry:?}");
    }
}

#[tokio::test]
async fn a_key_s_last_use_is_written_at_most_once_a_minute() {
    let app = spawn_app().await;
    let store = &app.app.store;
    let secret = app.key_with_scopes("read").await;
    let id = &secret[4..12];
    let last_used = || async {
        store
            .api_keys()
            .await
            .unwrap()
            .into_iter()
            .find(|k| k.id == id)
            .unwrap()
            .last_used_at
    };
    let t0 = Utc::now();
    store
        .touch_api_key(id, t0, t0 - Duration::minutes(1))
        .await
        .unwrap();
    let first = last_used().await.unwrap();
    let t1 = t0 + Duration::seconds(30);
    store
        .touch_api_key(id, t1, t1 - Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        last_used().await.unwrap(),
        first,
        "within the minute: no write"
    );
    let t2 = t0 + Duration::seconds(61);
    store
        .touch_api_key(id, t2, t2 - Duration::minutes(1))
        .await
        .unwrap();
    assert!(
        last_used().await.unwrap() > first,
        "a minute later: written"
    );
}

#[tokio::test]
async fn an_admin_adds_disables_resets_and_changes_the_role_of_operators_but_not_its_own() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "admin@example.com", Role::Admin).await;
    let page = admin.get("/admin/operators").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let me = app
        .app
        .store
        .operator_by_email(&proxycall::domain::Email::parse("admin@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    let row = between(&page.body, &format!("id=\"operator-{}\"", me.id), "</tr>").unwrap();
    assert!(row.contains("(you)") && row.contains("admin"), "{row}");
    // Logged in a moment ago: the audit log has it.
    assert!(
        row.contains(&Utc::now().format("%Y-%m-%d").to_string()),
        "{row}"
    );
    assert!(!row.contains("/disable"), "no form on oneself: {row}");
    let csrf = page.csrf();

    let new_password = "another long passphrase";
    for (email, role, password, field) in [
        ("not an e-mail", "viewer", new_password, "“email”"),
        ("eve@example.com", "root", new_password, "“role”"),
        ("eve@example.com", "viewer", "short", "“password”"),
        ("admin@example.com", "viewer", new_password, "“email”"),
    ] {
        let bad = admin
            .post(
                "/admin/operators",
                &[
                    ("csrf_token", &csrf),
                    ("email", email),
                    ("role", role),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(bad.status, 400, "{email}: {}", bad.body);
        assert!(bad.body.contains(field), "{email}: {}", bad.body);
    }
    let added = admin
        .post(
            "/admin/operators",
            &[
                ("csrf_token", &csrf),
                ("email", "eve@example.com"),
                ("role", "operator"),
                ("password", new_password),
            ],
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert!(
        added.body.contains("eve@example.com added"),
        "{}",
        added.body
    );
    let eve = Browser::new(&app);
    assert_eq!(eve.login("eve@example.com", new_password).await.status, 303);
    assert_eq!(eve.get("/admin/jobs").await.status, 200);
    let eve_id = app
        .app
        .store
        .operator_by_email(&proxycall::domain::Email::parse("eve@example.com").unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;

    // Her role, then a new password (her session ends), then disabled.
    let role = admin
        .post(
            &format!("/admin/operators/{eve_id}/role"),
            &[("csrf_token", &csrf), ("role", "viewer")],
        )
        .await;
    assert_eq!(role.status, 200, "{}", role.body);
    assert_eq!(eve.get("/admin/keys").await.status, 403);
    let ops_csrf = eve.get("/admin/jobs").await.csrf();
    let as_viewer = eve
        .post("/admin/jobs/1/requeue", &[("csrf_token", &ops_csrf)])
        .await;
    assert_eq!(as_viewer.status, 403, "a viewer from her next request");

    let short = admin
        .post(
            &format!("/admin/operators/{eve_id}/password"),
            &[("csrf_token", &csrf), ("password", "short")],
        )
        .await;
    assert_eq!(short.status, 400);
    let reset = admin
        .post(
            &format!("/admin/operators/{eve_id}/password"),
            &[
                ("csrf_token", &csrf),
                ("password", "a third long passphrase"),
            ],
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(eve.get("/admin").await.status, 303, "her session ended");
    let eve = Browser::new(&app);
    assert_eq!(
        eve.login("eve@example.com", "a third long passphrase")
            .await
            .status,
        303
    );

    let disabled = admin
        .post(
            &format!("/admin/operators/{eve_id}/disable"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    let row = between(
        &disabled.body,
        &format!("id=\"operator-{eve_id}\""),
        "</tr>",
    )
    .unwrap();
    assert!(row.contains("disabled"), "{row}");
    assert_eq!(eve.get("/admin").await.status, 303, "disabled: signed out");

    // Not on oneself: a clear page, nothing changes.
    for action in ["disable", "role"] {
        let own = admin
            .post(
                &format!("/admin/operators/{}/{action}", me.id),
                &[("csrf_token", &csrf), ("role", "viewer")],
            )
            .await;
        assert_eq!(own.status, 409, "{}", own.body);
        assert!(own.body.contains("your own account"), "{}", own.body);
    }
    assert_eq!(admin.get("/admin/operators").await.status, 200);
    let unknown = admin
        .post("/admin/operators/999999/disable", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(unknown.status, 404);

    let audit = actions(&app).await;
    for action in [
        "operator.create",
        "operator.set_role",
        "operator.reset_password",
        "operator.disable",
    ] {
        let entry = audit
            .iter()
            .find(|a| a.0 == action && a.1 == "eve@example.com")
            .unwrap_or_else(|| panic!("{action}: {audit:?}"));
        assert!(!entry.2.contains("passphrase"), "{entry:?}");
    }
}

#[tokio::test]
async fn the_settings_page_shows_the_configuration_with_every_secret_masked() {
    const API_TOKEN: &str = "api-token-that-must-stay-hidden-0123456789";
    const PREVIOUS: &str = "previous-webhook-token-hidden";
    const OTP_SECRET: &str = "otp-secret-that-must-stay-hidden-0123456789";
    let app = spawn_app_with(Options {
        api_token: Some(API_TOKEN.into()),
        webhook_token_previous: Some(PREVIOUS.into()),
        smtp: Some("127.0.0.1:2525".parse().unwrap()),
        settings: Some(Box::new(|raw| {
            raw.env.otp_secret = Some(OTP_SECRET.into());
            raw.pool_low_water = Some("7".into());
        })),
        ..Options::default()
    })
    .await;
    let admin = signed_in(&app, "admin@example.com", Role::Admin).await;
    let page = admin.get("/admin/settings").await;
    assert_eq!(page.status, 200, "{}", page.body);
    for secret in [
        API_TOKEN,
        PREVIOUS,
        OTP_SECRET,
        WEBHOOK_TOKEN,
        SMTP_PASSWORD,
    ] {
        assert!(!page.body.contains(secret), "{secret} shown: {}", page.body);
    }
    if let Some(password) = url::Url::parse(app.db.url())
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
    {
        assert!(!page.body.contains(&password));
    }
    let value = |name: &str| {
        let row = between(&page.body, &format!("id=\"setting-{name}\""), "</tr>")
            .unwrap_or_else(|| panic!("no {name}"));
        between(&row, "<td>", "</td>").unwrap()
    };
    assert_eq!(value("PROXYCALL_API_TOKEN"), "set (hidden)");
    assert_eq!(value("SMTP_PASSWORD"), "set (hidden)");
    assert_eq!(value("PROXYCALL_OTP_SECRET"), "set (hidden)");
    assert_eq!(value("TWILIO_AUTH_TOKEN"), "set (hidden)");
    assert_eq!(value("SMTP_HOST"), "127.0.0.1");
    assert_eq!(value("PROXYCALL_CARRIER"), "simulated");
    assert_eq!(value("PROXYCALL_POOL_LOW_WATER"), "7");
    assert_eq!(value("PROXYCALL_POOL_AUTO_BUY_TO"), "not set");
    assert!(value("PROXYCALL_ALLOWED_CALLING_CODES").starts_with("+30, +31"));
    assert!(value("PROXYCALL_DATABASE_URL").contains("://"));
}

#[tokio::test]
async fn viewers_and_operators_are_refused_the_admin_pages_and_see_only_their_sections() {
    let app = spawn_app().await;
    for (email, role) in [
        ("viewer@example.com", Role::Viewer),
        ("ops@example.com", Role::Operator),
    ] {
        let browser = signed_in(&app, email, role).await;
        for path in ["/admin/keys", "/admin/operators", "/admin/settings"] {
            let page = browser.get(path).await;
            assert_eq!(page.status, 403, "{email} {path}: {}", page.body);
        }
        let overview = browser.get("/admin").await;
        assert!(overview.body.contains("href=\"/admin/jobs\""));
        assert!(!overview.body.contains("href=\"/admin/keys\""));
        let csrf = overview.csrf();
        let post = browser
            .post(
                "/admin/keys",
                &[("csrf_token", &csrf), ("name", "x"), ("scope", "admin")],
            )
            .await;
        assert_eq!(post.status, 403, "{email}");
        let post = browser
            .post(
                "/admin/operators",
                &[
                    ("csrf_token", &csrf),
                    ("email", "mallory@example.com"),
                    ("role", "admin"),
                    ("password", "a long enough password"),
                ],
            )
            .await;
        assert_eq!(post.status, 403, "{email}");
    }
    assert_eq!(
        app.app.store.api_keys().await.unwrap().len(),
        1,
        "the test's own key only"
    );
    assert!(
        app.app
            .store
            .operator_by_email(&proxycall::domain::Email::parse("mallory@example.com").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let admin = signed_in(&app, "admin@example.com", Role::Admin).await;
    let overview = admin.get("/admin").await;
    for href in [
        "/admin/jobs",
        "/admin/keys",
        "/admin/operators",
        "/admin/settings",
    ] {
        assert!(
            overview.body.contains(&format!("href=\"{href}\"")),
            "{href}"
        );
    }
}

#[tokio::test]
async fn in_a_browser_an_admin_creates_a_key_sees_it_once_and_revokes_it() {
    use fantoccini::Locator;

    let app = spawn_app().await;
    operator(&app, "admin@example.com", Role::Admin).await;
    let base = app.base.clone();
    let screenshots = crate::admin_auth::screenshots();
    let store = app.app.store.clone();

    crate::browser::with_browser(|client| async move {
        client.set_window_size(1280, 1400).await.unwrap();
        client.goto(&format!("{base}/admin")).await.unwrap();
        let find = |css: &'static str| {
            let client = client.clone();
            async move { client.find(Locator::Css(css)).await.unwrap() }
        };
        crate::admin_auth::log_in_browser(&client, "admin@example.com", "/admin").await;
        client
            .find(Locator::LinkText("Clés d'API"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        find("#k-name").await.send_keys("Boutique").await.unwrap();
        find("#k-scope-orders").await.click().await.unwrap();
        find("#k-scope-read").await.click().await.unwrap();
        find("#create-key button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
        let mut secret = String::new();
        for _ in 0..40 {
            if let Ok(e) = client.find(Locator::Id("key-secret")).await {
                secret = e.text().await.unwrap();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(secret.starts_with("pck_"), "{secret}");
        let png = client.screenshot().await.unwrap();
        std::fs::write(screenshots.join("admin-key-created.png"), &png).unwrap();

        find("#keys-back").await.click().await.unwrap();
        let id = &secret[4..12];
        let mut list = String::new();
        for _ in 0..40 {
            if let Ok(e) = client.find(Locator::Id("keys")).await {
                list = e.text().await.unwrap();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(list.contains(id) && !list.contains(&secret), "{list}");
        client
            .find(Locator::Id(&format!("revoke-{id}")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let mut notice = String::new();
        for _ in 0..40 {
            if let Ok(e) = client.find(Locator::Id("keys-notice")).await {
                notice = e.text().await.unwrap();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(notice.contains(id), "{notice}");
        let png = client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(screenshots.join("admin-keys.png"), png).unwrap();
        let keys = store.api_keys().await.unwrap();
        assert!(
            keys.iter()
                .find(|k| k.id == id)
                .unwrap()
                .revoked_at
                .is_some()
        );
    })
    .await;
}
