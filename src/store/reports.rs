//! The figures of the weekly report (`app::report`), counted by the database: one pass over
//! each table it reads, between two instants.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;

/// What happened to activations started or ended in the period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivationCounts {
    pub started: i64,
    /// Ended by a new client.
    pub promoted: i64,
    /// Ended by an existing client updated.
    pub updated: i64,
    pub expired: i64,
    pub locked: i64,
}

/// Pool numbers of one country, type and status now, and how many of them were bought or
/// released in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolGroup {
    pub country: String,
    pub number_type: String,
    pub status: String,
    pub count: i64,
    pub bought: i64,
    pub released: i64,
}

/// The figures of one period `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodFigures {
    /// Clients created before `to`.
    pub clients_total: i64,
    /// Clients created in the period.
    pub clients_new: i64,
    pub activations: ActivationCounts,
    /// Interactions of the period: (channel, outcome, count).
    pub interactions: Vec<(String, String, i64)>,
    pub pool: Vec<PoolGroup>,
    /// Outbound messages that failed in the period: (kind, count).
    pub outbound_failed: Vec<(String, i64)>,
    /// E-mails that failed in the period.
    pub emails_failed: i64,
}

#[async_trait]
pub trait ReportStore {
    /// The figures of `[from, to)`; the pool's statuses are today's.
    async fn period_figures(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<PeriodFigures>;
}
