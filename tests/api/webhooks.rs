//! Masked routing through the signed webhooks (SPEC §5), on the simulated carrier.

use proxycall::domain::{E164, NumberType};

use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with};

const CLIENT: &str = "+33612345678";
const COURIER: &str = "+33698765432";
const SAY: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say language="fr-FR">"#;

fn dial(proxy: &str, number: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial callerId="{proxy}"><Number>{number}</Number></Dial></Response>"#
    )
}

/// A third party's call to the client: the dial reports how it ended, for the missed-call and
/// voicemail path (`tests/api/voicemail.rs`).
fn dial_client(app: &TestApp, proxy: &str, number: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial callerId="{proxy}" action="{}/twilio/voice/dial-status" method="POST" timeout="25"><Number>{number}</Number></Dial></Response>"#,
        app.base
    )
}

fn say(text: &str) -> String {
    format!("{SAY}{text}</Say></Response>")
}

fn message(text: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>{text}</Message></Response>"#
    )
}

const EMPTY: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response />"#;

async fn last_caller(app: &TestApp, client_id: i64) -> String {
    app.get(&format!("/clients/{client_id}")).await.body["client_last_caller"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_courier_call_reaches_the_client_and_the_client_calls_back_the_courier() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;

    // The client first: nobody has called yet.
    let (status, twiml) = app
        .webhook(
            "/twilio/voice",
            &[("From", CLIENT), ("To", &proxy), ("CallSid", "CA01")],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(twiml, say("Aucun appelant récent."));

    let (status, twiml) = app
        .webhook(
            "/twilio/voice",
            &[("From", COURIER), ("To", &proxy), ("CallSid", "CA02")],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        twiml,
        dial_client(&app, &proxy, CLIENT),
        "the courier sees the proxy, reaches the client"
    );
    assert_eq!(last_caller(&app, 1).await, COURIER);

    let (_, twiml) = app
        .webhook(
            "/twilio/voice",
            &[("From", CLIENT), ("To", &proxy), ("CallSid", "CA03")],
        )
        .await;
    assert_eq!(
        twiml,
        dial(&proxy, COURIER),
        "the client reaches the last caller through the proxy"
    );

    let recorded = app.app.store.interactions(10).await.unwrap();
    let outcomes: Vec<(&str, &str, &str)> = recorded
        .iter()
        .rev()
        .map(|i| {
            (
                i.direction.as_str(),
                i.outcome.as_str(),
                i.twilio_sid.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("from_client", "no_recent_caller", "CA01"),
            ("to_client", "forwarded", "CA02"),
            ("from_client", "forwarded", "CA03"),
        ]
    );
}

#[tokio::test]
async fn callers_are_allowed_by_their_full_calling_code() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    for (caller, allowed) in [
        ("+351912345678", true),  // Portugal, refused by the earlier version
        ("+420601234567", true),  // Czechia
        ("+35312345678", true),   // Ireland
        ("+14155552345", false),  // United States
        ("+447700900123", false), // United Kingdom
    ] {
        let (status, twiml) = app
            .webhook("/twilio/voice", &[("From", caller), ("To", &proxy)])
            .await;
        assert_eq!(status, 200);
        if allowed {
            assert_eq!(twiml, dial_client(&app, &proxy, CLIENT), "{caller}");
            assert_eq!(last_caller(&app, 1).await, caller);
        } else {
            assert_eq!(
                twiml,
                say("Ce numéro n'est pas accessible depuis votre pays."),
                "{caller}"
            );
            assert_ne!(
                last_caller(&app, 1).await,
                caller,
                "a refused caller is not remembered"
            );
        }
    }
}

#[tokio::test]
async fn unknown_proxies_and_missing_or_garbage_numbers_get_a_clear_answer_and_change_nothing() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let (_, twiml) = app
        .webhook(
            "/twilio/voice",
            &[("From", COURIER), ("To", "+33780009999")],
        )
        .await;
    assert_eq!(twiml, say("Ce numéro n'est pas reconnu."));
    let (_, twiml) = app.webhook("/twilio/voice", &[("From", COURIER)]).await;
    assert_eq!(twiml, say("Ce numéro n'est pas reconnu."));
    for garbage in ["anonymous", "", "+33 6 98", "hello"] {
        let (status, twiml) = app
            .webhook("/twilio/voice", &[("From", garbage), ("To", &proxy)])
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            twiml,
            say("Ce numéro n'est pas accessible depuis votre pays."),
            "{garbage:?}"
        );
    }
    let (_, twiml) = app
        .webhook(
            "/twilio/sms",
            &[("From", COURIER), ("To", "+33780009999"), ("Body", "allo")],
        )
        .await;
    assert_eq!(twiml, message("Ce numéro proxy n'est pas reconnu."));
    let (_, twiml) = app
        .webhook("/twilio/sms", &[("To", &proxy), ("Body", "allo")])
        .await;
    assert_eq!(twiml, EMPTY);

    assert_eq!(last_caller(&app, 1).await, "");
    app.drain().await;
    assert!(
        app.app
            .store
            .simulated_deliveries(None, 10)
            .await
            .unwrap()
            .is_empty(),
        "no relay"
    );
    // Only the call to an unknown proxy is worth recording; bad input writes nothing.
    let recorded = app.app.store.interactions(10).await.unwrap();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert!(recorded.iter().all(|i| i.outcome == "unknown_proxy"));
}

#[tokio::test]
async fn forged_requests_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let params = [
        ("From", COURIER),
        ("To", proxy.as_str()),
        ("CallSid", "CA1"),
    ];

    let unsigned = app
        .http
        .post(format!("{}/twilio/voice", app.base))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);

    let (status, _) = app
        .webhook_signed("/twilio/voice", &params, "bm90IGEgc2lnbmF0dXJl")
        .await;
    assert_eq!(status, 403);

    // A valid signature, for other parameters: the caller swapped after signing.
    let signed_for = [
        ("From", "+33611111111"),
        ("To", proxy.as_str()),
        ("CallSid", "CA1"),
    ];
    let owned: Vec<(String, String)> = signed_for
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let url = format!("{}/twilio/voice", app.base);
    let signature =
        proxycall::carrier::signature::sign(crate::helpers::WEBHOOK_TOKEN.as_bytes(), &url, &owned);
    let (status, _) = app
        .webhook_signed("/twilio/voice", &params, &signature)
        .await;
    assert_eq!(status, 403);

    // A valid signature for another URL.
    let elsewhere = proxycall::carrier::signature::sign(
        crate::helpers::WEBHOOK_TOKEN.as_bytes(),
        &format!("{}/twilio/sms", app.base),
        &owned,
    );
    let (status, _) = app
        .webhook_signed("/twilio/voice", &signed_for, &elsewhere)
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .webhook_signed(
            "/twilio/sms",
            &[("From", COURIER), ("To", &proxy), ("Body", "x")],
            "",
        )
        .await;
    assert_eq!(status, 403);

    assert_eq!(last_caller(&app, 1).await, "");
    assert!(app.app.store.interactions(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn repeated_bad_signatures_are_rate_limited() {
    let app = spawn_app_with(Options {
        rate_limit_per_minute: Some(3),
        ..Default::default()
    })
    .await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    for _ in 0..3 {
        let (status, _) = app
            .webhook_signed("/twilio/voice", &[("To", &proxy)], "AAAA")
            .await;
        assert_eq!(status, 403);
    }
    let (status, _) = app
        .webhook_signed("/twilio/voice", &[("To", &proxy)], "AAAA")
        .await;
    assert_eq!(status, 429);
    // Signed traffic is never limited.
    for _ in 0..5 {
        let (status, _) = app
            .webhook("/twilio/voice", &[("From", COURIER), ("To", &proxy)])
            .await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn texts_are_relayed_from_the_proxy_both_ways() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;

    let (_, twiml) = app
        .webhook(
            "/twilio/sms",
            &[
                ("From", CLIENT),
                ("To", &proxy),
                ("Body", "Qui est là ?"),
                ("MessageSid", "SM00"),
            ],
        )
        .await;
    assert_eq!(twiml, message("Aucun correspondant récent pour ce proxy."));

    let (status, twiml) = app
        .webhook(
            "/twilio/sms",
            &[
                ("From", COURIER),
                ("To", &proxy),
                ("Body", "Je suis en bas, code 1234 <porte>"),
                ("MessageSid", "SM01"),
            ],
        )
        .await;
    assert_eq!(
        (status.as_u16(), twiml.as_str()),
        (200, EMPTY),
        "answered without waiting for the carrier"
    );
    let to_client = app.deliveries_to(CLIENT, 1).await;
    assert_eq!(to_client[0].from.as_str(), proxy, "sent from the proxy");
    assert_eq!(
        to_client[0].body.as_deref(),
        Some("Je suis en bas, code 1234 <porte>")
    );
    assert_eq!(last_caller(&app, 1).await, COURIER);

    app.webhook(
        "/twilio/sms",
        &[
            ("From", CLIENT),
            ("To", &proxy),
            ("Body", "J'arrive"),
            ("MessageSid", "SM02"),
        ],
    )
    .await;
    let to_courier = app.deliveries_to(COURIER, 1).await;
    assert_eq!(to_courier[0].from.as_str(), proxy);
    assert_eq!(to_courier[0].body.as_deref(), Some("J'arrive"));

    // Sent messages keep no text, and interactions never had any.
    let sent = app.sent_messages(2).await;
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter()
            .all(|m| m.status == "sent" && m.body.is_none() && m.twilio_sid.is_some())
    );
}

#[tokio::test]
async fn a_retried_text_webhook_is_relayed_once_and_a_retried_call_recorded_once() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let params = [
        ("From", COURIER),
        ("To", proxy.as_str()),
        ("Body", "Colis déposé"),
        ("MessageSid", "SMretry"),
    ];
    for _ in 0..3 {
        let (status, twiml) = app.webhook("/twilio/sms", &params).await;
        assert_eq!((status.as_u16(), twiml.as_str()), (200, EMPTY));
    }
    for _ in 0..2 {
        app.webhook(
            "/twilio/voice",
            &[("From", COURIER), ("To", &proxy), ("CallSid", "CAretry")],
        )
        .await;
    }
    app.deliveries_to(CLIENT, 1).await;
    let client = E164::parse(CLIENT).unwrap();
    assert_eq!(
        app.app
            .store
            .simulated_deliveries(Some(&client), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(app.app.store.interactions(10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn delivery_status_callbacks_update_the_sent_message() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    app.webhook(
        "/twilio/sms",
        &[
            ("From", COURIER),
            ("To", &proxy),
            ("Body", "Bonjour"),
            ("MessageSid", "SM1"),
        ],
    )
    .await;
    let delivered = app.deliveries_to(CLIENT, 1).await;
    app.sent_messages(1).await;
    let (status, twiml) = app
        .webhook(
            "/twilio/sms",
            &[
                ("MessageSid", &delivered[0].sid),
                ("MessageStatus", "delivered"),
                ("From", &proxy),
                ("To", CLIENT),
            ],
        )
        .await;
    assert_eq!((status.as_u16(), twiml.as_str()), (200, EMPTY));
    let sent = app.app.store.outbound_messages(1).await.unwrap();
    assert_eq!(sent[0].delivery_status.as_deref(), Some("delivered"));
}

#[tokio::test]
async fn callers_hear_the_configured_language() {
    let app = spawn_app_with(Options {
        language: Some("en".into()),
        ..Default::default()
    })
    .await;
    app.add_numbers("FR", NumberType::Mobile, 1).await;
    let (_, twiml) = app
        .webhook(
            "/twilio/voice",
            &[("From", COURIER), ("To", "+33780009999")],
        )
        .await;
    assert_eq!(
        twiml,
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say language="en-US">This number is not recognised.</Say></Response>"#
    );
}

#[tokio::test]
async fn the_allow_list_is_configurable() {
    let app = spawn_app_with(Options {
        allowed_calling_codes: Some("+33,+1".into()),
        ..Default::default()
    })
    .await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let (_, twiml) = app
        .webhook("/twilio/voice", &[("From", "+14155552345"), ("To", &proxy)])
        .await;
    assert_eq!(twiml, dial_client(&app, &proxy, CLIENT));
    let (_, twiml) = app
        .webhook(
            "/twilio/voice",
            &[("From", "+351912345678"), ("To", &proxy)],
        )
        .await;
    assert!(twiml.contains("pas accessible"), "{twiml}");
}

#[tokio::test]
async fn an_internal_failure_answers_a_spoken_apology() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    app.break_table("interactions").await;
    let (status, twiml) = app
        .webhook("/twilio/voice", &[("From", COURIER), ("To", &proxy)])
        .await;
    assert_eq!(status, 200);
    assert_eq!(twiml, say("Service temporairement indisponible."));
    let (_, twiml) = app
        .webhook(
            "/twilio/sms",
            &[("From", COURIER), ("To", &proxy), ("Body", "x")],
        )
        .await;
    assert_eq!(twiml, message("Service SMS temporairement indisponible."));
}

#[tokio::test]
async fn oversized_webhooks_are_refused() {
    let app = spawn_app_with(Options {
        body_limit_bytes: Some(4096),
        ..Default::default()
    })
    .await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let body = "x".repeat(8192);
    let (status, _) = app
        .webhook(
            "/twilio/sms",
            &[("From", COURIER), ("To", &proxy), ("Body", &body)],
        )
        .await;
    assert_eq!(status, 413);
    assert_eq!(last_caller(&app, 1).await, "");
}

#[tokio::test]
async fn concurrent_webhooks_are_grouped_without_losing_or_doubling_anything() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;

    // Twilio retrying one text while the first try is still in flight: one relay.
    let same = [
        ("From", COURIER),
        ("To", proxy.as_str()),
        ("Body", "Une fois"),
        ("MessageSid", "SMsame"),
    ];
    let tries = (0..20).map(|_| app.webhook("/twilio/sms", &same));
    for (status, twiml) in futures_util::future::join_all(tries).await {
        assert_eq!((status.as_u16(), twiml.as_str()), (200, EMPTY));
    }

    // Twenty callers at once: each recorded, and the client's last caller is one of them.
    let callers: Vec<String> = (0..20).map(|i| format!("+336987654{i:02}")).collect();
    let app_ref = &app;
    let calls = callers.iter().enumerate().map(|(i, caller)| {
        let sid = format!("CAconcurrent{i}");
        let proxy = proxy.clone();
        async move {
            app_ref
                .webhook(
                    "/twilio/voice",
                    &[("From", caller), ("To", &proxy), ("CallSid", &sid)],
                )
                .await
        }
    });
    for (status, twiml) in futures_util::future::join_all(calls).await {
        assert_eq!(status, 200);
        assert_eq!(twiml, dial_client(&app, &proxy, CLIENT));
    }

    app.deliveries_to(CLIENT, 1).await;
    let client = E164::parse(CLIENT).unwrap();
    assert_eq!(
        app.app
            .store
            .simulated_deliveries(Some(&client), 100)
            .await
            .unwrap()
            .len(),
        1
    );
    let recorded = app.app.store.interactions(100).await.unwrap();
    assert_eq!(recorded.len(), 21, "one text and twenty calls");
    assert!(callers.contains(&last_caller(&app, 1).await));
}

/// A retried webhook changes nothing, even in the batch that also holds the client's call:
/// the client reaches the courier the database remembers, not the retried webhook's caller.
#[tokio::test]
async fn a_retried_webhook_does_not_change_the_last_caller_for_the_rest_of_its_batch() {
    use proxycall::app::routing::{Answer, Call, CallAnswer, Inbound, route_batch};

    const FIRST: &str = "+33611111111";
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    for (from, sid) in [(FIRST, "CA-first"), (COURIER, "CA-second")] {
        app.webhook(
            "/twilio/voice",
            &[("From", from), ("To", &proxy), ("CallSid", sid)],
        )
        .await;
    }
    assert_eq!(last_caller(&app, 1).await, COURIER);

    let call = |from: &str, sid: &str| {
        Inbound::Call(Call {
            from: Some(E164::parse(from).unwrap()),
            to: Some(E164::parse(&proxy).unwrap()),
            sid: Some(sid.into()),
        })
    };
    // Twilio retries the first courier's call; the client calls their proxy in the same batch.
    let answers = route_batch(
        app.app.store.as_ref(),
        &app.app.routing,
        &app.app.job_wake,
        vec![call(FIRST, "CA-first"), call(CLIENT, "CA-client")],
    )
    .await;
    // Whom the client reaches, or reaches by default from the menu of their recent contacts.
    let reached = |answer: &Option<Answer>| match answer {
        Some(Answer::Call(CallAnswer::Connect { number, .. })) => number.as_str().to_owned(),
        Some(Answer::Call(CallAnswer::Menu { default, .. })) => default.as_str().to_owned(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        answers[0],
        Some(Answer::Call(CallAnswer::Unavailable)),
        "the replayed call hears nothing of the client"
    );
    assert_eq!(
        reached(&answers[1]),
        COURIER,
        "the client reaches the last caller the database holds"
    );
    assert_eq!(last_caller(&app, 1).await, COURIER);

    // A webhook retried within its own batch counts once as well.
    let answers = route_batch(
        app.app.store.as_ref(),
        &app.app.routing,
        &app.app.job_wake,
        vec![
            call(FIRST, "CA-third"),
            call(COURIER, "CA-fourth"),
            call(FIRST, "CA-third"),
            call(CLIENT, "CA-client-2"),
        ],
    )
    .await;
    assert_eq!(reached(&answers[0]), CLIENT, "the first try is connected");
    assert_eq!(answers[2], Some(Answer::Call(CallAnswer::Unavailable)));
    assert_eq!(reached(&answers[3]), COURIER);
    assert_eq!(last_caller(&app, 1).await, COURIER);
}

const UNAVAILABLE: &str = "Votre correspondant n'est pas joignable pour le moment.";
/// France's 089x: premium rate.
const PREMIUM_FR: &str = "+33899123456";
/// The UK's 09: premium rate.
const PREMIUM_UK: &str = "+449012345678";

/// Makes `number` the client's only contact, and its last caller: as one stored before a rule,
/// or imported.
async fn remember(app: &TestApp, number: &str) {
    app.db
        .exec(&format!(
            "update clients set client_last_caller = '{number}' where client_id = 1"
        ))
        .await;
    app.db
        .exec("delete from contacts where client_id = 1")
        .await;
    app.db
        .exec(&format!(
            "insert into contacts (client_id, number, last_at) values (1, '{number}', '{}')",
            chrono::Utc::now().to_rfc3339()
        ))
        .await;
}

async fn outcomes(app: &TestApp) -> Vec<String> {
    let mut recorded = app.app.store.interactions(100).await.unwrap();
    recorded.reverse();
    recorded.into_iter().map(|i| i.outcome).collect()
}

async fn deliveries(app: &TestApp, to: &str) -> usize {
    app.drain().await;
    let to = E164::parse_shape(to).unwrap();
    app.app
        .store
        .simulated_deliveries(Some(&to), 100)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_replayed_call_sid_hears_a_neutral_answer_not_the_clients_phone() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let call = [
        ("From", COURIER),
        ("To", proxy.as_str()),
        ("CallSid", "CAonce"),
    ];
    let (_, twiml) = app.webhook("/twilio/voice", &call).await;
    assert_eq!(twiml, dial_client(&app, &proxy, CLIENT));
    // Minutes later, the same signed request again.
    for _ in 0..2 {
        let (status, twiml) = app.webhook("/twilio/voice", &call).await;
        assert_eq!(status, 200);
        assert_eq!(twiml, say(UNAVAILABLE));
        assert!(!twiml.contains(CLIENT));
    }
    // Another call is answered as ever; a text's retry still answers empty, relayed once.
    let (_, twiml) = app
        .webhook(
            "/twilio/voice",
            &[("From", COURIER), ("To", &proxy), ("CallSid", "CAother")],
        )
        .await;
    assert_eq!(twiml, dial_client(&app, &proxy, CLIENT));
    let text = [
        ("From", COURIER),
        ("To", proxy.as_str()),
        ("Body", "Colis"),
        ("MessageSid", "SMonce"),
    ];
    for _ in 0..2 {
        let (_, twiml) = app.webhook("/twilio/sms", &text).await;
        assert_eq!(twiml, EMPTY);
    }
    assert_eq!(deliveries(&app, CLIENT).await, 1);
    assert_eq!(
        outcomes(&app).await,
        ["forwarded", "forwarded", "forwarded"]
    );
}

#[tokio::test]
async fn a_premium_rate_caller_never_becomes_the_last_caller_and_is_never_dialled() {
    let app = spawn_app_with(Options {
        allowed_calling_codes: Some("+33,+44".into()),
        ..Default::default()
    })
    .await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    app.webhook("/twilio/voice", &[("From", COURIER), ("To", &proxy)])
        .await;
    assert_eq!(last_caller(&app, 1).await, COURIER);

    for premium in [PREMIUM_FR, PREMIUM_UK] {
        let (status, twiml) = app
            .webhook("/twilio/voice", &[("From", premium), ("To", &proxy)])
            .await;
        assert_eq!(status, 200);
        assert_eq!(twiml, say(UNAVAILABLE), "{premium}");
        let (_, twiml) = app
            .webhook(
                "/twilio/sms",
                &[("From", premium), ("To", &proxy), ("Body", "Rappelez-moi")],
            )
            .await;
        assert_eq!(twiml, EMPTY, "no reply is texted to {premium}");
        // Nor from a proxy of no client, which would otherwise reply.
        let (_, twiml) = app
            .webhook(
                "/twilio/sms",
                &[("From", premium), ("To", "+33780009999"), ("Body", "?")],
            )
            .await;
        assert_eq!(twiml, EMPTY, "{premium}");
        assert_eq!(
            last_caller(&app, 1).await,
            COURIER,
            "{premium} not remembered"
        );
    }
    assert_eq!(deliveries(&app, CLIENT).await, 0, "nothing relayed");
    let (_, twiml) = app
        .webhook("/twilio/voice", &[("From", CLIENT), ("To", &proxy)])
        .await;
    assert_eq!(
        twiml,
        dial(&proxy, COURIER),
        "the client reaches the courier"
    );

    // A premium-rate last caller remembered before the rule (or imported) is never dialled
    // or texted.
    remember(&app, PREMIUM_FR).await;
    let (_, twiml) = app
        .webhook("/twilio/voice", &[("From", CLIENT), ("To", &proxy)])
        .await;
    assert_eq!(twiml, say("Aucun appelant récent."));
    let (_, twiml) = app
        .webhook(
            "/twilio/sms",
            &[("From", CLIENT), ("To", &proxy), ("Body", "Allô ?")],
        )
        .await;
    assert_eq!(twiml, message("Aucun correspondant récent pour ce proxy."));
    assert_eq!(deliveries(&app, PREMIUM_FR).await, 0);

    let blocked = outcomes(&app).await;
    assert_eq!(
        blocked
            .iter()
            .filter(|o| *o == "blocked_number_type")
            .count(),
        8,
        "{blocked:?}"
    );
}

#[tokio::test]
async fn a_proxy_texting_or_calling_a_proxy_is_not_relayed_or_remembered() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let other_proxy = app.client_with_proxy(2, "+33611111111").await;
    let idle = app.add_numbers("FR", NumberType::Mobile, 1).await.remove(0);
    for ours in [other_proxy.as_str(), idle.as_str()] {
        let (_, twiml) = app
            .webhook(
                "/twilio/sms",
                &[("From", ours), ("To", &proxy), ("Body", "relais")],
            )
            .await;
        assert_eq!(twiml, EMPTY, "from {ours}: no reply, no relay");
        let (_, twiml) = app
            .webhook("/twilio/voice", &[("From", ours), ("To", &proxy)])
            .await;
        assert_eq!(twiml, say(UNAVAILABLE), "from {ours}");
        // To a number of ours that is no client's proxy: no "unknown proxy" reply either.
        let (_, twiml) = app
            .webhook(
                "/twilio/sms",
                &[("From", ours), ("To", "+33780009999"), ("Body", "?")],
            )
            .await;
        assert_eq!(twiml, EMPTY, "from {ours}");
    }
    assert_eq!(last_caller(&app, 1).await, "");
    assert_eq!(deliveries(&app, CLIENT).await, 0);
    assert_eq!(outcomes(&app).await, ["own_number"; 6]);
}

/// A last caller that is one of ours (stored before the rule, imported, or a number since
/// assigned) is never dialled or texted: the client hears there is no one to reach.
#[tokio::test]
async fn a_stored_last_caller_that_is_one_of_our_numbers_is_never_dialled_or_texted() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let other_proxy = app.client_with_proxy(2, "+33611111111").await;
    let idle = app.add_numbers("FR", NumberType::Mobile, 1).await.remove(0);
    for (i, ours) in [other_proxy.as_str(), idle.as_str()]
        .into_iter()
        .enumerate()
    {
        remember(&app, ours).await;
        let (_, twiml) = app
            .webhook(
                "/twilio/voice",
                &[
                    ("From", CLIENT),
                    ("To", &proxy),
                    ("CallSid", &format!("CA{i}")),
                ],
            )
            .await;
        assert_eq!(
            twiml,
            say("Aucun appelant récent."),
            "{ours} is not dialled"
        );
        let (_, twiml) = app
            .webhook(
                "/twilio/sms",
                &[
                    ("From", CLIENT),
                    ("To", &proxy),
                    ("Body", "J'arrive"),
                    ("MessageSid", &format!("SM{i}")),
                ],
            )
            .await;
        assert_eq!(
            twiml,
            message("Aucun correspondant récent pour ce proxy."),
            "{ours} is not texted"
        );
        assert_eq!(deliveries(&app, ours).await, 0, "nothing sent to {ours}");
        assert_eq!(last_caller(&app, 1).await, ours, "left as it was");
    }
    assert_eq!(outcomes(&app).await, ["own_number"; 4]);

    // A courier calling next is remembered and reached as before.
    let (_, twiml) = app
        .webhook("/twilio/voice", &[("From", COURIER), ("To", &proxy)])
        .await;
    assert_eq!(twiml, dial_client(&app, &proxy, CLIENT));
    let (_, twiml) = app
        .webhook("/twilio/voice", &[("From", CLIENT), ("To", &proxy)])
        .await;
    assert_eq!(twiml, dial(&proxy, COURIER));
}

#[tokio::test]
async fn a_flood_of_relays_is_capped_per_sender_and_per_proxy_and_recorded_rate_limited() {
    let app = spawn_app_with(Options {
        relay_limit_per_sender_hour: Some(3),
        relay_limit_per_proxy_hour: Some(5),
        ..Default::default()
    })
    .await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    const SECOND: &str = "+33622222222";
    for i in 0..6 {
        let sid = format!("SMflood{i}");
        let (status, twiml) = app
            .webhook(
                "/twilio/sms",
                &[
                    ("From", COURIER),
                    ("To", &proxy),
                    ("Body", "Ouvrez !"),
                    ("MessageSid", &sid),
                ],
            )
            .await;
        assert_eq!((status.as_u16(), twiml.as_str()), (200, EMPTY));
    }
    assert_eq!(deliveries(&app, CLIENT).await, 3, "three relays per sender");
    // Another sender through the same proxy: two more reach the proxy's five, then a call
    // over the limit hears the neutral message.
    for i in 0..3 {
        let sid = format!("SMsecond{i}");
        app.webhook(
            "/twilio/sms",
            &[
                ("From", SECOND),
                ("To", &proxy),
                ("Body", "Bonjour"),
                ("MessageSid", &sid),
            ],
        )
        .await;
    }
    let (_, twiml) = app
        .webhook("/twilio/voice", &[("From", "+33633333333"), ("To", &proxy)])
        .await;
    assert_eq!(twiml, say(UNAVAILABLE));
    assert_eq!(deliveries(&app, CLIENT).await, 5, "five relays per proxy");
    // What was over the limit was not remembered either.
    assert_eq!(last_caller(&app, 1).await, SECOND);
    let recorded = outcomes(&app).await;
    let count = |o: &str| recorded.iter().filter(|r| *r == o).count();
    assert_eq!(
        (count("forwarded"), count("rate_limited")),
        (5, 5),
        "{recorded:?}"
    );
}

#[tokio::test]
async fn control_characters_are_stripped_from_a_text_at_the_edge() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let (_, twiml) = app
        .webhook(
            "/twilio/sms",
            &[
                ("From", COURIER),
                ("To", &proxy),
                ("Body", "code\u{0}1234\r\nporte\u{1b}[2J"),
            ],
        )
        .await;
    assert_eq!(twiml, EMPTY, "relayed, not an apology, on both engines");
    let delivered = app.deliveries_to(CLIENT, 1).await;
    assert_eq!(delivered[0].body.as_deref(), Some("code1234\nporte[2J"));
}

/// A batch of webhooks where one's text holds a NUL (PostgreSQL refuses it: the edge strips
/// it, `route_batch` does not) and one calls a client whose row no longer parses: the others
/// are routed, relayed and answered as if alone.
#[tokio::test]
async fn a_batch_holding_poisoned_webhooks_routes_the_others() {
    use proxycall::app::routing::{
        Answer, Call, CallAnswer, Inbound, Text, TextAnswer, route_batch,
    };

    const CLIENT_2: &str = "+33622222222";
    const CLIENT_3: &str = "+33633333333";
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let proxy_2 = app.client_with_proxy(2, CLIENT_2).await;
    let proxy_3 = app.client_with_proxy(3, CLIENT_3).await;
    app.db
        .exec("update clients set client_mail = 'no longer an address' where client_id = 3")
        .await;
    let n = |s: &str| Some(E164::parse_shape(s).unwrap());
    let text = |to: &str, body: &str, sid: &str| {
        Inbound::Text(Text {
            from: n(COURIER),
            to: n(to),
            body: body.into(),
            sid: Some(sid.into()),
            media: Default::default(),
        })
    };
    let call = |to: &str, sid: &str| {
        Inbound::Call(Call {
            from: n(COURIER),
            to: n(to),
            sid: Some(sid.into()),
        })
    };
    let batch = |jobs| {
        route_batch(
            app.app.store.as_ref(),
            &app.app.routing,
            &app.app.job_wake,
            jobs,
        )
    };
    let relayed = Some(Answer::Text(TextAnswer::Nothing));
    // A body PostgreSQL refuses fails the batch's transaction there.
    let answers = batch(vec![
        text(&proxy, "Je suis en bas", "SM-a"),
        text(&proxy_2, "nul\u{0}part", "SM-nul"),
        call(&proxy_2, "CA-b"),
    ])
    .await;
    assert_eq!(answers[0], relayed);
    if matches!(app.db, crate::helpers::TestDb::Postgres { .. }) {
        assert_eq!(
            answers[1], None,
            "PostgreSQL refuses the NUL: that text fails"
        );
    }
    assert!(
        matches!(&answers[2], Some(Answer::Call(CallAnswer::Connect { number, .. })) if number.as_str() == CLIENT_2),
        "{:?}",
        answers[2]
    );
    // A client row that no longer parses fails the batch's read, on both engines.
    let answers = batch(vec![
        call(&proxy_3, "CA-corrupt"),
        text(&proxy, "J'attends", "SM-c"),
    ])
    .await;
    assert_eq!(
        answers[0], None,
        "the client's row does not parse: that call fails"
    );
    assert_eq!(answers[1], relayed);
    assert_eq!(
        deliveries(&app, CLIENT).await,
        2,
        "both texts to the first client"
    );
    assert_eq!(last_caller(&app, 2).await, COURIER);
    let recorded = app.app.store.interactions(10).await.unwrap();
    let sids: Vec<&str> = recorded
        .iter()
        .filter_map(|i| i.twilio_sid.as_deref())
        .collect();
    for sid in ["SM-a", "CA-b", "SM-c"] {
        assert!(sids.contains(&sid), "{sid} recorded: {sids:?}");
    }
    assert!(!sids.contains(&"CA-corrupt"));

    // Through the webhook, the failing call hears the apology and the next is served.
    let (_, twiml) = app
        .webhook("/twilio/voice", &[("From", COURIER), ("To", &proxy_3)])
        .await;
    assert_eq!(twiml, say("Service temporairement indisponible."));
    let (_, twiml) = app
        .webhook("/twilio/voice", &[("From", COURIER), ("To", &proxy)])
        .await;
    assert_eq!(twiml, dial_client(&app, &proxy, CLIENT));
}

#[tokio::test]
async fn a_panicking_webhook_fails_only_itself_and_the_rest_of_its_batch_is_routed() {
    const CLIENT_2: &str = "+33622222222";
    const COURIER_2: &str = "+33655555555";
    let app = spawn_app_with(Options {
        engine_panics_on: Some("CA-panic"),
        ..Default::default()
    })
    .await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let proxy_2 = app.client_with_proxy(2, CLIENT_2).await;
    let ready = app.get("/ready").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let apology = say("Service temporairement indisponible.");
    let poisoned = [
        ("From", COURIER),
        ("To", proxy.as_str()),
        ("CallSid", "CA-panic"),
    ];

    // One panic alone: that call hears the apology, and the engine does not pause.
    let (status, twiml) = app.webhook("/twilio/voice", &poisoned).await;
    assert_eq!(status, 200);
    assert_eq!(twiml, apology);
    let ready = app.get("/ready").await;
    assert_eq!(ready.status, 200, "one panic: no pause; {}", ready.body);

    // A second in a row, with nothing served between: the engine pauses, and says so.
    let (_, twiml) = app.webhook("/twilio/voice", &poisoned).await;
    assert_eq!(twiml, apology);
    let ready = app.get("/ready").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.body["routing_engine"], "restarting");
    assert_eq!(ready.body["status"], "not_ready");

    // Queued while it pauses, so taken as one batch when it starts again: that batch panics,
    // as it holds the poisoned call. Only that call fails.
    let text = [
        ("From", COURIER),
        ("To", proxy.as_str()),
        ("Body", "Je suis en bas"),
        ("MessageSid", "SM-1"),
    ];
    let call = [
        ("From", COURIER_2),
        ("To", proxy_2.as_str()),
        ("CallSid", "CA-ok"),
    ];
    let text_2 = [
        ("From", COURIER_2),
        ("To", proxy_2.as_str()),
        ("Body", "Devant la porte"),
        ("MessageSid", "SM-2"),
    ];
    let (text, call, bad, text_2) = tokio::join!(
        app.webhook("/twilio/sms", &text),
        app.webhook("/twilio/voice", &call),
        app.webhook("/twilio/voice", &poisoned),
        app.webhook("/twilio/sms", &text_2),
    );
    assert_eq!(text, (reqwest::StatusCode::OK, EMPTY.to_owned()));
    assert_eq!(call.1, dial_client(&app, &proxy_2, CLIENT_2));
    assert_eq!(bad.1, apology, "the poisoned call alone hears the apology");
    assert_eq!(text_2.1, EMPTY);
    let ready = app.get("/ready").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body["routing_engine"], "ok");

    // The others were recorded and relayed, once; the poisoned one wrote nothing.
    assert_eq!(
        deliveries(&app, CLIENT).await,
        1,
        "the text reached the client"
    );
    assert_eq!(
        deliveries(&app, CLIENT_2).await,
        1,
        "the text reached client 2"
    );
    assert_eq!(last_caller(&app, 1).await, COURIER);
    assert_eq!(last_caller(&app, 2).await, COURIER_2);
    let mut sids: Vec<String> = app
        .app
        .store
        .interactions(100)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|i| i.twilio_sid)
        .collect();
    sids.sort();
    assert_eq!(sids, ["CA-ok", "SM-1", "SM-2"]);
    let (_, twiml) = app
        .webhook(
            "/twilio/voice",
            &[("From", CLIENT), ("To", &proxy), ("CallSid", "CA-back")],
        )
        .await;
    assert_eq!(twiml, dial(&proxy, COURIER), "routing goes on");
}
