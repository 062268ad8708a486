//! Outbound messages: written before they are sent, sent by a worker (`crate::outbox`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{NewJob, StoreResult};
use crate::domain::E164;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundKind {
    Sms,
    Call,
}

impl OutboundKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Call => "call",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "sms" => Some(Self::Sms),
            "call" => Some(Self::Call),
            _ => None,
        }
    }
}

/// The job kind that sends an outbound message; its payload is `{"outbound_id": N}`.
pub const SEND_JOB_KIND: &str = "outbound.send";

/// The job that sends message `id`, due at `send_at`. Sending decides its own tries (see
/// `crate::outbox`), so the job's cap is only a backstop.
pub fn send_job(id: i64, send_at: DateTime<Utc>) -> NewJob {
    NewJob {
        kind: SEND_JOB_KIND.to_owned(),
        payload: format!("{{\"outbound_id\":{id}}}"),
        due_at: send_at,
        max_attempts: 100,
        dedupe_key: Some(format!("outbound:{id}")),
    }
}

// `Debug` in `redact.rs`: never the body.
#[derive(Clone)]
pub struct NewOutbound {
    pub kind: OutboundKind,
    /// Why it is sent, e.g. `relay`, for reports.
    pub purpose: &'static str,
    pub from: E164,
    pub to: E164,
    pub body: Option<String>,
    pub url: Option<String>,
    /// Enqueueing twice with the same key enqueues once.
    pub dedupe_key: Option<String>,
}

// `Debug` in `redact.rs`: never the body.
#[derive(Clone)]
pub struct OutboundMessage {
    pub id: i64,
    pub kind: OutboundKind,
    pub purpose: String,
    pub from: E164,
    pub to: E164,
    pub body: Option<String>,
    pub url: Option<String>,
    /// `pending` (until its job has sent it or given up), `sent` or `failed`.
    pub status: String,
    /// Tries so far, this one included once claimed.
    pub attempts: i64,
    pub last_error: Option<String>,
    pub twilio_sid: Option<String>,
    pub delivery_status: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: i64,
    pub sent: i64,
    pub failed: i64,
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait OutboxStore {
    /// Writes the message and the job that sends it (`SEND_JOB_KIND`) together. Returns the
    /// message's id; `None` when a message with the same dedupe key exists.
    async fn enqueue(&self, message: &NewOutbound, now: DateTime<Utc>) -> StoreResult<Option<i64>> {
        self.enqueue_at(message, now, now).await
    }
    /// `enqueue`, sent no sooner than `send_at`.
    async fn enqueue_at(
        &self,
        message: &NewOutbound,
        send_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>>;
    async fn outbound_message(&self, id: i64) -> StoreResult<Option<OutboundMessage>>;
    /// The outcome of try number `attempts` of a pending message: sent (its text erased)…
    async fn outbound_sent(
        &self,
        id: i64,
        sid: &str,
        attempts: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// … still pending after a passing failure (its job says when the next try is) …
    async fn outbound_retry(
        &self,
        id: i64,
        error: &str,
        attempts: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// … or failed for good (its text erased).
    async fn outbound_failed(
        &self,
        id: i64,
        error: &str,
        attempts: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Pending messages whose send job failed without saying so to the message — its process
    /// stopped mid-send (`JobStore::expire_job_leases`) — may or may not have left: they are
    /// marked failed, never retried, so that nothing is sent twice. Returns how many.
    async fn abandon_interrupted_sends(&self, now: DateTime<Utc>) -> StoreResult<u64>;
    /// Records a delivery status from a status callback; `false` if no message has that SID.
    async fn outbound_delivery_status(
        &self,
        sid: &str,
        status: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    async fn outbox_stats(&self) -> StoreResult<OutboxStats>;
    /// The latest messages, newest first.
    async fn outbound_messages(&self, limit: i64) -> StoreResult<Vec<OutboundMessage>>;
}
