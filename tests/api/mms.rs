//! Pictures (issue 12): an MMS to a proxy is relayed with its pictures where the destination
//! takes MMS (US and Canadian numbers), elsewhere with a line saying a picture could not be
//! forwarded; a picture's address that is not the carrier's is refused, never fetched nor
//! relayed; the addresses are kept no longer than the relay's send.

use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with};
use crate::twilio_sim::TwilioSim;

const CLIENT: &str = "+33612345678";
const FR_COURIER: &str = "+33698765432";
const US_COURIER: &str = "+12025550123";
const LINE: &str = "[Une image n'a pas pu être transmise.]";
const EVIL: &str = "https://evil.example.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1";

async fn with_double() -> (TestApp, TwilioSim) {
    let sim = TwilioSim::start().await;
    let app = spawn_app_with(Options {
        twilio_api_base: Some(sim.base.clone()),
        allowed_calling_codes: Some("+33,+1".into()),
        ..Default::default()
    })
    .await;
    (app, sim)
}

/// A picture's address at the carrier (here, the double's API base).
fn picture(base: &str, n: u32) -> String {
    format!(
        "{base}/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/MM{n:032}/Media/ME{n:032}"
    )
}

async fn mms(app: &TestApp, from: &str, proxy: &str, body: &str, urls: &[&str], sid: &str) {
    let count = urls.len().to_string();
    let names: Vec<String> = (0..urls.len()).map(|i| format!("MediaUrl{i}")).collect();
    let mut params = vec![
        ("From", from),
        ("To", proxy),
        ("Body", body),
        ("MessageSid", sid),
        ("NumMedia", count.as_str()),
    ];
    for (name, url) in names.iter().zip(urls) {
        params.push((name.as_str(), url));
    }
    let (status, twiml) = app.webhook("/twilio/sms", &params).await;
    assert_eq!(status, 200, "{twiml}");
    app.drain().await;
}

#[tokio::test]
async fn a_picture_goes_on_to_a_us_number_and_becomes_a_line_for_a_french_one() {
    let (app, sim) = with_double().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let (one, two) = (picture(&sim.base, 1), picture(&sim.base, 2));

    // A US courier's picture to a French client: the text, and a line for the picture.
    mms(&app, US_COURIER, &proxy, "Voici la porte", &[&one], "MM-1").await;
    let texts = sim.texts();
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].to, CLIENT);
    assert_eq!(texts[0].body, format!("Voici la porte\n{LINE}"));
    assert!(texts[0].media.is_empty(), "no MMS to France");

    // The client answers with two pictures and no words: an MMS to the US courier.
    mms(&app, CLIENT, &proxy, "", &[&one, &two], "MM-2").await;
    let texts = sim.texts();
    assert_eq!(texts.len(), 2, "relayed, not an empty message");
    assert_eq!(texts[1].to, US_COURIER);
    assert_eq!(texts[1].from, proxy);
    assert_eq!(texts[1].media, vec![one.clone(), two.clone()]);
    assert_eq!(texts[1].body, "", "no Body: pictures alone");

    // Once sent, the relay keeps neither its text nor its pictures' addresses.
    let stored = app.app.store.outbound_messages(10).await.unwrap();
    assert!(
        stored
            .iter()
            .all(|m| m.status == "sent" && m.media.is_empty() && m.body.is_none()),
        "{stored:?}"
    );
    let interactions = app.app.store.interactions(10).await.unwrap();
    assert!(
        interactions.iter().all(|i| i.outcome == "forwarded"),
        "{interactions:?}"
    );
}

#[tokio::test]
async fn a_picture_whose_address_is_not_the_carriers_is_never_relayed() {
    let (app, sim) = with_double().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let good = picture(&sim.base, 3);
    // The courier texts first, so that the client's answers go to them.
    mms(&app, US_COURIER, &proxy, "Bonjour", &[], "SM-3").await;

    // Even to a US number: the foreign address is dropped, and a line says a picture is
    // missing; the carrier's own address goes on.
    mms(&app, CLIENT, &proxy, "Regardez", &[EVIL, &good], "MM-4").await;
    // A picture alone whose address is foreign: the line alone.
    mms(&app, CLIENT, &proxy, "", &[EVIL], "MM-5").await;
    let texts = sim.texts();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert_eq!(texts[1].body, format!("Regardez\n{LINE}"));
    assert_eq!(texts[1].media, vec![good]);
    assert_eq!(texts[2].body, LINE);
    assert!(texts[2].media.is_empty());
    assert!(
        texts
            .iter()
            .all(|t| !t.media.iter().any(|m| m.contains("evil"))),
        "never relayed"
    );
}

#[tokio::test]
async fn the_simulated_carrier_records_the_pictures_it_would_send() {
    let app = spawn_app_with(Options {
        allowed_calling_codes: Some("+33,+1".into()),
        ..Default::default()
    })
    .await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let twilio = picture("https://api.twilio.com", 6);
    mms(&app, US_COURIER, &proxy, "Bonjour", &[], "SM-6").await;
    mms(&app, CLIENT, &proxy, "Ma porte", &[&twilio], "MM-7").await;
    let got = app.deliveries_to(US_COURIER, 1).await;
    assert_eq!(got[0].body.as_deref(), Some("Ma porte"));
    let media: Vec<&str> = got[0].media.iter().map(|m| m.as_str()).collect();
    assert_eq!(media, vec![twilio.as_str()]);
}

#[tokio::test]
async fn a_picture_alone_to_a_french_number_is_relayed_as_the_line() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let twilio = picture("https://api.twilio.com", 8);
    mms(&app, FR_COURIER, &proxy, "", &[&twilio], "MM-8").await;
    let got = app.deliveries_to(CLIENT, 1).await;
    assert_eq!(got[0].body.as_deref(), Some(LINE));
    assert!(got[0].media.is_empty());
}

#[tokio::test]
async fn with_pictures_turned_off_even_a_us_number_gets_the_line() {
    let sim = TwilioSim::start().await;
    let app = spawn_app_with(Options {
        twilio_api_base: Some(sim.base.clone()),
        allowed_calling_codes: Some("+33,+1".into()),
        settings: Some(Box::new(|raw| {
            raw.relay_pictures = Some("off".into());
        })),
        ..Default::default()
    })
    .await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    mms(&app, US_COURIER, &proxy, "Bonjour", &[], "SM-9").await;
    mms(
        &app,
        CLIENT,
        &proxy,
        "Ma porte",
        &[&picture(&sim.base, 9)],
        "MM-10",
    )
    .await;
    let texts = sim.texts();
    assert_eq!(texts[1].to, US_COURIER);
    assert_eq!(texts[1].body, format!("Ma porte\n{LINE}"));
    assert!(texts[1].media.is_empty());
}

#[tokio::test]
async fn a_garbled_picture_count_relays_the_text_and_says_what_is_missing() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    let twilio = picture("https://api.twilio.com", 11);
    // Not a number: no pictures, the words alone.
    app.webhook(
        "/twilio/sms",
        &[
            ("From", FR_COURIER),
            ("To", &proxy),
            ("Body", "Bonjour"),
            ("MessageSid", "MM-11"),
            ("NumMedia", "lots"),
            ("MediaUrl0", &twilio),
        ],
    )
    .await;
    // Sent before the next text comes: texts relayed from two webhooks may be claimed by two
    // workers and reach the carrier in either order.
    app.drain().await;
    // Two announced, one given: the missing one counts as not forwarded.
    app.webhook(
        "/twilio/sms",
        &[
            ("From", FR_COURIER),
            ("To", &proxy),
            ("Body", "Et ça"),
            ("MessageSid", "MM-12"),
            ("NumMedia", "2"),
            ("MediaUrl0", &twilio),
        ],
    )
    .await;
    let got = app.deliveries_to(CLIENT, 2).await;
    assert_eq!(got[1].body.as_deref(), Some("Bonjour"));
    assert_eq!(
        got[0].body.as_deref(),
        Some(format!("Et ça\n{LINE}").as_str())
    );
    assert!(got.iter().all(|d| d.media.is_empty()));
}
