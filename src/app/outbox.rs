//! The outbox's use cases besides sending (`crate::outbox` sends): the carrier's status
//! callbacks, and the operator putting failed messages back in the queue.

use chrono::{DateTime, Utc};

use super::{App, AppResult};
use crate::store::{
    CallbackApplied, FailedOutbound, OutboundKind, OutboundMessage, OutboundStatus, undelivered,
};

/// A status callback from the carrier about something we sent.
#[derive(Debug, Clone)]
pub struct StatusCallback {
    pub kind: OutboundKind,
    /// The message the callback's address names (`?outbound_id=N`), when it does: callbacks
    /// configured by hand, or by an earlier version, name none.
    pub outbound_id: Option<i64>,
    pub sid: String,
    /// The carrier's status: `sent`, `delivered`, `failed`… for a text; `completed`, `busy`…
    /// for a call.
    pub status: String,
}

/// Records a status callback. One naming its message settles a send in doubt: the carrier
/// could only call back about a message it took. One saying a relayed text was not delivered
/// (`undelivered`, `failed`: Twilio's 21610 for a recipient who opted out among the reasons)
/// bounces it to its sender, once, in the same transaction.
pub async fn status_callback(app: &App, cb: StatusCallback) -> AppResult<()> {
    let channel = match cb.kind {
        OutboundKind::Sms => "sms_status",
        OutboundKind::Call => "voice_status",
    };
    let bounce = app.routing.relay.bounce();
    let outcome = match cb.outbound_id {
        Some(id) => {
            match app
                .store
                .outbound_callback(id, &cb.sid, &cb.status, bounce.as_ref(), Utc::now())
                .await?
            {
                // Most often the first callback of a send whose worker is about to record it;
                // for a send in doubt, what settles it.
                CallbackApplied::Settled => {
                    tracing::debug!(id, status = %cb.status, "status callback: the carrier has the message");
                    "settled"
                }
                CallbackApplied::Recorded => "recorded",
                CallbackApplied::OtherSid => {
                    tracing::error!(
                        id,
                        "status callback for a second copy of a sent message: the carrier took it twice"
                    );
                    "other_sid"
                }
                CallbackApplied::Unknown => "unknown_message",
            }
        }
        None => {
            // Twilio may call back before the worker has stored the SID its send returned:
            // an unknown SID is tried again a few times, briefly, before it is given up.
            let mut known = false;
            for attempt in 0..4 {
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                known = app
                    .store
                    .outbound_delivery_status(&cb.sid, &cb.status, bounce.as_ref(), Utc::now())
                    .await?;
                if known {
                    break;
                }
            }
            if known { "recorded" } else { "unknown_sid" }
        }
    };
    metrics::counter!("webhook_outcomes_total", "channel" => channel, "outcome" => outcome)
        .increment(1);
    tracing::debug!(outcome, status = %cb.status, "status callback");
    if cb.kind == OutboundKind::Sms && undelivered(&cb.status) {
        // A bounce may have been queued: the workers need not wait for their next poll.
        app.job_wake.notify_waiters();
    }
    Ok(())
}

/// What a requeue did.
#[derive(Debug, Default)]
pub struct Requeued {
    /// Back in the queue, each with a new send job.
    pub requeued: Vec<OutboundMessage>,
    /// Left as they were, and why.
    pub refused: Vec<(i64, String)>,
}

/// Why message `m` may not be requeued, if it may not.
fn refusal(m: &OutboundMessage) -> Option<String> {
    match m.status {
        OutboundStatus::Sent => Some("sent already".into()),
        OutboundStatus::Sending => {
            Some("in doubt (it may have left): it is settled by itself, never sent blindly".into())
        }
        OutboundStatus::Pending => Some("queued already".into()),
        OutboundStatus::Failed if m.kind == OutboundKind::Sms && m.body.is_none() => {
            Some("its text was erased".into())
        }
        // Pictures alone, whose addresses went when it failed: nothing is left to send.
        OutboundStatus::Failed if m.kind == OutboundKind::Sms && m.body.as_deref() == Some("") => {
            Some("its pictures were erased".into())
        }
        OutboundStatus::Failed if m.kind == OutboundKind::Call && m.send_started_at.is_some() => {
            Some("the call may have been placed: a call is never placed twice".into())
        }
        OutboundStatus::Failed => None,
    }
}

/// Puts these failed messages back in the queue, in one transaction; refuses the others
/// (sent, in doubt, queued, unknown), saying why.
pub async fn requeue(app: &App, ids: &[i64], now: DateTime<Utc>) -> AppResult<Requeued> {
    let mut done = Requeued::default();
    let mut candidates = Vec::new();
    for &id in ids {
        match app.store.outbound_message(id).await? {
            None => done.refused.push((id, "no such message".into())),
            Some(m) => match refusal(&m) {
                Some(why) => done.refused.push((id, why)),
                None => candidates.push(m),
            },
        }
    }
    let ids: Vec<i64> = candidates.iter().map(|m| m.id).collect();
    let back = app.store.outbound_requeue(&ids, now).await?;
    for m in candidates {
        if back.contains(&m.id) {
            tracing::info!(id = m.id, kind = m.kind.as_str(), to = %m.to.masked(), "message requeued");
            done.requeued.push(m);
        } else {
            done.refused.push((m.id, "changed meanwhile".into()));
        }
    }
    if !done.requeued.is_empty() {
        app.job_wake.notify_waiters();
    }
    Ok(done)
}

/// Puts back in the queue every message that failed at or after `since`.
pub async fn requeue_failed_since(
    app: &App,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<Requeued> {
    let failed = app.store.outbound_failed_since(since).await?;
    let ids: Vec<i64> = failed.iter().map(|m| m.id).collect();
    requeue(app, &ids, now).await
}

/// A page of failed messages, newest first, those with an id below `after`; never a body.
pub async fn failed_page(
    app: &App,
    after: Option<i64>,
    limit: i64,
) -> AppResult<Vec<FailedOutbound>> {
    Ok(app.store.failed_outbound_page(after, limit).await?)
}
