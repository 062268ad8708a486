//! The outbox: every text or call ProxyCall sends is written first (`outbound_messages`, in
//! the transaction of the change that calls for it) with its sending job, `outbound.send`.
//!
//! Nothing is lost, nothing is sent twice (SPEC §6):
//!
//! - A send marks its message `sending` (with `send_started_at`) before it asks the carrier,
//!   in the statement that reads it. A job whose process died runs again: a message still
//!   `pending` was never sent and is simply sent; one found `sending` may have left, and is
//!   *in doubt*.
//! - A failure that proves nothing left (no connection, 429, 503 with `Retry-After`) puts the
//!   message back to `pending` and is retried with capped back-off and jitter until the retry
//!   horizon (`PROXYCALL_OUTBOX_RETRY_HOURS`, from its creation or requeue); then it fails,
//!   and the operator may requeue it (`proxycall outbox requeue`).
//! - A failure that leaves the outcome unknown (time-out or reset once connected, another 5xx,
//!   an unreadable success) keeps it `sending`: in doubt. A text in doubt is settled by its
//!   status callback (its URL names the message) or, after a grace period, by the carrier's
//!   list of texts from that proxy to that number since the message was created: found, it is
//!   sent; proved absent, it is sent again; the listing failing, it stays in doubt. A call in
//!   doubt is never placed again: without a status callback within the grace period it fails.
//! - When the carrier took it but recording that failed, the SID is kept in the job's progress
//!   and the recording is retried, never the send.
//! - A relay that fails for good (the last try, a refusal such as Twilio's 21610 for a
//!   recipient who opted out) bounces: its sender is sent one text from the proxy, queued in
//!   the transaction that records the failure (`store::Bounce`); so does one whose status
//!   callback says `undelivered` or `failed` (`app::outbox`). A bounce is never bounced.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::carrier::{SendFailure, SentMessage};
use crate::jobs::{Interrupted, Job, JobContext, JobError, backoff};
use crate::store::{
    OutboundKind, OutboundMessage, OutboundStatus, SEND_JOB_KIND, SEND_JOB_MAX_ATTEMPTS,
};

/// How long sends keep trying, and when a send in doubt may be settled by listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Passing failures are retried this long from the message's creation (or requeue);
    /// `PROXYCALL_OUTBOX_RETRY_HOURS`.
    pub retry_horizon: chrono::Duration,
    /// After a send began, how long before the carrier's listing is trusted to show it (and
    /// its status callback had its chance); `PROXYCALL_OUTBOX_SETTLE_GRACE_SECS`.
    pub settle_grace: chrono::Duration,
    /// Jobs a process runs at once — mostly sends waiting on the carrier, which hold no
    /// database connection meanwhile; `PROXYCALL_SEND_CONCURRENCY`.
    pub send_concurrency: usize,
}

/// Twilio's default limit of concurrent REST API requests per account (more are turned away
/// with 429, error 20429): the default never asks for more.
pub const DEFAULT_SEND_CONCURRENCY: usize = 100;

impl Default for Policy {
    fn default() -> Self {
        Self {
            retry_horizon: chrono::Duration::hours(24),
            settle_grace: chrono::Duration::seconds(120),
            send_concurrency: DEFAULT_SEND_CONCURRENCY,
        }
    }
}

/// The clocks of ProxyCall and of the carrier may differ by this much: a listed text created
/// this long before the message is still a candidate.
fn clock_skew() -> chrono::Duration {
    chrono::Duration::seconds(60)
}

type Outcome = Result<Option<serde_json::Value>, JobError>;

/// Sends one outbound message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendOutbound {
    pub outbound_id: i64,
}

impl Job for SendOutbound {
    const KIND: &'static str = SEND_JOB_KIND;
    const MAX_ATTEMPTS: i64 = SEND_JOB_MAX_ATTEMPTS;
    // A try that finds its message `sending` settles it before anything is sent: running a
    // send job again never sends twice.
    const INTERRUPTED: Interrupted = Interrupted::RunAgain;

    async fn run(self, ctx: JobContext) -> Outcome {
        let store = &ctx.app.store;
        let id = self.outbound_id;
        let message = match store.outbound_begin_send(id, ctx.attempt, ctx.now).await? {
            Some(m) => m,
            None => {
                let Some(m) = store.outbound_message(id).await? else {
                    // Purged.
                    return Ok(None);
                };
                match m.status {
                    OutboundStatus::Sent | OutboundStatus::Failed => return Ok(None),
                    OutboundStatus::Pending => {
                        return Err(JobError::retry("the message changed while it was read"));
                    }
                    OutboundStatus::Sending => {
                        if !settle(&ctx, &m).await? {
                            return Ok(None);
                        }
                        // Proved absent: sent again, as a new send.
                        match store.outbound_begin_send(id, ctx.attempt, ctx.now).await? {
                            Some(m) => m,
                            None => return Err(JobError::retry("the message changed meanwhile")),
                        }
                    }
                }
            }
        };
        send(&ctx, &message).await
    }
}

fn horizon_passed(ctx: &JobContext, m: &OutboundMessage) -> bool {
    ctx.now >= m.queued_at() + ctx.app.outbox.retry_horizon
}

fn count(m: &OutboundMessage, outcome: &'static str) {
    metrics::counter!("outbound_send_attempts_total", "kind" => m.kind.as_str(), "outcome" => outcome)
        .increment(1);
}

/// A send job's message, begun with others of its claim (`prepare`): what its try needs.
pub struct Prepared {
    pub message: OutboundMessage,
    /// Why it may no longer be sent, read with the others'; `None` when that read failed, and
    /// the send reads it itself.
    withheld: Option<Option<&'static str>>,
}

/// What a send came to, before anything is recorded of a text the carrier took.
pub enum Sending {
    /// The carrier took it as this SID: to be recorded with its job's end (`record_sent`
    /// when on its own).
    Accepted(String),
    /// Anything else, already recorded.
    Ended(Outcome),
}

/// Begins the sends of a claim's `(message id, try)` pairs together: one statement marks those
/// pending `sending`, one read decides again whether their texts may go. Returns the messages
/// begun, by id; a send job whose message is not among them runs on its own
/// (`SendOutbound::run`: its message is sent, failed, or in doubt).
pub async fn prepare(
    app: &crate::app::App,
    sends: &[(i64, i64)],
    now: DateTime<Utc>,
) -> crate::store::StoreResult<std::collections::HashMap<i64, Prepared>> {
    let begun = app.store.outbound_begin_sends(sends, now).await?;
    let texts: Vec<i64> = begun
        .iter()
        .filter(|m| m.kind == OutboundKind::Sms)
        .map(|m| m.id)
        .collect();
    let withheld = match app.store.sends_withheld(&texts).await {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "could not decide a batch of texts again: each decides on its own");
            None
        }
    };
    Ok(begun
        .into_iter()
        .map(|m| {
            let why = withheld
                .as_ref()
                .map(|w| w.iter().find(|(id, _)| *id == m.id).map(|(_, why)| *why));
            let withheld = match m.kind {
                OutboundKind::Sms => why,
                OutboundKind::Call => Some(None),
            };
            (
                m.id,
                Prepared {
                    message: m,
                    withheld,
                },
            )
        })
        .collect())
}

/// Sends a message `prepare` began. A text the carrier took is left for the caller to record
/// with its job's end (`Sending::Accepted`).
pub async fn send_prepared(ctx: &JobContext, p: &Prepared) -> Sending {
    let withheld = match p.withheld {
        Some(w) => w,
        None => match ctx.app.store.send_withheld(&p.message).await {
            Ok(w) => w,
            Err(e) => return Sending::Ended(Err(e.into())),
        },
    };
    attempt(ctx, &p.message, withheld).await
}

/// Asks the carrier, then records what it answered.
async fn send(ctx: &JobContext, m: &OutboundMessage) -> Outcome {
    let withheld = match m.kind {
        OutboundKind::Sms => ctx.app.store.send_withheld(m).await?,
        OutboundKind::Call => None,
    };
    match attempt(ctx, m, withheld).await {
        Sending::Accepted(sid) => record_sent(ctx, m, &sid, None).await,
        Sending::Ended(outcome) => outcome,
    }
}

/// Asks the carrier, unless `withheld`; records what it answered, but for a text it took.
async fn attempt(ctx: &JobContext, m: &OutboundMessage, withheld: Option<&'static str>) -> Sending {
    Sending::Ended(match try_send(ctx, m, withheld).await {
        Ok(sid) => return Sending::Accepted(sid),
        Err(outcome) => outcome,
    })
}

async fn try_send(
    ctx: &JobContext,
    m: &OutboundMessage,
    withheld: Option<&'static str>,
) -> Result<String, Outcome> {
    let app = &ctx.app;
    // Decided again now: a STOP or a block since it was written (held for quiet hours, or
    // requeued) withholds it.
    if let Some(reason) = withheld {
        return Err(withhold(ctx, m, reason).await);
    }
    let callback = app.routing.status_callback(m.kind, m.id);
    let result = match m.kind {
        OutboundKind::Sms if !m.media.is_empty() => {
            let body = m.body.as_deref().unwrap_or_default();
            app.carrier
                .send_mms(&m.from, &m.to, body, &m.media, Some(&callback))
                .await
        }
        OutboundKind::Sms => {
            let body = m.body.as_deref().unwrap_or_default();
            app.carrier
                .send_sms(&m.from, &m.to, body, Some(&callback))
                .await
        }
        OutboundKind::Call => {
            let url = m.url.as_deref().unwrap_or_default();
            app.carrier
                .place_call(&m.from, &m.to, url, Some(&callback))
                .await
        }
    };
    let e = match result {
        Ok(sid) => return Ok(sid),
        Err(e) => e,
    };
    Err(match e.send_failure() {
        SendFailure::NotSent => {
            let delay = e.retry_after().unwrap_or_default();
            not_sent(ctx, m, &e.to_string(), delay).await
        }
        SendFailure::Unknown => {
            let error = format!("outcome unknown, in doubt until settled: {e}");
            if let Err(e) = ctx.app.store.outbound_in_doubt(m.id, &error, ctx.now).await {
                return Err(Err(e.into()));
            }
            count(m, "in_doubt");
            tracing::warn!(id = m.id, kind = m.kind.as_str(), error = %e, attempt = ctx.attempt, "send outcome unknown: settled before any resend");
            Err(JobError::Retry {
                error,
                at: Some(send_began(m) + ctx.app.outbox.settle_grace),
            })
        }
        SendFailure::Refused => fail(ctx, m, "refused", e.to_string()).await,
    })
}

/// The carrier took it as `sid`. A failure to record that is retried — the recording, never
/// the send: the SID waits in the job's progress for the next try.
pub async fn record_sent(
    ctx: &JobContext,
    m: &OutboundMessage,
    sid: &str,
    delivery_status: Option<&str>,
) -> Outcome {
    let kind = m.kind.as_str();
    match ctx
        .app
        .store
        .outbound_sent(m.id, sid, delivery_status, ctx.now)
        .await
    {
        Ok(recorded) => {
            sent_recorded(&ctx.app, m, sid, ctx.attempt, !recorded).await;
            Ok(None)
        }
        Err(e) => {
            if let Err(progress) = ctx.progress(&json!({ "accepted_sid": sid })).await {
                tracing::warn!(id = m.id, error = %progress, "could not keep the SID of a sent message for the next try");
            }
            count(m, "unrecorded");
            tracing::warn!(id = m.id, kind, error = %e, "message sent, but not recorded yet: the recording is retried");
            Err(JobError::retry(format!(
                "sent as {sid}; recording it failed ({e}): the recording is retried, not the send"
            )))
        }
    }
}

/// Counts and logs a message recorded sent as `sid`. `by_callback`: a status callback had
/// recorded it first — the same SID, or a second copy, which is told.
pub async fn sent_recorded(
    app: &crate::app::App,
    m: &OutboundMessage,
    sid: &str,
    attempt: i64,
    by_callback: bool,
) {
    if by_callback {
        match app.store.outbound_message(m.id).await {
            Ok(stored) => {
                if let Some(other) = stored.and_then(|s| s.twilio_sid).filter(|s| s != sid) {
                    tracing::error!(id = m.id, sid, other, "the carrier took this message twice");
                }
            }
            Err(e) => {
                tracing::warn!(id = m.id, error = %e, "could not compare a sent message's SID with its callback's")
            }
        }
    }
    count(m, "sent");
    tracing::info!(id = m.id, kind = m.kind.as_str(), purpose = %m.purpose, to = %m.to.masked(), attempts = attempt, "message sent");
}

/// A send that surely did not leave: pending again, until the horizon.
async fn not_sent(
    ctx: &JobContext,
    m: &OutboundMessage,
    error: &str,
    retry_after: std::time::Duration,
) -> Outcome {
    if horizon_passed(ctx, m) {
        let hours = ctx.app.outbox.retry_horizon.num_hours();
        return fail(
            ctx,
            m,
            "retry_horizon",
            format!("not sent within {hours} h: {error}"),
        )
        .await;
    }
    ctx.app
        .store
        .outbound_not_sent(m.id, m.attempts, error, ctx.now)
        .await?;
    let delay = retry_after.max(backoff(ctx.attempt));
    count(m, "retry");
    tracing::warn!(id = m.id, kind = m.kind.as_str(), %error, attempt = ctx.attempt, retry_in_secs = delay.as_secs(), "send failed; will retry");
    Err(JobError::Retry {
        error: error.to_owned(),
        at: Some(ctx.now + chrono::Duration::from_std(delay).unwrap_or_default()),
    })
}

/// Not sent, and never will be: failed without a bounce (the sender of a blocked relay is not
/// told, as when its text came).
async fn withhold(ctx: &JobContext, m: &OutboundMessage, reason: &'static str) -> Outcome {
    ctx.app
        .store
        .outbound_failed(m.id, reason, false, None, ctx.now)
        .await?;
    count(m, "withheld");
    metrics::counter!("outbound_failed_total", "kind" => m.kind.as_str(), "reason" => reason)
        .increment(1);
    tracing::info!(id = m.id, purpose = m.purpose, reason, "send withheld");
    Ok(Some(serde_json::json!({ "withheld": reason })))
}

/// Given up: counted, with a reason of a fixed set.
async fn fail(
    ctx: &JobContext,
    m: &OutboundMessage,
    reason: &'static str,
    error: String,
) -> Outcome {
    let in_doubt = reason == "outcome_unknown";
    let bounce = ctx.app.routing.relay.bounce();
    let bounced = ctx
        .app
        .store
        .outbound_failed(m.id, &error, in_doubt, bounce.as_ref(), ctx.now)
        .await?;
    count(m, "failed");
    metrics::counter!("outbound_failed_total", "kind" => m.kind.as_str(), "reason" => reason)
        .increment(1);
    tracing::error!(id = m.id, kind = m.kind.as_str(), reason, %error, attempt = ctx.attempt, bounced, "send failed for good");
    Err(JobError::Fail(error))
}

/// Twilio's default (and largest) `TimeLimit` of a call.
const LONGEST_CALL: chrono::Duration = chrono::Duration::hours(4);

fn send_began(m: &OutboundMessage) -> DateTime<Utc> {
    m.send_started_at.unwrap_or(m.created_at)
}

/// Settles a message found `sending`: `Ok(true)` when it proved absent and may be sent again;
/// `Ok(false)` when it is settled as sent; an error to try again later, or failed.
async fn settle(ctx: &JobContext, m: &OutboundMessage) -> Result<bool, JobError> {
    if let Some(sid) = accepted_sid(ctx).await {
        record_sent(ctx, m, &sid, None).await?;
        return Ok(false);
    }
    // A call's only callback comes when it ends (Twilio's `completed`): wait out the longest
    // call (Twilio's 4 h time limit) rather than fail one still ringing or talking.
    let grace = match m.kind {
        OutboundKind::Sms => ctx.app.outbox.settle_grace,
        OutboundKind::Call => ctx.app.outbox.settle_grace.max(LONGEST_CALL),
    };
    let ready = send_began(m) + grace;
    if ctx.now < ready {
        return Err(JobError::Retry {
            error: "in doubt: waiting for its status callback or the carrier's listing".into(),
            at: Some(ready),
        });
    }
    if m.kind == OutboundKind::Call {
        fail(
            ctx,
            m,
            "outcome_unknown",
            "the call's outcome is unknown and no status callback came: a call is never placed \
             twice"
                .into(),
        )
        .await?;
        return Ok(false);
    }
    // Every try since the message was created, so that none of its sends is missed.
    let since = m.created_at - clock_skew();
    let listed = match ctx.app.carrier.sent_messages(&m.from, &m.to, since).await {
        Ok(listed) => listed,
        Err(e) => return still_in_doubt(ctx, m, format!("in doubt; listing failed: {e}")).await,
    };
    let body = m.body.as_deref().unwrap_or_default();
    let mut ours: Vec<&SentMessage> = Vec::new();
    let mut hidden = false;
    for sent in &listed {
        match judge(sent, body, since) {
            Judged::Ours => ours.push(sent),
            Judged::Hidden => hidden = true,
            Judged::Other => {}
        }
    }
    // A text of the same words that another message is recorded as is that one's.
    let sids: Vec<String> = ours.iter().map(|s| s.sid.clone()).collect();
    let taken = ctx.app.store.outbound_sids_taken(&sids, m.id).await?;
    ours.retain(|s| !taken.contains(&s.sid));
    ours.sort_by_key(|s| s.created_at);
    if let Some(found) = ours.first() {
        if ours.len() > 1 {
            tracing::error!(
                id = m.id,
                copies = ours.len(),
                "the carrier holds this text more than once"
            );
        }
        count(m, "settled_sent");
        tracing::info!(id = m.id, "send in doubt settled: the carrier has it");
        record_sent(ctx, m, &found.sid, found.status.as_deref()).await?;
        return Ok(false);
    }
    if hidden {
        return still_in_doubt(
            ctx,
            m,
            "in doubt; the carrier's listing hides texts' bodies, so it proves nothing".into(),
        )
        .await;
    }
    count(m, "settled_absent");
    tracing::info!(
        id = m.id,
        "send in doubt settled: the carrier does not have it; sending again"
    );
    if horizon_passed(ctx, m) {
        let hours = ctx.app.outbox.retry_horizon.num_hours();
        fail(
            ctx,
            m,
            "retry_horizon",
            format!("not sent within {hours} h (proved absent)"),
        )
        .await?;
        return Ok(false);
    }
    // Only if no other worker (one whose claim ran out meanwhile) began a send since.
    let again = ctx
        .app
        .store
        .outbound_not_sent(m.id, m.attempts, "proved not sent; sending again", ctx.now)
        .await?;
    if !again {
        return Err(JobError::retry("another try changed the message meanwhile"));
    }
    Ok(true)
}

/// Still in doubt: tried again later, until the horizon; then failed, as unknown.
async fn still_in_doubt(
    ctx: &JobContext,
    m: &OutboundMessage,
    error: String,
) -> Result<bool, JobError> {
    if horizon_passed(ctx, m) {
        fail(ctx, m, "outcome_unknown", error).await?;
        return Ok(false);
    }
    ctx.app
        .store
        .outbound_in_doubt(m.id, &error, ctx.now)
        .await?;
    tracing::warn!(id = m.id, %error, "send still in doubt; settled later");
    Err(JobError::Retry {
        at: Some(ctx.now + chrono::Duration::from_std(backoff(ctx.attempt)).unwrap_or_default()),
        error,
    })
}

/// The SID an earlier try of this job got from the carrier but could not record.
async fn accepted_sid(ctx: &JobContext) -> Option<String> {
    let job = ctx.app.store.job(ctx.job_id).await.ok()??;
    let progress: serde_json::Value = serde_json::from_str(job.progress.as_deref()?).ok()?;
    progress["accepted_sid"].as_str().map(str::to_owned)
}

#[derive(Debug, PartialEq, Eq)]
enum Judged {
    /// Created since the message was, with its words.
    Ours,
    /// Its body is hidden (the account redacts them): it may be ours.
    Hidden,
    Other,
}

fn judge(sent: &SentMessage, body: &str, since: DateTime<Utc>) -> Judged {
    if sent.created_at.is_some_and(|t| t < since) {
        return Judged::Other;
    }
    match sent.body.as_deref().map(normalise) {
        None => Judged::Hidden,
        Some(b) if b.is_empty() => Judged::Hidden,
        Some(b) if b == normalise(body) => Judged::Ours,
        Some(_) => Judged::Other,
    }
}

/// The words, whatever line endings or surrounding spaces the carrier gives back.
fn normalise(body: &str) -> String {
    body.replace("\r\n", "\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(body: Option<&str>, created: Option<DateTime<Utc>>) -> SentMessage {
        SentMessage {
            sid: "SM1".into(),
            body: body.map(str::to_owned),
            created_at: created,
            status: None,
        }
    }

    #[test]
    fn a_listed_text_is_ours_only_with_the_same_words_and_not_older() {
        let since = Utc::now();
        let after = Some(since + chrono::Duration::seconds(1));
        let before = Some(since - chrono::Duration::seconds(1));
        assert_eq!(
            judge(&listed(Some("Bonjour"), after), "Bonjour", since),
            Judged::Ours
        );
        assert_eq!(
            judge(&listed(Some("Bonjour\r\n"), None), "Bonjour\n", since),
            Judged::Ours
        );
        assert_eq!(
            judge(&listed(Some("Bonsoir"), after), "Bonjour", since),
            Judged::Other
        );
        assert_eq!(
            judge(&listed(Some("Bonjour"), before), "Bonjour", since),
            Judged::Other
        );
        assert_eq!(
            judge(&listed(Some(""), after), "Bonjour", since),
            Judged::Hidden
        );
        assert_eq!(
            judge(&listed(None, after), "Bonjour", since),
            Judged::Hidden
        );
    }
}
