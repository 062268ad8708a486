//! `POST /pool/release`: numbers given back to the carrier and marked `released`, as a pool
//! operation; held numbers only with `force`; a carrier failure mid-way resumed.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use proxycall::domain::{E164, NumberType};
use serde_json::json;

use crate::helpers::{Options, spawn_app, spawn_app_with};
use crate::rented::{Deletions, add_pool_number, sid};

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
    assert_eq!(app.pool_status(&free).await, "released");
    assert_eq!(app.pool_status(&held).await, "assigned");
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
    // The weekly report counts it as released this week.
    let week = {
        use chrono::Datelike;
        let w = Utc::now().iso_week();
        format!("{}-W{:02}", w.year(), w.week())
    };
    let report = app.get(&format!("/reports/weekly?week={week}")).await;
    assert_eq!(report.status, 200, "{}", report.body);
    assert_eq!(report.body["numbers"]["released"], 1, "{}", report.body);
    // A released number is never handed out again.
    let available = app.get("/pool/available?country_iso=FR").await;
    assert!(!available.text.contains(&free));

    let forced = app
        .post("/pool/release", &json!({"numbers": [held], "force": true}))
        .await;
    assert_eq!(forced.status, 200, "{}", forced.body);
    assert_eq!(forced.body["released"], json!([held]));
    assert_eq!(app.pool_status(&held).await, "released");
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

#[tokio::test]
async fn a_carrier_failure_mid_way_is_resumed_at_the_next_try() {
    let (base, double) = Deletions::start(vec![204, 500]).await;
    let app = spawn_app_with(Options {
        twilio_api_base: Some(base),
        ..Default::default()
    })
    .await;
    let mut numbers = Vec::new();
    for i in 1..=3 {
        let number = format!("+3378000070{i}");
        add_pool_number(app.app.store.as_ref(), &number, Some(sid(i)), true).await;
        numbers.push(number);
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

#[tokio::test]
async fn fix_webhooks_lists_then_repoints_urls_and_methods() {
    let app = spawn_app().await;
    let bought = app
        .post(
            "/pool/provision",
            &json!({"country_iso": "FR", "batch_size": 2}),
        )
        .await;
    assert_eq!(bought.status, 200, "{}", bought.body);
    let wrong = bought.body["purchased_now"][0].as_str().unwrap().to_owned();
    let sid = app
        .app
        .carrier
        .incoming_numbers()
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.phone_number.as_str() == wrong)
        .unwrap()
        .sid;
    app.app
        .store
        .update_simulated_number(&sid, Some("https://old.example.com/voice"), None, None)
        .await
        .unwrap();
    // In the pool, not rented from the carrier.
    let stray = app.add_numbers("FR", NumberType::Mobile, 1).await.remove(0);

    let dry = app
        .post_raw("/pool/fix-webhooks", "application/json", Vec::new())
        .await;
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert_eq!(dry.body["dry_run"], true);
    assert_eq!(dry.body["checked"], 3);
    assert_eq!(
        dry.body["need_fix_voice"],
        json!([{"phone_number": wrong, "current_voice_url": "https://old.example.com/voice"}])
    );
    assert_eq!(dry.body["need_fix"], dry.body["need_fix_voice"]);
    assert_eq!(dry.body["need_fix_sms"], json!([]));
    assert_eq!(dry.body["fixed_voice"], json!([]));
    assert_eq!(dry.body["not_found_on_twilio"], json!([stray]));
    assert_eq!(
        dry.body["target_voice_url"],
        format!("{}/twilio/voice", app.base)
    );
    for key in [
        "target_sms_url",
        "fixed",
        "fixed_sms",
        "errors",
        "only_status",
        "only_country",
        "ts",
    ] {
        assert!(dry.body.get(key).is_some(), "{key}: {}", dry.body);
    }

    let fixed = app
        .post("/pool/fix-webhooks", &json!({"dry_run": false}))
        .await;
    assert_eq!(fixed.status, 200, "{}", fixed.body);
    assert_eq!(fixed.body["fixed_voice"], json!([{"phone_number": wrong}]));
    let now = app
        .app
        .carrier
        .incoming_numbers()
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.sid == sid)
        .unwrap();
    assert_eq!(
        now.voice_url.as_deref(),
        Some(format!("{}/twilio/voice", app.base).as_str())
    );
    let again = app.post("/pool/fix-webhooks", &json!({})).await;
    assert_eq!(again.body["need_fix_voice"], json!([]));

    let bad = app
        .post("/pool/fix-webhooks", &json!({"only_status": "lost"}))
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.field(), "only_status");
}

/// A Twilio double renting three numbers whose webhooks point elsewhere; its updates answer
/// as scripted, then 200 (and keep what they were given).
#[derive(Clone, Default)]
struct Rented {
    script: Arc<Mutex<Vec<u16>>>,
    /// Each update taken: the number's file name and the voice and SMS URLs it set.
    updated: Arc<Mutex<Vec<(String, Urls)>>>,
}

/// A number's voice and SMS URLs.
type Urls = (String, String);

fn rented_row(i: u32, (voice, sms): (&str, &str), method: &str) -> serde_json::Value {
    json!({"sid": format!("PN{i:032}"), "phone_number": format!("+3378000080{i}"),
           "friendly_name": "x", "voice_url": voice, "voice_method": method,
           "sms_url": sms, "sms_method": method, "capabilities": {"voice": true, "sms": true}})
}

async fn list_rented(State(d): State<Rented>) -> axum::Json<serde_json::Value> {
    let done = d.updated.lock().unwrap().clone();
    let rows: Vec<_> = (1..=3)
        .map(|i| {
            let file = format!("PN{i:032}.json");
            match done.iter().find(|(f, _)| *f == file) {
                Some((_, (voice, sms))) => rented_row(i, (voice, sms), "POST"),
                None => rented_row(
                    i,
                    (
                        "https://old.example.com/hook",
                        "https://old.example.com/hook",
                    ),
                    "GET",
                ),
            }
        })
        .collect();
    axum::Json(json!({"incoming_phone_numbers": rows, "next_page_uri": null}))
}

async fn update_rented(
    State(d): State<Rented>,
    Path((_acc, file)): Path<(String, String)>,
    body: String,
) -> (StatusCode, axum::Json<serde_json::Value>) {
    let status = {
        let mut script = d.script.lock().unwrap();
        if script.is_empty() {
            200
        } else {
            script.remove(0)
        }
    };
    if status != 200 {
        return (
            StatusCode::from_u16(status).unwrap(),
            axum::Json(json!({"code": 20500, "message": "error", "status": status})),
        );
    }
    let field = |name: &str| {
        form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let (voice, sms) = (field("VoiceUrl"), field("SmsUrl"));
    d.updated
        .lock()
        .unwrap()
        .push((file.clone(), (voice.clone(), sms.clone())));
    let i: u32 = file[2..34].parse().unwrap();
    (
        StatusCode::OK,
        axum::Json(rented_row(i, (&voice, &sms), "POST")),
    )
}

#[tokio::test]
async fn fix_webhooks_resumes_after_a_carrier_failure_mid_way() {
    let double = Rented {
        script: Arc::new(Mutex::new(vec![200, 500])),
        ..Default::default()
    };
    let router = axum::Router::new()
        .route(
            "/2010-04-01/Accounts/{acc}/IncomingPhoneNumbers.json",
            axum::routing::get(list_rented),
        )
        .route(
            "/2010-04-01/Accounts/{acc}/IncomingPhoneNumbers/{file}",
            axum::routing::post(update_rented),
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
    for i in 1..=3 {
        let number = format!("+3378000080{i}");
        add_pool_number(app.app.store.as_ref(), &number, Some(sid(i)), true).await;
    }
    let answer = app
        .post("/pool/fix-webhooks", &json!({"dry_run": false}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // The first try fixed one and met the failure; the second fixed the other two.
    assert_eq!(
        answer.body["fixed_voice"].as_array().unwrap().len(),
        2,
        "{}",
        answer.body
    );
    assert_eq!(double.updated.lock().unwrap().len(), 3);
    let job = &app
        .app
        .store
        .jobs(Some("pool.fix_webhooks"), None, 10)
        .await
        .unwrap()[0];
    assert_eq!(job.attempts, 2);
}

async fn add_number(app: &crate::helpers::TestApp, number: &str, sms: bool) {
    add_pool_number(app.app.store.as_ref(), number, None, sms).await;
}

#[tokio::test]
async fn purge_releases_numbers_without_sms_but_never_a_held_one_unless_forced() {
    let app = spawn_app().await;
    add_number(&app, "+33780000901", false).await;
    let order = app
        .post(
            "/orders",
            &crate::helpers::order("CMD-1", 1, "+33612345678"),
        )
        .await;
    assert_eq!(order.body["client_proxy_number"], "+33780000901");
    add_number(&app, "+33780000902", false).await;
    add_number(&app, "+33780000903", true).await;

    let purge = app
        .post_raw("/pool/purge-sans-sms", "application/json", Vec::new())
        .await;
    assert_eq!(purge.status, 200, "{}", purge.body);
    assert_eq!(purge.body["checked"], 3);
    assert_eq!(purge.body["kept_sms_capable"], 1);
    assert_eq!(purge.body["removed_from_pool"], json!(["+33780000902"]));
    assert_eq!(purge.body["kept_held"][0]["phone_number"], "+33780000901");
    assert_eq!(purge.body["errors"], json!([]));
    assert_eq!(
        app.get("/clients/1").await.body["client_proxy_number"],
        "+33780000901"
    );

    let forced = app
        .post("/pool/purge-sans-sms", &json!({"force": true}))
        .await;
    assert_eq!(forced.status, 200, "{}", forced.body);
    assert_eq!(
        forced.body["checked"], 2,
        "the released one is not checked again"
    );
    assert_eq!(forced.body["removed_from_pool"], json!(["+33780000901"]));
    assert_eq!(app.get("/clients/1").await.body["client_proxy_number"], "");
}

#[tokio::test]
async fn a_drained_number_keeps_its_client_and_goes_to_no_one_else() {
    let app = spawn_app().await;
    let held = app.client_with_proxy(1, "+33612345678").await;
    let spare = app.add_numbers("FR", NumberType::Mobile, 1).await.remove(0);

    let drained = app
        .post(
            "/pool/drain",
            &json!({"numbers": [held, spare, "+33799999999"]}),
        )
        .await;
    assert_eq!(drained.status, 200, "{}", drained.body);
    assert_eq!(
        drained.body["changed"],
        json!([{"number": held, "status": "draining"}, {"number": spare, "status": "draining"}])
    );
    assert_eq!(drained.body["not_found"], json!(["+33799999999"]));
    assert_eq!(app.pool_status(&held).await, "draining");

    // Its client keeps it: a courier's call still reaches them.
    let (status, twiml) = app
        .webhook(
            "/twilio/voice",
            &[("From", "+33698765432"), ("To", &held), ("CallSid", "CA1")],
        )
        .await;
    assert_eq!(status, 200);
    assert!(twiml.contains("+33612345678"), "{twiml}");
    // No new client gets either: the pool is empty for them.
    assert!(
        !app.get("/pool/available?country_iso=FR")
            .await
            .text
            .contains(&spare),
        "a draining number is not listed as available"
    );
    let order = app
        .post(
            "/orders",
            &crate::helpers::order("CMD-2", 2, "+33611111111"),
        )
        .await;
    assert_eq!(order.status, 409, "{}", order.body);

    // Draining again changes nothing; undo gives each its status back.
    let again = app.post("/pool/drain", &json!({"numbers": [held]})).await;
    assert_eq!(again.body["unchanged"][0]["status"], "draining");
    let undone = app
        .post(
            "/pool/drain",
            &json!({"numbers": [held, spare], "undo": true}),
        )
        .await;
    assert_eq!(
        undone.body["changed"],
        json!([{"number": held, "status": "assigned"}, {"number": spare, "status": "available"}])
    );

    // Drained, then released without force: the drain was the operator's decision.
    app.post("/pool/drain", &json!({"numbers": [held]})).await;
    let released = app.post("/pool/release", &json!({"numbers": [held]})).await;
    assert_eq!(
        released.body["released"],
        json!([held]),
        "{}",
        released.body
    );
    let after = app.post("/pool/drain", &json!({"numbers": [held]})).await;
    assert!(
        after.body["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("released"),
        "{}",
        after.body
    );
}

#[tokio::test]
async fn drain_refuses_bad_input_and_readers() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({"numbers": []}), "numbers"),
        (json!({"numbers": ["abc"]}), "numbers[0]"),
        (json!({"numbers": ["+33780000001"], "undo": "yes"}), "undo"),
    ] {
        let a = app.post("/pool/drain", &body).await;
        assert_eq!(a.status, 422, "{body}: {}", a.body);
        assert!(a.field().starts_with(field), "{body}: {}", a.body);
    }
    let reader = app.key_with_scopes("read").await;
    let a = app
        .send_with_key(
            reqwest::Method::POST,
            "/pool/drain",
            &json!({"numbers": ["+33780000001"]}),
            Some(&reader),
        )
        .await;
    assert_eq!(a.status, 403);
}
