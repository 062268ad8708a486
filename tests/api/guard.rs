//! The unmasking guard and the opt-out keywords (issue 12), through signed webhooks: what the
//! simulated carrier delivered, what was recorded.

use proxycall::app::pool;
use proxycall::domain::{E164, NumberType};
use proxycall::messages::{Catalogue, Language};

use crate::helpers::{Options, TestApp, order, spawn_app, spawn_app_with};

const CLIENT: &str = "+33612345678";
const COURIER: &str = "+33698765432";
const US_COURIER: &str = "+12025550199";
const US_PROXY: &str = "+12025550100";
const EMPTY: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response />"#;

fn message(text: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>{text}</Message></Response>"#
    )
}

fn words() -> &'static proxycall::messages::GuardWords {
    &Catalogue::get(Language::Fr).guard
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
    // What it relays is sent before the next text comes: the order delivered is the order
    // written (independent sends may otherwise finish in any order).
    app.drain().await;
    twiml
}

/// The bodies delivered to `to`, oldest first.
async fn bodies_to(app: &TestApp, to: &str) -> Vec<String> {
    let mut got: Vec<String> = app
        .deliveries_to(to, 0)
        .await
        .into_iter()
        .filter_map(|d| d.body)
        .collect();
    got.reverse();
    got
}

/// The outcomes recorded, oldest first.
async fn outcomes(app: &TestApp) -> Vec<String> {
    let mut got: Vec<String> = app
        .app
        .store
        .interactions(100)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.outcome)
        .collect();
    got.reverse();
    got
}

async fn last_caller(app: &TestApp, client_id: i64) -> Option<String> {
    app.get(&format!("/clients/{client_id}")).await.body["client_last_caller"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
}

fn with_policy(policy: &'static str) -> Options {
    Options {
        settings: Some(Box::new(move |raw| {
            raw.unmask_policy = Some(policy.into());
        })),
        ..Options::default()
    }
}

#[tokio::test]
async fn redact_is_the_default_the_relay_is_screened_and_the_sender_told_once() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let w = words();

    let twiml = text(
        &app,
        COURIER,
        &proxy,
        "Appelle-moi au 06 11 22 33 44",
        "SM1",
    )
    .await;
    assert_eq!(twiml, EMPTY);
    let twiml = text(&app, COURIER, &proxy, "ou écris à paul@example.com", "SM2").await;
    assert_eq!(twiml, EMPTY);
    // A retried webhook relays once and tells nothing more.
    text(&app, COURIER, &proxy, "ou écris à paul@example.com", "SM2").await;
    assert_eq!(
        bodies_to(&app, CLIENT).await,
        vec![
            format!("Appelle-moi au {}", w.hidden_phone),
            format!("ou écris à {}", w.hidden_email),
        ]
    );
    assert_eq!(
        bodies_to(&app, COURIER).await,
        vec![w.unmask_redacted_sms.clone()],
        "told once"
    );
    assert_eq!(last_caller(&app, 1).await.as_deref(), Some(COURIER));

    // The client's texts are screened too, and the client is told, once, on their side.
    text(
        &app,
        CLIENT,
        &proxy,
        "Mon vrai numéro : +33 6 12 34 56 78",
        "SM3",
    )
    .await;
    text(
        &app,
        CLIENT,
        &proxy,
        "Suivi : https://example.com/colis/42",
        "SM4",
    )
    .await;
    let to_courier = bodies_to(&app, COURIER).await;
    assert_eq!(
        to_courier[1..],
        [
            format!("Mon vrai numéro : {}", w.hidden_phone),
            format!("Suivi : {}", w.hidden_link),
        ]
    );
    let to_client = bodies_to(&app, CLIENT).await;
    assert_eq!(
        to_client
            .iter()
            .filter(|b| **b == w.unmask_redacted_sms)
            .count(),
        1
    );
    assert!(
        [&to_client[..], &to_courier[..]]
            .concat()
            .iter()
            .all(|b| !b.contains("12 34 56 78") && !b.contains("11 22 33")),
        "no number leaked"
    );
    assert_eq!(outcomes(&app).await, vec!["forwarded"; 4]);

    // Counted per policy and kind.
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
    for kind in ["phone", "email", "link"] {
        assert!(
            metrics.contains(&format!(
                r#"proxycall_unmask_total{{policy="redact",kind="{kind}"}}"#
            )),
            "{metrics}"
        );
    }
}

#[tokio::test]
async fn block_relays_nothing_remembers_no_one_and_says_why() {
    let app = spawn_app_with(with_policy("block")).await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let w = words();

    // Bad input: a text that is only a phone number.
    let twiml = text(&app, COURIER, &proxy, "06 11 22 33 44", "SM1").await;
    assert_eq!(twiml, EMPTY);
    text(&app, COURIER, &proxy, "www.example.com", "SM2").await;
    assert!(bodies_to(&app, CLIENT).await.is_empty(), "nothing relayed");
    let told = bodies_to(&app, COURIER).await;
    assert_eq!(told, vec![w.unmask_blocked_sms.clone()], "told once");
    assert!(!told[0].contains("11 22 33"), "nothing leaked");
    assert_eq!(last_caller(&app, 1).await, None, "not remembered");
    assert_eq!(outcomes(&app).await, vec!["unmask_blocked"; 2]);

    // An ordinary text goes through.
    text(&app, COURIER, &proxy, "Je suis en bas", "SM3").await;
    assert_eq!(bodies_to(&app, CLIENT).await, vec!["Je suis en bas"]);
    assert_eq!(last_caller(&app, 1).await.as_deref(), Some(COURIER));
}

#[tokio::test]
async fn allow_relays_as_written_and_tells_nothing() {
    let app = spawn_app_with(with_policy("allow")).await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    text(&app, COURIER, &proxy, "Appelle le 06 11 22 33 44", "SM1").await;
    assert_eq!(
        bodies_to(&app, CLIENT).await,
        vec!["Appelle le 06 11 22 33 44"]
    );
    assert!(bodies_to(&app, COURIER).await.is_empty());
    assert_eq!(outcomes(&app).await, vec!["forwarded"]);
}

/// A client whose proxy is a US number (where opt-outs apply by default), reachable from the
/// US and France.
async fn us_app() -> (TestApp, String) {
    let app = spawn_app_with(Options {
        allowed_calling_codes: Some("+1,+33".into()),
        ..Options::default()
    })
    .await;
    pool::add(
        &app.app,
        pool::AddNumber {
            phone_number: E164::parse(US_PROXY).unwrap(),
            country: None,
            number_type: NumberType::Mobile,
            voice: true,
            sms: true,
            friendly_name: None,
        },
    )
    .await
    .unwrap();
    let mut body = order("CMD-1", 1, CLIENT);
    body["client_iso_residency"] = "US".into();
    let answer = app.post("/orders", &body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["client_proxy_number"], US_PROXY);
    (app, US_PROXY.to_owned())
}

#[tokio::test]
async fn stop_start_and_help_on_a_us_proxy() {
    let (app, proxy) = us_app().await;
    let w = words();

    text(&app, US_COURIER, &proxy, "I'm downstairs", "SM1").await;
    assert_eq!(bodies_to(&app, CLIENT).await, vec!["I'm downstairs"]);

    // HELP: answered, not relayed.
    let twiml = text(&app, US_COURIER, &proxy, " help ", "SM2").await;
    assert_eq!(twiml, message(&w.help_sms));

    // STOP: confirmed, not relayed; then nothing goes from the proxy to the courier.
    let twiml = text(&app, US_COURIER, &proxy, "Stop", "SM3").await;
    assert_eq!(twiml, message(&w.opted_out_sms));
    text(&app, CLIENT, &proxy, "Where are you?", "SM4").await;
    assert!(bodies_to(&app, US_COURIER).await.is_empty(), "no relay");
    // Nor a notice of the guard, nor a reply.
    text(&app, CLIENT, &proxy, "Call me at 06 11 22 33 44", "SM5").await;
    assert!(bodies_to(&app, US_COURIER).await.is_empty(), "no notice");
    assert_eq!(
        bodies_to(&app, CLIENT).await,
        vec!["I'm downstairs"],
        "the client's texts are not relayed, and the client is told nothing of the guard"
    );
    // The courier's own texts still reach the client.
    text(&app, US_COURIER, &proxy, "Still here", "SM6").await;
    assert_eq!(bodies_to(&app, CLIENT).await.last().unwrap(), "Still here");

    // START: confirmed; texts flow again.
    let twiml = text(&app, US_COURIER, &proxy, "START", "SM7").await;
    assert_eq!(twiml, message(&w.opted_in_sms));
    text(&app, CLIENT, &proxy, "Coming down", "SM8").await;
    assert_eq!(bodies_to(&app, US_COURIER).await, vec!["Coming down"]);
    // A start word from someone who had not opted out is an ordinary text.
    text(&app, US_COURIER, &proxy, "start", "SM9").await;
    assert_eq!(bodies_to(&app, CLIENT).await.last().unwrap(), "start");

    assert_eq!(
        outcomes(&app).await,
        vec![
            "forwarded",
            "help_answered",
            "opted_out",
            "recipient_opted_out",
            "recipient_opted_out",
            "forwarded",
            "opted_in",
            "forwarded",
            "forwarded",
        ]
    );
}

#[tokio::test]
async fn a_client_who_texts_stop_gets_nothing_from_the_proxy() {
    let (app, proxy) = us_app().await;
    let twiml = text(&app, CLIENT, &proxy, "ARRÊT", "SM1").await;
    assert_eq!(twiml, message(&words().opted_out_sms));
    text(&app, US_COURIER, &proxy, "I'm downstairs", "SM2").await;
    assert!(bodies_to(&app, CLIENT).await.is_empty());
    // A reply the client would get (no recent correspondent) is held back too.
    let (app2, proxy2) = us_app().await;
    text(&app2, CLIENT, &proxy2, "STOP", "SM1").await;
    assert_eq!(text(&app2, CLIENT, &proxy2, "Hello?", "SM2").await, EMPTY);
}

#[tokio::test]
async fn opt_out_keywords_are_off_for_a_french_proxy() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    assert_eq!(text(&app, COURIER, &proxy, "STOP", "SM1").await, EMPTY);
    assert_eq!(text(&app, COURIER, &proxy, "AIDE", "SM2").await, EMPTY);
    text(&app, CLIENT, &proxy, "Ok", "SM3").await;
    assert_eq!(bodies_to(&app, CLIENT).await, vec!["STOP", "AIDE"]);
    assert_eq!(bodies_to(&app, COURIER).await, vec!["Ok"]);
    assert_eq!(outcomes(&app).await, vec!["forwarded"; 3]);
}

#[tokio::test]
async fn opt_out_countries_are_configurable() {
    let app = spawn_app_with(Options {
        settings: Some(Box::new(|raw| {
            raw.opt_out_countries = Some("FR".into());
            raw.opt_out_keywords = Some("STOP,FIN".into());
        })),
        ..Options::default()
    })
    .await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let en = words();
    assert_eq!(
        text(&app, COURIER, &proxy, "fin", "SM1").await,
        message(&en.opted_out_sms)
    );
    text(&app, CLIENT, &proxy, "Ok", "SM2").await;
    assert!(bodies_to(&app, COURIER).await.is_empty());
    assert!(bodies_to(&app, CLIENT).await.is_empty());
}

/// A stop word and the client's text in one batch: the text, decided after it, is held back;
/// a start word later in the same batch lets the next one through.
#[tokio::test]
async fn a_stop_word_holds_back_the_rest_of_its_batch() {
    use proxycall::app::routing::{Answer, Inbound, Text, TextAnswer, route_batch};

    let (app, proxy) = us_app().await;
    text(&app, US_COURIER, &proxy, "I'm downstairs", "SM0").await;
    let sms = |from: &str, body: &str, sid: &str| {
        Inbound::Text(Text {
            from: Some(E164::parse(from).unwrap()),
            to: Some(E164::parse(&proxy).unwrap()),
            body: body.into(),
            sid: Some(sid.into()),
            media: Default::default(),
        })
    };
    let answers = route_batch(
        app.app.store.as_ref(),
        &app.app.routing,
        &app.app.job_wake,
        vec![
            sms(US_COURIER, "STOP", "SM1"),
            sms(CLIENT, "Where are you?", "SM2"),
            sms(US_COURIER, "UNSTOP", "SM3"),
            sms(CLIENT, "Coming down", "SM4"),
        ],
    )
    .await;
    assert_eq!(answers[0], Some(Answer::Text(TextAnswer::OptedOut)));
    assert_eq!(answers[2], Some(Answer::Text(TextAnswer::OptedIn)));
    assert_eq!(bodies_to(&app, US_COURIER).await, vec!["Coming down"]);
    assert_eq!(
        outcomes(&app).await[1..],
        ["opted_out", "recipient_opted_out", "opted_in", "forwarded"]
    );
}
