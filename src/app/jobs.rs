//! Following background work: one job's state and report, listings, and the per-kind gauges.

use chrono::Utc;

use super::{App, AppError, AppResult};
use crate::store::{Job, JobStatus};

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
