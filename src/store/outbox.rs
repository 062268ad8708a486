//! Outbound messages: written before they are sent, sent by a worker (`crate::outbox`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
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

#[derive(Debug, Clone)]
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

#[derive(Debug, Clone)]
pub struct OutboundMessage {
    pub id: i64,
    pub kind: OutboundKind,
    pub purpose: String,
    pub from: E164,
    pub to: E164,
    pub body: Option<String>,
    pub url: Option<String>,
    /// `pending`, `sending`, `sent` or `failed`.
    pub status: String,
    /// Tries so far, this one included once claimed.
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub twilio_sid: Option<String>,
    pub delivery_status: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait OutboxStore {
    /// Returns `false` when a message with the same dedupe key exists.
    async fn enqueue(&self, message: &NewOutbound, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Takes up to `limit` due messages for this worker until `lease_until`. Several workers,
    /// in several processes, never take the same message.
    async fn claim_outbound(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<OutboundMessage>>;
    async fn outbound_sent(&self, id: i64, sid: &str, now: DateTime<Utc>) -> StoreResult<()>;
    async fn outbound_retry(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn outbound_failed(&self, id: i64, error: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Messages whose worker vanished mid-send (lease expired) may or may not have left: they
    /// are marked failed, never retried, so that nothing is sent twice. Returns how many.
    async fn abandon_expired_leases(&self, now: DateTime<Utc>) -> StoreResult<u64>;
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
