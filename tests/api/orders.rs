use proxycall::domain::NumberType;
use serde_json::json;

use crate::helpers::{order, sorted, spawn_app};

#[tokio::test]
async fn a_new_client_gets_a_proxy_and_the_same_order_again_gets_the_same_one() {
    let app = spawn_app().await;
    let numbers = app.add_numbers("FR", NumberType::Mobile, 2).await;

    // client_id as a string of digits, as the earlier integrations send it.
    let mut body = order("CMD-1", 0, "+33612345678");
    body["client_id"] = json!("42");
    let first = app.post("/orders", &body).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        first.keys(),
        sorted(&["order_id", "client_id", "client_proxy_number"])
    );
    assert_eq!(first.body["order_id"], "CMD-1");
    assert_eq!(first.body["client_id"], 42);
    let proxy = first.body["client_proxy_number"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(numbers.contains(&proxy), "{proxy} comes from the pool");

    let again = app.post("/orders", &body).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, first.body);

    // The number is now assigned to that client and no longer available.
    let client = app.get("/clients/42").await;
    assert_eq!(client.body["client_proxy_number"], proxy.as_str());
    assert_eq!(client.body["client_country_code"], "+33");
    assert_eq!(client.body["client_iso_residency"], "FR");
    let available = app.get("/pool/available?country_iso=FR").await;
    assert_eq!(available.body["available"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_second_order_of_a_known_client_reuses_its_proxy() {
    let app = spawn_app().await;
    app.add_numbers("FR", NumberType::Mobile, 3).await;
    let first = app
        .post("/orders", &order("CMD-1", 7, "+33612345678"))
        .await;
    let second = app
        .post("/orders", &order("CMD-2", 7, "+33612345678"))
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["order_id"], "CMD-2");
    assert_eq!(
        second.body["client_proxy_number"],
        first.body["client_proxy_number"]
    );
    let available = app.get("/pool/available?country_iso=FR").await;
    assert_eq!(available.body["available"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_order_id_reused_for_another_client_is_a_conflict() {
    let app = spawn_app().await;
    app.add_numbers("FR", NumberType::Mobile, 3).await;
    assert_eq!(
        app.post("/orders", &order("CMD-1", 1, "+33612345678"))
            .await
            .status,
        200
    );
    let clash = app
        .post("/orders", &order("CMD-1", 2, "+33612345679"))
        .await;
    assert_eq!(clash.status, 409);
    assert_eq!(clash.code(), "order_conflict");
    // The other client was not created for nothing.
    assert_eq!(app.get("/clients/2").await.status, 404);
}

#[tokio::test]
async fn a_local_number_is_the_fall_back_when_no_mobile_is_left() {
    let app = spawn_app().await;
    let locals = app.add_numbers("FR", NumberType::Local, 1).await;
    let answer = app
        .post("/orders", &order("CMD-1", 1, "+33612345678"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["client_proxy_number"], locals[0].as_str());
}

#[tokio::test]
async fn residency_chooses_the_pool_over_the_phone_country() {
    let app = spawn_app().await;
    app.add_numbers("FR", NumberType::Mobile, 1).await;
    let pt = app.add_numbers("PT", NumberType::Mobile, 1).await;
    let mut body = order("CMD-1", 1, "+33612345678");
    body["client_iso_residency"] = json!("pt");
    let answer = app.post("/orders", &body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["client_proxy_number"], pt[0].as_str());
}

#[tokio::test]
async fn an_empty_pool_answers_409_with_its_breakdown_and_writes_nothing() {
    let app = spawn_app().await;
    app.add_numbers("PT", NumberType::Mobile, 1).await;
    let answer = app
        .post("/orders", &order("CMD-1", 1, "+33612345678"))
        .await;
    assert_eq!(answer.status, 409, "{}", answer.body);
    assert_eq!(answer.code(), "pool_exhausted");
    assert_eq!(
        answer.body["available"],
        json!({"mobile": 0, "local": 0, "total": 0})
    );
    assert!(answer.body["message"].as_str().unwrap().contains("FR"));
    assert_eq!(app.get("/clients/1").await.status, 404);
    assert_eq!(app.get("/clients/next-id").await.body["next_client_id"], 1);

    // Once the pool is filled, the same order goes through.
    app.add_numbers("FR", NumberType::Mobile, 1).await;
    assert_eq!(
        app.post("/orders", &order("CMD-1", 1, "+33612345678"))
            .await
            .status,
        200
    );
}
