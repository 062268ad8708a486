use proxycall::domain::NumberType;
use serde_json::json;

use crate::helpers::{order, sorted, spawn_app};

const CLIENT_KEYS: [&str; 10] = [
    "client_id",
    "client_name",
    "client_mail",
    "client_real_phone",
    "client_proxy_number",
    "client_iso_residency",
    "client_country_code",
    "client_last_caller",
    "created_at",
    "updated_at",
];

fn new_client(id: i64, phone: &str) -> serde_json::Value {
    json!({
        "client_id": id,
        "client_name": "Jean DUPONT",
        "client_mail": "Jean.Dupont@Example.com",
        "client_real_phone": phone,
    })
}

#[tokio::test]
async fn next_id_is_the_highest_id_plus_one() {
    let app = spawn_app().await;
    app.add_numbers("FR", NumberType::Mobile, 2).await;
    let empty = app.get("/clients/next-id").await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body, json!({"next_client_id": 1}));
    app.post("/clients", &new_client(41, "+33612345678")).await;
    assert_eq!(app.get("/clients/next-id").await.body["next_client_id"], 42);
}

#[tokio::test]
async fn a_client_reads_with_every_key_and_e164_strings() {
    let app = spawn_app().await;
    let numbers = app.add_numbers("FR", NumberType::Mobile, 1).await;
    let created = app.post("/clients", &new_client(5, "0033612345678")).await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(
        created.keys(),
        sorted(&["client_id", "client_proxy_number"])
    );
    assert_eq!(created.body["client_proxy_number"], numbers[0].as_str());

    let got = app.get("/clients/5").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.keys(), sorted(&CLIENT_KEYS));
    assert_eq!(got.body["client_id"], 5);
    assert_eq!(got.body["client_real_phone"], "+33612345678");
    assert_eq!(got.body["client_mail"], "jean.dupont@example.com");
    assert_eq!(got.body["client_proxy_number"], numbers[0].as_str());
    assert_eq!(got.body["client_last_caller"], "");

    for path in [
        format!("/clients/by-proxy/{}", numbers[0]),
        format!("/clients/by-proxy/{}", numbers[0].trim_start_matches('+')),
        format!("/clients/by-proxy/%2B33%207{}", &numbers[0][4..]),
    ] {
        let by_proxy = app.get(&path).await;
        assert_eq!(by_proxy.status, 200, "{path}: {}", by_proxy.body);
        assert_eq!(by_proxy.body, got.body);
    }
}

#[tokio::test]
async fn unknown_clients_are_404_and_bad_ids_name_the_field() {
    let app = spawn_app().await;
    let missing = app.get("/clients/999").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.code(), "not_found");
    assert_eq!(app.get("/clients/by-proxy/+33780000099").await.status, 404);
    let bad = app.get("/clients/abc").await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.field(), "client_id");
}

#[tokio::test]
async fn creating_an_existing_client_is_a_conflict_and_takes_no_number() {
    let app = spawn_app().await;
    app.add_numbers("FR", NumberType::Mobile, 2).await;
    assert_eq!(
        app.post("/clients", &new_client(1, "+33612345678"))
            .await
            .status,
        200
    );
    let again = app.post("/clients", &new_client(1, "+33612345679")).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.code(), "client_exists");
    let available = app.get("/pool/available?country_iso=FR").await;
    assert_eq!(available.body["available"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_update_changes_only_what_is_given_and_keeps_the_protected_fields() {
    let app = spawn_app().await;
    app.add_numbers("FR", NumberType::Mobile, 1).await;
    app.post("/orders", &order("CMD-1", 3, "+33612345678"))
        .await;
    let before = app.get("/clients/3").await.body;

    let updated = app
        .put(
            "/clients/3",
            &json!({
                "client_name": "Jeanne DURAND",
                "client_mail": "",
                "client_real_phone": null,
                "client_iso_residency": "US",
                "client_country_code": "+1",
                "client_last_caller": "+15551234567",
            }),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    let order = [
        "client_id",
        "client_proxy_number",
        "client_name",
        "client_mail",
        "client_real_phone",
        "client_iso_residency",
        "client_country_code",
        "client_last_caller",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| updated.text.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(
        positions.is_sorted(),
        "keys in the earlier version's order: {}",
        updated.text
    );
    assert_eq!(updated.body["client_name"], "Jeanne DURAND");
    for kept in [
        "client_mail",
        "client_real_phone",
        "client_proxy_number",
        "client_iso_residency",
        "client_country_code",
        "client_last_caller",
    ] {
        assert_eq!(updated.body[kept], before[kept], "{kept} is kept");
    }

    // A new real phone brings its own calling code.
    let moved = app
        .put("/clients/3", &json!({"client_real_phone": "+351912345678"}))
        .await;
    assert_eq!(moved.body["client_real_phone"], "+351912345678");
    assert_eq!(moved.body["client_country_code"], "+351");

    assert_eq!(
        app.put("/clients/99", &json!({"client_name": "X"}))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn a_proxy_that_belongs_to_another_client_is_refused() {
    let app = spawn_app().await;
    let free = app.add_numbers("FR", NumberType::Mobile, 3).await;
    let a = app
        .post("/orders", &order("CMD-A", 1, "+33612345678"))
        .await;
    app.post("/orders", &order("CMD-B", 2, "+33612345679"))
        .await;
    let a_proxy = a.body["client_proxy_number"].as_str().unwrap();

    let stolen = app
        .put("/clients/2", &json!({"client_proxy_number": a_proxy}))
        .await;
    // The whole answer: nothing in it names the client that holds the number.
    let refusal = "client_proxy_number belongs to another client";
    assert_eq!(
        (stolen.status.as_u16(), &stolen.body),
        (
            409,
            &json!({"code": "proxy_taken", "message": refusal, "detail": refusal})
        )
    );

    // A number another client holds in the pool (assigned, not yet set on the client) too.
    let held = app
        .post(
            "/pool/assign",
            &json!({"client_id": 1, "country_iso": "FR", "client_name": "A"}),
        )
        .await;
    let held_number = held.body["proxy"].as_str().unwrap();
    let refused = app
        .put("/clients/2", &json!({"client_proxy_number": held_number}))
        .await;
    assert_eq!(
        (refused.status.as_u16(), &refused.body),
        (
            409,
            &json!({"code": "proxy_taken", "message": refusal, "detail": refusal})
        )
    );

    // A free pool number is accepted and becomes this client's in the pool.
    let last_free = free
        .iter()
        .find(|n| n.as_str() != held_number && n.as_str() != a_proxy);
    let last_free = last_free.unwrap();
    let ok = app
        .put("/clients/2", &json!({"client_proxy_number": last_free}))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let available = app.get("/pool/available?country_iso=FR").await;
    assert_eq!(available.body["available"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_service_number_or_one_of_ours_is_refused_as_a_real_phone() {
    let app = spawn_app().await;
    let numbers = app.add_numbers("FR", NumberType::Mobile, 2).await;
    let created = app.post("/clients", &new_client(1, "+33612345678")).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let (proxy, idle) = (numbers[0].as_str(), numbers[1].as_str());
    assert_eq!(created.body["client_proxy_number"], proxy);
    for (phone, why) in [
        ("+33899123456", "a premium-rate number"),
        ("+449012345678", "a premium-rate number"),
        ("+33884012345", "a shared-cost number"),
        ("+33801234567", "a toll-free number"),
        ("+447012345678", "a personal (forwarding) number"),
        ("+881612345678", "a number of no country"),
        (proxy, "one of this service's proxy numbers"),
        (idle, "one of this service's proxy numbers"),
    ] {
        let answers = [
            app.post("/orders", &order(&format!("CMD-{phone}"), 10, phone))
                .await,
            app.post("/clients", &new_client(11, phone)).await,
            app.put("/clients/1", &json!({"client_real_phone": phone}))
                .await,
        ];
        for answer in answers {
            assert_eq!(answer.status, 422, "{phone}: {}", answer.body);
            assert_eq!(answer.field(), "client_real_phone", "{phone}");
            let message = answer.body["message"].as_str().unwrap_or_default();
            assert!(message.contains(why), "{phone}: {message}");
        }
    }
    // Nothing was written: no client, no order, no number taken, the phone unchanged.
    for path in ["/clients/10", "/clients/11"] {
        assert_eq!(app.get(path).await.status, 404, "{path}");
    }
    assert_eq!(
        app.get("/clients/1").await.body["client_real_phone"],
        "+33612345678"
    );
    let available = app.get("/pool/available?country_iso=FR").await;
    assert_eq!(
        available.body["available"].as_array().map(Vec::len),
        Some(1)
    );
}

/// A client's real phone added to the pool would become "one of ours", and that client's own
/// calls and texts would stop being relayed: the pool refuses it.
#[tokio::test]
async fn a_clients_real_phone_cannot_be_added_to_the_pool() {
    use proxycall::app::{AppError, pool};
    use proxycall::domain::E164;

    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, "+33612345678").await;

    let refused = pool::add(
        &app.app,
        pool::AddNumber {
            phone_number: E164::parse("+33612345678").unwrap(),
            country: None,
            number_type: NumberType::Mobile,
            voice: true,
            sms: true,
            friendly_name: None,
        },
    )
    .await;

    match refused {
        Err(AppError::Invalid { field, .. }) => assert_eq!(field, "phone_number"),
        other => panic!(
            "expected a refusal naming phone_number, got {:?}",
            other.map(|n| n.phone_number)
        ),
    }
    assert!(
        app.app
            .store
            .pool_number(&E164::parse("+33612345678").unwrap())
            .await
            .unwrap()
            .is_none(),
        "nothing was added"
    );
    // The client still reaches their proxy as a client, not as one of ours.
    let (status, twiml) = app
        .webhook(
            "/twilio/voice",
            &[
                ("From", "+33612345678"),
                ("To", &proxy),
                ("CallSid", "CA-client"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(twiml.contains("Aucun appelant"), "{twiml}");
}
