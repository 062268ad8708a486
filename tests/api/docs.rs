//! `/docs`: Swagger UI served by the binary under its own strict Content-Security-Policy, in
//! a real browser: it lists the operations, and "Authorize" then "Try it out" call the API
//! with a key.

use std::time::Duration;

use fantoccini::{Client, Locator};

use crate::helpers::spawn_app;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   img-src 'self' data:; connect-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// Waits (up to 10 s) for an element the scripts draw.
async fn drawn(client: &Client, css: &str) -> fantoccini::elements::Element {
    for _ in 0..100 {
        if let Ok(e) = client.find(Locator::Css(css)).await {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never appeared in {}", client.source().await.unwrap());
}

#[tokio::test]
async fn the_docs_are_served_by_the_binary_under_a_strict_policy() {
    let app = spawn_app().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let moved = http.get(format!("{}/docs", app.base)).send().await.unwrap();
    assert_eq!(moved.status(), 308);
    assert_eq!(moved.headers()["location"], "/docs/");
    let page = http
        .get(format!("{}/docs/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-security-policy"], CSP);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    // Every script is a file of this server: nothing inline, nothing from elsewhere.
    assert!(
        html.contains("<script src=\"./swagger-ui-bundle.js\""),
        "{html}"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    let init = http
        .get(format!("{}/docs/swagger-initializer.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    assert!(
        init.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(init.text().await.unwrap().contains("/openapi.json"));
    let missing = http
        .get(format!("{}/docs/nothing.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<serde_json::Value>().await.unwrap()["code"],
        "not_found"
    );
}

#[tokio::test]
async fn in_a_real_browser_the_docs_list_the_operations_and_try_one_with_a_key() {
    let app = spawn_app().await;
    let (base, key) = (app.base.clone(), app.key.clone());
    crate::browser::with_browser(|client| async move {
        client.set_window_size(1280, 1600).await.unwrap();
        client.goto(&format!("{base}/docs")).await.unwrap();
        assert_eq!(client.current_url().await.unwrap().path(), "/docs/");
        // The scripts ran (the policy let them) and drew an operation per route.
        drawn(&client, ".opblock").await;
        let operations = client.find_all(Locator::Css(".opblock")).await.unwrap();
        assert!(operations.len() > 20, "{} operations", operations.len());
        let text = client
            .find(Locator::Css("#swagger-ui"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for path in ["/orders", "/clients/{client_id}", "/twilio/voice"] {
            assert!(text.contains(path), "{path} missing");
        }
        // The metrics need a key with the `read` scope: typed in "Authorize", it is sent.
        drawn(&client, "button.authorize")
            .await
            .click()
            .await
            .unwrap();
        let field = drawn(&client, ".modal-ux input[type=text]").await;
        field.send_keys(&key).await.unwrap();
        client
            .find(Locator::Css(".modal-ux button.authorize"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client
            .find(Locator::Css(".modal-ux button.btn-done"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let metrics = "#operations-operations-metrics";
        drawn(&client, &format!("{metrics} .opblock-summary-control"))
            .await
            .click()
            .await
            .unwrap();
        drawn(&client, &format!("{metrics} .try-out__btn"))
            .await
            .click()
            .await
            .unwrap();
        drawn(&client, &format!("{metrics} .execute"))
            .await
            .click()
            .await
            .unwrap();
        let status = drawn(
            &client,
            &format!("{metrics} .live-responses-table tbody .response-col_status"),
        )
        .await
        .text()
        .await
        .unwrap();
        assert_eq!(status.trim(), "200");
        let screenshots =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&screenshots).unwrap();
        std::fs::write(
            screenshots.join("docs.png"),
            client.screenshot().await.unwrap(),
        )
        .unwrap();
    })
    .await;
}
