//! The outbox: every text or call ProxyCall sends is written first (`outbound_messages`, in
//! the transaction of the change that calls for it) with its sending job, `outbound.send`.
//!
//! The job sends it through the carrier and records the outcome: sent; retry later with
//! exponential back-off and jitter on a passing failure (network, 429, 5xx); failed on a
//! refusal (4xx) or after the last try. The job's claim is the message's: one worker, in one
//! process, has it. A message whose worker vanished mid-send is not retried (its job is
//! at-most-once, and `abandon_interrupted_sends` fails the message): it may have left, and
//! nothing is sent twice.

use serde::{Deserialize, Serialize};

use crate::carrier::CarrierError;
use crate::jobs::{Interrupted, Job, JobContext, JobError, backoff};
use crate::store::{OutboundKind, SEND_JOB_KIND};

/// Tries per message, the first included.
pub const MAX_ATTEMPTS: i64 = 8;

/// Sends one outbound message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendOutbound {
    pub outbound_id: i64,
}

impl Job for SendOutbound {
    const KIND: &'static str = SEND_JOB_KIND;
    // The message counts its own tries; this is a backstop.
    const MAX_ATTEMPTS: i64 = 100;
    const INTERRUPTED: Interrupted = Interrupted::Fail;

    async fn run(self, ctx: JobContext) -> Result<Option<serde_json::Value>, JobError> {
        let app = &ctx.app;
        let now = ctx.now;
        // This try's number: the job's tries are the message's.
        let attempts = ctx.attempt;
        let Some(m) = app
            .store
            .outbound_message(self.outbound_id)
            .await?
            .filter(|m| m.status == "pending")
        else {
            // Sent or failed already: nothing to do.
            return Ok(None);
        };
        let kind = m.kind.as_str();
        let result = match m.kind {
            OutboundKind::Sms => {
                let body = m.body.as_deref().unwrap_or_default();
                let callback = app.routing.sms_status_callback();
                app.carrier
                    .send_sms(&m.from, &m.to, body, Some(&callback))
                    .await
            }
            OutboundKind::Call => {
                let url = m.url.as_deref().unwrap_or_default();
                app.carrier.place_call(&m.from, &m.to, url).await
            }
        };
        // From here the carrier has been asked: whatever goes wrong now must not send again.
        // A store that fails to record the outcome fails the job, and the lease check then
        // fails the message (`abandon_interrupted_sends`).
        let unrecorded = |e: crate::store::StoreError| {
            JobError::Fail(format!(
                "the send's outcome could not be recorded ({e}); not sent again"
            ))
        };
        match result {
            Ok(sid) => {
                app.store
                    .outbound_sent(m.id, &sid, attempts, now)
                    .await
                    .map_err(unrecorded)?;
                metrics::counter!("outbound_send_attempts_total", "kind" => kind, "outcome" => "sent").increment(1);
                tracing::info!(id = m.id, kind, purpose = %m.purpose, to = %m.to.masked(), attempts, "message sent");
                Ok(None)
            }
            Err(e) if e.is_transient() && attempts < MAX_ATTEMPTS => {
                let delay = match &e {
                    CarrierError::RateLimited {
                        retry_after: Some(after),
                    } => (*after).max(backoff(attempts)),
                    _ => backoff(attempts),
                };
                app.store
                    .outbound_retry(m.id, &e.to_string(), attempts, now)
                    .await
                    .map_err(unrecorded)?;
                metrics::counter!("outbound_send_attempts_total", "kind" => kind, "outcome" => "retry").increment(1);
                tracing::warn!(id = m.id, kind, error = %e, attempts, retry_in_secs = delay.as_secs(), "send failed; will retry");
                Err(JobError::Retry {
                    error: e.to_string(),
                    at: Some(now + chrono::Duration::from_std(delay).unwrap_or_default()),
                })
            }
            Err(e) => {
                app.store
                    .outbound_failed(m.id, &e.to_string(), attempts, now)
                    .await
                    .map_err(unrecorded)?;
                metrics::counter!("outbound_send_attempts_total", "kind" => kind, "outcome" => "failed").increment(1);
                tracing::error!(id = m.id, kind, error = %e, attempts, "send failed for good");
                Err(JobError::Fail(e.to_string()))
            }
        }
    }
}
