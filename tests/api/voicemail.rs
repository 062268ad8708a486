//! Missed calls, voicemail and the whisper (issue 12, items 3 and 7), through the signed
//! webhooks: on the simulated carrier, and on the Twilio double for the recording's audio and
//! its deletion.

use chrono::{Duration, Utc};
use proxycall::app::voicemail::PurgeVoicemails;
use proxycall::carrier::simulated::SIMULATED_RECORDING;
use proxycall::domain::E164;

use crate::helpers::{ACCOUNT_SID, Options, TestApp, WEBHOOK_TOKEN, spawn_app, spawn_app_with};
use crate::twilio_sim::{SIM_RECORDING, TwilioSim};

const CLIENT: &str = "+33612345678";
const COURIER: &str = "+33698765432";
const RECORDING: &str = "RE0123456789abcdef0123456789abcdef";
const EMPTY: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response />"#;

fn masked(n: &str) -> String {
    E164::parse_shape(n).unwrap().masked().to_string()
}

/// The courier calls the client through the proxy (`CallSid` `sid`); answers the TwiML.
async fn courier_calls(app: &TestApp, proxy: &str, sid: &str) -> String {
    let (status, twiml) = app
        .webhook(
            "/twilio/voice",
            &[("From", COURIER), ("To", proxy), ("CallSid", sid)],
        )
        .await;
    assert_eq!(status, 200);
    twiml
}

async fn dial_status(app: &TestApp, proxy: &str, sid: &str, status: &str) -> String {
    let (code, twiml) = app
        .webhook(
            "/twilio/voice/dial-status",
            &[
                ("CallSid", sid),
                ("DialCallStatus", status),
                ("From", COURIER),
                ("To", proxy),
            ],
        )
        .await;
    assert_eq!(code, 200);
    twiml
}

/// Twilio's two callbacks once the message is recorded: the `<Record>`'s action, then the
/// recording's status.
async fn message_left(app: &TestApp, sid: &str) {
    let (code, twiml) = app
        .webhook(
            "/twilio/voice/recorded",
            &[
                ("CallSid", sid),
                ("RecordingSid", RECORDING),
                ("RecordingDuration", "14"),
            ],
        )
        .await;
    assert_eq!(code, 200);
    assert!(
        twiml.contains("Merci, votre message a été transmis."),
        "{twiml}"
    );
    let (code, twiml) = app
        .webhook(
            "/twilio/voice/recording",
            &[
                ("CallSid", sid),
                ("RecordingSid", RECORDING),
                ("RecordingStatus", "completed"),
                ("RecordingDuration", "14"),
            ],
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(twiml, EMPTY);
}

/// The listen link of a text, as the client reads it.
fn link_in(body: &str) -> String {
    let start = body.find("http").expect("a link");
    body[start..].split_whitespace().next().unwrap().to_owned()
}

async fn get_raw(app: &TestApp, url: &str) -> reqwest::Response {
    app.http.get(url).send().await.unwrap()
}

#[tokio::test]
async fn an_unanswered_call_lets_the_courier_leave_a_message_the_client_hears_through_a_link() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;

    let twiml = courier_calls(&app, &proxy, "CA10").await;
    assert!(
        twiml.contains(&format!(
            r#"<Dial callerId="{proxy}" action="{}/twilio/voice/dial-status" method="POST" timeout="25"><Number>{CLIENT}</Number></Dial>"#,
            app.base
        )),
        "the dial asks what next, and whispers nothing by default: {twiml}"
    );

    let twiml = dial_status(&app, &proxy, "CA10", "no-answer").await;
    assert!(
        twiml.contains("Laissez un message après le bip.</Say><Record maxLength=\"120\""),
        "{twiml}"
    );
    assert!(
        twiml.contains(&format!(
            r#"recordingStatusCallback="{}/twilio/voice/recording""#,
            app.base
        )),
        "{twiml}"
    );
    assert!(
        app.deliveries_to(CLIENT, 0).await.is_empty(),
        "no text before the message is recorded"
    );

    message_left(&app, "CA10").await;
    let texts = app.deliveries_to(CLIENT, 1).await;
    assert_eq!(texts.len(), 1);
    let text = &texts[0];
    let body = text.body.as_deref().unwrap();
    assert_eq!(text.from.as_str(), proxy, "the text comes from the proxy");
    assert!(
        body.starts_with(&format!("ProxyCall : message vocal de {}", masked(COURIER))),
        "{body}"
    );
    assert!(
        !body.contains(COURIER),
        "the caller's number is masked: {body}"
    );
    let link = link_in(body);
    assert!(
        link.starts_with(&format!("{}/voicemail/", app.base)),
        "{link}"
    );

    let answer = get_raw(&app, &link).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "audio/mpeg");
    assert_eq!(answer.headers()["cache-control"], "no-store");
    assert_eq!(&answer.bytes().await.unwrap()[..], SIMULATED_RECORDING);

    // Twilio retries its callbacks: the client is texted once.
    message_left(&app, "CA10").await;
    dial_status(&app, &proxy, "CA10", "no-answer").await;
    assert_eq!(app.deliveries_to(CLIENT, 1).await.len(), 1);
    let purposes: Vec<String> = app
        .app
        .store
        .outbound_messages(10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.purpose)
        .collect();
    assert_eq!(purposes, ["voicemail"]);
}

#[tokio::test]
async fn a_wrong_or_expired_link_answers_404_or_410_and_nothing_else() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    courier_calls(&app, &proxy, "CA20").await;
    dial_status(&app, &proxy, "CA20", "busy").await;
    message_left(&app, "CA20").await;
    let link = link_in(
        app.deliveries_to(CLIENT, 1).await[0]
            .body
            .as_deref()
            .unwrap(),
    );
    let token = link.rsplit('/').next().unwrap().to_owned();

    for wrong in [
        "nope".to_owned(),
        "A".repeat(43),
        format!("{}x", &token[..42]),
        format!("{token}x"),
        "..%2F..%2Fadmin".to_owned(),
    ] {
        let answer = app.get_with_key(&format!("/voicemail/{wrong}"), None).await;
        assert_eq!(answer.status, 404, "{wrong}: {}", answer.text);
        assert_eq!(answer.code(), "not_found");
        assert!(!answer.text.contains(RECORDING), "{}", answer.text);
        assert!(!answer.text.contains(CLIENT), "{}", answer.text);
    }

    app.db
        .exec("update voicemails set link_expires_at = '2001-01-01T00:00:00Z'")
        .await;
    let answer = app.get_with_key(&format!("/voicemail/{token}"), None).await;
    assert_eq!(answer.status, 410, "{}", answer.text);
    assert_eq!(answer.code(), "gone");
    assert!(!answer.text.contains(RECORDING), "{}", answer.text);
}

#[tokio::test]
async fn callbacks_for_calls_we_did_not_forward_to_a_client_are_ignored() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    // The client's own call to their last caller is not a call to the client.
    courier_calls(&app, &proxy, "CA30").await;
    let (_, twiml) = app
        .webhook(
            "/twilio/voice",
            &[("From", CLIENT), ("To", &proxy), ("CallSid", "CA31")],
        )
        .await;
    assert!(
        twiml.contains(&format!(
            r#"<Dial callerId="{proxy}"><Number>{COURIER}</Number></Dial>"#
        )),
        "{twiml}"
    );

    for sid in ["CA31", "CA-never-seen"] {
        assert_eq!(dial_status(&app, &proxy, sid, "no-answer").await, EMPTY);
        let (code, twiml) = app
            .webhook(
                "/twilio/voice/recording",
                &[
                    ("CallSid", sid),
                    ("RecordingSid", RECORDING),
                    ("RecordingStatus", "completed"),
                    ("RecordingDuration", "9"),
                ],
            )
            .await;
        assert_eq!((code.as_u16(), twiml.as_str()), (200, EMPTY));
    }
    // An answered call needs nothing either.
    assert_eq!(dial_status(&app, &proxy, "CA30", "completed").await, EMPTY);

    app.drain().await;
    assert!(
        app.app
            .store
            .outbound_messages(10)
            .await
            .unwrap()
            .is_empty(),
        "nothing sent"
    );
    // And an unsigned callback is refused before anything is read.
    let (code, _) = app
        .webhook_signed(
            "/twilio/voice/recording",
            &[("CallSid", "CA30"), ("RecordingSid", RECORDING)],
            "forged",
        )
        .await;
    assert_eq!(code, 403);
}

#[tokio::test]
async fn without_voicemail_a_busy_client_gets_a_missed_call_text() {
    let app = spawn_app_with(Options {
        settings: Some(Box::new(|r| r.voicemail = Some("false".into()))),
        ..Default::default()
    })
    .await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    courier_calls(&app, &proxy, "CA40").await;

    let twiml = dial_status(&app, &proxy, "CA40", "busy").await;
    assert!(
        twiml.contains("Votre correspondant n'est pas joignable pour le moment."),
        "{twiml}"
    );
    assert!(!twiml.contains("<Record"), "{twiml}");
    dial_status(&app, &proxy, "CA40", "busy").await;

    let texts = app.deliveries_to(CLIENT, 1).await;
    assert_eq!(texts.len(), 1, "once, though Twilio asked twice");
    let body = texts[0].body.as_deref().unwrap();
    assert!(
        body.starts_with(&format!("ProxyCall : appel manqué de {}", masked(COURIER))),
        "{body}"
    );
    assert!(!body.contains("http"), "{body}");
}

#[tokio::test]
async fn a_caller_who_leaves_no_message_is_a_missed_call() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    courier_calls(&app, &proxy, "CA50").await;
    dial_status(&app, &proxy, "CA50", "no-answer").await;
    let (code, _) = app
        .webhook(
            "/twilio/voice/recorded",
            &[("CallSid", "CA50"), ("RecordingDuration", "0")],
        )
        .await;
    assert_eq!(code, 200);
    let texts = app.deliveries_to(CLIENT, 1).await;
    assert!(
        texts[0]
            .body
            .as_deref()
            .unwrap()
            .starts_with("ProxyCall : appel manqué de"),
        "{:?}",
        texts[0].body
    );
}

#[tokio::test]
async fn the_whisper_names_the_clients_order_when_turned_on() {
    let app = spawn_app_with(Options {
        settings: Some(Box::new(|r| r.whisper = Some("true".into()))),
        ..Default::default()
    })
    .await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let twiml = courier_calls(&app, &proxy, "CA60").await;
    let url = format!("{}/twilio/voice/whisper?order_id=CMD-1", app.base);
    assert!(
        twiml.contains(&format!(
            r#"<Number url="{url}" method="POST">{CLIENT}</Number>"#
        )),
        "{twiml}"
    );

    let (code, twiml) = app
        .webhook(
            "/twilio/voice/whisper?order_id=CMD-1",
            &[("CallSid", "CA60")],
        )
        .await;
    assert_eq!(code, 200);
    assert!(
        twiml.contains(">Appel de votre livreur pour la commande CMD-1.</Say>"),
        "{twiml}"
    );
    let (_, twiml) = app
        .webhook("/twilio/voice/whisper", &[("CallSid", "CA61")])
        .await;
    assert!(twiml.contains(">Appel de votre livreur.</Say>"), "{twiml}");
    // The order is part of the signed address: another order is a forgery.
    let url = format!("{}/twilio/voice/whisper?order_id=CMD-1", app.base);
    let signature = proxycall::carrier::signature::sign(
        WEBHOOK_TOKEN.as_bytes(),
        &url,
        &[("CallSid".to_owned(), "CA60".to_owned())],
    );
    let (code, _) = app
        .webhook_signed(
            "/twilio/voice/whisper?order_id=CMD-2",
            &[("CallSid", "CA60")],
            &signature,
        )
        .await;
    assert_eq!(code, 403);
}

#[tokio::test]
async fn on_twilio_the_audio_is_fetched_with_the_accounts_credentials_and_deleted_after_the_retention()
 {
    let sim = TwilioSim::start().await;
    let app = spawn_app_with(Options {
        twilio_api_base: Some(sim.base.clone()),
        job_workers: Some(0),
        ..Default::default()
    })
    .await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    courier_calls(&app, &proxy, "CA70").await;
    dial_status(&app, &proxy, "CA70", "no-answer").await;
    message_left(&app, "CA70").await;
    app.drain().await;

    let texts = sim.texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(
        (texts[0].from.as_str(), texts[0].to.as_str()),
        (proxy.as_str(), CLIENT)
    );
    let link = link_in(&texts[0].body);
    assert!(
        !texts[0].body.contains(RECORDING),
        "no Twilio address is texted"
    );

    let answer = get_raw(&app, &link).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(&answer.bytes().await.unwrap()[..], SIM_RECORDING);
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{WEBHOOK_TOKEN}"))
    );
    assert_eq!(
        sim.recording_fetches(),
        [(RECORDING.to_owned(), Some(basic))]
    );

    // Before the retention nothing goes; after it, the recording is deleted at Twilio, then
    // here, and the link names nothing.
    proxycall::jobs::enqueue(
        app.app.store.as_ref(),
        &PurgeVoicemails::default(),
        Utc::now(),
        None,
    )
    .await
    .unwrap();
    app.run_jobs_at(Utc::now() + Duration::days(29)).await;
    assert!(sim.recordings_deleted().is_empty());
    proxycall::jobs::enqueue(
        app.app.store.as_ref(),
        &PurgeVoicemails::default(),
        Utc::now(),
        None,
    )
    .await
    .unwrap();
    app.run_jobs_at(Utc::now() + Duration::days(31)).await;
    assert_eq!(sim.recordings_deleted(), [RECORDING]);
    let answer = app.get_with_key(&link.replace(&app.base, ""), None).await;
    assert_eq!(answer.status, 404);
    assert!(
        app.app
            .store
            .voicemail_by_call("CA70")
            .await
            .unwrap()
            .is_none()
    );
}
