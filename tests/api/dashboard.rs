//! The overview's figures (`app::dashboard`), counted by each engine: the chart's hours, the
//! pool against its low-water mark, the activation funnel, the queues.

use chrono::{Duration, Utc};
use proxycall::app::dashboard;
use proxycall::domain::NumberType;
use proxycall::store::{NewJob, PoolStatus};
use serde_json::json;

use crate::helpers::spawn_app;

const COURIER: &str = "+33698765432";

#[tokio::test]
async fn the_overview_counts_this_hours_calls_and_texts_and_the_pool_and_queues() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, "+33612345678").await;
    app.add_numbers("FR", NumberType::Local, 2).await;
    for sid in ["CA1", "CA2"] {
        let (status, _) = app
            .webhook(
                "/twilio/voice",
                &[("From", COURIER), ("To", &proxy), ("CallSid", sid)],
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = app
        .webhook(
            "/twilio/sms",
            &[
                ("From", COURIER),
                ("To", &proxy),
                ("Body", "Je suis en bas"),
                ("MessageSid", "SM1"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let started = app
        .post(
            "/confirmations/create",
            &json!({"client_name": "Paul", "client_mail": "paul@example.com",
                    "client_real_phone": "+33644444444", "country_iso": "FR"}),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);

    let now = Utc::now();
    let o = dashboard::overview(&app.app, now, 2).await.unwrap();
    assert_eq!(o.hours.len(), 24 * 7);
    let last = o.hours.last().unwrap();
    assert!(last.start <= now && now < last.start + Duration::hours(1));
    assert_eq!(last.voice.values().sum::<i64>(), 2, "{last:?}");
    assert_eq!(last.sms.values().sum::<i64>(), 1, "{last:?}");
    let earlier: i64 = o.hours[..o.hours.len() - 1]
        .iter()
        .map(|h| h.voice.values().sum::<i64>() + h.sms.values().sum::<i64>())
        .sum();
    assert_eq!(earlier, 0);

    // FR mobile: the one number, the client's; FR local: two available, one reserved by
    // the activation (it falls back to local) — under a low-water mark of 2 each.
    let lines: Vec<_> = o
        .pool
        .iter()
        .map(|l| {
            (
                l.country.as_str(),
                l.number_type.as_str(),
                l.available,
                l.low,
            )
        })
        .collect();
    assert_eq!(
        lines,
        [("FR", "local", 1, true), ("FR", "mobile", 0, true)],
        "{o:?}"
    );
    let local = &o.pool[0];
    assert!(
        local.by_status.contains(&(PoolStatus::Reserved, 1)),
        "{local:?}"
    );

    assert_eq!(o.funnel.started, 1);
    assert_eq!(o.funnel.waiting, 1);
    // Once the workers have sent the relayed text and the code, nothing waits; a job of a
    // kind no process here knows waits, overdue, since its due time.
    app.drain().await;
    let due = Utc::now() - Duration::minutes(5);
    app.app
        .store
        .enqueue_job(
            &NewJob {
                kind: "elsewhere.unknown".into(),
                payload: "{}".into(),
                due_at: due,
                max_attempts: 1,
                dedupe_key: None,
            },
            Utc::now(),
        )
        .await
        .unwrap();
    let o = dashboard::overview(&app.app, Utc::now(), 2).await.unwrap();
    assert_eq!(o.queues.outbox.queued, 0, "{:?}", o.queues);
    assert_eq!(o.queues.outbox.oldest, None);
    assert_eq!(o.queues.outbox.failed, 0);
    assert!(o.queues.jobs.queued >= 1, "{:?}", o.queues);
    let oldest = o.queues.jobs.oldest.expect("an overdue job");
    assert!(
        (oldest - due).num_milliseconds().abs() < 1000,
        "{oldest} vs {due}"
    );
}

#[tokio::test]
async fn the_chart_keeps_the_hours_that_are_over_and_counts_them_as_a_fresh_process_does() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, "+33612345678").await;
    for sid in ["CA1", "CA2", "CA3"] {
        let (status, _) = app
            .webhook(
                "/twilio/voice",
                &[("From", COURIER), ("To", &proxy), ("CallSid", sid)],
            )
            .await;
        assert_eq!(status, 200);
    }
    let total = |o: &dashboard::Overview| -> Vec<i64> {
        o.hours
            .iter()
            .map(|h| h.voice.values().sum::<i64>() + h.sms.values().sum::<i64>())
            .collect()
    };
    // Seen from three hours later, this hour is over: counted once, then kept.
    let later = Utc::now() + Duration::hours(3);
    let first = dashboard::overview(&app.app, later, 2).await.unwrap();
    let again = dashboard::overview(&app.app, later, 2).await.unwrap();
    let fresh = proxycall::app::App::simulated(app.app.store.clone());
    let uncached = dashboard::overview(&fresh, later, 2).await.unwrap();
    for o in [&first, &again, &uncached] {
        assert_eq!(o.hours.len(), 24 * 7);
        let counts = total(o);
        assert_eq!(counts[counts.len() - 4], 3, "{counts:?}");
        assert_eq!(counts.iter().sum::<i64>(), 3, "{counts:?}");
    }
    assert_eq!(first.hours, again.hours);
    assert_eq!(first.hours, uncached.hours);
    // Back to now: the same calls, in the current hour, still counted live.
    let call = app
        .webhook(
            "/twilio/voice",
            &[("From", COURIER), ("To", &proxy), ("CallSid", "CA4")],
        )
        .await;
    assert_eq!(call.0, 200);
    let now = dashboard::overview(&app.app, Utc::now(), 2).await.unwrap();
    let counts = total(&now);
    // The last two hours are read live (two, should the hour have turned meanwhile).
    assert_eq!(
        counts[counts.len() - 2..].iter().sum::<i64>(),
        4,
        "{counts:?}"
    );
    assert_eq!(counts.iter().sum::<i64>(), 4);
}
