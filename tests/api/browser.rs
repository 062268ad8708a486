//! The self-service pages in a real browser, as a person uses them: headless Chromium driven
//! through Debian's chromedriver (WebDriver), keyboard only.
//!
//! Without `/usr/bin/chromedriver` the tests say so and pass, unless
//! `PROXYCALL_REQUIRE_BROWSER=1` (CI sets it), which makes a missing browser a failure.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::process::Stdio;

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use proxycall::domain::NumberType;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// Runs `story` with a fresh browser (its own chromedriver, profile and session), then closes
/// the session and stops chromedriver, whether the story passed or panicked. `None` when the
/// machine has no chromedriver and none is required.
pub(crate) async fn with_browser<F, Fut>(story: F) -> Option<()>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()>,
{
    if !Path::new(CHROMEDRIVER).exists() {
        assert!(
            std::env::var("PROXYCALL_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "{CHROMEDRIVER} is missing and PROXYCALL_REQUIRE_BROWSER=1: install the \
             chromium and chromium-driver packages"
        );
        eprintln!(
            "notice: {CHROMEDRIVER} is missing, the browser test is skipped (apt-get install \
             chromium chromium-driver; PROXYCALL_REQUIRE_BROWSER=1 makes this a failure)"
        );
        return None;
    }
    let profile = tempfile::tempdir().unwrap();
    let (mut driver, port) = start_chromedriver().await;
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--lang=fr-FR",
                format!("--user-data-dir={}", profile.path().display()),
            ],
            // What a French visitor's browser asks for: the pages' default language.
            "prefs": { "intl.accept_languages": "fr-FR,fr" },
        }
    });
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("chromedriver opens a Chromium session");
    let outcome = AssertUnwindSafe(story(client.clone())).catch_unwind().await;
    let _ = client.close().await;
    let _ = driver.kill().await;
    drop(profile);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    Some(())
}

/// chromedriver on a free port of loopback, once it says it listens.
async fn start_chromedriver() -> (Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
    loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("chromedriver said it started before closing its output");
        if line.contains("started successfully") {
            break;
        }
    }
    // Keep reading, so chromedriver never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (driver, port)
}

/// Presses Tab until `id` has the focus (a few presses at most), as someone who cannot use a
/// mouse moves through the page.
async fn tab_to(client: &Client, id: &str) {
    for _ in 0..8 {
        let active = client.active_element().await.unwrap();
        if active.attr("id").await.unwrap().as_deref() == Some(id) {
            return;
        }
        active.send_keys(&Key::Tab.to_string()).await.unwrap();
    }
    panic!("Tab never reached #{id}");
}

/// Types `text` into the focused field.
async fn type_in(client: &Client, text: &str) {
    client
        .active_element()
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

/// The page as the browser holds it, with the security headers the server sent for it (read
/// again with the browser's cookies, which WebDriver shows, `HttpOnly` ones included): the
/// strict CSP, nothing inline; and the accessibility check.
async fn check_page(app: &TestApp, client: &Client) -> String {
    let source = client.source().await.unwrap();
    for inline in [
        "<script",
        "<style",
        "style=",
        "javascript:",
        " onclick=",
        " onload=",
    ] {
        assert!(!source.contains(inline), "{inline} in {source}");
    }
    let url = client.current_url().await.unwrap();
    let cookies: Vec<String> = client
        .get_all_cookies()
        .await
        .unwrap()
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect();
    let answer = app
        .http
        .get(url.as_str())
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    let headers = answer.headers();
    assert_eq!(headers["content-security-policy"], CSP, "{url}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    // The stylesheet was allowed in and applied: the page is laid out by it.
    let width = client
        .execute(
            "return getComputedStyle(document.querySelector('main')).maxWidth",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(width, "640px", "{url}: the stylesheet did not apply");
    crate::a11y::check(client).await;
    source
}

/// The text of the `<h1>`.
async fn heading(client: &Client) -> String {
    client
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_person_activates_their_number_in_the_browser_with_the_keyboard_and_the_link() {
    // No cool-down, so that the link can be asked for at once rather than after the cascade.
    let app = spawn_app_with(Options {
        settings: Some(Box::new(|raw| raw.otp_min_interval_secs = Some("0".into()))),
        ..Options::default()
    })
    .await;
    app.add_numbers("FR", NumberType::Mobile, 1).await;
    let base = app.base.clone();
    with_browser(|client| async move {
        // The form, in French by default, every field labelled.
        client.goto(&format!("{base}/activate")).await.unwrap();
        let form = check_page(&app, &client).await;
        assert!(form.contains("<html lang=\"fr\">"), "{form}");
        assert_eq!(heading(&client).await, "Activer votre numéro ProxyCall");
        for id in [
            "client_name",
            "client_mail",
            "client_real_phone",
            "country_iso",
        ] {
            assert!(form.contains(&format!("<label for=\"{id}\">")), "{id}");
        }
        let csrf = client.get_named_cookie("pc_csrf").await.unwrap();
        assert_eq!(csrf.http_only(), Some(true));
        assert_eq!(
            csrf.same_site().map(|s| s.to_string()).as_deref(),
            Some("Strict")
        );

        // Filled in and sent with the keyboard alone.
        tab_to(&client, "client_name").await;
        type_in(&client, "Jeanne Martin").await;
        tab_to(&client, "client_mail").await;
        type_in(&client, "jeanne.martin@example.fr").await;
        tab_to(&client, "client_real_phone").await;
        type_in(&client, "+33 6 12 34 56 78").await;
        tab_to(&client, "country_iso").await;
        let country = client.active_element().await.unwrap();
        assert_eq!(country.prop("value").await.unwrap().as_deref(), Some("FR"));
        country.send_keys(&Key::Tab.to_string()).await.unwrap();
        let button = client.active_element().await.unwrap();
        assert_eq!(button.tag_name().await.unwrap(), "button");
        button.send_keys(&Key::Enter.to_string()).await.unwrap();

        // The status page: what happens next, and where the activation stands.
        client
            .wait()
            .for_element(Locator::Css("[data-status]"))
            .await
            .unwrap();
        let url = client.current_url().await.unwrap();
        assert_eq!(url.path(), "/activate/status");
        let pending_id = url
            .query_pairs()
            .find(|(k, _)| k == "pending_id")
            .map(|(_, v)| v.into_owned())
            .expect("the status page names its activation");
        let status = check_page(&app, &client).await;
        assert_eq!(heading(&client).await, "Votre demande d'activation");
        assert!(status.contains("data-status=\"PENDING\""), "{status}");
        // No reload on a timer: a link, for the reader to follow when ready.
        assert!(!status.contains("http-equiv=\"refresh\""), "{status}");
        assert!(status.contains("Mettre à jour maintenant"), "{status}");
        assert!(status.contains("Ce qui va se passer"), "{status}");
        assert!(status.contains("SMS"), "{status}");

        // The link, as the phone received it.
        let resent = app
            .post(
                "/confirmations/resend",
                &json!({"pending_id": pending_id, "channel": "email"}),
            )
            .await;
        assert_eq!(resent.status, 200, "{}", resent.text);
        let deliveries = app.deliveries_to("+33612345678", 2).await;
        let link = deliveries
            .iter()
            .filter_map(|d| d.body.as_deref())
            .find_map(|body| {
                body.split_whitespace()
                    .find(|word| word.contains("/confirmations/verify?token="))
            })
            .expect("a text holds the verification link")
            .to_owned();
        assert!(link.starts_with(&base), "{link}");

        client.goto(&link).await.unwrap();
        check_page(&app, &client).await;
        assert_eq!(heading(&client).await, "Confirmation réussie");
        assert_eq!(client.title().await.unwrap(), "Confirmation réussie");

        // Opened again: already used (the page's check above opened it a second time too).
        client.goto(&link).await.unwrap();
        assert_eq!(heading(&client).await, "Déjà traité");
        assert_eq!(client.title().await.unwrap(), "Déjà traité");

        // The status page now says it is done, and offers no more updating.
        client.goto(url.as_str()).await.unwrap();
        let done = check_page(&app, &client).await;
        assert!(done.contains("data-status=\"PROMOTED\""), "{done}");
        assert!(!done.contains("Mettre à jour maintenant"), "{done}");
        assert!(done.contains("est actif"), "{done}");
    })
    .await;
}

#[tokio::test]
async fn a_bad_e_mail_is_shown_next_to_its_field_and_the_other_values_are_kept() {
    let app = spawn_app().await;
    let base = app.base.clone();
    with_browser(|client| async move {
        // In English, through the page's own link, reached with the keyboard.
        client.goto(&format!("{base}/activate")).await.unwrap();
        // The first stops of Tab: the skip link, then the language link.
        for _ in 0..4 {
            let active = client.active_element().await.unwrap();
            if active.attr("hreflang").await.unwrap().as_deref() == Some("en") {
                break;
            }
            active.send_keys(&Key::Tab.to_string()).await.unwrap();
        }
        client
            .active_element()
            .await
            .unwrap()
            .send_keys(&Key::Enter.to_string())
            .await
            .unwrap();
        client
            .wait()
            .for_element(Locator::Css("html[lang=\"en\"]"))
            .await
            .unwrap();
        assert_eq!(heading(&client).await, "Activate your ProxyCall number");

        tab_to(&client, "client_name").await;
        type_in(&client, "Jeanne Martin").await;
        tab_to(&client, "client_mail").await;
        type_in(&client, "jeanne.martin@").await;
        tab_to(&client, "client_real_phone").await;
        type_in(&client, "+33612345678").await;
        type_in(&client, &Key::Enter.to_string()).await;

        let mail = client
            .wait()
            .for_element(Locator::Css("#client_mail[aria-invalid=\"true\"]"))
            .await
            .unwrap();
        let page = check_page(&app, &client).await;
        assert!(page.contains("<html lang=\"en\">"), "{page}");
        assert_eq!(
            mail.attr("aria-describedby").await.unwrap().as_deref(),
            Some("client_mail-error")
        );
        let error = client
            .find(Locator::Css("#client_mail-error"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            error,
            "Enter a valid e-mail address, for example name@example.com."
        );
        // The summary at the top links to the field.
        let summary = client
            .find(Locator::Css(".summary a[href=\"#client_mail\"]"))
            .await
            .unwrap();
        assert_eq!(summary.text().await.unwrap(), error);
        // What was typed is still there; only the e-mail is marked.
        let value = |id: &'static str| {
            let client = client.clone();
            async move {
                client
                    .find(Locator::Id(id))
                    .await
                    .unwrap()
                    .prop("value")
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        assert_eq!(value("client_name").await, "Jeanne Martin");
        assert_eq!(value("client_mail").await, "jeanne.martin@");
        assert_eq!(value("client_real_phone").await, "+33612345678");
        for id in ["client_name", "client_real_phone"] {
            let field = client.find(Locator::Id(id)).await.unwrap();
            assert_eq!(field.attr("aria-invalid").await.unwrap(), None, "{id}");
        }
        // Nothing was started.
        assert!(app.deliveries_to("+33612345678", 0).await.is_empty());
    })
    .await;
}
