//! Long operations on the pool (provisioning, and the sync, purge and repairs to come) run as
//! jobs (issue 9): the work never depends on the request staying open, and one of each runs at
//! a time across processes — its dedupe key, `op:<kind>`, names the one queued or running and
//! is freed when it ends. The route waits for it a few seconds and answers its report, or
//! `202 {job_id}`; `GET /jobs/{id}` gives its progress, then the same report.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{App, AppError, AppResult, ConflictKind};
use crate::carrier::CarrierError;
use crate::jobs::{self, Job};
use crate::store::{Job as StoredJob, JobStatus};

/// How long a route waits for its operation before answering `202 {job_id}`.
pub const WAIT: Duration = Duration::from_secs(10);

/// Why an operation could not do its work, kept in its job's progress (`failure`) so that the
/// route that waits for it answers as if it had done the work itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    NoNumbers {
        message: String,
        reasons: BTreeMap<String, String>,
    },
    BundleMismatch {
        message: String,
    },
    Carrier {
        error: CarrierError,
    },
}

impl Failure {
    /// The failure an operation reports, or the error back when it is not one (a database
    /// error: worth another try).
    pub fn of(e: AppError) -> Result<Self, AppError> {
        match e {
            AppError::NoNumbers { message, reasons } => Ok(Self::NoNumbers {
                message,
                reasons: reasons
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            }),
            AppError::Conflict {
                kind: ConflictKind::BundleMismatch,
                message,
            } => Ok(Self::BundleMismatch { message }),
            AppError::Carrier(error) => Ok(Self::Carrier { error }),
            other => Err(other),
        }
    }
}

impl From<Failure> for AppError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::NoNumbers { message, reasons } => AppError::NoNumbers {
                message,
                reasons: reasons
                    .into_iter()
                    .map(|(k, v)| (static_type(&k), v))
                    .collect(),
            },
            Failure::BundleMismatch { message } => AppError::Conflict {
                kind: ConflictKind::BundleMismatch,
                message,
            },
            Failure::Carrier { error } => AppError::Carrier(error),
        }
    }
}

fn static_type(t: &str) -> &'static str {
    crate::domain::NumberType::ALL
        .iter()
        .map(|t| t.as_str())
        .find(|s| *s == t)
        .unwrap_or("other")
}

/// What a route gets back.
#[derive(Debug)]
pub enum Ran {
    /// Done within the wait: its report.
    Done(serde_json::Value),
    /// Still running (or queued): answer `202 {job_id}`. `already` when it was started by an
    /// earlier request.
    Pending { job_id: i64, already: bool },
}

/// Starts `job` as the one operation of its kind (or finds the one running) and waits up to
/// `wait` for it.
pub async fn run<J: Job>(app: &App, job: &J, wait: Duration) -> AppResult<Ran> {
    let (id, already) = start(app, job).await?;
    if already {
        return Ok(Ran::Pending {
            job_id: id,
            already: true,
        });
    }
    wait_for(app, id, wait).await
}

/// Enqueues `job` as the one operation of its kind: its id, and `true` when one was already
/// queued or running (then that one's id, and `job` is dropped).
pub async fn start<J: Job>(app: &App, job: &J) -> AppResult<(i64, bool)> {
    let key = format!("op:{}", J::KIND);
    // The key may be freed between a refused enqueue and the look-up: try again then.
    for _ in 0..3 {
        if let Some(id) =
            jobs::enqueue(app.store.as_ref(), job, Utc::now(), Some(key.clone())).await?
        {
            app.job_wake.notify_waiters();
            tracing::info!(job_id = id, kind = J::KIND, "operation started");
            return Ok((id, false));
        }
        if let Some(running) = app.store.job_by_key(&key).await? {
            return Ok((running.id, true));
        }
    }
    Err(AppError::Store(crate::store::StoreError::Unavailable(
        "the operation could not be started".into(),
    )))
}

async fn wait_for(app: &App, id: i64, wait: Duration) -> AppResult<Ran> {
    let until = tokio::time::Instant::now() + wait;
    loop {
        if let Some(job) = app.store.job(id).await? {
            match job.status {
                JobStatus::Done => {
                    return Ok(Ran::Done(parse(job.result.as_deref()).unwrap_or_default()));
                }
                JobStatus::Failed => return Err(failure(&job)),
                JobStatus::Queued | JobStatus::Running => {}
            }
        }
        if tokio::time::Instant::now() >= until {
            return Ok(Ran::Pending {
                job_id: id,
                already: false,
            });
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A stored report or progress as JSON.
pub fn parse(raw: Option<&str>) -> Option<serde_json::Value> {
    serde_json::from_str(raw?).ok()
}

/// A failed operation as the error its route answers: the failure it recorded, else a
/// carrier failure saying why it stopped.
pub fn failure(job: &StoredJob) -> AppError {
    let recorded = parse(job.progress.as_deref())
        .and_then(|p| p.get("failure").cloned())
        .and_then(|f| serde_json::from_value::<Failure>(f).ok());
    match recorded {
        Some(f) => f.into(),
        None => AppError::Carrier(CarrierError::Protocol(format!(
            "the operation failed: {}",
            job.last_error.as_deref().unwrap_or("no reason recorded")
        ))),
    }
}
