//! Every kind of bad input is refused with the field named, and nothing is written.

use proxycall::domain::NumberType;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, order, spawn_app, spawn_app_with};

async fn assert_nothing_written(app: &TestApp) {
    assert_eq!(app.get("/clients/next-id").await.body["next_client_id"], 1);
    let pool = app.get("/pool/available?country_iso=FR").await;
    assert_eq!(pool.body["available"].as_array().unwrap().len(), 2);
}

fn with(field: &str, value: Value) -> Value {
    let mut body = order("CMD-1", 1, "+33612345678");
    body[field] = value;
    body
}

#[tokio::test]
async fn bad_order_fields_are_422_naming_the_field() {
    let app = spawn_app().await;
    app.add_numbers("FR", NumberType::Mobile, 2).await;
    let cases: Vec<(&str, Value)> = vec![
        (
            "client_real_phone",
            with("client_real_phone", json!("+33 6 12 34 56 78")),
        ),
        (
            "client_real_phone",
            with("client_real_phone", json!("+33612abc678")),
        ),
        (
            "client_real_phone",
            with("client_real_phone", json!("+3361")),
        ),
        (
            "client_real_phone",
            with("client_real_phone", json!("+336123456781234567")),
        ),
        (
            "client_real_phone",
            with("client_real_phone", json!("+35112345678")),
        ),
        (
            "client_real_phone",
            with("client_real_phone", json!(33612345678u64)),
        ),
        ("client_mail", with("client_mail", json!("not-an-email"))),
        ("client_mail", with("client_mail", json!("a@b"))),
        (
            "client_iso_residency",
            with("client_iso_residency", json!("FRA")),
        ),
        (
            "client_iso_residency",
            with("client_iso_residency", json!("XX")),
        ),
        ("client_name", with("client_name", json!(12))),
        ("client_name", with("client_name", json!("Jean\u{0007}"))),
        ("client_name", with("client_name", json!("x".repeat(121)))),
        ("client_id", with("client_id", json!("12a"))),
        ("client_id", with("client_id", json!(-4))),
        ("client_id", with("client_id", json!(true))),
        ("order_id", with("order_id", json!(""))),
        ("surprise", with("surprise", json!("unknown field"))),
    ];
    for (field, body) in cases {
        let answer = app.post("/orders", &body).await;
        assert_eq!(answer.status, 422, "{field}: {body} -> {}", answer.body);
        assert_eq!(answer.code(), "invalid_input");
        assert_eq!(answer.field(), field, "{body} -> {}", answer.body);
        assert!(answer.body["message"].as_str().unwrap().starts_with(field));
    }
    let mut missing = order("CMD-1", 1, "+33612345678");
    missing.as_object_mut().unwrap().remove("client_mail");
    let answer = app.post("/orders", &missing).await;
    assert_eq!(
        (answer.status.as_u16(), answer.field()),
        (422, "client_mail")
    );
    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn malformed_bodies_are_refused_before_anything_happens() {
    let app = spawn_app_with(Options {
        body_limit_bytes: Some(2048),
        ..Default::default()
    })
    .await;
    app.add_numbers("FR", NumberType::Mobile, 2).await;

    let broken = app
        .post_raw("/orders", "application/json", b"{\"order_id\": ".to_vec())
        .await;
    assert_eq!(
        (broken.status.as_u16(), broken.code()),
        (400, "malformed_json")
    );

    let form = app
        .post_raw(
            "/orders",
            "application/x-www-form-urlencoded",
            b"order_id=1".to_vec(),
        )
        .await;
    assert_eq!(
        (form.status.as_u16(), form.code()),
        (415, "unsupported_media_type")
    );

    let not_object = app
        .post_raw("/orders", "application/json", b"[1, 2]".to_vec())
        .await;
    assert_eq!(not_object.status, 422);

    let mut huge = order("CMD-1", 1, "+33612345678");
    huge["client_name"] = json!("x".repeat(4096));
    let too_big = app.post("/orders", &huge).await;
    assert_eq!(
        (too_big.status.as_u16(), too_big.code()),
        (413, "payload_too_large")
    );

    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn bad_client_and_pool_bodies_name_the_field() {
    let app = spawn_app().await;
    app.add_numbers("FR", NumberType::Mobile, 2).await;
    let create = app
        .post(
            "/clients",
            &json!({"client_id": 1, "client_name": "A", "client_mail": "a@example.com", "client_real_phone": "06 12 34 56 78"}),
        )
        .await;
    assert_eq!(
        (create.status.as_u16(), create.field()),
        (422, "client_real_phone")
    );

    let assign = app
        .post("/pool/assign", &json!({"client_id": 1, "country_iso": "FR", "client_name": "A", "number_type": "landline"}))
        .await;
    assert_eq!(
        (assign.status.as_u16(), assign.field()),
        (422, "number_type")
    );
    let assign = app
        .post(
            "/pool/assign",
            &json!({"client_id": "x", "country_iso": "FR", "client_name": "A"}),
        )
        .await;
    assert_eq!((assign.status.as_u16(), assign.field()), (422, "client_id"));
    let assign = app
        .post("/pool/assign", &json!({"client_id": 1, "country_iso": "FR", "client_name": "A", "friendly_name": "x".repeat(65)}))
        .await;
    assert_eq!(
        (assign.status.as_u16(), assign.field()),
        (422, "friendly_name")
    );
    assert_nothing_written(&app).await;

    // An update with a bad field changes nothing.
    app.post("/orders", &order("CMD-1", 1, "+33612345678"))
        .await;
    let before = app.get("/clients/1").await.body;
    for (field, value) in [
        ("client_mail", json!("nope")),
        ("client_real_phone", json!("+33-6-12")),
        ("client_proxy_number", json!("abc")),
        ("client_name", json!(["A"])),
        ("client_favourite_colour", json!("blue")),
    ] {
        let answer = app.put("/clients/1", &json!({ field: value })).await;
        assert_eq!(
            (answer.status.as_u16(), answer.field()),
            (422, field),
            "{}",
            answer.body
        );
    }
    assert_eq!(app.get("/clients/1").await.body, before);
}
