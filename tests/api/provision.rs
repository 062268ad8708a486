//! `POST /pool/provision`: buying numbers into the pool, on the simulated carrier and against
//! a Twilio double that answers with Twilio's error codes.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::helpers::{Answer, Options, TestApp, sorted, spawn_app, spawn_app_with};

#[tokio::test]
async fn the_simulated_carrier_sells_numbers_with_this_servers_webhooks() {
    let app = spawn_app().await;
    let answer = app
        .post(
            "/pool/provision",
            &json!({"country_iso": "FR", "batch_size": 3, "require_sms_capability": true}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.keys(),
        sorted(&[
            "country_iso",
            "purchased_now",
            "batch_size",
            "number_type",
            "require_sms_capability",
            "require_voice_capability",
            "candidates_limit",
            "skipped",
        ])
    );
    let bought: Vec<&str> = answer.body["purchased_now"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(bought.len(), 3);
    assert_eq!(answer.body["candidates_limit"], 100, "the earlier default");

    let pool = app
        .get("/pool/available?country_iso=FR&number_type=mobile")
        .await;
    let rows = pool.body["available"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["friendly_name"], "Pool-FR-1");
    let carrier_side = app.app.carrier.incoming_numbers().await.unwrap();
    assert_eq!(carrier_side.len(), 3);
    assert!(carrier_side.iter().all(|n| n.voice_url.as_deref()
        == Some(&format!("{}/twilio/voice", app.base))
        && n.sms_url.as_deref() == Some(&format!("{}/twilio/sms", app.base))
        && n.voice_method.as_deref() == Some("POST")));

    let local = app
        .post(
            "/pool/provision",
            &json!({"country_iso": "PT", "number_type": "national"}),
        )
        .await;
    assert_eq!(local.status, 200, "{}", local.body);
    assert_eq!(local.body["number_type"], "local");
    let pt = app.get("/pool/available?country_iso=PT").await;
    assert_eq!(pt.body["available"][0]["number_type"], "local");
}

#[tokio::test]
async fn bad_provision_requests_name_the_field() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({"batch_size": 1}), "country_iso"),
        (json!({"country_iso": "FR", "batch_size": 0}), "batch_size"),
        (
            json!({"country_iso": "FR", "batch_size": 500}),
            "batch_size",
        ),
        (
            json!({"country_iso": "FR", "number_type": "fax"}),
            "number_type",
        ),
        (
            json!({"country_iso": "FR", "require_sms_capability": "yes"}),
            "require_sms_capability",
        ),
    ] {
        let answer = app.post("/pool/provision", &body).await;
        assert_eq!(
            (answer.status.as_u16(), answer.field()),
            (422, field),
            "{body}"
        );
    }
    let reader = app.key_with_scopes("read").await;
    let refused = app
        .send_with_key(
            reqwest::Method::POST,
            "/pool/provision",
            &json!({"country_iso": "FR"}),
            Some(&reader),
        )
        .await;
    assert_eq!(refused.status, 403);
}

/// Answers to successive purchases: (HTTP status, Twilio error code).
type Script = Arc<Mutex<Vec<(u16, Option<u32>)>>>;
/// The form of each purchase received.
type Forms = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// A Twilio double for the purchase path: scripted answers to number purchases, and the
/// candidates it offers per type.
#[derive(Clone, Default)]
struct Double {
    mobile: Vec<&'static str>,
    local: Vec<&'static str>,
    /// Searches answered with a Twilio error instead: (`Mobile.json`…, HTTP status, code).
    search_errors: Vec<(&'static str, u16, u32)>,
    purchases: Script,
    bought: Forms,
}

async fn available(
    State(d): State<Double>,
    Path((_acc, _cc, kind)): Path<(String, String, String)>,
) -> (StatusCode, axum::Json<Value>) {
    if let Some((_, status, code)) = d.search_errors.iter().find(|(k, ..)| *k == kind) {
        return (
            StatusCode::from_u16(*status).unwrap(),
            axum::Json(
                json!({"code": code, "message": "The requested resource was not found",
                              "status": status}),
            ),
        );
    }
    let numbers = if kind == "Mobile.json" {
        &d.mobile
    } else {
        &d.local
    };
    let rows: Vec<Value> = numbers
        .iter()
        .map(|n| json!({"phone_number": n, "capabilities": {"voice": true, "SMS": true, "MMS": false}}))
        .collect();
    (
        StatusCode::OK,
        axum::Json(json!({ "available_phone_numbers": rows })),
    )
}

async fn buy(State(d): State<Double>, body: String) -> (StatusCode, axum::Json<Value>) {
    let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let number = form
        .iter()
        .find(|(k, _)| k == "PhoneNumber")
        .unwrap()
        .1
        .clone();
    d.bought.lock().unwrap().push(form);
    let (status, code) = {
        let mut script = d.purchases.lock().unwrap();
        if script.is_empty() {
            (201, None)
        } else {
            script.remove(0)
        }
    };
    let body = match code {
        Some(code) => json!({"code": code, "message": "refused", "status": status}),
        None => json!({"sid": format!("PN{:032x}", number.len()), "phone_number": number,
                       "friendly_name": "x", "capabilities": {"voice": true, "sms": true}}),
    };
    (StatusCode::from_u16(status).unwrap(), axum::Json(body))
}

async fn start(double: Double) -> String {
    let router = axum::Router::new()
        .route(
            "/2010-04-01/Accounts/{acc}/AvailablePhoneNumbers/{cc}/{kind}",
            get(available),
        )
        .route(
            "/2010-04-01/Accounts/{acc}/IncomingPhoneNumbers.json",
            post(buy),
        )
        .with_state(double);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

#[tokio::test]
async fn a_bundle_mismatch_moves_to_the_next_candidate() {
    let double = Double {
        mobile: vec!["+33780000101", "+33780000102"],
        purchases: Arc::new(Mutex::new(vec![(400, Some(21649))])),
        ..Default::default()
    };
    let app = spawn_app_with(Options {
        twilio_api_base: Some(start(double.clone()).await),
        ..Default::default()
    })
    .await;
    let answer = app
        .post("/pool/provision", &json!({"country_iso": "FR"}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["purchased_now"], json!(["+33780000102"]));
    assert_eq!(answer.body["skipped"][0]["phone_number"], "+33780000101");
    assert!(
        answer.body["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("21649")
    );
    // The purchase carried this server's webhooks, by POST.
    let form = &double.bought.lock().unwrap()[1];
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("VoiceUrl"), Some(format!("{}/twilio/voice", app.base)));
    assert_eq!(get("SmsMethod").as_deref(), Some("POST"));
}

#[tokio::test]
async fn an_address_outside_the_bundle_stops_with_a_clear_message() {
    let double = Double {
        mobile: vec!["+33780000201", "+33780000202"],
        purchases: Arc::new(Mutex::new(vec![(400, Some(21651))])),
        ..Default::default()
    };
    let app = spawn_app_with(Options {
        twilio_api_base: Some(start(double.clone()).await),
        ..Default::default()
    })
    .await;
    let answer = app
        .post(
            "/pool/provision",
            &json!({"country_iso": "FR", "batch_size": 2}),
        )
        .await;
    assert_eq!(answer.status, 409, "{}", answer.body);
    assert_eq!(answer.code(), "address_not_in_bundle");
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("TWILIO_ADDRESS_SID")
    );
    assert_eq!(
        double.bought.lock().unwrap().len(),
        1,
        "no other candidate tried"
    );
    assert_eq!(
        app.get("/pool/available?country_iso=FR").await.body["available"],
        json!([])
    );
}

#[tokio::test]
async fn without_mobiles_a_local_number_is_bought_and_recorded_as_local() {
    let double = Double {
        local: vec!["+33140000301"],
        ..Default::default()
    };
    let app = spawn_app_with(Options {
        twilio_api_base: Some(start(double).await),
        ..Default::default()
    })
    .await;
    let answer = app
        .post("/pool/provision", &json!({"country_iso": "FR"}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["purchased_now"], json!(["+33140000301"]));
    let pool = app.get("/pool/available?country_iso=FR").await;
    assert_eq!(pool.body["available"][0]["number_type"], "local");
}

#[tokio::test]
async fn no_candidate_is_a_clear_409() {
    let app = spawn_app_with(Options {
        twilio_api_base: Some(start(Double::default()).await),
        ..Default::default()
    })
    .await;
    let answer = app
        .post(
            "/pool/provision",
            &json!({"country_iso": "FR", "require_sms_capability": true}),
        )
        .await;
    assert_eq!(answer.status, 409);
    assert_eq!(answer.code(), "no_candidates");
    assert!(answer.body["message"].as_str().unwrap().contains("SMS"));
}

/// Twilio answers 404 (code 20404) for a country or a type it has no inventory for.
const NO_INVENTORY: (u16, u32) = (404, 20404);

/// A server on the Twilio client against `double`, and its answer to one provisioning.
async fn provision_against(double: Double, body: &Value) -> (TestApp, Answer) {
    let app = spawn_app_with(Options {
        twilio_api_base: Some(start(double).await),
        ..Default::default()
    })
    .await;
    let answer = app.post("/pool/provision", body).await;
    (app, answer)
}

#[tokio::test]
async fn a_country_without_mobile_inventory_falls_back_to_local_numbers() {
    let double = Double {
        local: vec!["+12025550101"],
        search_errors: vec![("Mobile.json", NO_INVENTORY.0, NO_INVENTORY.1)],
        ..Default::default()
    };
    let (app, answer) =
        provision_against(double, &json!({"country_iso": "US", "batch_size": 1})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["purchased_now"], json!(["+12025550101"]));
    let pool = app.get("/pool/available?country_iso=US").await;
    assert_eq!(pool.body["available"][0]["number_type"], "local");
}

#[tokio::test]
async fn a_country_without_any_inventory_is_a_409_with_the_reason_per_type() {
    let double = Double {
        search_errors: vec![
            ("Mobile.json", NO_INVENTORY.0, NO_INVENTORY.1),
            ("Local.json", NO_INVENTORY.0, NO_INVENTORY.1),
        ],
        ..Default::default()
    };
    let (app, answer) =
        provision_against(double, &json!({"country_iso": "US", "batch_size": 1})).await;
    assert_eq!(answer.status, 409, "{}", answer.body);
    assert_eq!(answer.code(), "no_candidates");
    let message = answer.body["message"].as_str().unwrap();
    assert!(
        message.starts_with("no number available for US (type mobile)"),
        "{message}"
    );
    let reasons = answer.body["reasons"].as_object().unwrap();
    assert_eq!(
        reasons.keys().collect::<Vec<_>>(),
        ["local", "mobile"],
        "{}",
        answer.body
    );
    for (number_type, why) in reasons {
        assert!(
            why.as_str().unwrap().contains("20404"),
            "{number_type}: {why}"
        );
    }
    assert_eq!(
        app.get("/pool/available?country_iso=US").await.body["available"],
        json!([])
    );
}

#[tokio::test]
async fn a_carrier_that_refuses_our_credentials_is_still_a_server_side_error() {
    let double = Double {
        local: vec!["+12025550102"],
        search_errors: vec![
            ("Mobile.json", NO_INVENTORY.0, NO_INVENTORY.1),
            ("Local.json", 401, 20003),
        ],
        ..Default::default()
    };
    let (_app, answer) = provision_against(double, &json!({"country_iso": "US"})).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.code(), "carrier_unavailable");
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("TWILIO_AUTH_TOKEN")
    );
}

#[tokio::test]
async fn a_carrier_failure_mid_way_is_resumed_and_the_report_says_all_that_was_bought() {
    // The second purchase meets a 500 (Twilio may or may not have bought it: the number is
    // not in the pool, so the next try offers it again); the job tries again and buys the rest.
    let double = Double {
        mobile: vec!["+33780000601", "+33780000602", "+33780000603"],
        purchases: Arc::new(Mutex::new(vec![(201, None), (500, Some(20500))])),
        ..Default::default()
    };
    let app = spawn_app_with(Options {
        twilio_api_base: Some(start(double.clone()).await),
        ..Default::default()
    })
    .await;
    let answer = app
        .post(
            "/pool/provision",
            &json!({"country_iso": "FR", "batch_size": 3}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut bought: Vec<String> = answer.body["purchased_now"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    bought.sort();
    assert_eq!(bought, ["+33780000601", "+33780000602", "+33780000603"]);
    assert_eq!(
        double.bought.lock().unwrap().len(),
        4,
        "one purchase failed, then retried"
    );
    let jobs = app
        .app
        .store
        .jobs(Some("pool.provision"), None, 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].attempts, 2, "resumed at its second try");
    assert_eq!(jobs[0].dedupe_key, None, "the next provisioning may start");
}

#[tokio::test]
async fn one_provisioning_runs_at_a_time_and_a_second_request_gets_its_job() {
    let app = spawn_app_with(Options {
        job_workers: Some(0),
        ..Default::default()
    })
    .await;
    let first = {
        let http = app.http.clone();
        let url = format!("{}/pool/provision", app.base);
        let key = app.key.clone();
        tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(key)
                .json(&json!({"country_iso": "FR", "batch_size": 2}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        })
    };
    // Until the first is queued.
    let mut job = None;
    for _ in 0..200 {
        job = app.app.store.job_by_key("op:pool.provision").await.unwrap();
        if job.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let job = job.expect("the first provisioning is queued");
    let second = app
        .post("/pool/provision", &json!({"country_iso": "FR"}))
        .await;
    assert_eq!(second.status, 202, "{}", second.body);
    assert_eq!(
        second.body,
        json!({"job_id": job.id, "already_running": true})
    );
    // A worker runs it: the first request, still waiting, answers its report.
    app.drain().await;
    let (status, report) = first.await.unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["purchased_now"].as_array().unwrap().len(), 2);
    let seen = app.get(&format!("/jobs/{}", job.id)).await;
    assert_eq!(seen.body["status"], "done");
    assert_eq!(seen.body["result"], report);
    // Its key is freed: the next provisioning starts.
    let next = app
        .post("/pool/provision", &json!({"country_iso": "FR"}))
        .await;
    assert_eq!(next.status, 202, "no worker here: {}", next.body);
    assert_eq!(next.body["already_running"], false);
}
