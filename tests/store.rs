//! The store's behaviour, run directly on SQLite and (with `PROXYCALL_TEST_DATABASE_URL`)
//! PostgreSQL: migrations, job claims, leases, dedupe, scheduling, periodic jobs, retention.
//! Two stores opened on one database stand for two processes.

#[path = "common/test_db.rs"]
mod test_db;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use proxycall::app::App;
use proxycall::jobs::{self, Interrupted, Job, JobContext, JobError, Registry, Worker};
use proxycall::store::{self, JobEnd, JobOutcome, JobStatus, NewJob, Store};
use serde::{Deserialize, Serialize};
use test_db::TestDb;

/// The clock at PostgreSQL's precision, so that times read back compare equal.
fn now_micros() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

/// Two stores on one fresh database: two processes.
async fn two_processes() -> (TestDb, Arc<dyn Store>, Arc<dyn Store>) {
    let db = TestDb::new().await;
    let a = store::connect(db.url()).await.unwrap();
    let b = store::connect(db.url()).await.unwrap();
    (db, a, b)
}

fn job(kind: &str, due_at: DateTime<Utc>, key: Option<&str>) -> NewJob {
    NewJob {
        kind: kind.into(),
        payload: "{}".into(),
        due_at,
        max_attempts: 3,
        dedupe_key: key.map(Into::into),
    }
}

/// A job of `kind` due at `now`, without a dedupe key; its id.
async fn add(store: &dyn Store, kind: &str, now: DateTime<Utc>) -> i64 {
    store
        .enqueue_job(&job(kind, now, None), now)
        .await
        .unwrap()
        .unwrap()
}

/// What the test kinds did, by label: shared by every "process" of a test.
static RUNS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn runs_of(label: &str) -> usize {
    RUNS.lock().unwrap().iter().filter(|l| *l == label).count()
}

#[derive(Serialize, Deserialize)]
struct Record {
    label: String,
}

impl Job for Record {
    const KIND: &'static str = "test.record";

    async fn run(self, ctx: JobContext) -> Result<Option<serde_json::Value>, JobError> {
        ctx.progress(&serde_json::json!({"step": 1})).await?;
        RUNS.lock().unwrap().push(self.label);
        Ok(Some(serde_json::json!({"recorded": true})))
    }
}

#[derive(Serialize, Deserialize)]
struct Panics {
    label: String,
}

impl Job for Panics {
    const KIND: &'static str = "test.panics";
    const MAX_ATTEMPTS: i64 = 2;

    async fn run(self, _ctx: JobContext) -> Result<Option<serde_json::Value>, JobError> {
        RUNS.lock().unwrap().push(self.label);
        panic!("boom");
    }
}

/// A job that must not run twice, and panics: it may have had its effect.
#[derive(Serialize, Deserialize)]
struct PanicsOnce {}

impl Job for PanicsOnce {
    const KIND: &'static str = "test.panics-once";
    const INTERRUPTED: Interrupted = Interrupted::Fail;

    async fn run(self, _ctx: JobContext) -> Result<Option<serde_json::Value>, JobError> {
        panic!("after the effect");
    }
}

/// Released by the test: a job that runs until then.
static RELEASE_SLOW: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[derive(Serialize, Deserialize)]
struct Slow {}

impl Job for Slow {
    const KIND: &'static str = "test.slow";

    async fn run(self, ctx: JobContext) -> Result<Option<serde_json::Value>, JobError> {
        ctx.progress(&serde_json::json!({"waiting": true})).await?;
        RELEASE_SLOW.notified().await;
        Ok(None)
    }
}

fn registry() -> Arc<Registry> {
    Arc::new(
        Registry::new()
            .register::<Record>()
            .register::<Panics>()
            .register::<PanicsOnce>(),
    )
}

async fn enqueue_record(store: &dyn Store, label: &str, due_at: DateTime<Utc>) -> i64 {
    let record = Record {
        label: label.into(),
    };
    jobs::enqueue(store, &record, due_at, None)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn every_migration_file_of_the_engine_is_applied() {
    let db = TestDb::new().await;
    store::connect(db.url()).await.unwrap();
    let engine = if db.url().starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(engine);
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .map(|n| {
            n.split('_')
                .next()
                .unwrap()
                .trim_start_matches('0')
                .to_owned()
        })
        .collect();
    files.sort();
    let mut applied: Vec<String> = db
        .text_columns("select cast(version as text) as version from _sqlx_migrations where success")
        .await
        .into_iter()
        .map(|row| row[0].1.clone().unwrap())
        .collect();
    applied.sort();
    assert!(files.len() >= 3, "{files:?}");
    assert_eq!(applied, files);
}

#[tokio::test]
async fn a_due_job_is_claimed_by_one_process_only() {
    let (_db, a, b) = two_processes().await;
    let now = now_micros();
    for i in 0..20 {
        a.enqueue_job(&job("k", now, Some(&format!("j{i}"))), now)
            .await
            .unwrap();
    }
    let lease = now + Duration::seconds(60);
    let (left, right) = tokio::join!(
        a.claim_jobs(&["k"], now, lease, 15),
        b.claim_jobs(&["k"], now, lease, 15)
    );
    let (left, right) = (left.unwrap(), right.unwrap());
    assert_eq!(left.len() + right.len(), 20);
    let mut ids: Vec<i64> = left.iter().chain(&right).map(|j| j.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20, "no job taken twice");
    assert!(left.iter().chain(&right).all(|j| j.attempts == 1
        && j.status == JobStatus::Running
        && j.locked_until == Some(lease)));
    assert!(
        a.claim_jobs(&["k"], now, lease, 15)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_job_waits_for_its_time_and_a_known_kind() {
    let (_db, a, _b) = two_processes().await;
    let now = now_micros();
    let later = now + Duration::seconds(60);
    a.enqueue_job(&job("k", later, None), now).await.unwrap();
    a.enqueue_job(&job("from.a.newer.binary", now, None), now)
        .await
        .unwrap();
    let lease = now + Duration::seconds(60);
    assert!(
        a.claim_jobs(&["k"], now, lease, 8)
            .await
            .unwrap()
            .is_empty(),
        "not before its time; not a kind we do not know"
    );
    let claimed = a.claim_jobs(&["k"], later, lease, 8).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let unknown = a.jobs(Some("from.a.newer.binary"), None, 10).await.unwrap();
    assert_eq!(
        unknown[0].status,
        JobStatus::Queued,
        "left for a binary that knows it"
    );
}

#[tokio::test]
async fn a_dedupe_key_enqueues_once() {
    let (_db, a, b) = two_processes().await;
    let now = now_micros();
    let first = a
        .enqueue_job(&job("k", now, Some("once")), now)
        .await
        .unwrap();
    let again = b
        .enqueue_job(&job("k", now, Some("once")), now)
        .await
        .unwrap();
    assert!(first.is_some());
    assert_eq!(again, None);
    assert!(
        a.enqueue_job(&job("k", now, None), now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        a.enqueue_job(&job("k", now, None), now)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(a.jobs(Some("k"), None, 10).await.unwrap().len(), 3);
}

#[tokio::test]
async fn an_expired_lease_requeues_the_job_or_fails_one_that_must_not_run_twice() {
    let (_db, a, _b) = two_processes().await;
    let now = now_micros();
    let again = add(a.as_ref(), "again", now).await;
    let once = add(a.as_ref(), "once", now).await;
    let lease = now + Duration::seconds(60);
    assert_eq!(
        a.claim_jobs(&["again", "once"], now, lease, 8)
            .await
            .unwrap()
            .len(),
        2
    );
    // A live worker's progress keeps its claim.
    let nothing = a
        .expire_job_leases(now + Duration::seconds(30), &["again", "once"], &["once"])
        .await
        .unwrap();
    assert_eq!((nothing.requeued, nothing.failed), (0, 0));
    a.job_progress(again, 1, "{\"done\":1}", now + Duration::seconds(120), now)
        .await
        .unwrap();
    let expired = a
        .expire_job_leases(now + Duration::seconds(61), &["again", "once"], &["once"])
        .await
        .unwrap();
    assert_eq!((expired.requeued, expired.failed), (0, 1));
    let expired = a
        .expire_job_leases(now + Duration::seconds(121), &["again", "once"], &["once"])
        .await
        .unwrap();
    assert_eq!((expired.requeued, expired.failed), (1, 0));

    let again = a.job(again).await.unwrap().unwrap();
    assert_eq!(again.status, JobStatus::Queued);
    assert_eq!(again.progress.as_deref(), Some("{\"done\":1}"));
    let once = a.job(once).await.unwrap().unwrap();
    assert_eq!(once.status, JobStatus::Failed);
    assert!(once.last_error.unwrap().contains("twice"));
    let later = now + Duration::seconds(200);
    let reclaimed = a
        .claim_jobs(&["again", "once"], later, later, 8)
        .await
        .unwrap();
    assert_eq!(reclaimed.len(), 1);
    assert_eq!((reclaimed[0].id, reclaimed[0].attempts), (again.id, 2));
}

#[tokio::test]
async fn outcomes_finish_a_job_and_old_finished_jobs_are_purged() {
    let (_db, a, _b) = two_processes().await;
    let now = now_micros();
    let done = add(a.as_ref(), "k", now).await;
    let retried = add(a.as_ref(), "k", now).await;
    let failed = add(a.as_ref(), "k", now).await;
    a.claim_jobs(&["k"], now, now + Duration::seconds(60), 8)
        .await
        .unwrap();
    let retry_at = now + Duration::seconds(30);
    let outcome = |id, end| JobOutcome {
        id,
        attempt: 1,
        end,
    };
    a.finish_jobs(
        &[
            outcome(
                done,
                JobEnd::Done {
                    result: Some("{\"n\":3}".into()),
                },
            ),
            outcome(
                retried,
                JobEnd::Retry {
                    error: "HTTP 503".into(),
                    due_at: retry_at,
                },
            ),
            outcome(
                failed,
                JobEnd::Failed {
                    error: "refused".into(),
                },
            ),
        ],
        now,
    )
    .await
    .unwrap();
    // An outcome changes only a running job: a late worker cannot undo another's.
    a.finish_jobs(
        &[outcome(
            done,
            JobEnd::Retry {
                error: "late".into(),
                due_at: now,
            },
        )],
        now,
    )
    .await
    .unwrap();

    let get = |id| {
        let a = a.clone();
        async move { a.job(id).await.unwrap().unwrap() }
    };
    let (d, r, f) = (get(done).await, get(retried).await, get(failed).await);
    assert_eq!(
        (d.status, d.result.as_deref()),
        (JobStatus::Done, Some("{\"n\":3}"))
    );
    assert_eq!(
        (r.status, r.due_at, r.last_error.as_deref()),
        (JobStatus::Queued, retry_at, Some("HTTP 503"))
    );
    assert_eq!(f.status, JobStatus::Failed);
    assert!(d.finished_at.is_some() && f.finished_at.is_some());

    let counts: HashMap<JobStatus, i64> = a
        .job_counts()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.status, c.count))
        .collect();
    assert_eq!(
        counts.get(&JobStatus::Done),
        None,
        "done jobs are not counted"
    );
    assert_eq!(counts[&JobStatus::Queued], 1);
    assert_eq!(counts[&JobStatus::Failed], 1);
    assert_eq!(
        a.purge_finished_jobs(now - Duration::seconds(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        a.purge_finished_jobs(now + Duration::seconds(1))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        a.jobs(None, None, 10).await.unwrap().len(),
        1,
        "the queued one stays"
    );
}

#[tokio::test]
async fn a_panicking_job_is_recorded_and_the_worker_goes_on() {
    let db = TestDb::new().await;
    let store = store::connect(db.url()).await.unwrap();
    let app = App::simulated(store.clone());
    let worker = Worker::new(app, registry());
    let now = now_micros();
    let boom = jobs::enqueue(
        store.as_ref(),
        &Panics {
            label: "boom".into(),
        },
        now,
        None,
    )
    .await
    .unwrap()
    .unwrap();
    let fine = enqueue_record(store.as_ref(), "after-boom", now).await;

    assert_eq!(worker.run_once_at(now).await.unwrap(), 2);
    let boom_job = store.job(boom).await.unwrap().unwrap();
    assert_eq!(
        boom_job.status,
        JobStatus::Queued,
        "a try failed; it will retry"
    );
    assert!(
        boom_job
            .last_error
            .as_deref()
            .unwrap()
            .contains("panicked: boom")
    );
    let fine_job = store.job(fine).await.unwrap().unwrap();
    assert_eq!(fine_job.status, JobStatus::Done);
    assert_eq!(fine_job.result.as_deref(), Some("{\"recorded\":true}"));
    assert_eq!(fine_job.progress.as_deref(), Some("{\"step\":1}"));
    assert_eq!(runs_of("after-boom"), 1);

    // Its last try spent, it fails for good.
    let later = now + Duration::hours(1);
    assert_eq!(worker.run_once_at(later).await.unwrap(), 1);
    let boom_job = store.job(boom).await.unwrap().unwrap();
    assert_eq!(boom_job.status, JobStatus::Failed);
    assert!(
        boom_job
            .last_error
            .unwrap()
            .starts_with("gave up after 2 tries")
    );
    assert_eq!(
        worker
            .run_once_at(later + Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(runs_of("boom"), 2);
}

#[tokio::test]
async fn a_long_job_does_not_hold_back_the_outcome_of_the_others_in_its_batch() {
    let db = TestDb::new().await;
    let store = store::connect(db.url()).await.unwrap();
    let registry = Arc::new(Registry::new().register::<Record>().register::<Slow>());
    let worker = Worker::new(App::simulated(store.clone()), registry);
    let now = now_micros();
    let slow = jobs::enqueue(store.as_ref(), &Slow {}, now, None)
        .await
        .unwrap()
        .unwrap();
    let quick = enqueue_record(store.as_ref(), "beside-slow", now).await;
    let running = tokio::spawn(async move { worker.run_once_at(now).await });

    // Wait (bounded) for the quick job's outcome while the slow one still runs.
    let mut done = false;
    for _ in 0..200 {
        if store.job(quick).await.unwrap().unwrap().status == JobStatus::Done {
            done = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    assert!(
        done,
        "the quick job's outcome is recorded while the slow one runs"
    );
    assert_eq!(
        store.job(slow).await.unwrap().unwrap().status,
        JobStatus::Running
    );

    RELEASE_SLOW.notify_one();
    assert_eq!(running.await.unwrap().unwrap(), 2);
    assert_eq!(
        store.job(slow).await.unwrap().unwrap().status,
        JobStatus::Done
    );
}

#[tokio::test]
async fn a_payload_that_no_longer_parses_fails_at_once() {
    let db = TestDb::new().await;
    let store = store::connect(db.url()).await.unwrap();
    let worker = Worker::new(App::simulated(store.clone()), registry());
    let now = now_micros();
    let old = store
        .enqueue_job(
            &NewJob {
                kind: "test.record".into(),
                payload: "{\"name\":\"an older shape\"}".into(),
                due_at: now,
                max_attempts: 5,
                dedupe_key: None,
            },
            now,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(worker.run_once_at(now).await.unwrap(), 1);
    let job = store.job(old).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.attempts, 1, "never retried");
    assert!(
        job.last_error
            .unwrap()
            .contains("does not parse as a test.record job")
    );
    assert_eq!(
        worker.run_once_at(now + Duration::hours(1)).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn a_periodic_job_runs_once_per_period_across_two_processes() {
    let (_db, a, b) = two_processes().await;
    let label = format!("periodic-{}", uuid::Uuid::new_v4());
    let period = StdDuration::from_secs(60);
    let periodic = || {
        Arc::new(Registry::new().every(
            period,
            Record {
                label: label.clone(),
            },
        ))
    };
    let (reg_a, reg_b) = (periodic(), periodic());
    let workers = [
        Worker::new(App::simulated(a.clone()), reg_a.clone()),
        Worker::new(App::simulated(b.clone()), reg_b.clone()),
    ];
    let t0 = jobs::schedule::period_start(period, now_micros());
    // Three periods; in each, both processes enqueue at several moments (as a restart
    // would), and both workers run.
    for p in 0..3 {
        for s in [1, 20, 59] {
            let now = t0 + Duration::seconds(60 * p + s);
            jobs::schedule::enqueue_periodic(a.as_ref(), &reg_a, now)
                .await
                .unwrap();
            jobs::schedule::enqueue_periodic(b.as_ref(), &reg_b, now)
                .await
                .unwrap();
            for w in &workers {
                w.run_once_at(now).await.unwrap();
            }
        }
        assert_eq!(runs_of(&label), p as usize + 1, "period {p}");
    }
    let all = a.jobs(Some("test.record"), None, 10).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|j| j.status == JobStatus::Done));
}

#[tokio::test]
async fn a_message_and_its_sending_job_are_written_together() {
    let db = TestDb::new().await;
    let store = store::connect(db.url()).await.unwrap();
    let message = proxycall::store::NewOutbound {
        kind: proxycall::store::OutboundKind::Sms,
        purpose: "test",
        from: proxycall::domain::E164::parse("+33780000001").unwrap(),
        to: proxycall::domain::E164::parse("+33612345678").unwrap(),
        body: Some("Bonjour".into()),
        url: None,
        dedupe_key: Some("m1".into()),
        relay: None,
    };
    let now = now_micros();
    let at = now + Duration::seconds(90);
    let id = store.enqueue_at(&message, at, now).await.unwrap().unwrap();
    assert_eq!(store.enqueue(&message, now).await.unwrap(), None);
    let sends = store
        .jobs(Some(proxycall::store::SEND_JOB_KIND), None, 10)
        .await
        .unwrap();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].due_at, at);
    assert_eq!(sends[0].payload, format!("{{\"outbound_id\":{id}}}"));
}

#[tokio::test]
async fn a_failed_code_text_loses_its_words_and_a_failed_relay_keeps_them() {
    let db = TestDb::new().await;
    let store = store::connect(db.url()).await.unwrap();
    let now = now_micros();
    let mut ids = Vec::new();
    for purpose in ["otp", "otp_link", "relay"] {
        let message = proxycall::store::NewOutbound {
            kind: proxycall::store::OutboundKind::Sms,
            purpose,
            from: proxycall::domain::E164::parse("+33780000001").unwrap(),
            to: proxycall::domain::E164::parse("+33612345678").unwrap(),
            body: Some("ProxyCall - Code de confirmation: 482913".into()),
            url: None,
            dedupe_key: None,
            relay: None,
        };
        let id = store.enqueue_at(&message, now, now).await.unwrap().unwrap();
        store
            .outbound_failed(
                id,
                "refused",
                false,
                Some(&proxycall::store::Bounce { body: "bounce" }),
                now,
            )
            .await
            .unwrap();
        ids.push(id);
    }
    let bodies: Vec<Option<String>> =
        futures_util::future::join_all(ids.iter().map(|id| store.outbound_message(*id)))
            .await
            .into_iter()
            .map(|m| m.unwrap().unwrap().body)
            .collect();
    assert_eq!(bodies[0], None, "a code is a credential");
    assert_eq!(bodies[1], None, "so is a link");
    assert!(bodies[2].is_some(), "a relay may be requeued");
}

#[tokio::test]
async fn the_simulated_carriers_inventory_survives_a_restart() {
    use proxycall::carrier::simulated::SimulatedCarrier;
    use proxycall::carrier::{Carrier, Purchase, WebhookUpdate};

    let (_db, a, b) = two_processes().await;
    let before = SimulatedCarrier::new(a);
    let purchase = Purchase {
        phone_number: proxycall::domain::E164::parse("+33780000042").unwrap(),
        voice_url: "https://example.com/twilio/voice".into(),
        sms_url: "https://example.com/twilio/sms".into(),
        friendly_name: "Pool-FR-1".into(),
        address_sid: None,
        bundle_sid: None,
    };
    let bought = before.buy_number(&purchase).await.unwrap();
    assert!(before.buy_number(&purchase).await.is_err(), "rented once");

    // Another process, or the same one restarted, sees what was bought.
    let after = SimulatedCarrier::new(b);
    let owned = after.incoming_numbers().await.unwrap();
    assert_eq!(owned, vec![bought.clone()]);
    assert_eq!(owned[0].voice_method.as_deref(), Some("POST"));
    let update = WebhookUpdate {
        voice_url: Some("https://new.example.com/twilio/voice".into()),
        ..Default::default()
    };
    let updated = after.update_number(&bought.sid, &update).await.unwrap();
    assert_eq!(updated.voice_url, update.voice_url);
    assert_eq!(updated.sms_url, bought.sms_url);
    after.release_number(&bought.sid).await.unwrap();
    assert!(before.incoming_numbers().await.unwrap().is_empty());
    assert!(after.release_number(&bought.sid).await.is_err());
}

#[tokio::test]
async fn a_worker_whose_claim_ran_out_cannot_undo_the_next_try() {
    let (_db, a, _b) = two_processes().await;
    let now = now_micros();
    let id = add(a.as_ref(), "k", now).await;
    a.claim_jobs(&["k"], now, now + Duration::seconds(60), 1)
        .await
        .unwrap();
    // Worker A is slow: its lease runs out, the job is queued again and B takes it.
    let later = now + Duration::seconds(61);
    a.expire_job_leases(later, &["k"], &[]).await.unwrap();
    let second = a
        .claim_jobs(&["k"], later, later + Duration::seconds(60), 1)
        .await
        .unwrap();
    assert_eq!(second[0].attempts, 2);
    // A finishes at last: its outcome and progress are for try 1, and change nothing.
    a.job_progress(id, 1, "{\"a\":1}", later + Duration::seconds(600), later)
        .await
        .unwrap();
    a.finish_jobs(
        &[JobOutcome {
            id,
            attempt: 1,
            end: JobEnd::Done { result: None },
        }],
        later,
    )
    .await
    .unwrap();
    let job = a.job(id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Running, "B's try goes on");
    assert_eq!(job.progress, None);
    a.finish_jobs(
        &[JobOutcome {
            id,
            attempt: 2,
            end: JobEnd::Done { result: None },
        }],
        later,
    )
    .await
    .unwrap();
    assert_eq!(a.job(id).await.unwrap().unwrap().status, JobStatus::Done);
}

#[tokio::test]
async fn a_lease_check_leaves_unknown_kinds_alone_and_fails_jobs_out_of_tries() {
    let (_db, a, _b) = two_processes().await;
    let now = now_micros();
    let mut last_try = job("k", now, None);
    last_try.max_attempts = 1;
    let spent = a.enqueue_job(&last_try, now).await.unwrap().unwrap();
    let foreign = add(a.as_ref(), "newer.kind", now).await;
    // A newer binary claimed its own kind; this one claimed `k`.
    a.claim_jobs(&["k", "newer.kind"], now, now + Duration::seconds(60), 8)
        .await
        .unwrap();
    let expired = a
        .expire_job_leases(now + Duration::seconds(61), &["k"], &[])
        .await
        .unwrap();
    assert_eq!((expired.requeued, expired.failed), (0, 1));
    assert_eq!(
        a.job(spent).await.unwrap().unwrap().status,
        JobStatus::Failed
    );
    assert_eq!(
        a.job(foreign).await.unwrap().unwrap().status,
        JobStatus::Running,
        "only a binary that knows the kind knows whether it may run twice"
    );
}

#[tokio::test]
async fn an_upgrade_gives_waiting_messages_their_jobs_and_fails_those_caught_mid_send() {
    let db = TestDb::new().await;
    // The release before durable jobs: its two migrations, and its outbox rows.
    store::open(db.url(), store::Migrations::UpTo(2))
        .await
        .unwrap();
    // As sqlx writes a time on SQLite; PostgreSQL reads the same text as a timestamptz.
    let at = "2026-11-30T10:00:00+00:00";
    for (key, status, attempts) in [("waiting", "pending", 2), ("caught", "sending", 1)] {
        db.exec(&format!(
            "insert into outbound_messages (kind, purpose, from_number, to_number, body, \
             dedupe_key, status, attempts, next_attempt_at, locked_until, created_at, updated_at) \
             values ('sms', 'relay', '+33780000001', '+33612345678', 'Bonjour', '{key}', \
             '{status}', {attempts}, '{at}', '{at}', '{at}', '{at}')"
        ))
        .await;
    }
    let store = store::connect(db.url()).await.unwrap();
    let messages = store.outbound_messages(10).await.unwrap();
    let by = |status: &str| {
        messages
            .iter()
            .find(|m| m.status == status)
            .unwrap()
            .clone()
    };
    let caught = by("failed");
    assert!(caught.body.is_none());
    assert!(caught.last_error.unwrap().contains("never sent twice"));
    // It was tried twice, and that version retried time-outs after which Twilio may have
    // taken it: in doubt (settled before any resend, migration 0006), with its job.
    let waiting = by("sending");
    assert_eq!(
        waiting.body.as_deref(),
        Some("Bonjour"),
        "kept to settle it"
    );
    let jobs = store
        .jobs(Some(proxycall::store::SEND_JOB_KIND), None, 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "only the waiting message gets a job");
    assert_eq!(
        jobs[0].payload,
        format!("{{\"outbound_id\":{}}}", waiting.id)
    );
    assert_eq!(jobs[0].attempts, 2, "its tries so far count");
    assert_eq!(jobs[0].status, JobStatus::Queued);
}

/// The simulated carrier, after which the database loses the outbox for a moment: the send
/// happened, its outcome cannot be recorded (the jobs table stays).
struct OutcomeLost {
    inner: proxycall::carrier::simulated::SimulatedCarrier,
    db_url: String,
}

impl OutcomeLost {
    async fn hide_outbox(&self) {
        test_db::exec_on(
            &self.db_url,
            "alter table outbound_messages rename to outbound_messages_away",
        )
        .await;
    }
}

#[async_trait::async_trait]
impl proxycall::carrier::Carrier for OutcomeLost {
    fn name(&self) -> &'static str {
        "simulated"
    }
    async fn send_sms(
        &self,
        from: &proxycall::domain::E164,
        to: &proxycall::domain::E164,
        body: &str,
        callback: Option<&str>,
    ) -> proxycall::carrier::CarrierResult<String> {
        let sid = self.inner.send_sms(from, to, body, callback).await?;
        self.hide_outbox().await;
        Ok(sid)
    }
    async fn send_mms(
        &self,
        from: &proxycall::domain::E164,
        to: &proxycall::domain::E164,
        body: &str,
        media: &[proxycall::domain::MediaUrl],
        callback: Option<&str>,
    ) -> proxycall::carrier::CarrierResult<String> {
        let sid = self.inner.send_mms(from, to, body, media, callback).await?;
        self.hide_outbox().await;
        Ok(sid)
    }
    async fn place_call(
        &self,
        from: &proxycall::domain::E164,
        to: &proxycall::domain::E164,
        url: &str,
        callback: Option<&str>,
    ) -> proxycall::carrier::CarrierResult<String> {
        self.inner.place_call(from, to, url, callback).await
    }
    async fn sent_messages(
        &self,
        from: &proxycall::domain::E164,
        to: &proxycall::domain::E164,
        since: chrono::DateTime<chrono::Utc>,
    ) -> proxycall::carrier::CarrierResult<Vec<proxycall::carrier::SentMessage>> {
        self.inner.sent_messages(from, to, since).await
    }
    async fn search_numbers(
        &self,
        s: &proxycall::carrier::NumberSearch,
    ) -> proxycall::carrier::CarrierResult<Vec<proxycall::carrier::AvailableNumber>> {
        self.inner.search_numbers(s).await
    }
    async fn buy_number(
        &self,
        p: &proxycall::carrier::Purchase,
    ) -> proxycall::carrier::CarrierResult<proxycall::carrier::IncomingNumber> {
        self.inner.buy_number(p).await
    }
    async fn incoming_numbers(
        &self,
    ) -> proxycall::carrier::CarrierResult<Vec<proxycall::carrier::IncomingNumber>> {
        self.inner.incoming_numbers().await
    }
    async fn incoming_numbers_of_type(
        &self,
        t: proxycall::domain::NumberType,
    ) -> proxycall::carrier::CarrierResult<Vec<proxycall::carrier::IncomingNumber>> {
        self.inner.incoming_numbers_of_type(t).await
    }
    async fn update_number(
        &self,
        sid: &str,
        u: &proxycall::carrier::WebhookUpdate,
    ) -> proxycall::carrier::CarrierResult<proxycall::carrier::IncomingNumber> {
        self.inner.update_number(sid, u).await
    }
    async fn release_number(&self, sid: &str) -> proxycall::carrier::CarrierResult<()> {
        self.inner.release_number(sid).await
    }
    async fn account(&self) -> proxycall::carrier::CarrierResult<proxycall::carrier::Account> {
        self.inner.account().await
    }
    async fn recording_audio(&self, sid: &str) -> proxycall::carrier::CarrierResult<Vec<u8>> {
        self.inner.recording_audio(sid).await
    }
    async fn delete_recording(&self, sid: &str) -> proxycall::carrier::CarrierResult<()> {
        self.inner.delete_recording(sid).await
    }
}

#[tokio::test]
async fn a_send_whose_outcome_cannot_be_recorded_is_recorded_later_never_sent_again() {
    let db = TestDb::new().await;
    let store = store::connect(db.url()).await.unwrap();
    let carrier = OutcomeLost {
        inner: proxycall::carrier::simulated::SimulatedCarrier::new(store.clone()),
        db_url: db.url().to_owned(),
    };
    let app = App::new(store.clone(), Arc::new(carrier));
    let worker = Worker::new(app, Arc::new(jobs::registry(90)));
    let message = proxycall::store::NewOutbound {
        kind: proxycall::store::OutboundKind::Sms,
        purpose: "test",
        from: proxycall::domain::E164::parse("+33780000001").unwrap(),
        to: proxycall::domain::E164::parse("+33612345678").unwrap(),
        body: Some("Bonjour".into()),
        url: None,
        dedupe_key: Some("lost".into()),
        relay: None,
    };
    let now = now_micros();
    store.enqueue(&message, now).await.unwrap().unwrap();

    worker.run_once_at(now).await.unwrap();
    db.exec("alter table outbound_messages_away rename to outbound_messages")
        .await;
    let send = &store
        .jobs(Some(proxycall::store::SEND_JOB_KIND), None, 1)
        .await
        .unwrap()[0];
    assert_eq!(send.status, JobStatus::Queued, "the recording is retried");
    assert!(
        send.last_error
            .as_deref()
            .unwrap()
            .contains("the recording is retried, not the send"),
        "{send:?}"
    );
    let stored = &store.outbound_messages(1).await.unwrap()[0];
    assert_eq!(stored.status, "sending", "never failed");

    // The next try records what the carrier answered, and sends nothing.
    let later = now + Duration::hours(3);
    worker.run_once_at(later).await.unwrap();
    worker.check_leases(later).await.unwrap();
    let to = proxycall::domain::E164::parse("+33612345678").unwrap();
    let delivered = store.simulated_deliveries(Some(&to), 10).await.unwrap();
    assert_eq!(delivered.len(), 1, "sent once");
    let stored = &store.outbound_messages(1).await.unwrap()[0];
    assert_eq!(stored.status, "sent");
    assert_eq!(
        stored.twilio_sid.as_deref(),
        Some(delivered[0].sid.as_str())
    );
    assert!(stored.body.is_none(), "its text is erased once sent");
}

#[tokio::test]
async fn an_upgrade_puts_messages_an_earlier_version_was_sending_in_doubt_and_runs_their_jobs() {
    let db = TestDb::new().await;
    // The release before sends recorded their start: its migrations, and its outbox.
    store::open(db.url(), store::Migrations::UpTo(5))
        .await
        .unwrap();
    // Enqueued as that version did: the message and its job (the columns it knew).
    let mut ids = Vec::new();
    // `retried`: that version tried it once, and retries a time-out or a 5xx after which
    // Twilio may have taken it.
    for key in ["waiting", "running", "died", "retried"] {
        let attempts = if key == "retried" { 1 } else { 0 };
        db.exec(&format!(
            "insert into outbound_messages (kind, purpose, from_number, to_number, body, \
             dedupe_key, status, attempts, created_at, updated_at) values ('sms', 'relay', \
             '+33780000001', '+33612345678', 'Bonjour', '{key}', 'pending', {attempts}, \
             '2026-11-30T10:00:00+00:00', '2026-11-30T10:00:00+00:00')"
        ))
        .await;
        let rows = db
            .text_columns(&format!(
                "select cast(id as text) as id from outbound_messages where dedupe_key = '{key}'"
            ))
            .await;
        let id: i64 = rows[0][0].1.as_deref().unwrap().parse().unwrap();
        let status = match key {
            "waiting" | "retried" => "queued",
            "running" => "running",
            _ => "failed",
        };
        db.exec(&format!(
            "insert into jobs (kind, payload, status, due_at, attempts, max_attempts, \
             dedupe_key, created_at, updated_at) values ('outbound.send', \
             '{{\"outbound_id\":{id}}}', '{status}', '2026-11-30T10:00:00+00:00', 1, 100, \
             'outbound:{id}', '2026-11-30T10:00:00+00:00', '2026-11-30T10:00:01+00:00')"
        ))
        .await;
        ids.push(id);
    }
    let store = store::connect(db.url()).await.unwrap();
    let by_id = |id: i64| {
        let store = store.clone();
        async move { store.outbound_message(id).await.unwrap().unwrap() }
    };
    let jobs = store
        .jobs(Some(proxycall::store::SEND_JOB_KIND), None, 10)
        .await
        .unwrap();
    let job_of = |id: i64| {
        jobs.iter()
            .find(|j| j.dedupe_key.as_deref() == Some(format!("outbound:{id}").as_str()))
            .unwrap()
            .clone()
    };

    let waiting = by_id(ids[0]).await;
    assert_eq!(waiting.status, "pending", "never began: simply sent");
    assert_eq!(
        job_of(ids[0]).max_attempts,
        10_000,
        "the horizon, not the cap, ends it"
    );
    for &id in &ids[1..] {
        let doubt = by_id(id).await;
        assert_eq!(doubt.status, "sending", "may have left: in doubt");
        assert!(doubt.send_started_at.is_some());
        assert_eq!(doubt.body.as_deref(), Some("Bonjour"), "kept to settle it");
    }
    assert_eq!(
        job_of(ids[1]).status,
        JobStatus::Running,
        "its worker may still finish"
    );
    let died = job_of(ids[2]);
    assert_eq!(died.status, JobStatus::Queued, "runs again, to settle it");
    assert!(died.finished_at.is_none());
    assert_eq!(
        job_of(ids[3]).status,
        JobStatus::Queued,
        "settles it when due"
    );
}

/// The routing engine's one read per batch: the proxies' clients, and which senders and which
/// of those clients' last callers are numbers of ours — in the pool (unless released) or some
/// client's proxy, even one the pool does not hold.
#[tokio::test]
async fn routing_facts_name_the_clients_and_our_numbers_among_the_senders() {
    use proxycall::domain::{ClientId, ClientName, CountryIso, E164, Email, NumberType};
    use proxycall::store::{NewClient, NewPoolNumber, ProxyPick};

    let db = TestDb::new().await;
    let store = store::connect(db.url()).await.unwrap();
    let n = |s: &str| E164::parse(s).unwrap();
    let fr = CountryIso::parse("FR").unwrap();
    for number in ["+33780000001", "+33780000002", "+33780000003"] {
        store
            .add_pool_number(&NewPoolNumber {
                phone_number: n(number),
                twilio_sid: None,
                country_iso: fr,
                number_type: NumberType::Mobile,
                voice_capable: true,
                sms_capable: true,
                friendly_name: None,
                purchased_at: Utc::now(),
            })
            .await
            .unwrap();
    }
    db.exec("update pool_numbers set status = 'released' where phone_number = '+33780000003'")
        .await;
    let client = store
        .insert_client(
            &NewClient {
                id: ClientId::new(1).unwrap(),
                name: ClientName::parse("Jeanne").unwrap(),
                mail: Email::parse("jeanne@example.com").unwrap(),
                real_phone: n("+33612345678"),
                iso_residency: Some(fr),
                country_code: Some("+33".into()),
            },
            Some(&ProxyPick {
                country: fr,
                types: vec![NumberType::Mobile],
                attribution_name: "Jeanne".into(),
                friendly_name: None,
            }),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client.proxy, Some(n("+33780000001")));
    // A proxy set by hand, which the pool does not hold.
    db.exec(
        "insert into clients (client_id, client_name, client_mail, client_real_phone, \
         client_proxy_number, created_at, updated_at) values (2, 'Paul', 'paul@example.com', \
         '+33611111111', '+33790000009', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')",
    )
    .await;

    let senders: Vec<E164> = [
        "+33780000001", // a client's proxy, in the pool
        "+33780000002", // available in the pool
        "+33780000003", // released: no longer ours
        "+33790000009", // a client's proxy outside the pool
        "+33698765432", // a courier
    ]
    .map(n)
    .to_vec();
    let since: chrono::DateTime<chrono::Utc> = "2023-12-01T00:00:00Z".parse().unwrap();
    let facts = store
        .routing_facts(&[n("+33780000001"), n("+33780000099")], &senders, since, 5)
        .await
        .unwrap();
    assert_eq!(facts.clients.len(), 1);
    assert_eq!(facts.clients[0].id.get(), 1);
    let mut ours: Vec<&str> = facts.ours.iter().map(E164::as_str).collect();
    ours.sort();
    ours.dedup();
    assert_eq!(ours, ["+33780000001", "+33780000002", "+33790000009"]);

    // Each half alone, and nothing at all.
    let only_proxies = store
        .routing_facts(&[n("+33790000009")], &[], since, 5)
        .await
        .unwrap();
    assert_eq!(only_proxies.clients[0].id.get(), 2);
    assert!(only_proxies.ours.is_empty());
    let only_senders = store.routing_facts(&[], &senders, since, 5).await.unwrap();
    assert!(only_senders.clients.is_empty());
    assert_eq!(only_senders.ours.len(), facts.ours.len());
    let nothing = store.routing_facts(&[], &[], since, 5).await.unwrap();
    assert!(nothing.clients.is_empty() && nothing.ours.is_empty());

    // The recent contacts of the clients read are checked too, senders or not: one that
    // became ours since must never be dialled or texted.
    let contact = |client: i64, number: &'static str| {
        let db = &db;
        async move {
            db.exec(&format!("delete from contacts where client_id = {client}"))
                .await;
            db.exec(&format!(
                "insert into contacts (client_id, number, last_at) \
                 values ({client}, '{number}', '2024-01-01T00:00:00Z')"
            ))
            .await;
        }
    };
    let ours_of = |facts: proxycall::store::RoutingFacts| {
        let mut ours: Vec<String> = facts.ours.iter().map(|n| n.as_str().to_owned()).collect();
        ours.sort();
        ours.dedup();
        ours
    };
    contact(1, "+33780000002").await;
    contact(2, "+33780000001").await;
    let both = store
        .routing_facts(
            &[n("+33780000001"), n("+33790000009")],
            &[n("+33698765432")],
            since,
            5,
        )
        .await
        .unwrap();
    assert_eq!(both.clients.len(), 2);
    assert_eq!(
        ours_of(both),
        ["+33780000001", "+33780000002"],
        "a pool number, and another client's proxy"
    );
    let one = store
        .routing_facts(&[n("+33790000009")], &[], since, 5)
        .await
        .unwrap();
    assert_eq!(ours_of(one), ["+33780000001"], "only the clients read");
    // A proxy outside the pool; a released number; a courier.
    contact(1, "+33790000009").await;
    contact(2, "+33780000003").await;
    let outside = store
        .routing_facts(&[n("+33780000001")], &[], since, 5)
        .await
        .unwrap();
    assert_eq!(ours_of(outside), ["+33790000009"]);
    let released = store
        .routing_facts(&[n("+33790000009")], &[], since, 5)
        .await
        .unwrap();
    assert!(released.ours.is_empty(), "released: no longer ours");
    contact(1, "+33698765432").await;
    let courier = store
        .routing_facts(&[n("+33780000001")], &[], since, 5)
        .await
        .unwrap();
    assert!(courier.ours.is_empty());

    // A client row that no longer parses fails the read that includes it.
    db.exec("update clients set client_mail = 'not an address' where client_id = 2")
        .await;
    assert!(
        store
            .routing_facts(&[n("+33780000001"), n("+33790000009")], &[], since, 5)
            .await
            .is_err()
    );
}

/// A client with many correspondents: routing reads its `most` newest in the window (whom
/// it may reach), and the senders of the batch however old (a block lasts), nothing else.
#[tokio::test]
async fn routing_facts_read_a_clients_newest_contacts_and_the_senders_only() {
    use proxycall::domain::E164;

    let db = TestDb::new().await;
    let store = store::connect(db.url()).await.unwrap();
    let n = |s: &str| E164::parse(s).unwrap();
    db.exec(
        "insert into clients (client_id, client_name, client_mail, client_real_phone, \
         client_proxy_number, created_at, updated_at) values (1, 'Paul', 'paul@example.com', \
         '+33611111111', '+33790000009', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')",
    )
    .await;
    // Twenty correspondents, one a minute, the newest last; and one blocked a year before.
    for i in 0..20 {
        db.exec(&format!(
            "insert into contacts (client_id, number, last_at) \
             values (1, '+336980000{i:02}', '2024-06-01T10:{i:02}:00Z')"
        ))
        .await;
    }
    db.exec(
        "insert into contacts (client_id, number, last_at, blocked_at) \
         values (1, '+33698999999', '2023-06-01T10:00:00Z', '2023-06-01T10:00:00Z')",
    )
    .await;
    let since: chrono::DateTime<chrono::Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
    let numbers = |facts: &proxycall::store::RoutingFacts| {
        let mut got: Vec<String> = facts
            .contacts
            .iter()
            .map(|c| c.number.as_str().to_owned())
            .collect();
        got.sort();
        got
    };

    let facts = store
        .routing_facts(&[n("+33790000009")], &[], since, 5)
        .await
        .unwrap();
    assert_eq!(
        numbers(&facts),
        [
            "+33698000015",
            "+33698000016",
            "+33698000017",
            "+33698000018",
            "+33698000019"
        ]
    );
    // Senders are read whatever their age: an older contact, the blocked one, and one of the
    // newest (read once).
    let senders = [n("+33698000003"), n("+33698999999"), n("+33698000019")];
    let facts = store
        .routing_facts(&[n("+33790000009")], &senders, since, 5)
        .await
        .unwrap();
    assert_eq!(
        numbers(&facts),
        [
            "+33698000003",
            "+33698000015",
            "+33698000016",
            "+33698000017",
            "+33698000018",
            "+33698000019",
            "+33698999999"
        ]
    );
    assert!(
        facts
            .contacts
            .iter()
            .any(|c| c.number.as_str() == "+33698999999" && c.blocked_at.is_some())
    );
}

#[tokio::test]
async fn the_missing_status_keeps_every_pool_column_and_index_of_earlier_versions() {
    let db = TestDb::new().await;
    // The release before `missing`: a pool row with every column added since the table was
    // made (owner 0004, released_at 0010, cooloff_until 0011).
    store::open(db.url(), store::Migrations::UpTo(11))
        .await
        .unwrap();
    let at = "2026-11-30T10:00:00+00:00";
    db.exec(&format!(
        "insert into pool_numbers (phone_number, twilio_sid, country_iso, number_type, \
         voice_capable, sms_capable, status, friendly_name, purchased_at, assigned_at, \
         attribution_to_client_name, reserved_token, reserved_at, reserved_by_client_id, \
         owner_client_id, released_at, cooloff_until) values ('+33780000001', 'PN1', 'FR', \
         'mobile', true, false, 'draining', 'Pool-FR-1', '{at}', '{at}', 'Ana', 'tok', '{at}', \
         3, 4, '{at}', '{at}')"
    ))
    .await;
    let id_before = db
        .text_columns("select cast(id as text) as id from pool_numbers")
        .await[0][0]
        .1
        .clone();
    let store = store::connect(db.url()).await.unwrap();
    let number = proxycall::domain::E164::parse("+33780000001").unwrap();
    let kept = db
        .text_columns(
            "select cast(id as text) as id, twilio_sid, friendly_name, \
             attribution_to_client_name, reserved_token, \
             cast(reserved_by_client_id as text) as reserved_by, \
             cast(owner_client_id as text) as owner, \
             case when released_at is null then 'null' else 'set' end as released, \
             case when cooloff_until is null then 'null' else 'set' end as cooloff \
             from pool_numbers",
        )
        .await;
    let values: Vec<Option<String>> = kept[0].iter().map(|(_, v)| v.clone()).collect();
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        values,
        [
            id_before,
            some("PN1"),
            some("Pool-FR-1"),
            some("Ana"),
            some("tok"),
            some("3"),
            some("4"),
            some("set"),
            some("set"),
        ]
    );
    // The picking index is there again.
    let index = if db.url().starts_with("postgres") {
        "select indexname as name from pg_indexes where tablename = 'pool_numbers' \
         and indexname = 'pool_pick_idx'"
    } else {
        "select name from sqlite_master where type = 'index' and name = 'pool_pick_idx'"
    };
    assert_eq!(db.text_columns(index).await.len(), 1);
    // `missing` is a status now, and the others still are.
    assert!(store.flag_missing(&number).await.unwrap());
    let flagged = store.pool_number(&number).await.unwrap().unwrap();
    assert_eq!(flagged.status.as_str(), "missing");
    assert_eq!(flagged.holder().map(|c| c.get()), Some(4));
    // Client 4 does not have it as their proxy: restored, it is free.
    let restored = store.restore_missing(&number).await.unwrap().unwrap();
    assert_eq!(restored.status.as_str(), "available");
    assert_eq!(restored.owner_client_id, None);
    assert!(store.restore_missing(&number).await.unwrap().is_none());
}

fn outbound_text(i: usize) -> store::NewOutbound {
    store::NewOutbound {
        kind: store::OutboundKind::Sms,
        purpose: "relay",
        from: proxycall::domain::E164::parse("+33780000001").unwrap(),
        to: proxycall::domain::E164::parse(&format!("+33612000{i:03}")).unwrap(),
        body: Some(format!("Texte {i}")),
        url: None,
        dedupe_key: Some(format!("t:{i}")),
        relay: None,
    }
}

#[tokio::test]
async fn a_batch_of_sends_is_begun_and_recorded_with_its_jobs_in_one_go_by_the_try_running() {
    let (_db, a, b) = two_processes().await;
    let now = now_micros();
    for i in 0..3 {
        a.enqueue(&outbound_text(i), now).await.unwrap().unwrap();
    }
    let jobs = a
        .claim_jobs(
            &[store::SEND_JOB_KIND],
            now,
            now + Duration::seconds(60),
            10,
        )
        .await
        .unwrap();
    assert_eq!(jobs.len(), 3);
    let ids: Vec<i64> = jobs
        .iter()
        .map(|j| {
            serde_json::from_str::<serde_json::Value>(&j.payload).unwrap()["outbound_id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    let sends: Vec<(i64, i64)> = ids.iter().map(|&id| (id, 1)).collect();
    let begun = a.outbound_begin_sends(&sends, now).await.unwrap();
    assert_eq!(begun.len(), 3);
    assert!(
        begun
            .iter()
            .all(|m| m.status == "sending" && m.attempts == 1)
    );
    assert!(
        b.outbound_begin_sends(&sends, now)
            .await
            .unwrap()
            .is_empty(),
        "another process begins none of them again"
    );
    assert!(a.sends_withheld(&ids).await.unwrap().is_empty());

    // The first was recorded by its status callback meanwhile; the third's job ran out of
    // lease and was claimed again (its outcome here is a stale try's).
    a.outbound_callback(ids[0], "SMcb", "sent", None, now)
        .await
        .unwrap();
    let done = |job: &proxycall::store::Job| JobOutcome {
        id: job.id,
        attempt: job.attempts,
        end: JobEnd::Done { result: None },
    };
    let mut stale = done(&jobs[2]);
    stale.attempt = 0;
    let sent = vec![(ids[0], "SM0".to_owned()), (ids[1], "SM1".to_owned())];
    let first = b
        .outbound_sent_finish(&sent, &[done(&jobs[0]), done(&jobs[1]), stale], now)
        .await
        .unwrap();

    assert_eq!(first, vec![ids[0]], "the callback's recording stands");
    let m0 = a.outbound_message(ids[0]).await.unwrap().unwrap();
    assert_eq!(m0.twilio_sid.as_deref(), Some("SMcb"));
    let m1 = a.outbound_message(ids[1]).await.unwrap().unwrap();
    assert_eq!(
        (m1.status, m1.twilio_sid.as_deref()),
        (store::OutboundStatus::Sent, Some("SM1"))
    );
    assert!(m1.body.is_none(), "its text erased");
    assert_eq!(
        a.job(jobs[0].id).await.unwrap().unwrap().status,
        JobStatus::Done
    );
    assert_eq!(
        a.job(jobs[1].id).await.unwrap().unwrap().status,
        JobStatus::Done
    );
    assert_eq!(
        a.job(jobs[2].id).await.unwrap().unwrap().status,
        JobStatus::Running,
        "a stale try changes nothing"
    );
}
