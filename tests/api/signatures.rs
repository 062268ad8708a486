//! Webhook signatures checked as Twilio's own validators check them: the public URL with or
//! without its default port, and during a rotation the previous auth token too.

use std::sync::atomic::{AtomicU32, Ordering};

use proxycall::carrier::signature::sign;
use reqwest::StatusCode;

use crate::helpers::{Options, TestApp, WEBHOOK_TOKEN, spawn_app_with};

const PREVIOUS: &str = "the-token-being-rotated-out";

/// A call webhook signed with `token` over `signed_url`, posted to the server.
async fn call_signed(app: &TestApp, token: &str, signed_url: &str) -> StatusCode {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let sid = format!("CA-signature-{}", NEXT.fetch_add(1, Ordering::SeqCst));
    let params = [
        ("From", "+33698765432"),
        ("To", "+33780000999"),
        ("CallSid", sid.as_str()),
    ];
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let signature = sign(token.as_bytes(), signed_url, &owned);
    app.webhook_signed("/twilio/voice?lang=fr", &params, &signature)
        .await
        .0
}

#[tokio::test]
async fn the_default_port_and_the_previous_token_are_accepted() {
    let app = spawn_app_with(Options {
        public_base_url: Some("https://proxycall.example.com".into()),
        webhook_token_previous: Some(PREVIOUS.into()),
        ..Default::default()
    })
    .await;
    for token in [WEBHOOK_TOKEN, PREVIOUS] {
        for url in [
            "https://proxycall.example.com/twilio/voice?lang=fr",
            "https://proxycall.example.com:443/twilio/voice?lang=fr",
        ] {
            assert_eq!(call_signed(&app, token, url).await, 200, "{token} {url}");
        }
    }
    for (token, url) in [
        (
            "another-token",
            "https://proxycall.example.com/twilio/voice?lang=fr",
        ),
        (
            WEBHOOK_TOKEN,
            "https://proxycall.example.com:8443/twilio/voice?lang=fr",
        ),
        (
            WEBHOOK_TOKEN,
            "http://proxycall.example.com/twilio/voice?lang=fr",
        ),
        (
            WEBHOOK_TOKEN,
            "https://proxycall.example.com/twilio/voice?lang=en",
        ),
    ] {
        assert_eq!(call_signed(&app, token, url).await, 403, "{token} {url}");
    }
    assert_eq!(
        app.app.store.interactions(10).await.unwrap().len(),
        4,
        "only the signed calls were recorded"
    );

    // Configured with the port, Twilio's URL without it passes too; without a previous token
    // configured, that token is refused.
    let app = spawn_app_with(Options {
        public_base_url: Some("https://proxycall.example.com:443".into()),
        ..Default::default()
    })
    .await;
    for url in [
        "https://proxycall.example.com/twilio/voice?lang=fr",
        "https://proxycall.example.com:443/twilio/voice?lang=fr",
    ] {
        assert_eq!(call_signed(&app, WEBHOOK_TOKEN, url).await, 200, "{url}");
        assert_eq!(call_signed(&app, PREVIOUS, url).await, 403, "{url}");
    }
}
