//! The worker: claims due jobs of the kinds it knows, runs them, records what became of them.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use tokio::sync::watch;
use tracing::Instrument;

use super::{JobContext, JobError, Registry, backoff, schedule};
use crate::app::App;
use crate::store::{Job, JobEnd, JobOutcome, StoreResult};

/// Longer than the carrier client's own time-out, so a live worker never loses its claim; a
/// long job keeps it by reporting progress.
const LEASE: Duration = Duration::from_secs(60);
/// Jobs one worker takes at a time; they run concurrently. Each send holds a database
/// connection at a time: four workers of four leave PostgreSQL's pool (16) room for the
/// routing engine, which webhooks wait on (eight each starved it: relays at 1 000/s fell
/// behind).
const BATCH: i64 = 4;
/// How often an idle worker looks for due jobs without being woken.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How often a worker looks for jobs whose process died: leases last a minute.
const LEASE_CHECK: Duration = Duration::from_secs(30);

pub(super) fn lease() -> chrono::Duration {
    chrono::Duration::from_std(LEASE).expect("a minute fits")
}

#[derive(Clone)]
pub struct Worker {
    app: App,
    registry: Arc<Registry>,
}

impl Worker {
    pub fn new(app: App, registry: Arc<Registry>) -> Self {
        Self { app, registry }
    }

    /// Claims one batch of due jobs and runs them. Returns how many it handled: 0 when
    /// nothing is due.
    pub async fn run_once(&self) -> StoreResult<usize> {
        self.run_once_at(Utc::now()).await
    }

    /// `run_once` as if it were `now`: tests use it to reach a retry's time.
    pub async fn run_once_at(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let kinds = self.registry.kinds();
        let claimed = self
            .app
            .store
            .claim_jobs(&kinds, now, now + lease(), BATCH)
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        // The batch's jobs overlap (each waits on its own I/O). Outcomes are recorded as jobs
        // end, those that end together in one commit: a long job does not hold back the
        // others' (their leases would run out meanwhile).
        // Each job is a task of its own, so that one waiting for the database never waits on
        // another that this loop is not polling.
        let handled = claimed.len();
        let mut running = tokio::task::JoinSet::new();
        for job in claimed {
            let worker = self.clone();
            // Every line a job logs names it, and — for work an API key asked for (a pool
            // operation's `requested_by`) — that key, as the request's lines do.
            let key_id = serde_json::from_str::<serde_json::Value>(&job.payload)
                .ok()
                .and_then(|p| p.get("requested_by")?.as_str().map(str::to_owned));
            let span = tracing::info_span!(
                "job",
                job_id = job.id,
                kind = %job.kind,
                key_id = key_id.as_deref().unwrap_or("-"),
            );
            running.spawn(
                async move {
                    let outcome = worker.run_job(&job, now).await;
                    (job, outcome)
                }
                .instrument(span),
            );
        }
        // A failure to record does not cut the others short: a send is never dropped
        // half-way. The job whose outcome was not recorded is found by the lease check.
        let mut unrecorded = None;
        while let Some(first) = running.join_next().await {
            let mut ended = vec![first];
            while let Some(more) = running.try_join_next() {
                ended.push(more);
            }
            let ended: Vec<(Job, JobOutcome)> = ended
                .into_iter()
                .filter_map(|r| {
                    r.inspect_err(|e| tracing::error!(error = %e, "job task lost"))
                        .ok()
                })
                .collect();
            let outcomes: Vec<JobOutcome> = ended.iter().map(|(_, o)| o.clone()).collect();
            match self.app.store.finish_jobs(&outcomes, Utc::now()).await {
                Ok(()) => ended.iter().for_each(|(job, outcome)| report(job, outcome)),
                Err(e) => unrecorded = Some(e),
            }
        }
        if let Some(e) = unrecorded {
            return Err(e);
        }
        Ok(handled)
    }

    async fn run_job(&self, job: &Job, now: DateTime<Utc>) -> JobOutcome {
        let ctx = JobContext {
            app: self.app.clone(),
            job_id: job.id,
            attempt: job.attempts,
            now,
        };
        let run = self.registry.run(&job.kind, ctx, &job.payload);
        // A panic is one failed try of this job; the worker goes on with the others. A job
        // that must not run twice may have had its effect before it panicked: it fails.
        let outcome = match AssertUnwindSafe(run).catch_unwind().await {
            Ok(outcome) => outcome,
            Err(panic) if self.registry.is_at_most_once(&job.kind) => Err(JobError::Fail(format!(
                "panicked: {}; not run again, as it may have had its effect",
                panic_text(&panic)
            ))),
            Err(panic) => Err(JobError::retry(format!("panicked: {}", panic_text(&panic)))),
        };
        let end = match outcome {
            Ok(result) => JobEnd::Done {
                result: result.map(|r| r.to_string()),
            },
            Err(JobError::Retry { error, at }) if job.attempts < job.max_attempts => {
                let due_at = at.unwrap_or_else(|| {
                    now + chrono::Duration::from_std(backoff(job.attempts)).unwrap_or_default()
                });
                JobEnd::Retry { error, due_at }
            }
            Err(JobError::Retry { error, .. }) => JobEnd::Failed {
                error: format!("gave up after {} tries: {error}", job.attempts),
            },
            Err(JobError::Fail(error)) => JobEnd::Failed { error },
        };
        JobOutcome {
            id: job.id,
            attempt: job.attempts,
            end,
        }
    }

    /// Jobs whose process died mid-run. (A send runs again: it settles a message it finds
    /// mid-send before anything is sent.)
    pub async fn check_leases(&self, now: DateTime<Utc>) -> StoreResult<()> {
        let store = &self.app.store;
        let expired = store
            .expire_job_leases(now, &self.registry.kinds(), &self.registry.at_most_once())
            .await?;
        if expired.requeued > 0 {
            tracing::warn!(count = expired.requeued, "interrupted jobs queued again");
        }
        if expired.failed > 0 {
            tracing::error!(
                count = expired.failed,
                "interrupted jobs failed: running them again could do them twice"
            );
        }
        Ok(())
    }

    /// Works until `shutdown` turns true: runs what is due, then sleeps until woken by a new
    /// job or the idle poll.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut leases_checked: Option<std::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            if leases_checked.is_none_or(|t| t.elapsed() >= LEASE_CHECK) {
                leases_checked = Some(std::time::Instant::now());
                if let Err(e) = self.check_leases(Utc::now()).await {
                    tracing::warn!(error = %e, "jobs: could not check leases");
                }
            }
            let handled = match self.run_once().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "jobs: store unavailable");
                    0
                }
            };
            if handled == 0 {
                tokio::select! {
                    () = self.app.job_wake.notified() => {}
                    () = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

/// One line and one count per run.
fn report(job: &Job, outcome: &JobOutcome) {
    let kind = job.kind.as_str();
    let label = match &outcome.end {
        JobEnd::Done { .. } => {
            tracing::debug!(job_id = job.id, kind, "job done");
            "done"
        }
        JobEnd::Retry { error, .. } => {
            tracing::warn!(job_id = job.id, kind, %error, attempts = job.attempts, "job failed; will retry");
            "retry"
        }
        JobEnd::Failed { error } => {
            tracing::error!(job_id = job.id, kind, %error, attempts = job.attempts, "job failed for good");
            "failed"
        }
    };
    metrics::counter!("job_runs_total", "kind" => kind.to_owned(), "outcome" => label).increment(1);
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs every job that is due (periodic ones included) until none is due or running, in any
/// process: what tests wait for instead of sleeping. Gives up after `limit` rounds.
pub async fn drain(app: &App, registry: &Arc<Registry>) -> StoreResult<usize> {
    let worker = Worker::new(app.clone(), registry.clone());
    schedule::enqueue_periodic(app.store.as_ref(), registry, Utc::now()).await?;
    let mut handled = 0;
    for _ in 0..10_000 {
        let n = worker.run_once().await?;
        handled += n;
        if n > 0 {
            continue;
        }
        let busy = app.store.busy_jobs(&registry.kinds(), Utc::now()).await? > 0;
        if !busy {
            return Ok(handled);
        }
        // Another worker holds a job: let it finish.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(handled)
}
