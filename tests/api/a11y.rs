//! Accessibility, checked in the browser the other browser tests drive: axe-core (from the npm
//! registry, pinned by `tests/a11y/package-lock.json`, installed by `.ci/run` with `npm ci`)
//! is injected through WebDriver into each page and run there. A serious or critical
//! violation fails the test; lesser ones are printed.
//!
//! Without axe-core installed the check says so and passes, unless
//! `PROXYCALL_REQUIRE_BROWSER=1` (CI), which makes it a failure like a missing browser.

use std::path::Path;

use fantoccini::{Client, Locator};
use proxycall::domain::{NumberType, Role};
use serde_json::Value;

use crate::admin_auth::{arrived_at, log_in_browser, operator};
use crate::helpers::spawn_app;

fn axe_source() -> Option<String> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/a11y/node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(_) => {
            assert!(
                std::env::var("PROXYCALL_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "{} is missing and PROXYCALL_REQUIRE_BROWSER=1: run `npm ci --prefix tests/a11y`",
                path.display()
            );
            eprintln!(
                "notice: axe-core is missing, the accessibility check is skipped (npm ci \
                 --prefix tests/a11y)"
            );
            None
        }
    }
}

/// Runs axe-core on the page the browser shows; panics on a serious or critical violation,
/// naming the rule, its help text and the elements.
pub(crate) async fn check(client: &Client) {
    let Some(source) = axe_source() else {
        return;
    };
    let url = client.current_url().await.unwrap();
    // WebDriver's scripts run outside the page's Content-Security-Policy, which forbids any.
    let loaded = client
        .execute(&format!("{source}\nreturn typeof axe;"), vec![])
        .await
        .unwrap();
    assert_eq!(loaded, "object", "axe-core did not load in {url}");
    let violations = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations.map(v => ({
                 id: v.id, impact: v.impact, help: v.help,
                 nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')) }))))
               .catch(e => done([{ id: 'axe-error', impact: 'critical', help: String(e),
                 nodes: [] }]));",
            vec![],
        )
        .await
        .unwrap();
    let violations = violations.as_array().cloned().unwrap_or_default();
    let (grave, lesser): (Vec<Value>, Vec<Value>) = violations
        .into_iter()
        .partition(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")));
    for v in &lesser {
        eprintln!(
            "accessibility ({url}): {} {}: {}",
            v["impact"], v["id"], v["help"]
        );
    }
    assert!(
        grave.is_empty(),
        "serious or critical accessibility violations in {url}: {}",
        serde_json::to_string_pretty(&grave).unwrap()
    );
}

/// The dashboard's pages an admin opens, in the order of the navigation.
const ADMIN_PAGES: &[&str] = &[
    "/admin",
    "/admin/clients",
    "/admin/clients?q=1",
    "/admin/clients/1",
    "/admin/pool",
    "/admin/activations",
    "/admin/interactions",
    "/admin/jobs",
    "/admin/outbox",
    "/admin/keys",
    "/admin/operators",
    "/admin/settings",
    "/admin/audit",
    "/admin/account/totp",
];

#[tokio::test]
async fn every_dashboard_page_passes_the_accessibility_check() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, "+33612345678").await;
    app.add_numbers("FR", NumberType::Local, 3).await;
    // Something in every list: a call, a text, an activation, and what they queued.
    let (status, _) = app
        .webhook(
            "/twilio/voice",
            &[("From", "+33698765432"), ("To", &proxy), ("CallSid", "CA1")],
        )
        .await;
    assert_eq!(status, 200);
    let started = app
        .post(
            "/confirmations/create",
            &serde_json::json!({"client_name": "Paul", "client_mail": "paul@example.com",
                    "client_real_phone": "+33644444444", "country_iso": "FR"}),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let activation = format!(
        "/admin/activations/{}",
        started.body["pending_id"].as_str().unwrap()
    );
    operator(&app, "admin@example.com", Role::Admin).await;
    operator(&app, "viewer@example.com", Role::Viewer).await;
    let base = app.base.clone();
    crate::browser::with_browser(|client| async move {
        let log_in = |email: &'static str| {
            let client = client.clone();
            let base = base.clone();
            async move {
                client.goto(&format!("{base}/admin/login")).await.unwrap();
                check(&client).await;
                log_in_browser(&client, email, "/admin").await;
            }
        };
        log_in("admin@example.com").await;
        for path in ADMIN_PAGES {
            client.goto(&format!("{base}{path}")).await.unwrap();
            let url = client.current_url().await.unwrap();
            assert_eq!(url.path(), path.split('?').next().unwrap());
            check(&client).await;
        }
        client.goto(&format!("{base}{activation}")).await.unwrap();
        check(&client).await;
        client
            .find(Locator::Id("logout"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        arrived_at(&client, "/admin/login").await;
        // A refusal is a page too: a viewer opening the audit log.
        log_in("viewer@example.com").await;
        client.goto(&format!("{base}/admin/audit")).await.unwrap();
        check(&client).await;
    })
    .await;
}
