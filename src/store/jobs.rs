//! Durable jobs: all background work, kept in the database (`crate::jobs` runs them).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobStatus {
    /// Waiting for its time (`due_at`) and a worker.
    Queued,
    /// Claimed by a worker until `locked_until`.
    Running,
    Done,
    /// Given up: refused, out of tries, interrupted when a retry could do harm, or a payload
    /// that no longer parses.
    Failed,
}

impl JobStatus {
    pub const ALL: [Self; 4] = [Self::Queued, Self::Running, Self::Done, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    /// JSON.
    pub payload: String,
    pub due_at: DateTime<Utc>,
    pub max_attempts: i64,
    /// A second job with the same key is not enqueued.
    pub dedupe_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub status: JobStatus,
    pub due_at: DateTime<Utc>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub dedupe_key: Option<String>,
    /// JSON, written by the handler as it goes.
    pub progress: Option<String>,
    /// JSON, the handler's report once done.
    pub result: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// How many jobs of one kind are in one status, and the oldest due time among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCount {
    pub kind: String,
    pub status: JobStatus,
    pub count: i64,
    pub oldest_due_at: Option<DateTime<Utc>>,
}

/// What became of one run of a claimed job: the job, the try it was (its `attempts` when
/// claimed), and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    pub id: i64,
    pub attempt: i64,
    pub end: JobEnd,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    Done {
        result: Option<String>,
    },
    Retry {
        error: String,
        due_at: DateTime<Utc>,
    },
    Failed {
        error: String,
    },
}

/// What a lease check did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpiredLeases {
    /// Jobs whose worker vanished, queued again.
    pub requeued: u64,
    /// Jobs whose worker vanished and which must not run twice: failed.
    pub failed: u64,
}

#[async_trait]
pub trait JobStore {
    /// The new job's id; `None` when a job with the same dedupe key exists.
    async fn enqueue_job(&self, job: &NewJob, now: DateTime<Utc>) -> StoreResult<Option<i64>>;
    /// Takes up to `limit` due queued jobs of these kinds until `lease_until`, counting a try
    /// for each. Several workers, in several processes, never take the same job.
    async fn claim_jobs(
        &self,
        kinds: &[&str],
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Job>>;
    /// Records outcomes in one transaction. Each changes its job only while that try is the
    /// one running (`running`, same `attempts`): a worker whose claim ran out cannot undo the
    /// outcome of the try that followed.
    async fn finish_jobs(&self, outcomes: &[JobOutcome], now: DateTime<Utc>) -> StoreResult<()>;
    /// Records a running job's progress and extends its lease: a long job that reports
    /// keeps its claim. `attempt` is the try reporting, as in `finish_jobs`.
    async fn job_progress(
        &self,
        id: i64,
        attempt: i64,
        progress: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Running jobs of the `known` kinds whose lease ran out: their process died. Those of
    /// `at_most_once` kinds (whose effect may not be done twice), and those out of tries, fail;
    /// the others are queued again. Kinds this binary does not know are left to a binary that
    /// does: only it knows whether they may run twice.
    async fn expire_job_leases(
        &self,
        now: DateTime<Utc>,
        known: &[&str],
        at_most_once: &[&str],
    ) -> StoreResult<ExpiredLeases>;
    /// How many jobs of these kinds are running, or queued and due at `now`.
    async fn busy_jobs(&self, kinds: &[&str], now: DateTime<Utc>) -> StoreResult<i64>;
    async fn job(&self, id: i64) -> StoreResult<Option<Job>>;
    /// The job holding this dedupe key, if any.
    async fn job_by_key(&self, key: &str) -> StoreResult<Option<Job>>;
    /// Jobs, newest first, optionally of one kind and status.
    async fn jobs(
        &self,
        kind: Option<&str>,
        status: Option<JobStatus>,
        limit: i64,
    ) -> StoreResult<Vec<Job>>;
    /// Jobs per kind and status, for the jobs that are not done: done ones pile up until
    /// purged, and counting them would read them all at every scrape (the index gives the
    /// others).
    async fn job_counts(&self) -> StoreResult<Vec<JobCount>>;
    /// Deletes jobs finished before `before`; returns how many.
    async fn purge_finished_jobs(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    /// A page of jobs for the dashboard, newest first, optionally of one kind and status:
    /// those with an id below `after` (keyset: the last id of the previous page).
    async fn jobs_page(
        &self,
        kind: Option<&str>,
        status: Option<JobStatus>,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Job>>;
    /// Puts a failed job back in the queue, due at `now`, its tries counted afresh and its
    /// last error kept until the next try; whether it was failed.
    async fn requeue_failed_job(&self, id: i64, now: DateTime<Utc>) -> StoreResult<bool>;
}
