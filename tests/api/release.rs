//! `POST /pool/release`: numbers given back to the carrier and marked `released`, as a pool
//! operation; held numbers only with `force`; a carrier failure mid-way resumed.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::delete;
use chrono::Utc;
use proxycall::domain::{CountryIso, E164, NumberType};
use proxycall::store::NewPoolNumber;
use serde_json::json;

use crate::helpers::{Options, spawn_app, spawn_app_with};

#[tokio::test]
async fn released_numbers_leave_the_carrier_and_held_ones_need_force() {
    let app = spawn_app().await;
    let bought = app
        .post(
            "/pool/provision",
            &json!({"country_iso": "FR", "batch_size": 2}),
        )
        .await;
    assert_eq!(bought.status, 200, "{}", bought.body);
    let held = app.client_with_proxy(1, "+33612345678").await;
    let free = bought.body["purchased_now"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .find(|n| *n != held)
        .unwrap();

    let answer = app
        .post(
            "/pool/release",
            &json!({"numbers": [free, held, "+33799999999"]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["released"], json!([free]));
    assert_eq!(answer.body["not_found"], json!(["+33799999999"]));
    assert_eq!(answer.body["failed"][0]["number"], held);
    assert!(
        answer.body["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("force"),
        "{}",
        answer.body
    );
    let status = |n: &str| {
        let store = app.app.store.clone();
        let n = E164::parse(n).unwrap();
        async move {
            store
                .pool_number(&n)
                .await
                .unwrap()
                .unwrap()
                .status
                .as_str()
        }
    };
    assert_eq!(status(&free).await, "released");
    assert_eq!(status(&held).await, "assigned");
    let rented: Vec<String> = app
        .app
        .carrier
        .incoming_numbers()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.phone_number.to_string())
        .collect();
    assert!(!rented.contains(&free), "given back to the carrier");
    assert!(rented.contains(&held));
    // A released number is never handed out again.
    let available = app.get("/pool/available?country_iso=FR").await;
    assert!(!available.text.contains(&free));

    let forced = app
        .post("/pool/release", &json!({"numbers": [held], "force": true}))
        .await;
    assert_eq!(forced.status, 200, "{}", forced.body);
    assert_eq!(forced.body["released"], json!([held]));
    assert_eq!(status(&held).await, "released");
    assert_eq!(app.get("/clients/1").await.body["client_proxy_number"], "");
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({"numbers": []}), "numbers"),
        (json!({"numbers": ["+33 7"]}), "numbers[0]"),
        // A bare array, as the earlier version refused it too.
        (json!(["+33780000001"]), "[0]"),
    ] {
        let a = app.post("/pool/release", &body).await;
        assert_eq!(a.status, 422, "{body}: {}", a.body);
        assert!(a.field().starts_with(field), "{body}: {}", a.body);
    }
    let reader = app.key_with_scopes("read").await;
    let a = app
        .send_with_key(
            reqwest::Method::POST,
            "/pool/release",
            &json!({"numbers": ["+33780000001"]}),
            Some(&reader),
        )
        .await;
    assert_eq!(a.status, 403);
}

/// A Twilio double whose number deletions answer as scripted, then 204.
#[derive(Clone, Default)]
struct Deletions {
    script: Arc<Mutex<Vec<u16>>>,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn remove(
    State(d): State<Deletions>,
    Path((_acc, file)): Path<(String, String)>,
) -> StatusCode {
    d.seen.lock().unwrap().push(file);
    let status = {
        let mut script = d.script.lock().unwrap();
        if script.is_empty() {
            204
        } else {
            script.remove(0)
        }
    };
    StatusCode::from_u16(status).unwrap()
}

#[tokio::test]
async fn a_carrier_failure_mid_way_is_resumed_at_the_next_try() {
    let double = Deletions {
        script: Arc::new(Mutex::new(vec![204, 500])),
        ..Default::default()
    };
    let router = axum::Router::new()
        .route(
            "/2010-04-01/Accounts/{acc}/IncomingPhoneNumbers/{file}",
            delete(remove),
        )
        .with_state(double.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let app = spawn_app_with(Options {
        twilio_api_base: Some(base),
        ..Default::default()
    })
    .await;
    let mut numbers = Vec::new();
    for i in 1..=3 {
        let phone_number = E164::parse(&format!("+3378000070{i}")).unwrap();
        app.app
            .store
            .add_pool_number(&NewPoolNumber {
                phone_number: phone_number.clone(),
                twilio_sid: Some(format!("PN{i:032}")),
                country_iso: CountryIso::parse("FR").unwrap(),
                number_type: NumberType::Mobile,
                voice_capable: true,
                sms_capable: true,
                friendly_name: None,
                purchased_at: Utc::now(),
            })
            .await
            .unwrap();
        numbers.push(phone_number.to_string());
    }
    let answer = app
        .post("/pool/release", &json!({"numbers": numbers}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["released"], json!(numbers));
    assert_eq!(answer.body["failed"], json!([]));
    let seen = double.seen.lock().unwrap().clone();
    // The first, the second failing, then the next try: all three again (the first answers
    // as already gone, or gone now).
    assert_eq!(seen.len(), 5, "{seen:?}");
    let job = &app
        .app
        .store
        .jobs(Some("pool.release"), None, 10)
        .await
        .unwrap()[0];
    assert_eq!(job.attempts, 2);
    assert_eq!(job.dedupe_key, None);
}

#[tokio::test]
async fn a_proxy_taken_from_a_client_rests_before_another_client_gets_it() {
    for (cooloff, second_gets_it) in [("30", false), ("0", true)] {
        let app = spawn_app_with(Options {
            settings: Some(Box::new(move |raw| {
                raw.pool_cooloff_days = Some(cooloff.into());
            })),
            ..Default::default()
        })
        .await;
        let numbers = app.add_numbers("FR", NumberType::Mobile, 2).await;
        let first = app.client_with_proxy(1, "+33612345678").await;
        let other = numbers.iter().find(|n| **n != first).unwrap().clone();
        let moved = app
            .put("/clients/1", &json!({"client_proxy_number": other}))
            .await;
        assert_eq!(moved.status, 200, "{}", moved.body);
        let old = app
            .app
            .store
            .pool_number(&E164::parse(&first).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(old.status.as_str(), "available");
        assert_eq!(old.owner_client_id, None);
        let second = app
            .post(
                "/orders",
                &crate::helpers::order("CMD-2", 2, "+33622222222"),
            )
            .await;
        if second_gets_it {
            assert_eq!(second.status, 200, "{}", second.body);
            assert_eq!(second.body["client_proxy_number"], first);
        } else {
            assert_eq!(second.status, 409, "{}", second.body);
            assert_eq!(second.code(), "pool_exhausted");
        }
    }
}
