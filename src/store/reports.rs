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

/// Interactions of one hour (`YYYY-MM-DDTHH`, UTC), channel and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourCount {
    pub hour: String,
    pub channel: String,
    pub outcome: String,
    pub count: i64,
}

/// How far the activations started since some time got, each counted at every step it
/// reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Funnel {
    pub started: i64,
    /// Reached the verification call: it was answered.
    pub call: i64,
    /// Reached the links: they were sent.
    pub link: i64,
    /// Ended by a new client, or an existing client updated.
    pub promoted: i64,
    /// Ended without: expired or locked.
    pub expired: i64,
    pub waiting: i64,
}

/// A queue's health: what waits, how long the oldest due one has waited, what failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueHealth {
    pub queued: i64,
    /// Since when the oldest waiting one has waited: its due time (jobs due by now), or its
    /// creation (messages, e-mails).
    pub oldest: Option<DateTime<Utc>>,
    pub failed: i64,
}

/// The queues the overview shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queues {
    pub outbox: QueueHealth,
    pub jobs: QueueHealth,
    pub emails: QueueHealth,
}

#[async_trait]
pub trait ReportStore {
    /// Interactions of `[from, to)` per hour, channel and outcome (the dashboard's chart).
    async fn hourly_interactions(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<HourCount>>;
    /// The activations started since `since`, by the furthest step each reached.
    async fn activation_funnel(&self, since: DateTime<Utc>) -> StoreResult<Funnel>;
    /// The outbox's, the jobs' and the e-mails' queues at `now` (what is due by then). Each figure
    /// reads its status's range of an index, not the whole table: sent messages and done jobs
    /// pile up until the retention purge.
    async fn queues(&self, now: DateTime<Utc>) -> StoreResult<Queues>;
    /// The figures of `[from, to)`; the pool's statuses are today's.
    async fn period_figures(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<PeriodFigures>;
}
