//! Following background work: one job's state and report, listings, the per-kind gauges, and
//! the operator putting a failed job back in the queue.

use chrono::{DateTime, Utc};

use super::{App, AppError, AppResult};
use crate::jobs::Job as _;
use crate::store::{EMAIL_SEND_JOB_KIND, Job, JobStatus, SEND_JOB_KIND};

/// Most jobs a listing shows.
pub const LIST_LIMIT: i64 = 1000;

pub async fn get(app: &App, id: i64) -> AppResult<Job> {
    app.store
        .job(id)
        .await?
        .ok_or(AppError::NotFound { what: "job" })
}

pub async fn list(
    app: &App,
    kind: Option<&str>,
    status: Option<JobStatus>,
    limit: i64,
) -> AppResult<Vec<Job>> {
    Ok(app
        .store
        .jobs(kind, status, limit.clamp(1, LIST_LIMIT))
        .await?)
}

/// Sets `proxycall_jobs{kind,status}` (queued, running, failed) and `proxycall_jobs_oldest_due_seconds{kind}` (the
/// oldest queued job that is due: how far behind the workers are) from the database, so
/// that every process reports the same figures.
pub async fn record_gauges(app: &App) -> AppResult<()> {
    let counts = app.store.job_counts().await?;
    let now = Utc::now();
    let mut kinds: Vec<&str> = counts.iter().map(|c| c.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    for kind in kinds {
        for status in [JobStatus::Queued, JobStatus::Running, JobStatus::Failed] {
            let n = counts
                .iter()
                .find(|c| c.kind == kind && c.status == status)
                .map_or(0, |c| c.count);
            metrics::gauge!("proxycall_jobs", "kind" => kind.to_owned(), "status" => status.as_str())
                .set(n as f64);
        }
        let behind = counts
            .iter()
            .find(|c| c.kind == kind && c.status == JobStatus::Queued)
            .and_then(|c| c.oldest_due_at)
            .map_or(0.0, |due| {
                (now - due).num_milliseconds().max(0) as f64 / 1000.0
            });
        metrics::gauge!("proxycall_jobs_oldest_due_seconds", "kind" => kind.to_owned()).set(behind);
    }
    Ok(())
}

/// A page of jobs, newest first, optionally of one kind and status: those with an id below
/// `after` (the last of the previous page).
pub async fn page(
    app: &App,
    kind: Option<&str>,
    status: Option<JobStatus>,
    after: Option<i64>,
    limit: i64,
) -> AppResult<Vec<Job>> {
    Ok(app
        .store
        .jobs_page(kind, status, after, limit.clamp(1, LIST_LIMIT))
        .await?)
}

/// Why a job was not put back in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequeueRefusal {
    /// No such job.
    Unknown,
    /// Only a failed job goes back (a queued or running one is on its way, a done one is done).
    NotFailed,
    /// A text's or a call's send: its message is put back through the outbox's requeue, which
    /// knows when a send may have left and must not be repeated.
    Outbox,
    /// An e-mail's send: the e-mail's bodies are erased when it fails, nothing is left to send.
    Email,
    /// A pool operation: one of a kind runs at a time under its key, freed when it failed;
    /// it is started again from the pool page, as a new operation.
    Operation,
}

/// The pool's operations (`app::operations`), which run one of a kind at a time.
fn is_operation(kind: &str) -> bool {
    [
        crate::app::provision::ProvisionJob::KIND,
        crate::app::pool::ReleaseJob::KIND,
        crate::app::pool::FixWebhooksJob::KIND,
        crate::app::pool::PurgeWithoutSmsJob::KIND,
        crate::app::sync::SyncJob::KIND,
    ]
    .contains(&kind)
}

/// Why `job` may not be put back in the queue, if it may not: the dashboard offers the
/// button only when it may.
pub fn requeue_refusal(job: &Job) -> Option<RequeueRefusal> {
    match job.kind.as_str() {
        _ if job.status != JobStatus::Failed => Some(RequeueRefusal::NotFailed),
        SEND_JOB_KIND => Some(RequeueRefusal::Outbox),
        EMAIL_SEND_JOB_KIND => Some(RequeueRefusal::Email),
        kind if is_operation(kind) => Some(RequeueRefusal::Operation),
        _ => None,
    }
}

/// Puts a failed job back in the queue, due now, with its tries counted afresh (the operator
/// has dealt with the cause: it gets the tries of a new job, not the last one left). Its
/// handler checks what it acts on at every run, as on any retry. Refused for the kinds that
/// have their own way back ([`RequeueRefusal`]).
pub async fn requeue_failed(
    app: &App,
    id: i64,
    now: DateTime<Utc>,
) -> AppResult<Result<Job, RequeueRefusal>> {
    let Some(job) = app.store.job(id).await? else {
        return Ok(Err(RequeueRefusal::Unknown));
    };
    if let Some(refusal) = requeue_refusal(&job) {
        return Ok(Err(refusal));
    }
    if !app.store.requeue_failed_job(id, now).await? {
        return Ok(Err(RequeueRefusal::NotFailed));
    }
    app.job_wake.notify_waiters();
    tracing::info!(job_id = id, kind = %job.kind, "failed job requeued");
    Ok(Ok(job))
}
