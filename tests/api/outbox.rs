//! The outbox's guarantees with the simulated carrier: a message is claimed by one worker; one
//! whose worker died before its send began is sent by another; one whose worker died mid-send
//! is settled (by its status callback or the carrier's listing) and never sent twice; status
//! callbacks on their own paths; the retention purges.

use chrono::{Duration, Utc};
use proxycall::domain::E164;
use std::sync::Arc;

use proxycall::store::{
    JobStatus, NewOutbound, OutboundKind, OutboundMessage, SEND_JOB_KIND, Store,
};

use crate::helpers::{Options, TestApp, spawn_app_with};

fn message(key: &str) -> NewOutbound {
    NewOutbound {
        kind: OutboundKind::Sms,
        purpose: "relay",
        from: E164::parse("+33780000001").unwrap(),
        to: E164::parse("+33612345678").unwrap(),
        body: Some("Bonjour".into()),
        url: None,
        dedupe_key: Some(key.into()),
        relay: None,
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

fn worker(app: &TestApp) -> proxycall::jobs::Worker {
    proxycall::jobs::Worker::new(app.app.clone(), app.jobs.clone())
}

async fn no_workers() -> TestApp {
    // No workers: the test plays them.
    spawn_app_with(Options {
        job_workers: Some(0),
        ..Default::default()
    })
    .await
}

async fn the_message(store: &Arc<dyn Store>) -> OutboundMessage {
    store.outbound_messages(1).await.unwrap().remove(0)
}

async fn delivered(app: &TestApp) -> Vec<proxycall::store::SimulatedDelivery> {
    app.app.store.simulated_deliveries(None, 10).await.unwrap()
}

#[tokio::test]
async fn a_message_claimed_by_a_worker_that_died_before_sending_is_sent_by_another_once() {
    let app = no_workers().await;
    let store = &app.app.store;
    let now = Utc::now();
    assert!(store.enqueue(&message("k1"), now).await.unwrap().is_some());
    assert!(
        store.enqueue(&message("k1"), now).await.unwrap().is_none(),
        "enqueued once per key"
    );

    // A worker takes it, then dies before it begins the send.
    assert!(claim_send(store, now).await.is_some());
    assert!(claim_send(store, now).await.is_none(), "claimed once");

    // Before the lease ends nothing happens; after it, another worker sends it.
    let worker = worker(&app);
    worker
        .check_leases(now + Duration::seconds(30))
        .await
        .unwrap();
    assert_eq!(
        store.jobs(Some(SEND_JOB_KIND), None, 1).await.unwrap()[0].status,
        JobStatus::Running,
        "still its worker's"
    );
    let later = now + Duration::seconds(61);
    worker.check_leases(later).await.unwrap();
    app.run_jobs_at(later).await;
    app.run_jobs_at(now + Duration::hours(1)).await;

    let stored = the_message(store).await;
    assert_eq!(stored.status, "sent", "{stored:?}");
    assert!(stored.body.is_none(), "the text is erased once sent");
    assert_eq!(delivered(&app).await.len(), 1, "sent once");
    let job = &store.jobs(Some(SEND_JOB_KIND), None, 10).await.unwrap()[0];
    assert_eq!(job.status, JobStatus::Done);
}

/// A worker that claimed the message, began its send, maybe reached the carrier, and died.
async fn die_mid_send(app: &TestApp, now: chrono::DateTime<Utc>, reached_carrier: bool) -> i64 {
    let store = &app.app.store;
    store.enqueue(&message("k1"), now).await.unwrap().unwrap();
    let taken = claim_send(store, now).await.unwrap();
    let m = store
        .outbound_begin_send(taken.id, 1, now)
        .await
        .unwrap()
        .expect("pending until its send begins");
    if reached_carrier {
        let body = m.body.as_deref().unwrap();
        app.app
            .carrier
            .send_sms(&m.from, &m.to, body, None)
            .await
            .unwrap();
    }
    m.id
}

#[tokio::test]
async fn a_message_whose_worker_died_after_the_carrier_took_it_is_settled_never_sent_twice() {
    let app = no_workers().await;
    let store = &app.app.store;
    let now = Utc::now();
    die_mid_send(&app, now, true).await;
    let worker = worker(&app);

    // After the lease, the job runs again: the message is in doubt, and waits for the grace
    // period (its status callback may come meanwhile).
    let after_lease = now + Duration::seconds(61);
    worker.check_leases(after_lease).await.unwrap();
    app.run_jobs_at(after_lease).await;
    assert_eq!(the_message(store).await.status, "sending");
    // Then the carrier's listing shows it: sent, not sent again.
    app.run_jobs_at(now + Duration::minutes(3)).await;
    app.run_jobs_at(now + Duration::hours(3)).await;

    let deliveries = delivered(&app).await;
    assert_eq!(deliveries.len(), 1, "never sent twice");
    let stored = the_message(store).await;
    assert_eq!(stored.status, "sent");
    assert_eq!(stored.twilio_sid, Some(deliveries[0].sid.clone()));
}

#[tokio::test]
async fn a_message_whose_worker_died_before_the_carrier_took_it_is_sent_once() {
    let app = no_workers().await;
    let store = &app.app.store;
    let now = Utc::now();
    die_mid_send(&app, now, false).await;
    let worker = worker(&app);

    let after_lease = now + Duration::seconds(61);
    worker.check_leases(after_lease).await.unwrap();
    app.run_jobs_at(after_lease).await;
    assert!(delivered(&app).await.is_empty(), "not before it is settled");
    app.run_jobs_at(now + Duration::minutes(3)).await;

    assert_eq!(delivered(&app).await.len(), 1, "proved absent, sent once");
    assert_eq!(the_message(store).await.status, "sent");
}

#[tokio::test]
async fn a_status_callback_naming_a_message_in_doubt_settles_it() {
    let app = no_workers().await;
    let store = &app.app.store;
    let now = Utc::now();
    let id = die_mid_send(&app, now, true).await;
    let sid = delivered(&app).await[0].sid.clone();

    let path = format!("/twilio/sms/status?outbound_id={id}");
    let (status, twiml) = app
        .webhook(&path, &[("MessageSid", &sid), ("MessageStatus", "sent")])
        .await;
    assert_eq!(status, 200, "{twiml}");
    let settled = the_message(store).await;
    // The job runs again after the lease, and finds nothing to do.
    let worker = worker(&app);
    worker
        .check_leases(now + Duration::seconds(61))
        .await
        .unwrap();
    app.run_jobs_at(now + Duration::hours(1)).await;
    let (status, _) = app
        .webhook(
            &path,
            &[("MessageSid", &sid), ("MessageStatus", "delivered")],
        )
        .await;
    assert_eq!(status, 200);

    assert_eq!(settled.status, "sent");
    assert_eq!(settled.twilio_sid.as_deref(), Some(sid.as_str()));
    assert_eq!(settled.delivery_status.as_deref(), Some("sent"));
    assert_eq!(delivered(&app).await.len(), 1, "never sent twice");
    let later = the_message(store).await;
    assert_eq!(later.delivery_status.as_deref(), Some("delivered"));
    // Unsigned, the callback is refused.
    let unsigned = app
        .http
        .post(format!("{}{path}", app.base))
        .form(&[("MessageSid", sid.as_str()), ("MessageStatus", "failed")])
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    assert_eq!(
        the_message(store).await.delivery_status.as_deref(),
        Some("delivered")
    );
}

#[tokio::test]
async fn a_call_status_is_recorded_against_its_outbound_call() {
    let app = spawn_app_with(Options::default()).await;
    let store = &app.app.store;
    let call = NewOutbound {
        kind: OutboundKind::Call,
        url: Some(format!("{}/twiml/1", app.base)),
        body: None,
        ..message("call")
    };
    let id = store.enqueue(&call, Utc::now()).await.unwrap().unwrap();
    app.drain().await;
    let sent = the_message(store).await;
    assert_eq!(sent.status, "sent");
    let sid = sent.twilio_sid.clone().unwrap();

    let (status, _) = app
        .webhook(
            &format!("/twilio/voice/status?outbound_id={id}"),
            &[("CallSid", &sid), ("CallStatus", "completed")],
        )
        .await;

    assert_eq!(status, 200);
    let recorded = the_message(store).await;
    assert_eq!(recorded.delivery_status.as_deref(), Some("completed"));
}

#[tokio::test]
async fn a_text_marked_received_on_the_sms_webhook_is_routed_and_a_delivery_status_is_recorded() {
    let app = spawn_app_with(Options::default()).await;
    let proxy = app.client_with_proxy(1, "+33612345678").await;
    for (sid, field) in [("SMin1", "SmsStatus"), ("SMin2", "MessageStatus")] {
        let (status, _) = app
            .webhook(
                "/twilio/sms",
                &[
                    ("From", "+33698765432"),
                    ("To", &proxy),
                    ("Body", "Je suis en bas"),
                    ("MessageSid", sid),
                    (field, "received"),
                ],
            )
            .await;
        assert_eq!(status, 200);
    }
    let deliveries = app.deliveries_to("+33612345678", 2).await;
    assert_eq!(deliveries.len(), 2, "both relayed");

    // A delivery status posted to /twilio/sms (configured there by hand) is still recorded.
    let (status, twiml) = app
        .webhook(
            "/twilio/sms",
            &[
                ("MessageSid", &deliveries[0].sid),
                ("MessageStatus", "delivered"),
                ("From", &proxy),
                ("To", "+33612345678"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(!twiml.contains("<Message>"), "{twiml}");
    let stored = app.app.store.outbound_messages(10).await.unwrap();
    let recorded = stored
        .iter()
        .find(|m| m.twilio_sid.as_deref() == Some(deliveries[0].sid.as_str()))
        .unwrap();
    assert_eq!(recorded.delivery_status.as_deref(), Some("delivered"));
    assert_eq!(
        app.deliveries_to("+33612345678", 2).await.len(),
        2,
        "not relayed"
    );
}

#[tokio::test]
async fn sent_and_failed_messages_and_simulated_deliveries_are_purged_after_the_retention() {
    let app = no_workers().await;
    let store = &app.app.store;
    let now = Utc::now();
    for key in [
        "sent-old",
        "failed-old",
        "pending-old",
        "doubt-old",
        "sent-new",
    ] {
        store.enqueue(&message(key), now).await.unwrap().unwrap();
    }
    app.db
        .exec(
            "update outbound_messages set status = 'sent', body = null, twilio_sid = 'SM' || id \
             where dedupe_key in ('sent-old', 'sent-new')",
        )
        .await;
    app.db
        .exec("update outbound_messages set status = 'failed' where dedupe_key = 'failed-old'")
        .await;
    // Their sends are not what this test is about.
    app.db
        .exec("delete from jobs where kind = 'outbound.send'")
        .await;
    app.db
        .exec("update outbound_messages set status = 'sending' where dedupe_key = 'doubt-old'")
        .await;
    let old = (now - Duration::days(100))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let is_pg = app.db.url().starts_with("postgres");
    let at = if is_pg {
        format!("timestamptz '{old}+00'")
    } else {
        format!("'{old}+00:00'")
    };
    app.db
        .exec(&format!(
            "update outbound_messages set created_at = {at} where dedupe_key like '%-old'"
        ))
        .await;
    // Two deliveries of the simulated carrier: one old, one new.
    let m = message("x");
    app.app
        .carrier
        .send_sms(&m.from, &m.to, "ancien", None)
        .await
        .unwrap();
    app.db
        .exec(&format!(
            "update simulated_deliveries set delivered_at = {at}"
        ))
        .await;
    app.app
        .carrier
        .send_sms(&m.from, &m.to, "récent", None)
        .await
        .unwrap();

    // The periodic purges, as the scheduler enqueues them, with a 90-day retention.
    app.drain().await;

    let left: Vec<String> = store
        .outbound_messages(10)
        .await
        .unwrap()
        .iter()
        .map(|m| format!("{}", m.status))
        .collect();
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left.contains(&"pending".to_owned()), "waiting ones stay");
    assert!(left.contains(&"sending".to_owned()), "ones in doubt stay");
    assert!(left.contains(&"sent".to_owned()), "recent ones stay");
    let deliveries = delivered(&app).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].body.as_deref(), Some("récent"));
    for kind in ["outbox.purge", "simulated_deliveries.purge", "jobs.purge"] {
        let jobs = store.jobs(Some(kind), None, 5).await.unwrap();
        assert_eq!(jobs.len(), 1, "{kind}");
        assert_eq!(jobs[0].status, JobStatus::Done, "{kind}: {jobs:?}");
    }
    let jobs_purge = &store.jobs(Some("jobs.purge"), None, 1).await.unwrap()[0];
    assert!(
        jobs_purge.payload.contains("90"),
        "finished jobs kept as long as the rest: {}",
        jobs_purge.payload
    );
}

#[tokio::test]
async fn finished_jobs_older_than_the_retention_are_purged() {
    let app = no_workers().await;
    let store = &app.app.store;
    let now = Utc::now();
    store.enqueue(&message("done"), now).await.unwrap().unwrap();
    store
        .enqueue(&message("queued"), now + Duration::days(1))
        .await
        .unwrap();
    app.db
        .exec("update jobs set status = 'done', finished_at = created_at where dedupe_key = 'outbound:1'")
        .await;
    assert_eq!(
        store
            .purge_finished_jobs(now - Duration::days(90))
            .await
            .unwrap(),
        0,
        "recent ones stay"
    );
    assert_eq!(
        store
            .purge_finished_jobs(now + Duration::seconds(1))
            .await
            .unwrap(),
        1,
        "finished ones go, queued ones stay"
    );
    assert_eq!(
        store
            .jobs(Some(SEND_JOB_KIND), None, 10)
            .await
            .unwrap()
            .len(),
        1
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

/// Text `i` of a batch: to its own number, with its own words.
fn text(i: usize) -> NewOutbound {
    NewOutbound {
        to: E164::parse(&format!("+33612000{i:03}")).unwrap(),
        body: Some(format!("Texte {i}")),
        ..message(&format!("batch:{i}"))
    }
}

/// Each of `n` texts reached its own number once, with its words, and is recorded sent.
async fn each_sent_once(store: &Arc<dyn Store>, n: usize, taken: &[(String, String, String)]) {
    assert_eq!(taken.len(), n, "{n} texts, each taken once");
    for i in 0..n {
        let to = format!("+33612000{i:03}");
        let got: Vec<_> = taken.iter().filter(|(t, _, _)| *t == to).collect();
        assert_eq!(got.len(), 1, "text {i} taken once: {got:?}");
        assert_eq!(got[0].1, format!("Texte {i}"));
    }
    let stored = store.outbound_messages(n as i64 + 10).await.unwrap();
    assert_eq!(stored.len(), n);
    for m in &stored {
        assert_eq!(m.status, "sent", "{m:?}");
        let sid = m.twilio_sid.as_deref().unwrap();
        assert!(
            taken
                .iter()
                .any(|(to, _, s)| to == m.to.as_str() && s == sid),
            "recorded with the SID the carrier gave: {m:?}"
        );
    }
}

/// A server without workers (the test drains), on the Twilio client against a double that
/// answers each text after `millis`.
async fn slow_carrier(millis: u64) -> (crate::twilio_sim::TwilioSim, TestApp) {
    let sim = crate::twilio_sim::TwilioSim::start().await;
    sim.latency(std::time::Duration::from_millis(millis));
    let app = spawn_app_with(Options {
        twilio_api_base: Some(sim.base.clone()),
        job_workers: Some(0),
        ..Default::default()
    })
    .await;
    (sim, app)
}

#[tokio::test]
async fn texts_queued_together_are_sent_at_once_against_a_slow_carrier_each_once() {
    // Long enough that every request of a claim is in flight before the first is answered.
    let (sim, app) = slow_carrier(300).await;
    let store = &app.app.store;
    let now = Utc::now();
    for i in 0..200 {
        store.enqueue(&text(i), now).await.unwrap().unwrap();
    }

    app.drain().await;

    // Four at a time before; now a claim's sends all wait on the carrier together.
    assert!(
        sim.max_concurrent() >= 50,
        "{} requests at once",
        sim.max_concurrent()
    );
    let taken: Vec<_> = sim
        .texts()
        .into_iter()
        .map(|t| (t.to, t.body, t.sid))
        .collect();
    each_sent_once(store, 200, &taken).await;
    let jobs = store.jobs(Some(SEND_JOB_KIND), None, 300).await.unwrap();
    assert_eq!(jobs.len(), 200);
    assert!(
        jobs.iter()
            .all(|j| j.status == JobStatus::Done && j.attempts == 1)
    );
}

#[tokio::test]
async fn the_texts_of_one_conversation_reach_the_carrier_in_the_order_they_were_queued() {
    // Long enough that texts sent at once would overlap at the carrier.
    let (sim, app) = slow_carrier(50).await;
    let store = &app.app.store;
    let now = Utc::now();
    // Two conversations, their texts interleaved in the queue, claimed together.
    let (one, two) = ("+33612000001", "+33612000002");
    for i in 0..6 {
        for to in [one, two] {
            store
                .enqueue(
                    &NewOutbound {
                        to: E164::parse(to).unwrap(),
                        body: Some(format!("Texte {i}")),
                        ..message(&format!("order:{to}:{i}"))
                    },
                    now,
                )
                .await
                .unwrap()
                .unwrap();
        }
    }

    app.drain().await;

    let texts = sim.texts();
    assert_eq!(texts.len(), 12);
    for to in [one, two] {
        let bodies: Vec<&str> = texts
            .iter()
            .filter(|t| t.to == to)
            .map(|t| t.body.as_str())
            .collect();
        let queued: Vec<String> = (0..6).map(|i| format!("Texte {i}")).collect();
        assert_eq!(bodies, queued, "the texts to {to} in their order");
    }
    // One text of each conversation at a time, the two conversations side by side.
    assert_eq!(sim.max_concurrent(), 2);
}

#[tokio::test]
async fn a_batch_whose_worker_died_mid_send_is_settled_each_text_once() {
    let app = no_workers().await;
    let store = &app.app.store;
    let now = Utc::now();
    for i in 0..20 {
        store.enqueue(&text(i), now).await.unwrap().unwrap();
    }
    // A worker claims them all, begins their sends together, reaches the carrier with half of
    // them, and dies.
    let jobs = store
        .claim_jobs(&[SEND_JOB_KIND], now, now + Duration::seconds(60), 50)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 20);
    let sends: Vec<(i64, i64)> = jobs
        .iter()
        .map(|j| {
            let payload: serde_json::Value = serde_json::from_str(&j.payload).unwrap();
            (payload["outbound_id"].as_i64().unwrap(), j.attempts)
        })
        .collect();
    let begun = store.outbound_begin_sends(&sends, now).await.unwrap();
    assert_eq!(begun.len(), 20, "all pending until their sends begin");
    assert!(
        store
            .outbound_begin_sends(&sends, now)
            .await
            .unwrap()
            .is_empty(),
        "begun once"
    );
    for m in begun.iter().filter(|m| m.id % 2 == 0) {
        let body = m.body.as_deref().unwrap();
        app.app
            .carrier
            .send_sms(&m.from, &m.to, body, None)
            .await
            .unwrap();
    }

    // After the lease they run again: each is in doubt, and nothing is sent meanwhile.
    let worker = worker(&app);
    let after_lease = now + Duration::seconds(61);
    worker.check_leases(after_lease).await.unwrap();
    app.run_jobs_at(after_lease).await;
    let taken = app.app.store.simulated_deliveries(None, 100).await.unwrap();
    assert_eq!(taken.len(), 10, "none sent again before it is settled");
    // Then each is settled: found at the carrier, or proved absent and sent once.
    app.run_jobs_at(now + Duration::minutes(3)).await;
    app.run_jobs_at(now + Duration::hours(3)).await;

    let taken: Vec<_> = app
        .app
        .store
        .simulated_deliveries(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.to.as_str().to_owned(), d.body.unwrap_or_default(), d.sid))
        .collect();
    each_sent_once(store, 20, &taken).await;
}
