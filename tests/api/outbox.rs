//! The outbox's guarantees that need no carrier: a message is claimed by one worker, and one
//! whose worker vanished mid-send is never sent again.

use chrono::{Duration, Utc};
use proxycall::domain::E164;
use std::sync::Arc;

use proxycall::store::{JobStatus, NewOutbound, OutboundKind, SEND_JOB_KIND, Store};

use crate::helpers::{Options, spawn_app_with};

fn message(key: &str) -> NewOutbound {
    NewOutbound {
        kind: OutboundKind::Sms,
        purpose: "relay",
        from: E164::parse("+33780000001").unwrap(),
        to: E164::parse("+33612345678").unwrap(),
        body: Some("Bonjour".into()),
        url: None,
        dedupe_key: Some(key.into()),
    }
}

/// What a worker does before it calls the carrier: claims the send's job, and with it the
/// message.
async fn claim_send(
    store: &Arc<dyn Store>,
    now: chrono::DateTime<Utc>,
) -> Option<proxycall::store::OutboundMessage> {
    let lease = now + Duration::seconds(60);
    let job = store
        .claim_jobs(&[SEND_JOB_KIND], now, lease, 8)
        .await
        .unwrap()
        .pop()?;
    let payload: serde_json::Value = serde_json::from_str(&job.payload).unwrap();
    store
        .outbound_message(payload["outbound_id"].as_i64().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_message_interrupted_mid_send_is_failed_not_sent_twice() {
    // No workers: the test plays them.
    let app = spawn_app_with(Options {
        job_workers: Some(0),
        ..Default::default()
    })
    .await;
    let store = &app.app.store;
    let now = Utc::now();
    assert!(store.enqueue(&message("k1"), now).await.unwrap().is_some());
    assert!(
        store.enqueue(&message("k1"), now).await.unwrap().is_none(),
        "enqueued once per key"
    );

    // A worker takes it, then dies before recording anything.
    assert!(claim_send(store, now).await.is_some());
    assert!(claim_send(store, now).await.is_none(), "claimed once");

    // Before the lease ends nothing happens; after it, the message is given up.
    let registry = proxycall::jobs::registry(90);
    let worker = proxycall::jobs::Worker::new(app.app.clone(), Arc::new(registry));
    worker
        .check_leases(now + Duration::seconds(30))
        .await
        .unwrap();
    assert_eq!(
        store.outbound_messages(1).await.unwrap()[0].status,
        "pending"
    );
    assert_eq!(
        store.jobs(Some(SEND_JOB_KIND), None, 1).await.unwrap()[0].status,
        JobStatus::Running,
        "still its worker's"
    );
    worker
        .check_leases(now + Duration::seconds(61))
        .await
        .unwrap();
    let stored = &store.outbound_messages(1).await.unwrap()[0];
    assert_eq!(stored.status, "failed");
    assert!(stored.body.is_none(), "the text is erased");
    assert!(
        stored
            .last_error
            .as_deref()
            .unwrap()
            .contains("never sent twice")
    );
    let job = &store.jobs(Some(SEND_JOB_KIND), None, 10).await.unwrap()[0];
    assert_eq!(job.status, JobStatus::Failed, "its job is not run again");
    let later = now + Duration::hours(1);
    assert!(claim_send(store, later).await.is_none());
    // A worker an hour later runs what is due (the periodic housekeeping), not the send.
    worker.run_once_at(later).await.unwrap();
    assert_eq!(
        store.jobs(Some(SEND_JOB_KIND), None, 10).await.unwrap()[0].status,
        JobStatus::Failed
    );
    assert!(
        app.app
            .store
            .simulated_deliveries(None, 10)
            .await
            .unwrap()
            .is_empty(),
        "never sent"
    );
}

#[tokio::test]
async fn interactions_older_than_the_retention_period_are_purged() {
    let app = spawn_app_with(Options::default()).await;
    let proxy = app.client_with_proxy(1, "+33612345678").await;
    for sid in ["CA1", "CA2"] {
        app.webhook(
            "/twilio/voice",
            &[("From", "+33698765432"), ("To", &proxy), ("CallSid", sid)],
        )
        .await;
    }
    let store = &app.app.store;
    assert_eq!(store.interactions(10).await.unwrap().len(), 2);
    assert_eq!(
        store
            .purge_interactions(Utc::now() - Duration::days(90))
            .await
            .unwrap(),
        0,
        "recent ones stay"
    );
    assert_eq!(
        store
            .purge_interactions(Utc::now() + Duration::seconds(1))
            .await
            .unwrap(),
        2
    );
    assert!(store.interactions(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_status_callback_that_arrives_before_the_sid_is_stored_is_kept() {
    let app = spawn_app_with(Options {
        job_workers: Some(0),
        ..Default::default()
    })
    .await;
    let store = app.app.store.clone();
    let now = Utc::now();
    store.enqueue(&message("k2"), now).await.unwrap();
    let taken = claim_send(&store, now).await.unwrap();
    // The worker stores the SID a little after Twilio has already called back.
    let id = taken.id;
    let late = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        store
            .outbound_sent(id, "SMlate", None, Utc::now())
            .await
            .unwrap();
    });
    let (status, _) = app
        .webhook(
            "/twilio/sms",
            &[("MessageSid", "SMlate"), ("MessageStatus", "sent")],
        )
        .await;
    assert_eq!(status, 200);
    late.await.unwrap();
    let stored = &app.app.store.outbound_messages(1).await.unwrap()[0];
    assert_eq!(stored.delivery_status.as_deref(), Some("sent"));
}
