//! Durable jobs: one mechanism for all background work — sends, sweeps, reports, pool
//! operations — kept in the database (`store::JobStore`), so that a restart loses none.
//!
//! A kind of job is a type implementing [`Job`]: its payload is the type itself, stored as
//! JSON. The [`Registry`] maps kind names to handlers; a [`Worker`] claims due jobs of the
//! kinds it knows with a lease (atomically: `FOR UPDATE SKIP LOCKED` on PostgreSQL, the single
//! writer on SQLite), runs them, and records done, retry (back-off with jitter from the
//! attempt count) or failed. A panicking handler is caught and counted as a failed try. A job
//! whose process died is run again, or — for kinds that must not run twice — failed. (A send
//! runs again: it records that it starts before it asks the carrier, so a rerun knows a
//! message in doubt and settles it first: `crate::outbox`.) Periodic jobs are enqueued once per period across every
//! process, by a dedupe key naming the period ([`schedule`]).

pub mod maintenance;
mod registry;
pub mod schedule;
mod worker;

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use registry::Registry;
pub use worker::{Worker, drain};

use crate::app::App;
use crate::store::{NewJob, Store, StoreError, StoreResult};

/// What to do with a job whose process died while running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// Run it again: running it twice does no harm.
    RunAgain,
    /// Fail it: it may have had its effect already (a text may have left).
    Fail,
}

/// A kind of background work. The value is the job's payload.
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// The stored kind name; never change it once jobs of it exist.
    const KIND: &'static str;
    /// Tries before the job fails for good.
    const MAX_ATTEMPTS: i64 = 5;
    const INTERRUPTED: Interrupted = Interrupted::RunAgain;

    /// Does the work. `Ok` carries the job's report, if it has one.
    fn run(
        self,
        ctx: JobContext,
    ) -> impl Future<Output = Result<Option<serde_json::Value>, JobError>> + Send;
}

/// Why a try did not finish the job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// A passing failure: try again at `at`, or after the back-off.
    #[error("{error}")]
    Retry {
        error: String,
        at: Option<DateTime<Utc>>,
    },
    /// Trying again would not help.
    #[error("{0}")]
    Fail(String),
}

impl JobError {
    pub fn retry(error: impl std::fmt::Display) -> Self {
        Self::Retry {
            error: error.to_string(),
            at: None,
        }
    }
}

impl From<StoreError> for JobError {
    /// The database may be back at the next try.
    fn from(e: StoreError) -> Self {
        Self::retry(e)
    }
}

/// What a running job may use.
#[derive(Clone)]
pub struct JobContext {
    pub app: App,
    pub job_id: i64,
    /// This try's number, from 1.
    pub attempt: i64,
    /// The claim's time: the clock a handler schedules from (tests move it).
    pub now: DateTime<Utc>,
}

impl JobContext {
    /// Records how far the job got, for `GET /jobs/{id}`, and keeps its claim alive.
    pub async fn progress(&self, progress: &impl Serialize) -> StoreResult<()> {
        let now = Utc::now();
        let json = serde_json::to_string(progress).unwrap_or_else(|_| "null".into());
        self.app
            .store
            .job_progress(self.job_id, self.attempt, &json, now + worker::lease(), now)
            .await
    }
}

/// Every kind this binary runs, with the periodic housekeeping; `retention_days` is
/// `PROXYCALL_RETENTION_DAYS`, how long everything personal is kept.
pub fn registry(retention_days: i64) -> Registry {
    use maintenance::{
        PurgeEmails, PurgeFinishedJobs, PurgeInteractions, PurgeOutbox, PurgeSimulatedDeliveries,
    };
    Registry::new()
        .register::<crate::outbox::SendOutbound>()
        .register::<crate::app::activation::CascadeCall>()
        .register::<crate::app::activation::CascadeLink>()
        .register::<crate::app::provision::ProvisionJob>()
        .register::<crate::app::pool::ReleaseJob>()
        .register::<crate::app::pool::FixWebhooksJob>()
        .register::<crate::app::pool::PurgeWithoutSmsJob>()
        .register::<crate::app::sync::SyncJob>()
        .register::<crate::app::activation::EnsureWebhooks>()
        .every(
            Duration::from_secs(300),
            crate::app::activation::ActivationSweep { retention_days },
        )
        .register::<crate::mail::SendEmail>()
        .every(
            Duration::from_secs(3600),
            PurgeInteractions { retention_days },
        )
        .every(Duration::from_secs(3600), PurgeOutbox { retention_days })
        .every(Duration::from_secs(3600), PurgeEmails { retention_days })
        .every(
            Duration::from_secs(3600),
            PurgeSimulatedDeliveries { retention_days },
        )
        .every(
            Duration::from_secs(3600),
            crate::app::report::WeeklyReportEmail::default(),
        )
        .every(
            crate::app::low_water::PERIOD,
            crate::app::low_water::LowWaterCheck::default(),
        )
        .every(
            Duration::from_secs(86_400),
            PurgeFinishedJobs {
                keep_days: retention_days,
            },
        )
        .every(
            Duration::from_secs(3600),
            crate::app::voicemail::PurgeVoicemails::default(),
        )
}

/// Enqueues `job`, due at `due_at`; `None` when a job with the same dedupe key exists.
pub async fn enqueue<J: Job>(
    store: &dyn Store,
    job: &J,
    due_at: DateTime<Utc>,
    dedupe_key: Option<String>,
) -> StoreResult<Option<i64>> {
    let new = NewJob {
        kind: J::KIND.to_owned(),
        payload: serde_json::to_string(job).expect("a job payload serialises"),
        due_at,
        max_attempts: J::MAX_ATTEMPTS,
        dedupe_key,
    };
    store.enqueue_job(&new, Utc::now()).await
}

/// Delay before the try after `attempts` failed ones: 2 s, 4 s, 8 s… up to 10 min, with
/// jitter so that retries after an outage do not arrive all at once.
pub fn backoff(attempts: i64) -> Duration {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(2))
        .with_max_delay(Duration::from_secs(600))
        .with_max_times(64)
        .with_jitter()
        .build()
        .nth(attempts.saturating_sub(1).max(0) as usize)
        .unwrap_or(Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        let first = backoff(1);
        assert!(
            first >= Duration::from_secs(2) && first <= Duration::from_secs(4),
            "{first:?}"
        );
        let fourth = backoff(4);
        assert!(fourth >= Duration::from_secs(16), "{fourth:?}");
        assert!(backoff(50) <= Duration::from_secs(1200));
    }
}
