use std::collections::HashSet;

use proxycall::domain::NumberType;
use serde_json::json;

use crate::helpers::{sorted, spawn_app};

const POOL_ROW_KEYS: [&str; 13] = [
    "country_iso",
    "phone_number",
    "status",
    "friendly_name",
    "date_achat",
    "date_attribution",
    "attribution_to_client_name",
    "number_type",
    "reserved_token",
    "reserved_at",
    "reserved_by_client_id",
    "voice_capable",
    "sms_capable",
];

#[tokio::test]
async fn available_numbers_are_listed_by_country_and_type() {
    let app = spawn_app().await;
    let mobiles = app.add_numbers("FR", NumberType::Mobile, 2).await;
    let locals = app.add_numbers("FR", NumberType::Local, 1).await;
    app.add_numbers("PT", NumberType::Mobile, 1).await;

    let all = app.get("/pool/available?country_iso=fr").await;
    assert_eq!(all.status, 200);
    assert_eq!(
        all.keys(),
        sorted(&["country_iso", "number_type", "available"])
    );
    assert_eq!(all.body["country_iso"], "FR");
    assert_eq!(all.body["number_type"], "all");
    let rows = all.body["available"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(crate::helpers::keys_of(&rows[0]), sorted(&POOL_ROW_KEYS));
    assert_eq!(rows[0]["phone_number"], mobiles[0].as_str());
    assert_eq!(rows[0]["status"], "available");
    assert_eq!(rows[0]["reserved_by_client_id"], "");

    let national = app
        .get("/pool/available?country_iso=FR&number_type=national")
        .await;
    assert_eq!(national.body["number_type"], "national");
    let rows = national.body["available"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["phone_number"], locals[0].as_str());
    assert_eq!(rows[0]["number_type"], "local");

    let missing = app.get("/pool/available").await;
    assert_eq!(
        (missing.status.as_u16(), missing.field()),
        (422, "country_iso")
    );
    let bad_type = app
        .get("/pool/available?country_iso=FR&number_type=landline")
        .await;
    assert_eq!(
        (bad_type.status.as_u16(), bad_type.field()),
        (422, "number_type")
    );
    let bad_country = app.get("/pool/available?country_iso=FRA").await;
    assert_eq!(
        (bad_country.status.as_u16(), bad_country.field()),
        (422, "country_iso")
    );
}

#[tokio::test]
async fn assign_hands_out_a_number_of_that_type_once() {
    let app = spawn_app().await;
    let locals = app.add_numbers("FR", NumberType::Local, 1).await;
    app.add_numbers("FR", NumberType::Mobile, 1).await;
    let body = json!({"client_id": 12, "country_iso": "FR", "client_name": "Jean", "number_type": "national", "friendly_name": "Client-12"});
    let assigned = app.post("/pool/assign", &body).await;
    assert_eq!(assigned.status, 200, "{}", assigned.body);
    assert_eq!(assigned.body, json!({"client_id": 12, "proxy": locals[0]}));

    let row = app
        .app
        .store
        .pool_number(&proxycall::domain::E164::parse(&locals[0]).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status.as_str(), "assigned");
    assert_eq!(row.owner_client_id.map(|c| c.get()), Some(12));
    assert_eq!(
        row.reserved_by_client_id, None,
        "an owner, not a reservation"
    );
    assert_eq!(row.friendly_name.as_deref(), Some("Client-12"));
    assert_eq!(row.attribution_to_client_name.as_deref(), Some("Jean"));

    // No local number left: a clear 409 with what the pool still has.
    let empty = app.post("/pool/assign", &body).await;
    assert_eq!(empty.status, 409);
    assert_eq!(empty.code(), "pool_exhausted");
    assert_eq!(
        empty.body["available"],
        json!({"mobile": 1, "local": 0, "total": 1})
    );

    let no_country = app
        .post(
            "/pool/assign",
            &json!({"client_id": 1, "client_name": "Jean"}),
        )
        .await;
    assert_eq!(
        (no_country.status.as_u16(), no_country.field()),
        (422, "country_iso")
    );
}

#[tokio::test]
async fn concurrent_assignments_never_share_a_number() {
    let app = spawn_app().await;
    let numbers: HashSet<String> = app
        .add_numbers("FR", NumberType::Mobile, 20)
        .await
        .into_iter()
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for client_id in 1..=30 {
        let (http, base, key) = (app.http.clone(), app.base.clone(), app.key.clone());
        tasks.spawn(async move {
            let body = json!({"client_id": client_id, "country_iso": "FR", "client_name": "C"});
            let r = http
                .post(format!("{base}/pool/assign"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        });
    }
    let mut given = Vec::new();
    let mut exhausted = 0;
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            (200, body) => given.push(body["proxy"].as_str().unwrap().to_owned()),
            (409, body) => {
                assert_eq!(body["code"], "pool_exhausted");
                exhausted += 1;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    let distinct: HashSet<String> = given.iter().cloned().collect();
    assert_eq!(given.len(), 20, "every number handed out");
    assert_eq!(distinct.len(), 20, "no number twice");
    assert_eq!(distinct, numbers);
    assert_eq!(exhausted, 10);
}
