//! `POST /pool/sync`: Twilio's numbers (every page) against the pool, both ways, as a pool
//! operation. Numbers the pool lacks are added with the country, type and capabilities Twilio
//! gives (its typed lists say the type), never of a type the pool does not hold; pool numbers
//! Twilio no longer lists are flagged `missing` and never handed out, until Twilio lists them
//! again; a dry run changes nothing; a failure mid-way is finished by the next try.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use proxycall::domain::E164;
use serde_json::{Value, json};

use crate::helpers::{Answer, Options, TestApp, order, spawn_app, spawn_app_with};

/// A number the double rents; `class` is the typed list that names it (`Mobile`, `Local`,
/// `TollFree`).
#[derive(Clone)]
struct Rented {
    number: &'static str,
    class: &'static str,
    capabilities: Value,
    friendly_name: &'static str,
}

fn rented(
    number: &'static str,
    class: &'static str,
    capabilities: Value,
    friendly_name: &'static str,
) -> Rented {
    Rented {
        number,
        class,
        capabilities,
        friendly_name,
    }
}

fn sid(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    format!("PN{digits:0>32}")
}

/// A Twilio double listing its numbers two to a page, on `IncomingPhoneNumbers.json` and on the
/// typed lists, following `next_page_uri`; a page may be told to fail a number of times.
#[derive(Clone, Default)]
struct Twilio {
    numbers: Arc<Mutex<Vec<Rented>>>,
    /// (list, page) → failures (500) still to answer.
    failing: Arc<Mutex<HashMap<(String, usize), usize>>>,
    /// Every (list, page) asked for.
    asked: Arc<Mutex<Vec<(String, usize)>>>,
}

const PAGE: usize = 2;

impl Twilio {
    async fn start(numbers: Vec<Rented>) -> (Self, String) {
        let double = Twilio {
            numbers: Arc::new(Mutex::new(numbers)),
            ..Default::default()
        };
        let router = axum::Router::new()
            .route(
                "/2010-04-01/Accounts/{acc}/IncomingPhoneNumbers.json",
                get(list_all),
            )
            .route(
                "/2010-04-01/Accounts/{acc}/IncomingPhoneNumbers/{file}",
                get(list_typed),
            )
            .with_state(double.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (double, base)
    }

    fn rent(&self, more: impl IntoIterator<Item = Rented>) {
        self.numbers.lock().unwrap().extend(more);
    }

    fn fail(&self, list: &str, page: usize, times: usize) {
        self.failing
            .lock()
            .unwrap()
            .insert((list.to_owned(), page), times);
    }

    fn asked(&self, list: &str, page: usize) -> usize {
        let key = (list.to_owned(), page);
        self.asked
            .lock()
            .unwrap()
            .iter()
            .filter(|k| **k == key)
            .count()
    }

    fn page(&self, acc: &str, list: &str, q: &HashMap<String, String>) -> Response {
        let page: usize = q.get("Page").map_or(0, |p| p.parse().unwrap());
        let key = (list.to_owned(), page);
        self.asked.lock().unwrap().push(key.clone());
        if let Some(left) = self.failing.lock().unwrap().get_mut(&key)
            && *left > 0
        {
            *left -= 1;
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"code": 20500, "status": 500})),
            )
                .into_response();
        }
        let all: Vec<Rented> = self
            .numbers
            .lock()
            .unwrap()
            .iter()
            .filter(|r| list == "all" || r.class == list)
            .cloned()
            .collect();
        let rows: Vec<Value> = all
            .iter()
            .skip(page * PAGE)
            .take(PAGE)
            .map(|r| {
                json!({
                    "sid": sid(r.number),
                    "phone_number": r.number,
                    "friendly_name": r.friendly_name,
                    "voice_url": null,
                    "voice_method": "POST",
                    "sms_url": "",
                    "sms_method": "POST",
                    "capabilities": r.capabilities,
                    "status": "in-use",
                })
            })
            .collect();
        let path = if list == "all" {
            format!("/2010-04-01/Accounts/{acc}/IncomingPhoneNumbers.json")
        } else {
            format!("/2010-04-01/Accounts/{acc}/IncomingPhoneNumbers/{list}.json")
        };
        let next = ((page + 1) * PAGE < all.len()).then(|| {
            format!(
                "{path}?PageSize={PAGE}&Page={}&PageToken=PT{}",
                page + 1,
                page + 1
            )
        });
        axum::Json(json!({
            "incoming_phone_numbers": rows,
            "next_page_uri": next,
            "page": page,
            "page_size": PAGE,
        }))
        .into_response()
    }
}

async fn list_all(
    State(t): State<Twilio>,
    Path(acc): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    t.page(&acc, "all", &q)
}

async fn list_typed(
    State(t): State<Twilio>,
    Path((acc, file)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match file.strip_suffix(".json") {
        Some(list @ ("Mobile" | "Local" | "TollFree")) => t.page(&acc, list, &q),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Twilio's numbers the pool lacks: two French mobiles, a Paris line, a Portuguese mobile, a
/// US toll-free number and a number of no country, over several pages, capabilities in both
/// spellings; and a number the pool released that Twilio still rents.
fn inventory() -> Vec<Rented> {
    vec![
        rented(
            "+33612000001",
            "Mobile",
            json!({"voice": true, "sms": true, "mms": false, "fax": false}),
            "FR one",
        ),
        rented(
            "+33140000003",
            "Local",
            json!({"voice": true, "sms": false}),
            "Paris",
        ),
        rented(
            "+18005550100",
            "TollFree",
            json!({"voice": true, "sms": true}),
            "toll free",
        ),
        rented(
            "+33612000002",
            "Mobile",
            json!({"Voice": false, "SMS": true, "MMS": true}),
            "FR two",
        ),
        rented(
            "+351912345678",
            "Mobile",
            json!({"voice": true, "sms": true}),
            "PT",
        ),
        rented(
            "+88213000000",
            "Mobile",
            json!({"voice": true, "sms": true}),
            "nowhere",
        ),
        rented(
            "+33612000009",
            "Mobile",
            json!({"voice": true, "sms": true}),
            "released",
        ),
    ]
}

async fn add_to_pool(app: &TestApp, number: &str, with_sid: bool) {
    let sid = with_sid.then(|| sid(number));
    crate::rented::add_pool_number(app.app.store.as_ref(), number, sid, true).await;
}

/// The report of a sync: the route's answer, or its job's once it is done.
async fn report(app: &TestApp, answer: Answer) -> Value {
    match answer.status.as_u16() {
        200 => answer.body,
        202 => {
            app.drain().await;
            let job = app.get(&format!("/jobs/{}", answer.body["job_id"])).await;
            assert_eq!(job.body["status"], "done", "{}", job.body);
            job.body["result"].clone()
        }
        _ => panic!("{}: {}", answer.status, answer.body),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_dry_run_changes_nothing_and_apply_adds_flags_and_restores() {
    let (twilio, base) = Twilio::start(inventory()).await;
    let app = spawn_app_with(Options {
        twilio_api_base: Some(base),
        ..Default::default()
    })
    .await;
    // In the pool, not at Twilio: one rented once (with its SID) that a client has, one added
    // by hand. And one the pool released that Twilio still lists.
    add_to_pool(&app, "+33780000901", true).await;
    add_to_pool(&app, "+33780000902", false).await;
    let first = app
        .post("/orders", &order("CMD-1", 1, "+33622222221"))
        .await;
    assert_eq!(first.body["client_proxy_number"], "+33780000901");
    add_to_pool(&app, "+33612000009", true).await;
    app.app
        .store
        .mark_released(&E164::parse("+33612000009").unwrap(), false, Utc::now())
        .await
        .unwrap();

    let dry = app.post("/pool/sync", &json!({"apply": false})).await;
    assert_eq!(dry.status, 200, "{}", dry.body);
    let dry = dry.body;
    assert_eq!(dry["apply"], false);
    assert_eq!(
        strings(&dry["missing_numbers"]),
        [
            "+33612000001",
            "+33140000003",
            "+18005550100",
            "+33612000002",
            "+351912345678",
            "+88213000000"
        ]
    );
    assert_eq!(
        strings(&dry["to_add"]),
        [
            "+33612000001",
            "+33140000003",
            "+33612000002",
            "+351912345678"
        ]
    );
    let skipped: HashMap<String, String> = dry["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["phone_number"].as_str().unwrap().to_owned(),
                s["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(skipped.len(), 2, "{dry}");
    assert!(skipped["+18005550100"].contains("neither mobile nor local"));
    assert!(skipped["+88213000000"].contains("no country"));
    assert_eq!(
        strings(&dry["missing_on_twilio"]),
        ["+33780000901", "+33780000902"]
    );
    assert_eq!(dry["to_flag"], dry["missing_on_twilio"]);
    assert_eq!(strings(&dry["released_still_on_twilio"]), ["+33612000009"]);
    assert_eq!(dry["total_twilio"], 7);
    assert_eq!(dry["total_sheet"], 2, "released numbers are not counted");
    for done in ["added_numbers", "flagged", "restored"] {
        assert_eq!(dry[done], json!([]), "{done}");
    }
    assert!(
        chrono::NaiveDateTime::parse_from_str(dry["ts"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.f")
            .is_ok(),
        "{dry}"
    );
    // Every page of every list was read.
    assert_eq!(twilio.asked("all", 3), 1);
    assert_eq!(twilio.asked("Mobile", 2), 1);
    // Nothing changed.
    let pool = app
        .app
        .store
        .pool_numbers(None, proxycall::domain::NumberTypeFilter::Any, None)
        .await
        .unwrap();
    assert_eq!(pool.len(), 3);
    assert_eq!(app.pool_status("+33780000901").await, "assigned");
    assert_eq!(app.pool_status("+33780000902").await, "available");

    // A bare `true` applies.
    let applied = app
        .post_raw("/pool/sync", "application/json", b"true".to_vec())
        .await;
    let applied = report(&app, applied).await;
    assert_eq!(applied["apply"], true);
    assert_eq!(applied["added_numbers"], dry["to_add"]);
    assert_eq!(applied["flagged"], dry["to_flag"]);
    let row = |number: &'static str| {
        let store = app.app.store.clone();
        async move {
            store
                .pool_number(&E164::parse(number).unwrap())
                .await
                .unwrap()
                .unwrap()
        }
    };
    for (number, country, number_type, voice, sms, name) in [
        ("+33612000001", "FR", "mobile", true, true, "FR one"),
        ("+33140000003", "FR", "local", true, false, "Paris"),
        ("+33612000002", "FR", "mobile", false, true, "FR two"),
        ("+351912345678", "PT", "mobile", true, true, "PT"),
    ] {
        let n = row(number).await;
        assert_eq!(n.status.as_str(), "available", "{number}");
        assert_eq!(n.country_iso.as_str(), country, "{number}");
        assert_eq!(n.number_type.as_str(), number_type, "{number}");
        assert_eq!((n.voice_capable, n.sms_capable), (voice, sms), "{number}");
        assert_eq!(n.twilio_sid.as_deref(), Some(sid(number).as_str()));
        assert_eq!(n.friendly_name.as_deref(), Some(name));
    }
    for never in ["+18005550100", "+88213000000"] {
        let in_pool = app
            .app
            .store
            .pool_number(&E164::parse_shape(never).unwrap())
            .await
            .unwrap();
        assert!(in_pool.is_none(), "{never} was added");
    }
    assert_eq!(app.pool_status("+33612000009").await, "released");
    assert_eq!(app.pool_status("+33780000901").await, "missing");
    assert_eq!(app.pool_status("+33780000902").await, "missing");
    // Its client keeps it, for the operator to see.
    assert_eq!(
        app.get("/clients/1").await.body["client_proxy_number"],
        "+33780000901"
    );

    // Missing numbers are never handed out: France's three available numbers go, then none.
    let available = app.get("/pool/available?country_iso=FR").await;
    assert!(
        !available.text.contains("+3378000090"),
        "{}",
        available.text
    );
    let mut handed = Vec::new();
    for id in 2..=4 {
        let o = app
            .post(
                "/orders",
                &order(&format!("CMD-{id}"), id, &format!("+3362222222{id}")),
            )
            .await;
        assert_eq!(o.status, 200, "{}", o.body);
        handed.push(o.body["client_proxy_number"].as_str().unwrap().to_owned());
    }
    handed.sort();
    assert_eq!(handed, ["+33140000003", "+33612000001", "+33612000002"]);
    let none = app
        .post("/orders", &order("CMD-5", 5, "+33622222225"))
        .await;
    assert_eq!(none.status, 409, "{}", none.body);
    assert_eq!(none.code(), "pool_exhausted");
    let assign = app
        .post(
            "/pool/assign",
            &json!({"client_id": 6, "country_iso": "FR", "client_name": "Six"}),
        )
        .await;
    assert_eq!(assign.status, 409, "{}", assign.body);
    let moved = app
        .put(
            "/clients/2",
            &json!({"client_proxy_number": "+33780000902"}),
        )
        .await;
    assert_eq!(moved.status, 409, "{}", moved.body);
    assert!(moved.text.contains("missing"), "{}", moved.body);

    // Twilio lists them again: the next sync restores them, to their client or to the pool.
    twilio.rent([
        rented(
            "+33780000901",
            "Mobile",
            json!({"voice": true, "sms": true}),
            "back",
        ),
        rented(
            "+33780000902",
            "Mobile",
            json!({"voice": true, "sms": true}),
            "back",
        ),
    ]);
    let again = report(&app, app.post("/pool/sync", &json!({})).await).await;
    assert_eq!(
        again["restored"],
        json!([
            {"phone_number": "+33780000901", "status": "assigned"},
            {"phone_number": "+33780000902", "status": "available"},
        ])
    );
    assert_eq!(again["added_numbers"], json!([]));
    assert_eq!(again["missing_on_twilio"], json!([]));
    assert_eq!(app.pool_status("+33780000901").await, "assigned");
    assert_eq!(app.pool_status("+33780000902").await, "available");
    let order5 = app
        .post("/orders", &order("CMD-5", 5, "+33622222225"))
        .await;
    assert_eq!(order5.status, 200, "{}", order5.body);
    assert_eq!(order5.body["client_proxy_number"], "+33780000902");
}

#[tokio::test]
async fn a_twilio_failure_mid_way_is_finished_by_the_next_try() {
    let (twilio, base) = Twilio::start(inventory()).await;
    // The second page of the full list fails more often than the client retries a read.
    twilio.fail("all", 1, 4);
    let app = spawn_app_with(Options {
        twilio_api_base: Some(base),
        ..Default::default()
    })
    .await;
    add_to_pool(&app, "+33780000901", true).await;

    let answer = app
        .post_raw("/pool/sync", "application/json", Vec::new())
        .await;
    let done = report(&app, answer).await;
    assert_eq!(
        strings(&done["added_numbers"]),
        [
            "+33612000001",
            "+33140000003",
            "+33612000002",
            "+351912345678",
            "+33612000009"
        ]
    );
    assert_eq!(strings(&done["flagged"]), ["+33780000901"]);
    assert_eq!(
        twilio.asked("all", 1),
        5,
        "four failures, then the next try"
    );
    let job = &app
        .app
        .store
        .jobs(Some("pool.sync"), None, 10)
        .await
        .unwrap()[0];
    assert_eq!(job.attempts, 2, "finished at its second try");
    assert_eq!(job.dedupe_key, None, "the next sync may start");

    // A run after it finds nothing left to do.
    let after = report(&app, app.post("/pool/sync", &json!({"apply": true})).await).await;
    assert_eq!(after["to_add"], json!([]));
    assert_eq!(after["to_flag"], json!([]));
    assert_eq!(after["missing_on_twilio"], json!(["+33780000901"]));
}

#[tokio::test]
async fn one_sync_runs_at_a_time_and_a_second_request_gets_its_job() {
    let app = spawn_app_with(Options {
        job_workers: Some(0),
        ..Default::default()
    })
    .await;
    let first = {
        let http = app.http.clone();
        let url = format!("{}/pool/sync", app.base);
        let key = app.key.clone();
        tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(key)
                .json(&json!({"apply": true}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        })
    };
    let mut job = None;
    for _ in 0..200 {
        job = app.app.store.job_by_key("op:pool.sync").await.unwrap();
        if job.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let job = job.expect("the first sync is queued");
    let second = app.post("/pool/sync", &json!(false)).await;
    assert_eq!(second.status, 202, "{}", second.body);
    assert_eq!(
        second.body,
        json!({"job_id": job.id, "already_running": true})
    );
    app.drain().await;
    let (status, report) = first.await.unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["apply"], true);
    let jobs = app
        .app
        .store
        .jobs(Some("pool.sync"), None, 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "one job for both requests");
}

#[tokio::test]
async fn the_simulated_carrier_classes_its_numbers_and_bad_bodies_name_the_field() {
    let app = spawn_app().await;
    for number in ["+33612000001", "+33140000003"] {
        app.app
            .store
            .add_simulated_number(&proxycall::store::SimulatedNumber {
                sid: sid(number),
                phone_number: E164::parse(number).unwrap(),
                friendly_name: None,
                voice_url: None,
                sms_url: None,
                voice: true,
                sms: true,
                bought_at: Utc::now(),
            })
            .await
            .unwrap();
    }
    let synced = app
        .post_raw("/pool/sync", "application/json", Vec::new())
        .await;
    let synced = report(&app, synced).await;
    assert_eq!(synced["apply"], true, "no body applies");
    assert_eq!(synced["total_twilio"], 2);
    assert_eq!(
        strings(&synced["added_numbers"]),
        ["+33612000001", "+33140000003"]
    );
    let types = app.get("/pool/available?country_iso=FR").await.body["available"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["number_type"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(types, ["mobile", "local"]);

    for (body, field) in [
        (&b"\"yes\""[..], "apply"),
        (&b"{\"apply\": \"yes\"}"[..], "apply"),
        (&b"{\"aply\": true}"[..], "aply"),
        (&b"1"[..], "apply"),
    ] {
        let a = app
            .post_raw("/pool/sync", "application/json", body.to_vec())
            .await;
        assert_eq!(a.status, 422, "{}", a.body);
        assert_eq!(a.field(), field, "{}", a.body);
    }
    let reader = app.key_with_scopes("read").await;
    let refused = app
        .send_with_key(
            reqwest::Method::POST,
            "/pool/sync",
            &json!({"apply": false}),
            Some(&reader),
        )
        .await;
    assert_eq!(refused.status, 403);
}

#[tokio::test]
async fn twilio_refusing_our_credentials_fails_the_sync_at_once_and_changes_nothing() {
    let router = axum::Router::new().fallback(|| async {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"code": 20003, "message": "Authenticate", "status": 401})),
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let app = spawn_app_with(Options {
        twilio_api_base: Some(base),
        ..Default::default()
    })
    .await;
    add_to_pool(&app, "+33780000901", true).await;

    let answer = app.post("/pool/sync", &json!({"apply": true})).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(answer.text.contains("credentials"), "{}", answer.body);
    let job = &app
        .app
        .store
        .jobs(Some("pool.sync"), None, 10)
        .await
        .unwrap()[0];
    assert_eq!(job.attempts, 1, "not retried: trying again would not help");
    assert_eq!(
        app.pool_status("+33780000901").await,
        "available",
        "nothing is flagged on an unread listing"
    );
}

#[tokio::test]
async fn a_failure_after_some_work_is_finished_by_the_next_try_which_reports_it_all() {
    let (_twilio, base) = Twilio::start(inventory()).await;
    let app = spawn_app_with(Options {
        twilio_api_base: Some(base),
        job_workers: Some(0),
        ..Default::default()
    })
    .await;
    add_to_pool(&app, "+33780000901", true).await;
    // The database refuses to flag a number, once the numbers are added.
    let postgres = app.db.url().starts_with("postgres");
    if postgres {
        app.db
            .exec(
                "create function refuse_missing() returns trigger language plpgsql as \
                 $$ begin raise exception 'the disk is full'; end $$",
            )
            .await;
        app.db
            .exec(
                "create trigger refuse_missing before update on pool_numbers for each row \
                 when (new.status = 'missing') execute function refuse_missing()",
            )
            .await;
    } else {
        app.db
            .exec(
                "create trigger refuse_missing before update on pool_numbers \
                 when new.status = 'missing' begin select raise(abort, 'the disk is full'); end",
            )
            .await;
    }
    let job = proxycall::jobs::enqueue(
        app.app.store.as_ref(),
        &proxycall::app::sync::SyncJob {
            apply: true,
            requested_by: None,
        },
        Utc::now(),
        Some("op:pool.sync".into()),
    )
    .await
    .unwrap()
    .unwrap();

    app.drain().await;
    let first = app.app.store.job(job).await.unwrap().unwrap();
    assert_eq!(first.status.as_str(), "queued", "to be tried again");
    let progress: Value = serde_json::from_str(first.progress.as_deref().unwrap()).unwrap();
    assert_eq!(progress["done"]["added"].as_array().unwrap().len(), 5);
    assert_eq!(progress["done"]["flagged"], json!([]));
    assert_eq!(app.pool_status("+33780000901").await, "available");

    app.db
        .exec(if postgres {
            "drop trigger refuse_missing on pool_numbers"
        } else {
            "drop trigger refuse_missing"
        })
        .await;
    app.run_jobs_at(Utc::now() + chrono::Duration::hours(1))
        .await;
    let second = app.app.store.job(job).await.unwrap().unwrap();
    assert_eq!(second.attempts, 2);
    let report: Value = serde_json::from_str(second.result.as_deref().unwrap()).unwrap();
    // The first try's numbers, reported though the second had none left to add.
    assert_eq!(report["to_add"], json!([]));
    assert_eq!(report["added_numbers"], progress["done"]["added"]);
    assert_eq!(report["flagged"], json!(["+33780000901"]));
    assert_eq!(app.pool_status("+33780000901").await, "missing");
}
