//! A client's recent contacts (issue 12): `#?`, `#N`, the call menu, `BLOQUER #N`, the
//! blocks API, and a last caller past the window. Signed webhooks against the routing engine;
//! what is sent, read from the simulated carrier.

use serde_json::json;

use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with};

const CLIENT: &str = "+33612345678";
const COURIER: &str = "+33698765432";
const SHOP: &str = "+33687654321";
const EMPTY: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response />"#;

fn message(text: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>{text}</Message></Response>"#
    )
}

fn dial(proxy: &str, number: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial callerId="{proxy}"><Number>{number}</Number></Dial></Response>"#
    )
}

/// A third party's call to the client: dialled with the missed-call path.
fn dial_client(app: &TestApp, proxy: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial callerId="{proxy}" action="{}/twilio/voice/dial-status" method="POST" timeout="25"><Number>{CLIENT}</Number></Dial></Response>"#,
        app.base
    )
}

async fn text(app: &TestApp, from: &str, proxy: &str, body: &str, sid: &str) -> String {
    let (status, twiml) = app
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
    assert_eq!(status, 200, "{twiml}");
    // Sent before the next text comes: the order delivered is the order written.
    app.drain().await;
    twiml
}

async fn call(app: &TestApp, from: &str, proxy: &str, sid: &str) -> String {
    let (status, twiml) = app
        .webhook(
            "/twilio/voice",
            &[("From", from), ("To", proxy), ("CallSid", sid)],
        )
        .await;
    assert_eq!(status, 200, "{twiml}");
    twiml
}

async fn press(app: &TestApp, from: &str, proxy: &str, digits: &str) -> String {
    let (status, twiml) = app
        .webhook(
            "/twilio/voice/menu",
            &[
                ("From", from),
                ("To", proxy),
                ("CallSid", "CA-menu"),
                ("Digits", digits),
            ],
        )
        .await;
    assert_eq!(status, 200, "{twiml}");
    twiml
}

/// Bodies the simulated carrier delivered to `to`, oldest first.
async fn bodies_to(app: &TestApp, to: &str) -> Vec<String> {
    app.drain().await;
    let to = proxycall::domain::E164::parse_shape(to).unwrap();
    let mut got: Vec<String> = app
        .app
        .store
        .simulated_deliveries(Some(&to), 100)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|d| d.body)
        .collect();
    got.reverse();
    got
}

async fn outcomes(app: &TestApp) -> Vec<String> {
    let mut recorded = app.app.store.interactions(100).await.unwrap();
    recorded.reverse();
    recorded.into_iter().map(|i| i.outcome).collect()
}

/// The courier calls, then the shop texts: the shop is #1, the courier #2.
async fn two_contacts(app: &TestApp) -> String {
    let proxy = app.client_with_proxy(1, CLIENT).await;
    assert_eq!(
        call(app, COURIER, &proxy, "CA1").await,
        dial_client(app, &proxy)
    );
    assert_eq!(
        text(app, SHOP, &proxy, "Votre colis part", "SM1").await,
        EMPTY
    );
    proxy
}

#[tokio::test]
async fn a_client_lists_their_contacts_and_reaches_any_of_them_by_number() {
    let app = spawn_app().await;
    let proxy = two_contacts(&app).await;

    let list = text(&app, CLIENT, &proxy, "#?", "SM2").await;
    assert!(list.contains("Vos correspondants récents :"), "{list}");
    assert!(list.contains("#1 +33*****4321, SMS à "), "{list}");
    assert!(list.contains("#2 +33*****5432, appel à "), "{list}");
    assert!(
        list.contains(", commande CMD-1"),
        "the order they came about: {list}"
    );
    assert!(
        !list.contains(COURIER) && !list.contains(SHOP) && !list.contains("98765432"),
        "numbers masked: {list}"
    );

    // #2 reaches the courier with the message alone; a plain text the most recent.
    assert_eq!(
        text(&app, CLIENT, &proxy, "#2 Je descends", "SM3").await,
        EMPTY
    );
    assert_eq!(text(&app, CLIENT, &proxy, "Merci !", "SM4").await, EMPTY);
    assert_eq!(bodies_to(&app, COURIER).await, ["Je descends"]);
    assert_eq!(bodies_to(&app, SHOP).await, ["Merci !"]);
    // A retried #2 is relayed once.
    text(&app, CLIENT, &proxy, "#2 Je descends", "SM3").await;
    assert_eq!(bodies_to(&app, COURIER).await.len(), 1);
    // A third party's "#2" is a message like any other, and the client is never told the
    // numbers of the others.
    text(&app, COURIER, &proxy, "#2 c'est moi", "SM5").await;
    assert_eq!(
        bodies_to(&app, CLIENT).await,
        ["Votre colis part", "#2 c'est moi"]
    );

    // The call: a keypad menu, the most recent (now the courier) by default.
    let menu = call(&app, CLIENT, &proxy, "CA2").await;
    assert!(
        menu.contains(r#"/twilio/voice/menu" method="POST" numDigits="1""#),
        "{menu}"
    );
    assert!(
        menu.contains("Pour le correspondant qui vous a écrit à "),
        "{menu}"
    );
    assert!(menu.contains("pour la commande CMD-1, tapez 1."), "{menu}");
    assert!(menu.contains("tapez 2."), "{menu}");
    assert!(
        menu.ends_with(&format!(
            r#"<Dial callerId="{proxy}"><Number>{COURIER}</Number></Dial></Response>"#
        )),
        "{menu}"
    );
    assert_eq!(press(&app, CLIENT, &proxy, "2").await, dial(&proxy, SHOP));
    assert_eq!(
        press(&app, CLIENT, &proxy, "1").await,
        dial(&proxy, COURIER)
    );
    // A key that numbers nobody: the menu again, saying so.
    for key in ["7", "0", "*", ""] {
        let again = press(&app, CLIENT, &proxy, key).await;
        assert!(
            again.contains("Ce choix ne correspond à aucun correspondant."),
            "{key}: {again}"
        );
        assert!(again.contains("<Gather"), "{again}");
    }
    // Only the client's own call is connected from the menu.
    let forged = press(&app, COURIER, &proxy, "2").await;
    assert!(
        !forged.contains(SHOP) && !forged.contains("<Dial"),
        "{forged}"
    );
    assert!(forged.contains("pas joignable"), "{forged}");
}

#[tokio::test]
async fn commands_that_name_no_contact_get_a_clear_answer_and_reach_nobody() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    // No contact at all yet.
    assert_eq!(
        text(&app, CLIENT, &proxy, "#?", "SM0").await,
        message("Aucun correspondant récent pour ce proxy.")
    );
    assert_eq!(
        call(&app, COURIER, &proxy, "CA1").await,
        dial_client(&app, &proxy)
    );

    let no_such =
        message("Pas de correspondant #9. Envoyez #? pour la liste de vos correspondants récents.");
    assert_eq!(text(&app, CLIENT, &proxy, "#9 Allô", "SM1").await, no_such);
    let usage = text(&app, CLIENT, &proxy, "#x", "SM2").await;
    assert!(
        usage.contains("Pour écrire à un correspondant récent : #N"),
        "{usage}"
    );
    for (i, bad) in ["#", "#0 hi", "#1", "BLOQUER", "bloquer #x"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            text(&app, CLIENT, &proxy, bad, &format!("SM-bad-{i}")).await,
            usage,
            "{bad}"
        );
    }
    assert!(
        text(&app, CLIENT, &proxy, "BLOQUER #4", "SM3")
            .await
            .contains("Pas de correspondant #4."),
    );
    assert!(bodies_to(&app, COURIER).await.is_empty(), "nothing relayed");
    let recorded = outcomes(&app).await;
    assert_eq!(
        recorded.iter().filter(|o| *o == "bad_command").count(),
        8,
        "{recorded:?}"
    );
    // One contact only: the call goes straight to them, no menu.
    assert_eq!(
        call(&app, CLIENT, &proxy, "CA2").await,
        dial(&proxy, COURIER)
    );
}

#[tokio::test]
async fn a_blocked_contact_is_neither_connected_nor_relayed_until_unblocked() {
    let app = spawn_app().await;
    let proxy = two_contacts(&app).await;

    let blocked = text(&app, CLIENT, &proxy, "BLOQUER #2", "SM2").await;
    assert!(
        blocked.contains("+33*****5432 (#2) est bloqué"),
        "{blocked}"
    );
    assert!(!blocked.contains(COURIER), "{blocked}");
    // Blocked: a neutral answer, nothing relayed, not remembered.
    let heard = call(&app, COURIER, &proxy, "CA2").await;
    assert!(
        heard.contains("pas joignable") && !heard.contains(CLIENT),
        "{heard}"
    );
    assert_eq!(text(&app, COURIER, &proxy, "Allô ?", "SM3").await, EMPTY);
    assert_eq!(bodies_to(&app, CLIENT).await, ["Votre colis part"]);
    // The client cannot write to them by mistake, and their calls go to the shop.
    assert!(
        text(&app, CLIENT, &proxy, "#2 coucou", "SM4")
            .await
            .contains("(#2) est bloqué. Envoyez DEBLOQUER #2"),
    );
    assert_eq!(call(&app, CLIENT, &proxy, "CA3").await, dial(&proxy, SHOP));
    let list = text(&app, CLIENT, &proxy, "#?", "SM5").await;
    assert!(
        list.contains("#2 +33*****5432, appel à ") && list.contains(" (bloqué)"),
        "{list}"
    );
    let recorded = outcomes(&app).await;
    assert_eq!(
        recorded.iter().filter(|o| *o == "blocked_contact").count(),
        2,
        "{recorded:?}"
    );

    // The operator sees the block, and lifts it.
    let blocks = app.get("/clients/1/blocks").await;
    assert_eq!(blocks.status, 200);
    assert_eq!(blocks.body["client_id"], 1);
    assert_eq!(blocks.body["blocks"][0]["number"], COURIER);
    assert!(blocks.body["blocks"][0]["blocked_at"].is_string());
    assert_eq!(blocks.body["blocks"].as_array().unwrap().len(), 1);
    let lifted = app
        .send_with_key(
            reqwest::Method::DELETE,
            "/clients/1/blocks",
            &json!({"number": COURIER}),
            Some(&app.key),
        )
        .await;
    assert_eq!(lifted.status, 200, "{}", lifted.body);
    assert!(lifted.body["blocked_at"].is_null());
    assert_eq!(
        call(&app, COURIER, &proxy, "CA4").await,
        dial_client(&app, &proxy)
    );

    // And blocks it again from the API: 201, then 200 as it is blocked already.
    let again = app
        .post("/clients/1/blocks", &json!({"number": COURIER}))
        .await;
    assert_eq!(again.status, 201, "{}", again.body);
    let twice = app
        .post("/clients/1/blocks", &json!({"number": COURIER}))
        .await;
    assert_eq!(twice.status, 200);
    assert_eq!(twice.body["blocked_at"], again.body["blocked_at"]);
    // The client lifts it by text: the courier is #1 again since their last call.
    let unblocked = text(&app, CLIENT, &proxy, "DEBLOQUER #1", "SM6").await;
    assert!(unblocked.contains("(#1) est débloqué."), "{unblocked}");
    assert!(
        app.get("/clients/1/blocks").await.body["blocks"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_blocks_api_refuses_what_names_no_contact() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, CLIENT).await;
    call(&app, COURIER, &proxy, "CA1").await;

    let stranger = app
        .post("/clients/1/blocks", &json!({"number": SHOP}))
        .await;
    assert_eq!(
        (stranger.status.as_u16(), stranger.code()),
        (404, "not_found")
    );
    assert_eq!(stranger.body["message"], "contact not found");
    let nobody = app
        .post("/clients/99/blocks", &json!({"number": COURIER}))
        .await;
    assert_eq!(nobody.body["message"], "client not found");
    assert_eq!(app.get("/clients/99/blocks").await.status, 404);
    let garbage = app
        .post("/clients/1/blocks", &json!({"number": "not a phone"}))
        .await;
    assert_eq!((garbage.status.as_u16(), garbage.field()), (422, "number"));
    let extra = app
        .post(
            "/clients/1/blocks",
            &json!({"number": COURIER, "why": "rude"}),
        )
        .await;
    assert_eq!(extra.status, 422);
    let bad_id = app.get("/clients/abc/blocks").await;
    assert_eq!((bad_id.status.as_u16(), bad_id.field()), (422, "client_id"));
    // A key that may only read sees the blocks, and changes none.
    let reader = app.key_with_scopes("read").await;
    let read = app.get_with_key("/clients/1/blocks", Some(&reader)).await;
    assert_eq!(read.status, 200);
    let refused = app
        .send_with_key(
            reqwest::Method::POST,
            "/clients/1/blocks",
            &json!({"number": COURIER}),
            Some(&reader),
        )
        .await;
    assert_eq!(refused.status, 403);
}

#[tokio::test]
async fn a_last_caller_past_the_window_lapses() {
    let app = spawn_app().await;
    let proxy = two_contacts(&app).await;
    // The shop's text, eight days ago: past the 7-day window. The courier's call stays.
    app.db
        .exec(&format!(
            "update contacts set last_at = '2020-01-01T00:00:00Z' where number = '{SHOP}'"
        ))
        .await;
    assert_eq!(
        call(&app, CLIENT, &proxy, "CA2").await,
        dial(&proxy, COURIER)
    );
    app.db
        .exec("update contacts set last_at = '2020-01-01T00:00:00Z'")
        .await;
    // Both lapsed: the client hears and reads that there is nobody, and nothing is relayed.
    let heard = call(&app, CLIENT, &proxy, "CA3").await;
    assert!(heard.contains("Aucun appelant récent."), "{heard}");
    assert_eq!(
        text(&app, CLIENT, &proxy, "Vous êtes là ?", "SM2").await,
        message("Aucun correspondant récent pour ce proxy.")
    );
    assert!(bodies_to(&app, COURIER).await.is_empty());
    assert_eq!(bodies_to(&app, SHOP).await.len(), 0);
    // The last caller the earlier API shows is kept as it was.
    assert_eq!(app.get("/clients/1").await.body["client_last_caller"], SHOP);
}

#[tokio::test]
async fn without_contact_choice_everything_goes_to_the_most_recent_as_written() {
    let app = spawn_app_with(Options {
        settings: Some(Box::new(|raw| raw.contact_choice = Some("off".into()))),
        ..Options::default()
    })
    .await;
    let proxy = two_contacts(&app).await;
    assert_eq!(
        text(&app, CLIENT, &proxy, "#2 Je descends", "SM2").await,
        EMPTY
    );
    assert_eq!(text(&app, CLIENT, &proxy, "#?", "SM3").await, EMPTY);
    assert_eq!(bodies_to(&app, SHOP).await, ["#2 Je descends", "#?"]);
    assert!(bodies_to(&app, COURIER).await.is_empty());
    assert_eq!(call(&app, CLIENT, &proxy, "CA2").await, dial(&proxy, SHOP));
}

#[tokio::test]
async fn the_retention_purge_forgets_old_contacts_but_keeps_blocks() {
    let app = spawn_app().await;
    let proxy = two_contacts(&app).await;
    text(&app, CLIENT, &proxy, "BLOQUER #2", "SM2").await;
    // Everything is older than the retention as of tomorrow.
    let tomorrow = chrono::Utc::now() + chrono::Duration::days(1);
    app.app.store.purge_interactions(tomorrow).await.unwrap();
    let since = chrono::Utc::now() - chrono::Duration::days(365);
    let proxy = proxycall::domain::E164::parse_shape(&proxy).unwrap();
    let facts = app
        .app
        .store
        .routing_facts(std::slice::from_ref(&proxy), &[], since, 5)
        .await
        .unwrap();
    let kept: Vec<&str> = facts.contacts.iter().map(|c| c.number.as_str()).collect();
    assert_eq!(kept, [COURIER], "only the blocked courier is kept");
    assert_eq!(
        app.get("/clients/1/blocks").await.body["blocks"][0]["number"],
        COURIER
    );
}
