//! The worker: claims due jobs of the kinds it knows, runs them, records what became of them.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::{JobContext, JobError, Registry, backoff, schedule};
use crate::app::App;
use crate::outbox::{Prepared, SendOutbound, Sending};
use crate::store::{Job, JobEnd, JobOutcome, OutboundMessage, SEND_JOB_KIND, StoreResult};

/// Longer than the carrier client's own time-out, so a live worker never loses its claim; a
/// long job keeps it by reporting progress.
const LEASE: Duration = Duration::from_secs(60);
/// Jobs one claim takes at most: the statements that begin and end a claim's sends name each
/// of its jobs.
const CLAIM_MAX: usize = 256;
/// Jobs of a process that may use the database at any moment of their run: every one but a
/// send its claim began (whose statements are its batch's). Sixteen, as four workers of four
/// before: PostgreSQL's pool (16) keeps room for the routing engine, which webhooks wait on
/// (more starved it: relays at 1 000/s fell behind).
const DB_JOBS: usize = 16;
/// Once a job of a batch ended, how long it waits for others ending with it: their outcomes
/// share a commit (sends claimed together end together, a carrier's round trip later).
const GATHER: Duration = Duration::from_millis(2);
/// How often an idle worker looks for due jobs without being woken.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How often a worker looks for jobs whose process died: leases last a minute.
const LEASE_CHECK: Duration = Duration::from_secs(30);

pub(super) fn lease() -> chrono::Duration {
    chrono::Duration::from_std(LEASE).expect("a minute fits")
}

/// Runs jobs. Its clones share its limits: a process runs one, cloned for each of its
/// `PROXYCALL_JOB_WORKERS` claim loops.
#[derive(Clone)]
pub struct Worker {
    app: App,
    registry: Arc<Registry>,
    /// Jobs claimed and not yet recorded, this worker's clones' included:
    /// `PROXYCALL_SEND_CONCURRENCY` (sends mostly wait on the carrier, holding no connection).
    running: Arc<Semaphore>,
    /// See `DB_JOBS`.
    db_jobs: Arc<Semaphore>,
}

/// Jobs claimed together, each with its place among those running.
struct Batch {
    jobs: Vec<Job>,
    permits: Vec<OwnedSemaphorePermit>,
    /// Whether the claim took as many as it asked for: more may be due.
    full: bool,
}

/// A text or call the carrier took, to be recorded with its job's end.
struct Accepted {
    message: OutboundMessage,
    sid: String,
}

/// A job that ran.
struct Ended {
    job: Job,
    outcome: JobOutcome,
    accepted: Option<Accepted>,
    /// Released once its outcome is recorded.
    _permit: OwnedSemaphorePermit,
}

impl Worker {
    pub fn new(app: App, registry: Arc<Registry>) -> Self {
        let running = Arc::new(Semaphore::new(app.outbox.send_concurrency.max(1)));
        Self {
            app,
            registry,
            running,
            db_jobs: Arc::new(Semaphore::new(DB_JOBS)),
        }
    }

    /// Claims one batch of due jobs and runs them. Returns how many it handled: 0 when
    /// nothing is due.
    pub async fn run_once(&self) -> StoreResult<usize> {
        self.run_once_at(Utc::now()).await
    }

    /// `run_once` as if it were `now`: tests use it to reach a retry's time.
    pub async fn run_once_at(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let Some(batch) = self.claim(now).await? else {
            return Ok(0);
        };
        let handled = batch.jobs.len();
        self.run_batch(batch, now).await?;
        Ok(handled)
    }

    /// Claims as many due jobs as there is room for among those running (`CLAIM_MAX` at
    /// most). `None` when none is due, or there is no room.
    async fn claim(&self, now: DateTime<Utc>) -> StoreResult<Option<Batch>> {
        let mut permits = Vec::new();
        while permits.len() < CLAIM_MAX {
            match self.running.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        if permits.is_empty() {
            return Ok(None);
        }
        let asked = permits.len();
        let jobs = self
            .app
            .store
            .claim_jobs(&self.registry.kinds(), now, now + lease(), asked as i64)
            .await?;
        if jobs.is_empty() {
            return Ok(None);
        }
        permits.truncate(jobs.len());
        Ok(Some(Batch {
            full: jobs.len() == asked,
            jobs,
            permits,
        }))
    }

    /// Runs a claimed batch, and records its jobs' outcomes as they end.
    async fn run_batch(&self, batch: Batch, now: DateTime<Utc>) -> StoreResult<()> {
        let Batch { jobs, permits, .. } = batch;
        // The batch's sends begin together: one statement marks their messages `sending`,
        // one read decides again whether their texts may go.
        let outbound: Vec<Option<i64>> = jobs
            .iter()
            .map(|job| {
                (job.kind == SEND_JOB_KIND && self.registry.knows(SEND_JOB_KIND))
                    .then(|| serde_json::from_str::<SendOutbound>(&job.payload).ok())
                    .flatten()
                    .map(|s| s.outbound_id)
            })
            .collect();
        let sends: Vec<(i64, i64)> = jobs
            .iter()
            .zip(&outbound)
            .filter_map(|(job, id)| id.map(|id| (id, job.attempts)))
            .collect();
        let mut prepared = if sends.is_empty() {
            HashMap::new()
        } else {
            // Failing, each send runs on its own and finds its message as it is.
            crate::outbox::prepare(&self.app, &sends, now)
                .await
                .inspect_err(|e| tracing::warn!(error = %e, "could not begin a batch of sends"))
                .unwrap_or_default()
        };

        // The batch's jobs overlap (each waits on its own I/O), each a task of its own, so that
        // one waiting for the database never waits on another that this loop is not polling.
        // Only the texts of one conversation do not: each waits for the one queued before it.
        let mut turns = conversations(&outbound, &prepared);
        let mut running = JoinSet::new();
        for (i, ((job, permit), id)) in jobs.into_iter().zip(permits).zip(outbound).enumerate() {
            let worker = self.clone();
            let prepared = id.and_then(|id| prepared.remove(&id));
            let Turn { after, then } = std::mem::take(&mut turns[i]);
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
                    if let Some(previous) = after {
                        // Its sender gone (a lost task) lets this one go too.
                        let _ = previous.await;
                    }
                    let (outcome, accepted) = worker.run_job(&job, prepared, now).await;
                    if let Some(next) = then {
                        let _ = next.send(());
                    }
                    Ended {
                        job,
                        outcome,
                        accepted,
                        _permit: permit,
                    }
                }
                .instrument(span),
            );
        }
        // Outcomes are recorded as jobs end, those that end together in one commit: a long
        // job does not hold back the others' (their leases would run out meanwhile). A failure
        // to record does not cut the others short: a send is never dropped half-way. The job
        // whose outcome was not recorded is found by the lease check.
        let mut unrecorded = None;
        while let Some(first) = running.join_next().await {
            let mut ended = vec![first];
            let until = tokio::time::Instant::now() + GATHER;
            while !running.is_empty() {
                match tokio::time::timeout_at(until, running.join_next()).await {
                    Ok(Some(more)) => ended.push(more),
                    Ok(None) | Err(_) => break,
                }
            }
            let ended: Vec<Ended> = ended
                .into_iter()
                .filter_map(|r| {
                    r.inspect_err(|e| tracing::error!(error = %e, "job task lost"))
                        .ok()
                })
                .collect();
            if let Err(e) = self.record(ended, now).await {
                unrecorded = Some(e);
            }
        }
        match unrecorded {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Records the outcomes of jobs that ended together, and the texts the carrier took for
    /// them, in one commit.
    async fn record(&self, ended: Vec<Ended>, claimed_at: DateTime<Utc>) -> StoreResult<()> {
        let sent: Vec<(i64, String)> = ended
            .iter()
            .filter_map(|e| e.accepted.as_ref().map(|a| (a.message.id, a.sid.clone())))
            .collect();
        let outcomes: Vec<JobOutcome> = ended.iter().map(|e| e.outcome.clone()).collect();
        match self
            .app
            .store
            .outbound_sent_finish(&sent, &outcomes, Utc::now())
            .await
        {
            Ok(first) => {
                for e in &ended {
                    if let Some(a) = &e.accepted {
                        let by_callback = first.contains(&a.message.id);
                        crate::outbox::sent_recorded(
                            &self.app,
                            &a.message,
                            &a.sid,
                            e.job.attempts,
                            by_callback,
                        )
                        .await;
                    }
                    report(&e.job, &e.outcome);
                }
                Ok(())
            }
            Err(error) if sent.is_empty() => Err(error),
            Err(error) => {
                // Each text the carrier took is recorded on its own, as a send alone records
                // it: failing, its SID waits in its job's progress, and the recording is
                // retried, never the send.
                tracing::warn!(%error, sent = sent.len(), "could not record a batch of sends: each is recorded on its own");
                let mut outcomes = Vec::with_capacity(ended.len());
                for e in &ended {
                    outcomes.push(match &e.accepted {
                        Some(a) => {
                            let ctx = self.context(&e.job, claimed_at);
                            let recorded =
                                crate::outbox::record_sent(&ctx, &a.message, &a.sid, None).await;
                            outcome(&e.job, recorded, claimed_at)
                        }
                        None => e.outcome.clone(),
                    });
                }
                self.app.store.finish_jobs(&outcomes, Utc::now()).await?;
                ended
                    .iter()
                    .zip(&outcomes)
                    .for_each(|(e, o)| report(&e.job, o));
                Ok(())
            }
        }
    }

    fn context(&self, job: &Job, now: DateTime<Utc>) -> JobContext {
        JobContext {
            app: self.app.clone(),
            job_id: job.id,
            attempt: job.attempts,
            now,
        }
    }

    /// Runs one job: a send its batch began, or any job on its own (waiting its turn among
    /// those that may use the database).
    async fn run_job(
        &self,
        job: &Job,
        prepared: Option<Prepared>,
        now: DateTime<Utc>,
    ) -> (JobOutcome, Option<Accepted>) {
        let ctx = self.context(job, now);
        let run = async {
            match prepared {
                Some(p) => match crate::outbox::send_prepared(&ctx, &p).await {
                    Sending::Accepted(sid) => (
                        Ok(None),
                        Some(Accepted {
                            message: p.message,
                            sid,
                        }),
                    ),
                    Sending::Ended(outcome) => (outcome, None),
                },
                None => {
                    let _turn = self.db_jobs.acquire().await;
                    let outcome = self
                        .registry
                        .run(&job.kind, ctx.clone(), &job.payload)
                        .await;
                    (outcome, None)
                }
            }
        };
        // A panic is one failed try of this job; the worker goes on with the others. A job
        // that must not run twice may have had its effect before it panicked: it fails.
        let (result, accepted) = match AssertUnwindSafe(run).catch_unwind().await {
            Ok(ran) => ran,
            Err(panic) if self.registry.is_at_most_once(&job.kind) => (
                Err(JobError::Fail(format!(
                    "panicked: {}; not run again, as it may have had its effect",
                    panic_text(&panic)
                ))),
                None,
            ),
            Err(panic) => (
                Err(JobError::retry(format!("panicked: {}", panic_text(&panic)))),
                None,
            ),
        };
        (outcome(job, result, now), accepted)
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

    /// Works until `shutdown` turns true: claims what is due while there is room among the
    /// jobs running (its clones' included), without waiting for the batches under way; then
    /// sleeps until woken by a new job, a batch ending, or the idle poll. Stopping, it lets
    /// the jobs under way finish and be recorded.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut leases_checked: Option<std::time::Instant> = None;
        let mut batches = JoinSet::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            if leases_checked.is_none_or(|t| t.elapsed() >= LEASE_CHECK) {
                leases_checked = Some(std::time::Instant::now());
                if let Err(e) = self.check_leases(Utc::now()).await {
                    tracing::warn!(error = %e, "jobs: could not check leases");
                }
            }
            while let Some(done) = batches.try_join_next() {
                batch_ended(done);
            }
            let now = Utc::now();
            let full = match self.claim(now).await {
                Ok(Some(batch)) => {
                    let full = batch.full;
                    let worker = self.clone();
                    batches.spawn(async move { worker.run_batch(batch, now).await });
                    full
                }
                Ok(None) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "jobs: store unavailable");
                    false
                }
            };
            if full {
                continue;
            }
            tokio::select! {
                () = self.app.job_wake.notified() => {}
                () = tokio::time::sleep(IDLE_POLL) => {}
                Some(done) = batches.join_next(), if !batches.is_empty() => batch_ended(done),
                _ = shutdown.changed() => {}
            }
        }
        while let Some(done) = batches.join_next().await {
            batch_ended(done);
        }
    }
}

/// A send's place among the texts of its conversation in its claim: the signal it waits for
/// before it asks the carrier (`after`), and the one it gives once the carrier answered
/// (`then`).
#[derive(Default)]
struct Turn {
    after: Option<oneshot::Receiver<()>>,
    then: Option<oneshot::Sender<()>>,
}

/// Links the sends of a claim that share a sender and a recipient, in the order they were
/// queued (by message id). Two texts of one conversation sent at once could reach the phone
/// in either order. Texts claimed apart (by a later claim, or another process) may still
/// overlap: a claim sees only its own.
fn conversations(outbound: &[Option<i64>], prepared: &HashMap<i64, Prepared>) -> Vec<Turn> {
    let mut turns: Vec<Turn> = outbound.iter().map(|_| Turn::default()).collect();
    let mut sends: Vec<(usize, &OutboundMessage)> = outbound
        .iter()
        .enumerate()
        .filter_map(|(i, id)| Some((i, &prepared.get(id.as_ref()?)?.message)))
        .collect();
    sends.sort_by_key(|(_, m)| m.id);
    let mut last: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, m) in sends {
        if let Some(previous) = last.insert((m.from.as_str(), m.to.as_str()), i) {
            let (tx, rx) = oneshot::channel();
            turns[previous].then = Some(tx);
            turns[i].after = Some(rx);
        }
    }
    turns
}

/// What a job's try came to, as stored.
fn outcome(
    job: &Job,
    result: Result<Option<serde_json::Value>, JobError>,
    now: DateTime<Utc>,
) -> JobOutcome {
    let end = match result {
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

fn batch_ended(done: Result<StoreResult<()>, tokio::task::JoinError>) {
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "jobs: outcomes not recorded; their leases will run out")
        }
        Err(e) => tracing::error!(error = %e, "jobs: batch task lost"),
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
