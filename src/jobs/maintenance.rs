//! Housekeeping that runs periodically: the retention purge, and finished jobs.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Job, JobContext, JobError};

/// Deletes interactions older than the retention period (`PROXYCALL_RETENTION_DAYS`).
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

/// Deletes jobs that finished more than `keep_days` ago: their outcome has been seen.
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
