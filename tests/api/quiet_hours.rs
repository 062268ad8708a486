//! Quiet hours (issue 12, item 8): set through the API; meanwhile texts to the client wait
//! for their end and calls go to voicemail, even with `PROXYCALL_VOICEMAIL` off.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with};

const CLIENT: &str = "+33612345678";
const COURIER: &str = "+33698765432";
const RECORDING: &str = "RE0123456789abcdef0123456789abcdef";

/// Local `HH:MM` (Europe/Paris, the default zone) of `at`.
fn local(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::Paris)
        .format("%H:%M")
        .to_string()
}

/// Quiet hours from an hour ago to an hour from now: the test runs inside them, whatever the
/// time. Answers when they end (to the minute).
async fn quiet_now(app: &TestApp, client: i64) -> DateTime<Utc> {
    let now = Utc::now();
    let answer = app
        .put(
            &format!("/clients/{client}/quiet-hours"),
            &json!({"start": local(now - Duration::hours(1)), "end": local(now + Duration::hours(1))}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    now + Duration::hours(1)
}

async fn text(app: &TestApp, from: &str, proxy: &str, sid: &str, body: &str) {
    let (status, _) = app
        .webhook(
            "/twilio/sms",
            &[
                ("From", from),
                ("To", proxy),
                ("Body", body),
                ("MessageSid", sid),
            ],
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn quiet_hours_are_set_read_and_cleared_through_the_api() {
    let app = spawn_app().await;
    app.client_with_proxy(1, CLIENT).await;
    let path = "/clients/1/quiet-hours";

    assert_eq!(app.get(path).await.status, 404, "none yet");
    let answer = app
        .put(path, &json!({"start": "22:00", "end": "07:00"}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.body,
        json!({"client_id": 1, "start": "22:00", "end": "07:00", "timezone": "Europe/Paris"})
    );
    assert_eq!(app.get(path).await.body, answer.body);

    for (body, field) in [
        (json!({"start": "25:00", "end": "07:00"}), "start"),
        (json!({"start": "22:00", "end": "7h"}), "end"),
        (json!({"start": "22:00", "end": "22:00"}), "end"),
    ] {
        let answer = app.put(path, &body).await;
        assert_eq!(answer.status, 422, "{body}: {}", answer.text);
        assert_eq!(answer.field(), field, "{body}");
    }
    let answer = app
        .put(
            path,
            &json!({"start": "22:00", "end": "07:00", "days": "all"}),
        )
        .await;
    assert_eq!(answer.status, 422, "{}", answer.text);
    let answer = app
        .put(
            "/clients/999/quiet-hours",
            &json!({"start": "22:00", "end": "07:00"}),
        )
        .await;
    assert_eq!(answer.status, 404);
    assert_eq!(app.get(path).await.body["start"], "22:00", "unchanged");

    let read_only = app.key_with_scopes("read").await;
    let answer = app
        .send_with_key(
            reqwest::Method::PUT,
            path,
            &json!({"start": "20:00", "end": "07:00"}),
            Some(&read_only),
        )
        .await;
    assert_eq!(answer.status, 403);

    let answer = app
        .send_with_key(reqwest::Method::DELETE, path, &json!({}), Some(&app.key))
        .await;
    assert_eq!(answer.status, 204);
    assert_eq!(app.get(path).await.status, 404);
}

#[tokio::test]
async fn during_quiet_hours_texts_to_the_client_wait_for_their_end() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let end = quiet_now(&app, 1).await;

    text(&app, COURIER, &proxy, "SM01", "Je suis devant la porte").await;
    assert!(
        app.deliveries_to(CLIENT, 0).await.is_empty(),
        "held while the client is quiet"
    );
    // The client may still text their courier.
    text(&app, CLIENT, &proxy, "SM02", "J'arrive").await;
    assert_eq!(app.deliveries_to(COURIER, 1).await.len(), 1);

    app.run_jobs_at(end + Duration::minutes(1)).await;
    let texts = app.deliveries_to(CLIENT, 1).await;
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].body.as_deref(), Some("Je suis devant la porte"));
}

#[tokio::test]
async fn during_quiet_hours_a_call_goes_to_voicemail_even_with_voicemail_off() {
    let app = spawn_app_with(Options {
        settings: Some(Box::new(|r| r.voicemail = Some("false".into()))),
        ..Default::default()
    })
    .await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let end = quiet_now(&app, 1).await;

    let (_, twiml) = app
        .webhook(
            "/twilio/voice",
            &[("From", COURIER), ("To", &proxy), ("CallSid", "CA01")],
        )
        .await;
    assert!(
        !twiml.contains("<Dial"),
        "the client's phone never rings: {twiml}"
    );
    assert!(twiml.contains("<Record maxLength=\"120\""), "{twiml}");

    app.webhook(
        "/twilio/voice/recording",
        &[
            ("CallSid", "CA01"),
            ("RecordingSid", RECORDING),
            ("RecordingStatus", "completed"),
            ("RecordingDuration", "20"),
        ],
    )
    .await;
    assert!(app.deliveries_to(CLIENT, 0).await.is_empty(), "held too");
    app.run_jobs_at(end + Duration::minutes(1)).await;
    let texts = app.deliveries_to(CLIENT, 1).await;
    assert!(
        texts[0]
            .body
            .as_deref()
            .unwrap()
            .starts_with("ProxyCall : message vocal de"),
        "{:?}",
        texts[0].body
    );
}

#[tokio::test]
async fn outside_quiet_hours_nothing_waits() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let now = Utc::now();
    let answer = app
        .put(
            "/clients/1/quiet-hours",
            &json!({"start": local(now + Duration::hours(2)), "end": local(now + Duration::hours(3))}),
        )
        .await;
    assert_eq!(answer.status, 200);

    text(&app, COURIER, &proxy, "SM01", "Bonjour").await;
    assert_eq!(app.deliveries_to(CLIENT, 1).await.len(), 1);
    let (_, twiml) = app
        .webhook(
            "/twilio/voice",
            &[("From", COURIER), ("To", &proxy), ("CallSid", "CA01")],
        )
        .await;
    assert!(
        twiml.contains(&format!("<Number>{CLIENT}</Number>")),
        "{twiml}"
    );
}

#[tokio::test]
async fn a_held_text_is_withheld_if_its_sender_is_blocked_or_the_client_opts_out_meanwhile() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let end = quiet_now(&app, 1).await;
    text(&app, COURIER, &proxy, "SM1", "Je suis en bas").await;
    // The client blocks the courier before the quiet hours end.
    text(&app, CLIENT, &proxy, "SM2", "BLOQUER #1").await;
    app.run_jobs_at(end + Duration::minutes(1)).await;
    assert!(app.deliveries_to(CLIENT, 0).await.is_empty(), "never sent");
    let relay = app
        .app
        .store
        .outbound_messages(10)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.purpose == "relay")
        .unwrap();
    assert_eq!(relay.status, "failed");
    assert_eq!(relay.last_error.as_deref(), Some("sender_blocked"));

    // Another held text, and the client's number opted out of the proxy's texts meanwhile.
    const SHOP: &str = "+33687654321";
    text(&app, SHOP, &proxy, "SM3", "Votre colis").await;
    app.db
        .exec(&format!(
            "insert into opt_outs (proxy_number, number, created_at) \
             values ('{proxy}', '{CLIENT}', '{}')",
            Utc::now().to_rfc3339()
        ))
        .await;
    app.run_jobs_at(end + Duration::minutes(1)).await;
    assert!(app.deliveries_to(CLIENT, 0).await.is_empty(), "never sent");
    let withheld: Vec<_> = app
        .app
        .store
        .outbound_messages(10)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| m.last_error)
        .collect();
    assert!(
        withheld.contains(&"recipient_opted_out".to_owned()),
        "{withheld:?}"
    );
    // Nobody was told: no bounce to the blocked courier, nor to the shop.
    assert!(app.deliveries_to(COURIER, 0).await.is_empty());
    assert!(app.deliveries_to(SHOP, 0).await.is_empty());
}
