//! Activation with a one-time code (SPEC §7): each channel to promotion, the cascade's steps
//! at their time, and every refusal — on SQLite and PostgreSQL.

use chrono::{Duration, Utc};
use proxycall::app::activation;
use proxycall::domain::{E164, NumberType};
use serde_json::{Value, json};

use crate::helpers::{Answer, Options, TestApp, spawn_app, spawn_app_with};

const PHONE: &str = "+33612345678";

fn request(phone: &str, mail: &str) -> Value {
    json!({
        "client_name": "Jeanne Martin",
        "client_mail": mail,
        "client_real_phone": phone,
        "country_iso": "FR",
        "number_type": "mobile",
    })
}

async fn create(app: &TestApp, body: Value) -> Answer {
    app.post("/confirmations/create", &body).await
}

/// Starts an activation for `PHONE` on a fresh pool; returns its id and proxy.
async fn started(app: &TestApp) -> (String, String) {
    app.add_numbers("FR", NumberType::Mobile, 2).await;
    let a = create(app, request(PHONE, "jeanne@example.com")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    (
        a.body["pending_id"].as_str().unwrap().to_owned(),
        a.body["proxy_number"].as_str().unwrap().to_owned(),
    )
}

/// The code of the newest code text delivered to `phone`.
async fn code_sent_to(app: &TestApp, phone: &str) -> String {
    let got = app.deliveries_to(phone, 1).await;
    let body = got
        .iter()
        .filter_map(|d| d.body.as_deref())
        .find(|b| b.starts_with("ProxyCall - Code de confirmation: "))
        .expect("a code was texted");
    body.rsplit(' ').next().unwrap().to_owned()
}

async fn text(app: &TestApp, from: &str, to: &str, body: &str, sid: &str) -> String {
    let (status, twiml) = app
        .webhook(
            "/twilio/sms",
            &[
                ("From", from),
                ("To", to),
                ("Body", body),
                ("MessageSid", sid),
            ],
        )
        .await;
    assert_eq!(status, 200);
    twiml
}

async fn status_of(app: &TestApp, id: &str) -> Value {
    let a = app
        .get(&format!("/confirmations/status?pending_id={id}"))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body
}

fn wrong_code(code: &str) -> String {
    let first = if code.starts_with('9') { '1' } else { '9' };
    format!("{first}{}", &code[1..])
}

#[tokio::test]
async fn a_code_answered_by_sms_promotes_a_new_client_and_confirms_from_the_proxy() {
    let app = spawn_app().await;
    let (id, proxy) = started(&app).await;
    assert_eq!(status_of(&app, &id).await["status"], "PENDING");
    let texts = app.deliveries_to(PHONE, 1).await;
    assert_eq!(
        texts[0].from.as_str(),
        proxy,
        "the code comes from the proxy"
    );
    let code = code_sent_to(&app, PHONE).await;
    assert_eq!(code.len(), 6);
    // Only a keyed hash is stored: the code is nowhere in the database once sent.
    let sent = app.sent_messages(1).await;
    assert!(
        sent.iter().all(|m| m.body.is_none()),
        "texts erased once sent"
    );

    let twiml = text(
        &app,
        PHONE,
        &proxy,
        &format!("Voici mon code : {code}"),
        "SM1",
    )
    .await;
    assert!(!twiml.contains("<Message>"), "{twiml}");
    let s = status_of(&app, &id).await;
    assert_eq!(s["status"], "PROMOTED");
    assert!(s["verified_at"].is_string());

    let client = app.get(&format!("/clients/by-proxy/{proxy}")).await;
    assert_eq!(client.status, 200);
    assert_eq!(client.body["client_real_phone"], PHONE);
    assert_eq!(client.body["client_mail"], "jeanne@example.com");
    let pooled = app
        .app
        .store
        .pool_number(&E164::parse_shape(&proxy).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pooled.status.as_str(), "assigned");
    assert_eq!(
        pooled.owner_client_id.map(|c| c.get()),
        client.body["client_id"].as_i64()
    );
    let got = app.deliveries_to(PHONE, 2).await;
    assert_eq!(
        got[0].body.as_deref(),
        Some("Confirmation OK. Merci ! Enregistre ce numéro pour tes prochaines livraison !")
    );
    assert_eq!(got[0].from.as_str(), proxy);

    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"proxycall_activations{status="PROMOTED"} 1"#,
        r#"proxycall_activations{status="PENDING"} 0"#,
        "activations_started_total",
        r#"activations_promoted_total{channel="sms"}"#,
        "activation_promotion_seconds",
    ] {
        assert!(metrics.contains(line), "{line}: {metrics}");
    }

    // The same answer again: the activation is over, the text is routed as any other.
    let again = text(&app, PHONE, &proxy, &code, "SM2").await;
    assert!(!again.contains("Code invalide"), "{again}");
    assert_eq!(status_of(&app, &id).await["status"], "PROMOTED");
}

#[tokio::test]
async fn wrong_codes_are_counted_across_retries_once_and_lock_the_activation() {
    let app = spawn_app().await;
    let (id, proxy) = started(&app).await;
    let code = code_sent_to(&app, PHONE).await;
    let wrong = wrong_code(&code);

    // Not answers: no group of 4–8 digits, several, or digits that would need gluing.
    for (i, body) in [
        "Bonjour",
        "J'arrive dans 30 min appelle moi au 0601020304",
        "123456 ou 654321",
        "12 34 56",
    ]
    .iter()
    .enumerate()
    {
        let twiml = text(&app, PHONE, &proxy, body, &format!("SMN{i}")).await;
        assert!(twiml.contains("répondez avec le code"), "{body}: {twiml}");
    }
    assert_eq!(status_of(&app, &id).await["wrong_answers"], 0);

    let twiml = text(&app, PHONE, &proxy, &wrong, "SMW1").await;
    assert!(twiml.contains("Code invalide. Réessayez."), "{twiml}");
    // Twilio retrying the same webhook counts once.
    let twiml = text(&app, PHONE, &proxy, &wrong, "SMW1").await;
    assert!(!twiml.contains("Code invalide"), "{twiml}");
    assert_eq!(status_of(&app, &id).await["wrong_answers"], 1);

    for i in 2..=5 {
        text(&app, PHONE, &proxy, &wrong, &format!("SMW{i}")).await;
    }
    let s = status_of(&app, &id).await;
    assert_eq!(s["status"], "LOCKED");
    assert_eq!(s["wrong_answers"], 5);
    // The right code no longer works, and the phone is told why.
    let twiml = text(&app, PHONE, &proxy, &code, "SMR").await;
    assert!(twiml.contains("cette demande est bloquée"), "{twiml}");
    assert_eq!(status_of(&app, &id).await["status"], "LOCKED");
    let resend = app
        .post(
            "/confirmations/resend",
            &json!({"pending_id": id, "channel": "sms"}),
        )
        .await;
    assert_eq!(resend.status, 409, "{}", resend.body);
    assert_eq!(resend.code(), "not_pending");
    assert!(resend.body["message"].as_str().unwrap().contains("LOCKED"));

    // Its number goes back to the pool 10 minutes after it locked, not before.
    let number = E164::parse_shape(&proxy).unwrap();
    app.run_jobs_at(Utc::now() + Duration::minutes(5)).await;
    let sweep = activation::ActivationSweep { retention_days: 90 };
    run_sweep(&app, sweep.clone(), Duration::minutes(5)).await;
    let pooled = app.app.store.pool_number(&number).await.unwrap().unwrap();
    assert_eq!(pooled.status.as_str(), "reserved");
    run_sweep(&app, sweep, Duration::minutes(11)).await;
    let pooled = app.app.store.pool_number(&number).await.unwrap().unwrap();
    assert_eq!(pooled.status.as_str(), "available");
}

/// Runs the periodic sweep as if `ahead` from now.
async fn run_sweep(app: &TestApp, sweep: activation::ActivationSweep, ahead: Duration) {
    let at = Utc::now() + ahead;
    proxycall::jobs::enqueue(app.app.store.as_ref(), &sweep, at, None)
        .await
        .unwrap();
    app.run_jobs_at(at).await;
    // The server's own workers may have taken it: wait until nothing runs.
    app.drain().await;
}

/// The digits the verification call reads, from its TwiML.
fn code_read(twiml: &str) -> String {
    let spoken = twiml
        .split("<Say language=\"fr-FR\">")
        .nth(2)
        .and_then(|s| s.split("</Say>").next())
        .expect("the call reads the code");
    spoken.chars().filter(char::is_ascii_digit).collect()
}

#[tokio::test]
async fn the_cascade_calls_after_a_minute_and_the_digits_typed_promote() {
    let app = spawn_app().await;
    let (id, proxy) = started(&app).await;
    app.drain().await;
    // Not before its time.
    app.run_jobs_at(Utc::now() + Duration::seconds(30)).await;
    assert_eq!(status_of(&app, &id).await["status"], "PENDING");
    let at = Utc::now() + Duration::seconds(61);
    app.run_jobs_at(at).await;
    assert_eq!(status_of(&app, &id).await["status"], "PENDING_CALL");
    let calls: Vec<_> = app
        .deliveries_to(PHONE, 2)
        .await
        .into_iter()
        .filter(|d| d.kind == "call")
        .collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].from.as_str(), proxy);
    let url = calls[0].url.clone().unwrap();
    assert!(
        url.ends_with(&format!("/twilio/voice/otp?pending_id={id}")),
        "{url}"
    );
    // The cascade's step again (a process that enqueued it too, a rerun): no second call.
    let again = activation::CascadeCall {
        pending_id: id.clone(),
    };
    proxycall::jobs::enqueue(app.app.store.as_ref(), &again, at, None)
        .await
        .unwrap()
        .expect("a second call step");
    app.run_jobs_at(at).await;
    let calls = app
        .deliveries_to(PHONE, 2)
        .await
        .into_iter()
        .filter(|d| d.kind == "call")
        .count();
    assert_eq!(calls, 1, "one call");

    let path = format!("/twilio/voice/otp?pending_id={id}");
    let call = [("CallSid", "CA1"), ("From", proxy.as_str()), ("To", PHONE)];
    let (status, twiml) = app.webhook(&path, &call).await;
    assert_eq!(status, 200);
    assert!(
        twiml.contains("Bonjour, voici votre code de confirmation ProxyCall."),
        "{twiml}"
    );
    assert!(twiml.contains("Je répète."));
    assert!(twiml.contains(r#"numDigits="6""#));
    assert!(
        twiml.contains(&format!("/twilio/voice/otp/gather?pending_id={id}\"")),
        "no try count in the URL: {twiml}"
    );
    let code = code_read(&twiml);
    assert_eq!(code.len(), 6);
    // A replay of the call's request gets no code.
    let (_, replay) = app.webhook(&path, &call).await;
    assert!(replay.contains("n'est plus valide"), "{replay}");
    assert_eq!(code_read_or_none(&replay), None);

    let gather = format!("/twilio/voice/otp/gather?pending_id={id}");
    let digits = |d: &'static str| [("CallSid", "CA1"), ("Digits", d)];
    let (_, twiml) = app.webhook(&gather, &digits("12a456")).await;
    assert!(twiml.contains("Code incorrect."), "{twiml}");
    assert!(
        twiml.contains("Veuillez saisir à nouveau votre code."),
        "{twiml}"
    );
    // Another call's CallSid cannot answer for this one.
    let (_, twiml) = app
        .webhook(&gather, &[("CallSid", "CA2"), ("Digits", code.as_str())])
        .await;
    assert!(
        twiml.contains("Cette demande n'est plus valide."),
        "{twiml}"
    );
    let (_, twiml) = app
        .webhook(&gather, &[("CallSid", "CA1"), ("Digits", code.as_str())])
        .await;
    assert!(
        twiml.contains("Code confirmé. Merci et au revoir."),
        "{twiml}"
    );
    let s = status_of(&app, &id).await;
    assert_eq!(s["status"], "PROMOTED");
    assert_eq!(s["wrong_answers"], 1);
    // A forged callback is refused before anything is read.
    let (status, _) = app
        .webhook_signed(
            &gather,
            &[("CallSid", "CA1"), ("Digits", "123456")],
            "forged",
        )
        .await;
    assert_eq!(status, 403);
    // The link step finds it promoted: nothing more is sent.
    app.run_jobs_at(Utc::now() + Duration::seconds(200)).await;
    let links = app
        .deliveries_to(PHONE, 1)
        .await
        .into_iter()
        .filter(|d| {
            d.body
                .as_deref()
                .is_some_and(|b| b.contains("/confirmations/verify"))
        })
        .count();
    assert_eq!(links, 0);
}

fn code_read_or_none(twiml: &str) -> Option<String> {
    twiml.contains("<Gather").then(|| code_read(twiml))
}

#[tokio::test]
async fn a_call_gives_three_tries_then_hangs_up() {
    let app = spawn_app().await;
    let (id, proxy) = started(&app).await;
    let resend = app
        .post(
            "/confirmations/resend",
            &json!({"pending_id": id, "channel": "voice"}),
        )
        .await;
    // The cool-down counts every request for this phone, the first code's included.
    assert_eq!(resend.status, 429, "{}", resend.body);
    assert_eq!(resend.code(), "COOLDOWN");
    assert!(resend.headers.get("retry-after").is_some());

    let path = format!("/twilio/voice/otp?pending_id={id}");
    // A call to another phone, or from another number, gets no code.
    let (_, twiml) = app
        .webhook(
            &path,
            &[
                ("CallSid", "CA9"),
                ("From", proxy.as_str()),
                ("To", "+33699999999"),
            ],
        )
        .await;
    assert!(twiml.contains("n'est plus valide"), "{twiml}");
    let (_, twiml) = app
        .webhook(&path, &[("From", proxy.as_str()), ("To", PHONE)])
        .await;
    assert!(twiml.contains("Erreur technique. Au revoir."), "{twiml}");
    let (_, twiml) = app
        .webhook("/twilio/voice/otp", &[("CallSid", "CA1")])
        .await;
    assert!(twiml.contains("Erreur technique. Au revoir."), "{twiml}");

    let call = [("CallSid", "CA1"), ("From", proxy.as_str()), ("To", PHONE)];
    let (_, twiml) = app.webhook(&path, &call).await;
    let code = code_read(&twiml);
    let gather = format!("/twilio/voice/otp/gather?pending_id={id}");
    let wrong = wrong_code(&code);
    for expected in [
        "Code incorrect.",
        "Code incorrect.",
        "Trop de tentatives incorrectes.",
    ] {
        let (_, twiml) = app
            .webhook(&gather, &[("CallSid", "CA1"), ("Digits", wrong.as_str())])
            .await;
        assert!(twiml.contains(expected), "{expected}: {twiml}");
    }
    // Too many digits is a wrong answer too; the call is over.
    let (_, twiml) = app
        .webhook(&gather, &[("CallSid", "CA1"), ("Digits", "1234567")])
        .await;
    assert!(twiml.contains("Trop de tentatives incorrectes."), "{twiml}");
    let s = status_of(&app, &id).await;
    assert_eq!(s["wrong_answers"], 3);
    assert_eq!(s["status"], "PENDING");
    // The SMS code still works.
    let sms_code = code_sent_to(&app, PHONE).await;
    text(&app, PHONE, &proxy, &sms_code, "SM1").await;
    assert_eq!(status_of(&app, &id).await["status"], "PROMOTED");
}

#[tokio::test]
async fn the_link_comes_after_the_call_and_works_once() {
    let app = spawn_app().await;
    let (id, proxy) = started(&app).await;
    let t0 = Utc::now();
    app.run_jobs_at(t0 + Duration::seconds(61)).await;
    assert_eq!(status_of(&app, &id).await["status"], "PENDING_CALL");
    app.run_jobs_at(t0 + Duration::seconds(61 + 100)).await;
    assert_eq!(status_of(&app, &id).await["status"], "PENDING_CALL");
    app.run_jobs_at(t0 + Duration::seconds(61 + 121)).await;
    assert_eq!(status_of(&app, &id).await["status"], "PENDING_MAIL");
    // The link step again: nothing more is sent.
    let again = activation::CascadeLink {
        pending_id: id.clone(),
    };
    let at = t0 + Duration::seconds(61 + 121);
    proxycall::jobs::enqueue(app.app.store.as_ref(), &again, at, None)
        .await
        .unwrap()
        .expect("a second link step");
    app.run_jobs_at(at).await;
    let links: Vec<String> = app
        .deliveries_to(PHONE, 3)
        .await
        .into_iter()
        .filter_map(|d| d.body)
        .filter(|b| b.starts_with("ProxyCall - Confirmez votre numéro ici : "))
        .collect();
    assert_eq!(links.len(), 1, "one link: {links:?}");
    let link = links[0].rsplit(' ').next().unwrap().to_owned();
    let code = code_sent_to(&app, PHONE).await;
    assert!(!link.contains(&code), "the link never carries the code");
    let token = link.split("token=").nth(1).unwrap().to_owned();
    assert!(token.len() >= 43);

    // Opened in a browser: the page says what happened, in the earlier version's words.
    let open = |token: String| {
        let url = format!("{}/confirmations/verify?token={token}", app.base);
        let http = app.http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, page) = open("not-a-token".into()).await;
    assert_eq!(status, 404);
    assert!(page.contains("Confirmation introuvable"), "{page}");
    let (status, page) = open(token.clone()).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Confirmation réussie"), "{page}");
    let (status, page) = open(token.clone()).await;
    assert_eq!(status, 400);
    assert!(page.contains("Déjà traité"), "{page}");
    assert_eq!(status_of(&app, &id).await["status"], "PROMOTED");
    assert_eq!(
        app.get(&format!("/clients/by-proxy/{proxy}")).await.status,
        200
    );
}

/// The links of the newest link step: (the texted one, the e-mailed one).
async fn links(
    app: &TestApp,
    phone: &str,
    smtp: &crate::smtp_server::SmtpServer,
) -> (String, String) {
    let texted = app
        .deliveries_to(phone, 1)
        .await
        .into_iter()
        .filter_map(|d| d.body)
        .find(|b| b.contains("verify?token="))
        .expect("a texted link");
    let received = smtp.received();
    let parsed = mail_parser::MessageParser::default()
        .parse(&received.last().expect("an e-mail").data)
        .unwrap();
    let text = parsed.body_text(0).unwrap().into_owned();
    let mailed = text
        .split_whitespace()
        .find(|w| w.contains("verify?token="))
        .unwrap()
        .to_owned();
    let token = |link: &str| link.split("token=").nth(1).unwrap().to_owned();
    (token(&texted), token(&mailed))
}

async fn through_the_cascade(app: &TestApp) {
    let t0 = Utc::now();
    app.run_jobs_at(t0 + Duration::seconds(61)).await;
    app.run_jobs_at(t0 + Duration::seconds(182)).await;
    app.drain().await;
}

#[tokio::test]
async fn an_existing_clients_new_phone_is_confirmed_from_the_accounts_email_only() {
    let smtp = crate::smtp_server::SmtpServer::start().await;
    let app = spawn_app_with(Options {
        smtp: Some(smtp.address()),
        ..Default::default()
    })
    .await;
    let proxy = app.client_with_proxy(7, PHONE).await;
    // Someone knows the client's e-mail (jeanne7@example.com, from the order) and gives
    // their own phone: the proxy is reused, the code goes to that phone.
    let new_phone = "+33622222222";
    let a = create(&app, request(new_phone, "jeanne7@example.com")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["number_type"], "existant");
    assert_eq!(a.body["proxy_number"], proxy);
    let id = a.body["pending_id"].as_str().unwrap().to_owned();
    let code = code_sent_to(&app, new_phone).await;
    let twiml = text(&app, new_phone, &proxy, &code, "SM1").await;
    assert!(
        twiml.contains("ouvrez le lien envoyé par e-mail"),
        "{twiml}"
    );
    let s = status_of(&app, &id).await;
    assert_eq!(s["status"], "PENDING");
    assert_eq!(s["wrong_answers"], 0, "a right code is not a wrong one");
    assert_eq!(app.get("/clients/7").await.body["client_real_phone"], PHONE);

    through_the_cascade(&app).await;
    let (texted, mailed) = links(&app, new_phone, &smtp).await;
    assert_ne!(texted, mailed);
    assert_eq!(
        activation::verify_link(&app.app, &texted).await.unwrap(),
        activation::LinkOutcome::ConfirmFromEmail
    );
    assert_eq!(app.get("/clients/7").await.body["client_real_phone"], PHONE);
    // The link sent to the account's address confirms it.
    assert_eq!(
        activation::verify_link(&app.app, &mailed).await.unwrap(),
        activation::LinkOutcome::Confirmed(proxycall::domain::ActivationStatus::Updated(
            proxycall::domain::ContactChange::Phone
        ))
    );
    assert_eq!(status_of(&app, &id).await["status"], "UPDATED (telephone)");
    let client = app.get("/clients/7").await;
    assert_eq!(client.body["client_real_phone"], new_phone);
    assert_eq!(client.body["client_proxy_number"], proxy);
    assert_eq!(client.body["client_name"], "Jeanne Martin");
}

#[tokio::test]
async fn an_existing_clients_new_email_is_confirmed_from_the_phone_only() {
    let smtp = crate::smtp_server::SmtpServer::start().await;
    let app = spawn_app_with(Options {
        smtp: Some(smtp.address()),
        ..Default::default()
    })
    .await;
    let proxy = app.client_with_proxy(8, PHONE).await;
    // Someone knows the client's phone and gives their own e-mail.
    let a = create(&app, request(PHONE, "someone.else@example.com")).await;
    assert_eq!(a.body["number_type"], "existant");
    let id = a.body["pending_id"].as_str().unwrap().to_owned();
    through_the_cascade(&app).await;
    let (texted, mailed) = links(&app, PHONE, &smtp).await;
    assert_eq!(
        activation::verify_link(&app.app, &mailed).await.unwrap(),
        activation::LinkOutcome::ConfirmFromPhone
    );
    assert_eq!(status_of(&app, &id).await["status"], "PENDING_MAIL");
    assert_eq!(
        app.get("/clients/8").await.body["client_mail"],
        "jeanne8@example.com"
    );
    // From the phone (the texted link, or the code), it is the client's own change.
    assert!(matches!(
        activation::verify_link(&app.app, &texted).await.unwrap(),
        activation::LinkOutcome::Confirmed(_)
    ));
    assert_eq!(status_of(&app, &id).await["status"], "UPDATED (mail)");
    assert_eq!(
        app.get("/clients/8").await.body["client_mail"],
        "someone.else@example.com"
    );
    assert_eq!(
        app.get("/clients/8").await.body["client_proxy_number"],
        proxy
    );
}

#[tokio::test]
async fn a_code_past_its_time_is_told_apart_and_a_resend_retires_the_old_one() {
    let app = spawn_app_with(Options {
        settings: Some(Box::new(|raw| {
            raw.otp_min_interval_secs = Some("0".into());
        })),
        ..Default::default()
    })
    .await;
    let (id, proxy) = started(&app).await;
    let first = code_sent_to(&app, PHONE).await;
    app.db
        .exec("update activation_codes set expires_at = '2000-01-01T00:00:00Z'")
        .await;
    let twiml = text(&app, PHONE, &proxy, &first, "SM1").await;
    assert!(twiml.contains("Ce code a expiré"), "{twiml}");
    assert_eq!(status_of(&app, &id).await["wrong_answers"], 0);
    let resend = app
        .post(
            "/confirmations/resend",
            &json!({"pending_id": id, "channel": "sms"}),
        )
        .await;
    assert_eq!(resend.status, 200, "{}", resend.body);
    let second = code_sent_to(&app, PHONE).await;
    if second != first {
        // The first code no longer works at all once another is sent.
        let twiml = text(&app, PHONE, &proxy, &first, "SM2").await;
        assert!(twiml.contains("Code invalide"), "{twiml}");
    }
    text(&app, PHONE, &proxy, &second, "SM3").await;
    assert_eq!(status_of(&app, &id).await["status"], "PROMOTED");
}

#[tokio::test]
async fn an_unchanged_client_is_updated_without_contact_change() {
    let app = spawn_app_with(Options {
        settings: Some(Box::new(|raw| {
            raw.otp_min_interval_secs = Some("0".into());
        })),
        ..Default::default()
    })
    .await;
    let proxy = app.client_with_proxy(3, PHONE).await;
    let a = create(&app, request(PHONE, "jeanne3@example.com")).await;
    assert_eq!(a.body["number_type"], "existant");
    let id = a.body["pending_id"].as_str().unwrap().to_owned();
    let code = code_sent_to(&app, PHONE).await;
    text(&app, PHONE, &proxy, &format!("code {code}"), "SM1").await;
    assert_eq!(
        status_of(&app, &id).await["status"],
        "UPDATED (aucune modification de contact)"
    );
}

#[tokio::test]
async fn a_second_request_answers_the_activation_under_way_and_reserves_nothing() {
    let app = spawn_app().await;
    let (id, proxy) = started(&app).await;
    // Same phone, another e-mail; then same e-mail, another phone.
    for (phone, mail) in [
        (PHONE, "autre@example.com"),
        ("+33633333333", "jeanne@example.com"),
    ] {
        let a = create(&app, request(phone, mail)).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["pending_id"], id.as_str());
        assert_eq!(a.body["proxy_number"], proxy.as_str());
        assert_eq!(a.body["already_under_way"], true);
    }
    let available = app.get("/pool/available?country_iso=FR").await;
    assert_eq!(available.body["available"].as_array().unwrap().len(), 1);
    assert_eq!(app.deliveries_to(PHONE, 1).await.len(), 1, "one code sent");
}

#[tokio::test]
async fn requests_for_codes_are_limited_per_phone_and_per_email() {
    let app = spawn_app_with(Options {
        settings: Some(Box::new(|raw| {
            raw.otp_min_interval_secs = Some("0".into());
            raw.otp_per_phone_per_day = Some("3".into());
            raw.otp_per_email_per_day = Some("4".into());
        })),
        ..Default::default()
    })
    .await;
    let (id, _) = started(&app).await;
    let resend = |channel: &'static str| {
        let id = id.clone();
        let app = &app;
        async move {
            app.post(
                "/confirmations/resend",
                &json!({"pending_id": id, "channel": channel}),
            )
            .await
        }
    };
    for channel in ["sms", "voice"] {
        let a = resend(channel).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["status"], "sent");
        assert_eq!(a.body["channel"], channel);
    }
    let a = resend("sms").await;
    assert_eq!(a.status, 429, "{}", a.body);
    assert_eq!(a.code(), "DAILY_LIMIT_PHONE");
    let retry: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 80_000 && retry <= 86_400, "{retry}");

    // The e-mail's own limit: another phone, same e-mail (after the first activation ends).
    activation::expire(&app.app, 0).await.unwrap();
    app.add_numbers("FR", NumberType::Mobile, 1).await;
    let a = create(&app, request("+33644444444", "jeanne@example.com")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    app.app
        .store
        .expire_activations(Utc::now() + Duration::hours(1), Utc::now(), Utc::now())
        .await
        .unwrap();
    let a = create(&app, request("+33655555555", "jeanne@example.com")).await;
    assert_eq!(a.status, 429, "{}", a.body);
    assert_eq!(a.code(), "DAILY_LIMIT_EMAIL");
}

#[tokio::test]
async fn without_a_number_of_either_type_the_pool_says_what_it_has() {
    let app = spawn_app().await;
    let a = create(&app, request(PHONE, "jeanne@example.com")).await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.code(), "pool_exhausted");
    assert_eq!(a.body["available"]["total"], 0);
    assert!(
        app.app
            .store
            .simulated_deliveries(None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Only a local number: taken for a mobile request.
    app.add_numbers("FR", NumberType::Local, 1).await;
    let a = create(&app, request(PHONE, "jeanne@example.com")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["number_type"], "local");
    assert_eq!(a.body["status"], "PENDING");
}

#[tokio::test]
async fn expire_frees_reserved_numbers_and_takes_both_body_shapes() {
    let app = spawn_app().await;
    let (id, proxy) = started(&app).await;
    let a = app
        .post_raw("/confirmations/expire", "application/json", b"48".to_vec())
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body, json!({"expired": [], "released_total": 0}));
    let a = app
        .post("/confirmations/expire", &json!({"hours": 0}))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body,
        json!({"expired": [{"pending_id": id, "proxy_number": proxy}], "released_total": 1})
    );
    assert_eq!(status_of(&app, &id).await["status"], "EXPIRED");
    let pooled = app
        .app
        .store
        .pool_number(&E164::parse_shape(&proxy).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pooled.status.as_str(), "available");
    // A code after expiry does nothing to it.
    let code = code_sent_to(&app, PHONE).await;
    text(&app, PHONE, &proxy, &code, "SM1").await;
    assert_eq!(status_of(&app, &id).await["status"], "EXPIRED");
    for bad in [&b"\"x\""[..], b"-1", b"{\"hours\": \"a\"}"] {
        let a = app
            .post_raw("/confirmations/expire", "application/json", bad.to_vec())
            .await;
        assert_eq!(a.status, 422, "{}", a.body);
        assert_eq!(a.body["field"], "hours");
    }
}

#[tokio::test]
async fn activations_expire_by_themselves_after_the_setting() {
    let app = spawn_app().await;
    let (id, proxy) = started(&app).await;
    run_sweep(
        &app,
        activation::ActivationSweep { retention_days: 90 },
        Duration::hours(47),
    )
    .await;
    // Not yet: meanwhile the cascade called (its link is due two minutes after that).
    assert_eq!(status_of(&app, &id).await["status"], "PENDING_CALL");
    run_sweep(
        &app,
        activation::ActivationSweep { retention_days: 90 },
        Duration::hours(49),
    )
    .await;
    assert_eq!(status_of(&app, &id).await["status"], "EXPIRED");
    // Its number stays held 10 more minutes, then goes back to the pool.
    let number = E164::parse_shape(&proxy).unwrap();
    let pooled = app.app.store.pool_number(&number).await.unwrap().unwrap();
    assert_eq!(pooled.status.as_str(), "reserved");
    let later = Duration::hours(49) + Duration::minutes(11);
    run_sweep(
        &app,
        activation::ActivationSweep { retention_days: 90 },
        later,
    )
    .await;
    let pooled = app.app.store.pool_number(&number).await.unwrap().unwrap();
    assert_eq!(pooled.status.as_str(), "available");
}

#[tokio::test]
async fn bad_input_names_the_field_and_changes_nothing() {
    let app = spawn_app().await;
    app.add_numbers("FR", NumberType::Mobile, 1).await;
    for (body, field) in [
        (request("0612345678", "j@example.com"), "client_real_phone"),
        (request("+33 6 12", "j@example.com"), "client_real_phone"),
        (request(PHONE, "not-an-email"), "client_mail"),
        (
            request("+33899123456", "j@example.com"),
            "client_real_phone",
        ),
        (
            request("+12025550123", "j@example.com"),
            "client_real_phone",
        ),
        (
            json!({"client_name": "A\u{7}B", "client_mail": "j@example.com",
                   "client_real_phone": PHONE}),
            "client_name",
        ),
        (
            json!({"client_name": "", "client_mail": "j@example.com",
                   "client_real_phone": PHONE}),
            "client_name",
        ),
        (
            json!({"client_name": "J", "client_mail": "j@example.com",
                   "client_real_phone": PHONE, "country_iso": "FRA"}),
            "country_iso",
        ),
        (
            json!({"client_name": "J", "client_mail": "j@example.com",
                   "client_real_phone": PHONE, "number_type": "fax"}),
            "number_type",
        ),
        (
            json!({"client_name": "J", "client_mail": "j@example.com",
                   "client_real_phone": PHONE, "pending_id": "a b"}),
            "pending_id",
        ),
    ] {
        let a = create(&app, body.clone()).await;
        assert_eq!(a.status, 422, "{body}: {}", a.body);
        assert_eq!(a.field(), field, "{body}: {}", a.body);
    }
    assert!(
        app.app
            .store
            .simulated_deliveries(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        app.get("/pool/available?country_iso=FR").await.body["available"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let a = app.get("/confirmations/status?pending_id=nope").await;
    assert_eq!(a.status, 404);
    let a = app.get("/confirmations/status").await;
    assert_eq!(a.status, 422);
    assert_eq!(a.field(), "pending_id");
    let a = app
        .post(
            "/confirmations/resend",
            &json!({"pending_id": "nope", "channel": "sms"}),
        )
        .await;
    assert_eq!(a.status, 404);
    let a = app
        .post(
            "/confirmations/resend",
            &json!({"pending_id": "nope", "channel": "fax"}),
        )
        .await;
    assert_eq!(a.status, 422);
    assert_eq!(a.field(), "channel");
    let (_, twiml) = app
        .webhook(
            "/twilio/voice/otp/gather?pending_id=nope",
            &[("CallSid", "CA1"), ("Digits", "123456")],
        )
        .await;
    assert!(twiml.contains("n'est plus valide"), "{twiml}");
}

#[tokio::test]
async fn activations_need_a_key_with_their_scope() {
    let app = spawn_app().await;
    let orders = app.key_with_scopes("orders,read").await;
    let a = app
        .send_with_key(
            reqwest::Method::POST,
            "/confirmations/create",
            &request(PHONE, "j@example.com"),
            Some(&orders),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = app
        .get_with_key("/confirmations/status?pending_id=x", None)
        .await;
    assert_eq!(a.status, 401, "{}", a.body);
    let activations = app.key_with_scopes("activations").await;
    let a = app
        .get_with_key("/confirmations/status?pending_id=x", Some(&activations))
        .await;
    assert_eq!(a.status, 404, "{}", a.body);
}

#[tokio::test]
async fn the_link_goes_by_email_too_and_carries_no_code() {
    let smtp = crate::smtp_server::SmtpServer::start().await;
    let app = spawn_app_with(Options {
        smtp: Some(smtp.address()),
        ..Default::default()
    })
    .await;
    let (id, _) = started(&app).await;
    let t0 = Utc::now();
    app.run_jobs_at(t0 + Duration::seconds(61)).await;
    app.run_jobs_at(t0 + Duration::seconds(182)).await;
    assert_eq!(status_of(&app, &id).await["status"], "PENDING_MAIL");
    app.drain().await;
    let received = smtp.received();
    assert_eq!(received.len(), 1, "one e-mail");
    assert_eq!(received[0].rcpt_to, vec!["jeanne@example.com".to_owned()]);
    let parsed = mail_parser::MessageParser::default()
        .parse(&received[0].data)
        .unwrap();
    assert_eq!(parsed.subject(), Some("ProxyCall - Confirmez votre numéro"));
    let text = parsed.body_text(0).unwrap().into_owned();
    assert!(text.contains("Bonjour Jeanne Martin,"), "{text}");
    let html = parsed.body_html(0).unwrap().into_owned();
    assert!(html.contains("Confirmer mon numéro"), "{html}");
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/confirmations/verify?token="))
        .unwrap()
        .to_owned();
    let code = code_sent_to(&app, PHONE).await;
    assert!(!text.contains(&code) && !html.contains(&code));
    // Its own token, not the text's: the texted link proves the phone, this one the e-mail.
    let sms_link = app
        .deliveries_to(PHONE, 1)
        .await
        .into_iter()
        .filter_map(|d| d.body)
        .find(|b| b.contains("verify?token="))
        .unwrap();
    assert!(!sms_link.ends_with(&link), "{sms_link} / {link}");
    // For a new client, either confirms.
    let token = link.split("token=").nth(1).unwrap();
    assert!(matches!(
        activation::verify_link(&app.app, token).await.unwrap(),
        activation::LinkOutcome::Confirmed(_)
    ));
}

#[tokio::test]
async fn requests_at_once_for_one_phone_start_one_activation() {
    let app = spawn_app().await;
    app.add_numbers("FR", NumberType::Mobile, 8).await;
    let answers = futures_util::future::join_all((0..8).map(|i| {
        let app = &app;
        async move {
            let mut body = request(PHONE, &format!("same{i}@example.com"));
            body["pending_id"] = json!(format!("P-{i}"));
            create(app, body).await
        }
    }))
    .await;
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, 200, "{}", a.body);
            a.body["pending_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one activation: {ids:?}");
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.body["already_under_way"] == false)
            .count(),
        1
    );
    let available = app.get("/pool/available?country_iso=FR").await;
    assert_eq!(available.body["available"].as_array().unwrap().len(), 7);
    assert_eq!(app.deliveries_to(PHONE, 1).await.len(), 1, "one code sent");
}

#[tokio::test]
async fn a_promotion_that_fails_leaves_nothing_half_done() {
    let app = spawn_app().await;
    let (id, proxy) = started(&app).await;
    let code = code_sent_to(&app, PHONE).await;
    // Another client came to hold the reserved number behind the service's back.
    app.client_with_proxy(5, "+33699990000").await;
    app.db
        .exec(&format!(
            "update clients set client_proxy_number = '{proxy}' where client_id = 5"
        ))
        .await;
    let before = app.app.store.outbound_messages(100).await.unwrap().len();
    let twiml = text(&app, PHONE, &proxy, &code, "SM1").await;
    assert!(twiml.contains("temporairement indisponible"), "{twiml}");
    let s = status_of(&app, &id).await;
    assert_eq!(s["status"], "PENDING", "not VERIFIED, not promoted");
    assert_eq!(s["wrong_answers"], 0);
    assert!(s["verified_at"].is_null());
    assert_eq!(app.get("/clients/6").await.status, 404, "no client created");
    assert_eq!(
        app.get("/clients/5").await.body["client_real_phone"],
        "+33699990000"
    );
    assert_eq!(
        app.app.store.outbound_messages(100).await.unwrap().len(),
        before,
        "no confirmation queued"
    );
    let pooled = app
        .app
        .store
        .pool_number(&E164::parse_shape(&proxy).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pooled.status.as_str(), "reserved");
}

#[tokio::test]
async fn the_reserved_numbers_webhooks_are_pointed_at_this_server() {
    let app = spawn_app().await;
    let bought = app
        .post(
            "/pool/provision",
            &json!({"country_iso": "FR", "batch_size": 1}),
        )
        .await;
    assert_eq!(bought.status, 200, "{}", bought.body);
    // A number whose webhooks still point elsewhere (the earlier deployment, say).
    let numbers = app.app.carrier.incoming_numbers().await.unwrap();
    let sid = numbers[0].sid.clone();
    app.app
        .store
        .update_simulated_number(
            &sid,
            Some("https://old.example.com/twilio/voice"),
            Some("https://old.example.com/twilio/sms"),
            None,
        )
        .await
        .unwrap();
    let a = create(&app, request(PHONE, "jeanne@example.com")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    app.drain().await;
    let number = app
        .app
        .carrier
        .incoming_numbers()
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.sid == sid)
        .unwrap();
    assert_eq!(
        number.voice_url.as_deref(),
        Some(format!("{}/twilio/voice", app.base).as_str())
    );
    assert_eq!(
        number.sms_url.as_deref(),
        Some(format!("{}/twilio/sms", app.base).as_str())
    );
}

#[tokio::test]
async fn stale_reservations_that_no_activation_holds_go_back_once_old_enough() {
    let app = spawn_app().await;
    let numbers = app.add_numbers("FR", NumberType::Mobile, 3).await;
    // What the earlier version left: a reservation an hour old, one without a time, and one
    // of five minutes.
    let old = (Utc::now() - Duration::hours(1)).to_rfc3339();
    let recent = (Utc::now() - Duration::minutes(5)).to_rfc3339();
    for (number, at) in [
        (&numbers[0], format!("'{old}'")),
        (&numbers[1], "null".to_owned()),
        (&numbers[2], format!("'{recent}'")),
    ] {
        app.db
            .exec(&format!(
                "update pool_numbers set status = 'reserved', reserved_token = 'legacy-token', \
                 reserved_at = {at} where phone_number = '{number}'"
            ))
            .await;
    }
    run_sweep(
        &app,
        activation::ActivationSweep { retention_days: 90 },
        Duration::zero(),
    )
    .await;
    assert_eq!(app.pool_status(&numbers[0]).await, "available");
    assert_eq!(app.pool_status(&numbers[1]).await, "available");
    assert_eq!(
        app.pool_status(&numbers[2]).await,
        "reserved",
        "not stale yet"
    );
    // A waiting activation's reservation stays, however old.
    let a = create(&app, request(PHONE, "jeanne@example.com")).await;
    let proxy = a.body["proxy_number"].as_str().unwrap().to_owned();
    run_sweep(
        &app,
        activation::ActivationSweep { retention_days: 90 },
        Duration::hours(1),
    )
    .await;
    assert_eq!(app.pool_status(&proxy).await, "reserved");
}
