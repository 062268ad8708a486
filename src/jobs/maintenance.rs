//! Housekeeping that runs periodically: the retention purges (`PROXYCALL_RETENTION_DAYS`) of
//! interactions, outbound messages and e-mails, the simulated carrier's deliveries and
//! finished jobs.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Job, JobContext, JobError};

/// Deletes interactions older than the retention period (`PROXYCALL_RETENTION_DAYS`), and the
/// contacts last seen before it (a blocked one stays).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurgeInteractions {
    pub retention_days: i64,
}

impl Job for PurgeInteractions {
    const KIND: &'static str = "interactions.purge";

    async fn run(self, ctx: JobContext) -> Result<Option<serde_json::Value>, JobError> {
        let before = ctx.now - chrono::Duration::days(self.retention_days);
        let deleted = ctx.app.store.purge_interactions(before).await?;
        if deleted > 0 {
            tracing::info!(count = deleted, "old interactions purged");
        }
        Ok(Some(json!({ "deleted": deleted })))
    }
}

/// Deletes jobs that finished more than `keep_days` ago (the retention period: a payload may
/// name a message, a report a number): their outcome has been seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurgeFinishedJobs {
    pub keep_days: i64,
}

impl Job for PurgeFinishedJobs {
    const KIND: &'static str = "jobs.purge";

    async fn run(self, ctx: JobContext) -> Result<Option<serde_json::Value>, JobError> {
        let before = ctx.now - chrono::Duration::days(self.keep_days);
        let deleted = ctx.app.store.purge_finished_jobs(before).await?;
        Ok(Some(json!({ "deleted": deleted })))
    }
}

/// Deletes sent and failed outbound messages created before the retention period: they hold
/// third parties' numbers (and a failed one its text, kept so that it can be requeued). A
/// message waiting or in doubt is kept until it is done with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurgeOutbox {
    pub retention_days: i64,
}

impl Job for PurgeOutbox {
    const KIND: &'static str = "outbox.purge";

    async fn run(self, ctx: JobContext) -> Result<Option<serde_json::Value>, JobError> {
        let before = ctx.now - chrono::Duration::days(self.retention_days);
        let deleted = ctx.app.store.purge_outbound(before).await?;
        if deleted > 0 {
            tracing::info!(count = deleted, "old outbound messages purged");
        }
        Ok(Some(json!({ "deleted": deleted })))
    }
}

/// Deletes sent and failed e-mails created before the retention period: they hold their
/// addressees' addresses (their bodies went when they were sent or failed). One waiting or
/// being sent is kept until it is done with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurgeEmails {
    pub retention_days: i64,
}

impl Job for PurgeEmails {
    const KIND: &'static str = "emails.purge";

    async fn run(self, ctx: JobContext) -> Result<Option<serde_json::Value>, JobError> {
        let before = ctx.now - chrono::Duration::days(self.retention_days);
        let deleted = ctx.app.store.purge_emails(before).await?;
        if deleted > 0 {
            tracing::info!(count = deleted, "old e-mails purged");
        }
        Ok(Some(json!({ "deleted": deleted })))
    }
}

/// Deletes what the simulated carrier delivered (texts, numbers) before the retention period.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurgeSimulatedDeliveries {
    pub retention_days: i64,
}

impl Job for PurgeSimulatedDeliveries {
    const KIND: &'static str = "simulated_deliveries.purge";

    async fn run(self, ctx: JobContext) -> Result<Option<serde_json::Value>, JobError> {
        let before = ctx.now - chrono::Duration::days(self.retention_days);
        let deleted = ctx.app.store.purge_simulated_deliveries(before).await?;
        Ok(Some(json!({ "deleted": deleted })))
    }
}
