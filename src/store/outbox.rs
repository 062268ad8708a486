//! Outbound messages: written before they are sent, sent by a worker (`crate::outbox`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{JobOutcome, NewJob, StoreResult};
use crate::domain::{E164, MediaUrl};

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

/// Tries a send job may take: a backstop only. Sending stops at its own horizon
/// (`PROXYCALL_OUTBOX_RETRY_HOURS`, from the message's creation or requeue), which this must
/// never cut short: every try of a day of back-off capped at 10 minutes, settling included, is
/// a few hundred.
pub const SEND_JOB_MAX_ATTEMPTS: i64 = 10_000;

/// The job that sends message `id`, due at `send_at`.
pub fn send_job(id: i64, send_at: DateTime<Utc>) -> NewJob {
    NewJob {
        kind: SEND_JOB_KIND.to_owned(),
        payload: format!("{{\"outbound_id\":{id}}}"),
        due_at: send_at,
        max_attempts: SEND_JOB_MAX_ATTEMPTS,
        dedupe_key: Some(send_job_key(id)),
    }
}

/// The dedupe key of message `id`'s send job: one queued send per message.
pub fn send_job_key(id: i64) -> String {
    format!("outbound:{id}")
}

/// Where an outbound message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundStatus {
    /// Waiting for a send (the first, or one after a failure that proved nothing left).
    Pending,
    /// A send began (`send_started_at`) and its outcome is not recorded: while its worker
    /// lives it is in flight; found so by a later try, it is in doubt, and is settled before
    /// anything is sent again.
    Sending,
    /// The carrier took it (`twilio_sid`); its text is erased.
    Sent,
    /// Given up; its text is kept until the retention purge, so that it can be requeued.
    Failed,
}

impl OutboundStatus {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Sending, Self::Sent, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

impl std::fmt::Display for OutboundStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for OutboundStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
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
    /// A relayed text's sender and pictures; `None` for anything else.
    pub relay: Option<Relay>,
}

/// What a relayed text carries besides its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// On whose behalf it is sent: when it finally fails, they get a bounce from the proxy.
    pub sender: E164,
    /// The carrier's addresses of its pictures (destinations that take MMS only).
    pub media: Vec<MediaUrl>,
}

/// The purpose of the text that tells a sender their relayed text finally failed. A bounce
/// is never bounced.
pub const BOUNCE_PURPOSE: &str = "bounce";

/// The dedupe key of the bounce of message `id`: however often its failure is reported, one
/// bounce.
pub fn bounce_key(id: i64) -> String {
    format!("bounce:{id}")
}

/// How long a number a text from a proxy failed to reach is spared bounces from that proxy:
/// a bounce to it would most likely fail too.
pub fn bounce_quiet() -> chrono::Duration {
    chrono::Duration::hours(24)
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
    pub status: OutboundStatus,
    /// The try of its send job that last began sending it.
    pub attempts: i64,
    pub last_error: Option<String>,
    pub twilio_sid: Option<String>,
    pub delivery_status: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the latest send began (written before the carrier is asked).
    pub send_started_at: Option<DateTime<Utc>>,
    /// When the operator last put it back in the queue.
    pub requeued_at: Option<DateTime<Utc>>,
    /// A relay's sender (who a final failure bounces to).
    pub relay_of: Option<E164>,
    /// A relay's pictures, until it is sent or given up.
    pub media: Vec<MediaUrl>,
}

impl OutboundMessage {
    /// Where its retry horizon counts from: its creation, or its latest requeue.
    pub fn queued_at(&self) -> DateTime<Utc> {
        self.requeued_at.unwrap_or(self.created_at)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: i64,
    /// In flight, or in doubt until settled.
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

/// What a status callback naming its message (`?outbound_id=N`) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackApplied {
    /// The message was not known as sent: the callback proves the carrier took it, and the
    /// message is now sent with that SID (a send in doubt is settled so).
    Settled,
    /// The status of a message known as sent with that SID.
    Recorded,
    /// The message is sent with another SID: the carrier took it twice.
    OtherSid,
    /// No such message (purged, or never ours).
    Unknown,
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
    /// Marks a pending message `sending`, by try `attempt`, from `now`, before the carrier is
    /// asked; returns it. `None` when it is not pending (sent, failed, or sending: in doubt).
    async fn outbound_begin_send(
        &self,
        id: i64,
        attempt: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OutboundMessage>>;
    /// `outbound_begin_send` for a claimed batch, in one statement: each `(id, attempt)` whose
    /// message is pending is marked `sending` by that try. Returns those, in no order.
    async fn outbound_begin_sends(
        &self,
        sends: &[(i64, i64)],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<OutboundMessage>>;
    /// `send_withheld` for a batch of messages, in one read: those withheld, with why.
    async fn sends_withheld(&self, ids: &[i64]) -> StoreResult<Vec<(i64, &'static str)>>;
    /// Records messages the carrier took, `(id, sid)` (as `outbound_sent`, without a delivery
    /// status), with the outcomes of jobs (as `JobStore::finish_jobs`), in one transaction.
    /// Returns the ids of those a status callback had recorded sent first.
    async fn outbound_sent_finish(
        &self,
        sent: &[(i64, String)],
        outcomes: &[JobOutcome],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<i64>>;
    /// The carrier took the message as `sid` (its text erased); `delivery_status` when a
    /// listing told it. `false` when it was already recorded sent.
    async fn outbound_sent(
        &self,
        id: i64,
        sid: &str,
        delivery_status: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// A send that surely did not leave (refused connection, 429, 503 with Retry-After, or
    /// proved absent): pending again, for its job's next try. Only while the message is still
    /// `sending` by try `attempt`: a worker that lost its claim cannot undo a newer send.
    async fn outbound_not_sent(
        &self,
        id: i64,
        attempt: i64,
        error: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// A send whose outcome is unknown: it stays `sending`, with the reason.
    async fn outbound_in_doubt(&self, id: i64, error: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Why a text may no longer be sent, if so, read just before it is: its recipient opted
    /// out of its proxy's texts (`recipient_opted_out`), or it relays a sender the proxy's
    /// client has blocked since (`sender_blocked`). A text held for quiet hours, or requeued,
    /// is decided again here.
    async fn send_withheld(&self, m: &OutboundMessage) -> StoreResult<Option<&'static str>>;
    /// Given up. Its text is kept until the retention purge, so that it can be requeued (its
    /// pictures go). `in_doubt`: whether it may have left (its outcome was never known); it
    /// then keeps its `send_started_at`, and a requeue settles it before anything is sent
    /// again. A relay's sender is sent `bounce`, if given, in the same transaction (see
    /// `Bounce`): `true` when it was.
    async fn outbound_failed(
        &self,
        id: i64,
        error: &str,
        in_doubt: bool,
        bounce: Option<&Bounce>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Which of these SIDs other messages than `id` hold: a listed message that is another
    /// one's is not this one's.
    async fn outbound_sids_taken(&self, sids: &[String], id: i64) -> StoreResult<Vec<String>>;
    /// A status callback for message `id` (`?outbound_id=`), as `sid` with `status`. A status
    /// that says the text was not delivered (`undelivered`, `failed`) bounces a relay to its
    /// sender, if `bounce` is given, in the same transaction (see `Bounce`).
    async fn outbound_callback(
        &self,
        id: i64,
        sid: &str,
        status: &str,
        bounce: Option<&Bounce>,
        now: DateTime<Utc>,
    ) -> StoreResult<CallbackApplied>;
    /// Records a delivery status from a status callback without a message id; `false` if no
    /// message has that SID. Bounces as `outbound_callback` does.
    async fn outbound_delivery_status(
        &self,
        sid: &str,
        status: &str,
        bounce: Option<&Bounce>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Puts failed messages back in the queue, each with a new send job, in one transaction:
    /// those of `ids` that are failed and still have what they need to be sent (a text keeps
    /// its body). Returns the ids requeued.
    async fn outbound_requeue(&self, ids: &[i64], now: DateTime<Utc>) -> StoreResult<Vec<i64>>;
    /// Failed messages whose failure was recorded at or after `since`, oldest first.
    async fn outbound_failed_since(
        &self,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<OutboundMessage>>;
    /// Deletes sent and failed messages created before `before`; returns how many.
    async fn purge_outbound(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    async fn outbox_stats(&self) -> StoreResult<OutboxStats>;
    /// The latest messages, newest first.
    async fn outbound_messages(&self, limit: i64) -> StoreResult<Vec<OutboundMessage>>;
    /// Failed messages for the dashboard, newest first, those with an id below `after`
    /// (keyset). Never their bodies: the query does not read them.
    async fn failed_outbound_page(
        &self,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<FailedOutbound>>;
}

/// The text a relay's sender gets when it finally fails, from the proxy it was sent through.
/// It is queued (under `bounce_key`) only for a message with a `relay_of`, once per message,
/// and not when a text from that proxy to that sender failed within `bounce_quiet`: a bounce
/// that fails is never bounced, and a number that cannot be reached is not sent one bounce
/// after another.
#[derive(Debug, Clone, Copy)]
pub struct Bounce<'a> {
    /// Its words, from the catalogue.
    pub body: &'a str,
}

/// Whether a delivery status says a text finally did not reach its recipient.
pub fn undelivered(status: &str) -> bool {
    matches!(status, "undelivered" | "failed")
}

/// A failed message as the dashboard lists it: what it was, to whom, why — no body.
#[derive(Debug, Clone)]
pub struct FailedOutbound {
    pub id: i64,
    pub kind: OutboundKind,
    pub purpose: String,
    pub to: E164,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When its failure was recorded.
    pub failed_at: DateTime<Utc>,
}
