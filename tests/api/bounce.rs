//! Bounces (issue 12): a relayed text that finally fails — its last try, a refusal such as
//! Twilio's 21610 (the recipient opted out), a status callback `undelivered` or `failed` —
//! gets its sender one text from the proxy saying so; a bounce is never bounced, the same
//! failure reported twice bounces once, and a number that a text from the proxy failed to reach
//! is not sent bounce after bounce. Through the signed webhooks and the real REST client,
//! against the Twilio double.

use chrono::{Duration, Utc};
use proxycall::store::OutboundMessage;

use crate::helpers::{Options, TestApp, spawn_app_with};
use crate::twilio_sim::{Fault, SimText, TwilioSim};

const CLIENT: &str = "+33612345678";
const COURIER: &str = "+33698765432";
const BOUNCE: &str = "ProxyCall : votre message n'a pas pu être remis à votre correspondant.";

async fn with_double() -> (TestApp, TwilioSim) {
    let sim = TwilioSim::start().await;
    let app = spawn_app_with(Options {
        twilio_api_base: Some(sim.base.clone()),
        ..Default::default()
    })
    .await;
    (app, sim)
}

/// The courier texts the client's proxy: a relay to the client.
async fn courier_texts(app: &TestApp, proxy: &str, sid: &str) {
    let (status, _) = app
        .webhook(
            "/twilio/sms",
            &[
                ("From", COURIER),
                ("To", proxy),
                ("Body", "Je suis en bas"),
                ("MessageSid", sid),
            ],
        )
        .await;
    assert_eq!(status, 200);
    app.drain().await;
}

fn to<'a>(sim: &'a [SimText], number: &str) -> Vec<&'a SimText> {
    sim.iter().filter(|t| t.to == number).collect()
}

async fn messages(app: &TestApp) -> Vec<OutboundMessage> {
    let mut all = app.app.store.outbound_messages(100).await.unwrap();
    all.reverse();
    all
}

/// The relay's outbound message (the first one), as stored.
async fn the_relay(app: &TestApp) -> OutboundMessage {
    let all = messages(app).await;
    all.into_iter().find(|m| m.purpose == "relay").unwrap()
}

#[tokio::test]
async fn a_relay_whose_last_try_fails_bounces_once_to_its_sender() {
    let (app, sim) = with_double().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    // Turned away (503, Retry-After) on its first try, and again once its horizon passed.
    sim.faults([Fault::Away503, Fault::Away503]);
    courier_texts(&app, &proxy, "SM-B1").await;
    let relay = the_relay(&app).await;
    assert_eq!(relay.status, "pending", "retried later: {relay:?}");
    assert_eq!(relay.relay_of.as_ref().map(|n| n.as_str()), Some(COURIER));

    app.run_jobs_at(Utc::now() + Duration::hours(25)).await;
    let relay = the_relay(&app).await;
    assert_eq!(relay.status, "failed", "{relay:?}");
    let texts = sim.texts();
    assert!(to(&texts, CLIENT).is_empty(), "the client never got it");
    let bounces = to(&texts, COURIER);
    assert_eq!(bounces.len(), 1, "one bounce: {bounces:?}");
    assert_eq!(bounces[0].from, proxy, "from the proxy");
    assert_eq!(bounces[0].body, BOUNCE);
    let stored = messages(&app).await;
    let bounce = stored.iter().find(|m| m.purpose == "bounce").unwrap();
    assert_eq!(bounce.status, "sent");
    assert!(bounce.relay_of.is_none(), "a bounce is never bounced");
    assert_eq!(stored.len(), 2);
}

#[tokio::test]
async fn a_recipient_who_opted_out_bounces_the_relay() {
    let (app, sim) = with_double().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    // Twilio refuses the relay: the client opted out of the proxy's texts.
    sim.faults([Fault::OptedOut21610]);
    courier_texts(&app, &proxy, "SM-B2").await;
    let relay = the_relay(&app).await;
    assert_eq!(relay.status, "failed");
    assert!(
        relay
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("21610"),
        "{relay:?}"
    );
    let texts = sim.texts();
    let bounces = to(&texts, COURIER);
    assert_eq!(bounces.len(), 1, "{texts:?}");
    assert_eq!(bounces[0].body, BOUNCE);
    assert_eq!(bounces[0].from, proxy);
}

#[tokio::test]
async fn an_undelivered_text_bounces_once_however_often_its_failure_is_reported() {
    let (app, sim) = with_double().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    courier_texts(&app, &proxy, "SM-B3").await;
    let relay = the_relay(&app).await;
    assert_eq!(relay.status, "sent");
    let sid = relay.twilio_sid.clone().unwrap();
    let callback = format!("/twilio/sms/status?outbound_id={}", relay.id);
    assert!(
        sim.texts()[0]
            .status_callback
            .as_deref()
            .is_some_and(|cb| cb.ends_with(&callback)),
        "the callback names the message"
    );

    // Sent, then undelivered (reported twice, as Twilio retries), then failed on the path
    // without the message's id: one bounce.
    for status in ["sent", "undelivered", "undelivered"] {
        let (code, _) = app
            .webhook(
                &callback,
                &[
                    ("MessageSid", &sid),
                    ("MessageStatus", status),
                    ("ErrorCode", "30003"),
                ],
            )
            .await;
        assert_eq!(code, 200);
    }
    app.webhook(
        "/twilio/sms",
        &[
            ("From", &proxy),
            ("To", CLIENT),
            ("MessageSid", &sid),
            ("MessageStatus", "failed"),
        ],
    )
    .await;
    app.drain().await;
    let texts = sim.texts();
    let bounces = to(&texts, COURIER);
    assert_eq!(bounces.len(), 1, "one bounce: {texts:?}");
    assert_eq!(bounces[0].body, BOUNCE);
    assert_eq!(
        the_relay(&app).await.delivery_status.as_deref(),
        Some("failed")
    );

    // The bounce itself undelivered: never bounced.
    let bounce = messages(&app)
        .await
        .into_iter()
        .find(|m| m.purpose == "bounce")
        .unwrap();
    app.webhook(
        &format!("/twilio/sms/status?outbound_id={}", bounce.id),
        &[
            ("MessageSid", bounce.twilio_sid.as_deref().unwrap()),
            ("MessageStatus", "undelivered"),
        ],
    )
    .await;
    app.drain().await;
    assert_eq!(messages(&app).await.len(), 2, "the relay and one bounce");

    // A delivered text bounces nothing.
    courier_texts(&app, &proxy, "SM-B3b").await;
    let second = messages(&app).await.into_iter().last().unwrap();
    assert_eq!(second.purpose, "relay");
    app.webhook(
        &format!("/twilio/sms/status?outbound_id={}", second.id),
        &[
            ("MessageSid", second.twilio_sid.as_deref().unwrap()),
            ("MessageStatus", "delivered"),
        ],
    )
    .await;
    app.drain().await;
    assert_eq!(to(&sim.texts(), COURIER).len(), 1);
}

#[tokio::test]
async fn a_bounce_that_fails_is_never_bounced_nor_sent_again_to_that_number() {
    let (app, sim) = with_double().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    // The relay is refused, and so is its bounce: the courier opted out too.
    sim.faults([Fault::OptedOut21610, Fault::OptedOut21610]);
    courier_texts(&app, &proxy, "SM-B4").await;
    let stored = messages(&app).await;
    assert_eq!(stored.len(), 2, "the relay and its bounce: {stored:?}");
    let bounce = &stored[1];
    assert_eq!(bounce.purpose, "bounce");
    assert_eq!(bounce.status, "failed");
    assert_eq!(sim.posts(), 2);

    // The courier's next relay fails too: the courier's own bounce failed a moment ago, so no
    // bounce is sent to them again.
    sim.faults([Fault::OptedOut21610]);
    courier_texts(&app, &proxy, "SM-B5").await;
    let stored = messages(&app).await;
    assert_eq!(stored.len(), 3, "no second bounce: {stored:?}");
    assert_eq!(stored[2].purpose, "relay");
    assert_eq!(stored[2].status, "failed");

    // Nor is the client, whose own relay failed, bounced when their text to the courier fails.
    sim.faults([Fault::OptedOut21610]);
    app.webhook(
        "/twilio/sms",
        &[
            ("From", CLIENT),
            ("To", &proxy),
            ("Body", "J'arrive"),
            ("MessageSid", "SM-B6"),
        ],
    )
    .await;
    app.drain().await;
    let stored = messages(&app).await;
    assert_eq!(stored.len(), 4, "{stored:?}");
    assert!(stored.iter().filter(|m| m.purpose == "bounce").count() == 1);
    assert_eq!(sim.posts(), 4, "nothing else was sent");
}

#[tokio::test]
async fn with_bounces_turned_off_a_failed_relay_sends_nothing_back() {
    let sim = TwilioSim::start().await;
    let app = spawn_app_with(Options {
        twilio_api_base: Some(sim.base.clone()),
        settings: Some(Box::new(|raw| {
            raw.bounce_failed_texts = Some("false".into());
        })),
        ..Default::default()
    })
    .await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    sim.faults([Fault::OptedOut21610]);
    courier_texts(&app, &proxy, "SM-B7").await;
    assert_eq!(the_relay(&app).await.status, "failed");
    assert_eq!(messages(&app).await.len(), 1, "no bounce");
    assert_eq!(sim.posts(), 1);
}

#[tokio::test]
async fn a_sender_who_opted_out_of_the_proxy_gets_no_bounce() {
    let (app, sim) = with_double().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    // The courier once texted STOP to this proxy (kept in `opt_outs`).
    app.db
        .exec(&format!(
            "insert into opt_outs (proxy_number, number, created_at) \
             values ('{proxy}', '{COURIER}', '{}')",
            Utc::now().to_rfc3339()
        ))
        .await;
    sim.faults([Fault::OptedOut21610]);
    courier_texts(&app, &proxy, "SM-B9").await;
    assert_eq!(the_relay(&app).await.status, "failed");
    assert!(
        to(&sim.texts(), COURIER).is_empty(),
        "nothing texted to who said STOP"
    );
    assert!(messages(&app).await.iter().all(|m| m.purpose != "bounce"));
}
