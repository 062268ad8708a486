//! The outbox's guarantees that need no carrier: a message is claimed by one worker, and one
//! whose worker vanished mid-send is never sent again.

use chrono::{Duration, Utc};
use proxycall::domain::E164;
use proxycall::store::{NewOutbound, OutboundKind};

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

#[tokio::test]
async fn a_message_interrupted_mid_send_is_failed_not_sent_twice() {
    // No workers: the test plays them.
    let app = spawn_app_with(Options {
        outbox_workers: Some(0),
        ..Default::default()
    })
    .await;
    let store = &app.app.store;
    let now = Utc::now();
    assert!(store.enqueue(&message("k1"), now).await.unwrap());
    assert!(
        !store.enqueue(&message("k1"), now).await.unwrap(),
        "enqueued once per key"
    );

    // A worker takes it, then dies before recording anything.
    let taken = store
        .claim_outbound(now, now + Duration::seconds(60), 8)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert!(
        store
            .claim_outbound(now, now + Duration::seconds(60), 8)
            .await
            .unwrap()
            .is_empty(),
        "claimed once"
    );

    // Before the lease ends nothing happens; after it, the message is given up.
    assert_eq!(
        store
            .abandon_expired_leases(now + Duration::seconds(30))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .abandon_expired_leases(now + Duration::seconds(61))
            .await
            .unwrap(),
        1
    );
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
    let later = now + Duration::hours(1);
    assert!(
        store
            .claim_outbound(later, later + Duration::seconds(60), 8)
            .await
            .unwrap()
            .is_empty()
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
        outbox_workers: Some(0),
        ..Default::default()
    })
    .await;
    let store = app.app.store.clone();
    let now = Utc::now();
    store.enqueue(&message("k2"), now).await.unwrap();
    let taken = store
        .claim_outbound(now, now + Duration::seconds(60), 8)
        .await
        .unwrap();
    // The worker stores the SID a little after Twilio has already called back.
    let id = taken[0].id;
    let late = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        store.outbound_sent(id, "SMlate", Utc::now()).await.unwrap();
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
