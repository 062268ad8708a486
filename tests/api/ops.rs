use proxycall::domain::NumberType;

use crate::helpers::{order, spawn_app};

#[tokio::test]
async fn health_and_readiness_need_no_key() {
    let app = spawn_app().await;
    let health = app.get_with_key("/health", None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
    let ready = app.get_with_key("/ready", None).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(ready.body["database"], "ok");
    assert_eq!(ready.body["carrier"], "simulated");
}

#[tokio::test]
async fn metrics_count_requests_per_route_and_the_pool_per_status() {
    let app = spawn_app().await;
    app.add_numbers("FR", NumberType::Mobile, 2).await;
    app.post("/orders", &order("CMD-1", 1, "+33612345678"))
        .await;
    let response = app
        .http
        .get(format!("{}/metrics", app.base))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="POST",route="/orders",status="200"}"#),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(r#"proxycall_pool_numbers{country="FR",type="mobile",status="available"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"proxycall_pool_numbers{country="FR",type="mobile",status="assigned"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"proxycall_outbox_messages{status="pending"} 0"#),
        "{text}"
    );
    assert!(
        text.contains("proxycall_outbox_oldest_pending_seconds 0"),
        "{text}"
    );
    // Routes are named by template, never by a real path.
    assert!(!text.contains("+33"), "{text}");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let doc = app.get_with_key("/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    let paths = doc.body["paths"].as_object().unwrap();
    for (path, method) in [
        ("/orders", "post"),
        ("/clients/next-id", "get"),
        ("/clients/{client_id}", "get"),
        ("/clients/{client_id}", "put"),
        ("/clients/by-proxy/{proxy}", "get"),
        ("/clients", "post"),
        ("/pool/available", "get"),
        ("/pool/assign", "post"),
        ("/pool/provision", "post"),
        ("/twilio/voice", "post"),
        ("/twilio/sms", "post"),
        ("/health", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path}"
        );
    }
    assert!(doc.body["components"]["schemas"]["OrderRequest"].is_object());
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_json_is_gzipped_on_request() {
    let app = spawn_app().await;
    let answer = app.get_with_key("/health", None).await;
    assert!(!answer.headers["x-request-id"].is_empty());
    // A caller's own id is kept when it looks like ours (a UUID)...
    let id = "0190f3a2-7b1c-7d3e-8f00-123456789abc";
    let given = app
        .http
        .get(format!("{}/health", app.base))
        .header("x-request-id", id)
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], id);
    // ...and replaced by a fresh one when it does not, or when there are several.
    let long = "x".repeat(4_000);
    for ids in [
        &["trace-me-123"][..],
        &[long.as_str()],
        &[r#"x" level=ERROR message="forged line"#],
        &["0190f3a2-7b1c-7d3e-8f00-123456789abg"],
        &[id, id],
    ] {
        let mut req = app.http.get(format!("{}/health", app.base));
        for id in ids {
            req = req.header("x-request-id", *id);
        }
        let answer = req.send().await.unwrap();
        assert_eq!(answer.status(), 200);
        let kept: Vec<_> = answer.headers().get_all("x-request-id").iter().collect();
        assert_eq!(kept.len(), 1, "{ids:.40?}");
        let kept = kept[0].to_str().unwrap();
        assert!(
            uuid::Uuid::try_parse(kept).is_ok() && kept != id,
            "{kept} for {ids:.40?}"
        );
    }

    let gz = app
        .http
        .get(format!("{}/openapi.json", app.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let app = spawn_app().await;
    let answer = app.get("/nope").await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.code(), "not_found");
}

/// The benchmark's reference route belongs to `--features bench` builds only.
#[cfg(not(feature = "bench"))]
#[tokio::test]
async fn a_default_build_does_not_serve_the_benchmark_reference() {
    let app = spawn_app().await;
    let doc = app.get_with_key("/openapi.json", None).await;
    assert!(doc.body["paths"].get("/bench/twiml").is_none());
    let answer = app
        .send_with_key(
            reqwest::Method::POST,
            "/bench/twiml",
            &serde_json::json!({}),
            None,
        )
        .await;
    assert_eq!(answer.status, 404, "{}", answer.text);
}

#[tokio::test]
async fn a_job_is_followed_by_its_id_until_its_report() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        job_workers: Some(0),
        ..Default::default()
    })
    .await;
    let purge = proxycall::jobs::maintenance::PurgeInteractions { retention_days: 90 };
    // One due in an hour stays queued, for the gauge below.
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    proxycall::jobs::enqueue(app.app.store.as_ref(), &purge, later, None)
        .await
        .unwrap();
    let id = proxycall::jobs::enqueue(app.app.store.as_ref(), &purge, chrono::Utc::now(), None)
        .await
        .unwrap()
        .unwrap();
    let queued = app.get(&format!("/jobs/{id}")).await;
    assert_eq!(queued.status, 200, "{}", queued.body);
    assert_eq!(queued.body["status"], "queued");
    assert_eq!(queued.body["kind"], "interactions.purge");
    assert!(
        queued.body.get("payload").is_none(),
        "the input is not shown"
    );

    app.drain().await;
    let done = app.get(&format!("/jobs/{id}")).await;
    assert_eq!(done.body["status"], "done");
    assert_eq!(done.body["attempts"], 1);
    assert_eq!(done.body["result"], serde_json::json!({"deleted": 0}));

    assert_eq!(app.get("/jobs/999999").await.status, 404);
    let bad = app.get("/jobs/abc").await;
    assert_eq!((bad.status.as_u16(), bad.field()), (422, "job_id"));

    // The gauges per kind come from the database.
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"proxycall_jobs{kind="interactions.purge",status="queued"}"#),
        "{metrics}"
    );
}
