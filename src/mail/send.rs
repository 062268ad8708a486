//! The `email.send` job: sends one e-mail of the outbox.
//!
//! - The e-mail is marked `sending` before the server is reached. A passing failure (no
//!   connection, a time-out, a 4xx answer) puts it back to `pending`, and its job tries again
//!   after the jobs' back-off, until the outbox's retry horizon (`PROXYCALL_OUTBOX_RETRY_HOURS`
//!   from its creation); then it fails. A permanent one (a 5xx answer, an address that cannot
//!   be written) fails at once.
//! - Sent or failed, its bodies are erased: a verification link is a credential.
//! - A job whose process died mid-send runs again and finds its e-mail `sending`: it sends it
//!   again. Unlike a carrier, an SMTP server cannot be asked whether it took a message, and of
//!   the two harms a duplicate e-mail is the lesser: a link that never arrives blocks the
//!   person waiting for it, the same link twice does nothing worse than annoy. Both copies
//!   carry one Message-ID, which lets a receiver drop the second.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{MailError, Outgoing};
use crate::jobs::{Interrupted, Job, JobContext, JobError, backoff};
use crate::store::{EMAIL_SEND_JOB_KIND, EMAIL_SEND_JOB_MAX_ATTEMPTS, EmailStatus, OutboundEmail};

type Outcome = Result<Option<serde_json::Value>, JobError>;

/// Sends one e-mail of the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendEmail {
    pub email_id: i64,
}

impl Job for SendEmail {
    const KIND: &'static str = EMAIL_SEND_JOB_KIND;
    const MAX_ATTEMPTS: i64 = EMAIL_SEND_JOB_MAX_ATTEMPTS;
    // Sent again when interrupted: a duplicate e-mail is the lesser harm (see the module).
    const INTERRUPTED: Interrupted = Interrupted::RunAgain;

    async fn run(self, ctx: JobContext) -> Outcome {
        let store = &ctx.app.store;
        let id = self.email_id;
        let Some(found) = store.email(id).await? else {
            // Purged.
            return Ok(None);
        };
        match found.status {
            EmailStatus::Sent | EmailStatus::Failed => return Ok(None),
            EmailStatus::Pending => {}
            EmailStatus::Sending => {
                if accepted_before(&ctx).await {
                    // An earlier try was accepted but could not record it: record it now.
                    return record_sent(&ctx, &found).await;
                }
                tracing::warn!(
                    id,
                    purpose = %found.purpose,
                    attempt = ctx.attempt,
                    "an e-mail's send was interrupted: sending it again (the addressee may get it twice)"
                );
            }
        }
        let Some(mail) = ctx.app.mail.clone() else {
            return fail(
                &ctx,
                &found,
                "no mailer: SMTP is not configured in this process (SMTP_HOST, SMTP_USER, \
                 SMTP_PASSWORD, SMTP_FROM)"
                    .into(),
            )
            .await;
        };
        let Some(email) = store.email_begin_send(id, ctx.attempt, ctx.now).await? else {
            // Settled meanwhile by a try whose claim had run out.
            return Ok(None);
        };
        let Some(text) = email.text.as_deref() else {
            return fail(&ctx, &email, "its text is gone".into()).await;
        };
        let outgoing = Outgoing {
            from: &mail.from,
            to: &email.to,
            subject: &email.subject,
            text,
            html: email.html.as_deref(),
            message_id: message_id(&email, &mail.from),
        };
        match mail.mailer.send(&outgoing).await {
            Ok(()) => record_sent(&ctx, &email).await,
            Err(MailError::Passing(error)) => not_sent(&ctx, &email, error).await,
            Err(MailError::Permanent(error)) => fail(&ctx, &email, error).await,
        }
    }
}

/// One per e-mail, the same for every try: its id and creation time, at the sender's domain.
fn message_id(email: &OutboundEmail, from: &crate::domain::Email) -> String {
    let domain = from
        .as_str()
        .rsplit('@')
        .next()
        .unwrap_or("proxycall.invalid");
    format!(
        "proxycall.{}.{}@{domain}",
        email.id,
        email.created_at.timestamp_micros()
    )
}

fn count(outcome: &'static str) {
    metrics::counter!("emails_sent_total", "outcome" => outcome).increment(1);
}

/// The server took it: sent, its bodies erased. A failure to record that is retried — the
/// recording, not the send, as long as the job's progress keeps that it was accepted.
async fn record_sent(ctx: &JobContext, email: &OutboundEmail) -> Outcome {
    match ctx.app.store.email_sent(email.id, ctx.now).await {
        Ok(_) => {
            count("sent");
            tracing::info!(
                id = email.id,
                purpose = %email.purpose,
                to = %email.to.masked(),
                attempts = ctx.attempt,
                "e-mail sent"
            );
            Ok(None)
        }
        Err(e) => {
            if let Err(progress) = ctx.progress(&json!({ "accepted": true })).await {
                tracing::warn!(id = email.id, error = %progress, "could not keep that an e-mail was accepted: the next try sends it again");
            }
            tracing::warn!(id = email.id, error = %e, "e-mail sent, but not recorded yet: the recording is retried");
            Err(JobError::retry(format!(
                "sent; recording it failed ({e}): the recording is retried"
            )))
        }
    }
}

/// Whether an earlier try of this job had the e-mail accepted but could not record it.
async fn accepted_before(ctx: &JobContext) -> bool {
    let Ok(Some(job)) = ctx.app.store.job(ctx.job_id).await else {
        return false;
    };
    job.progress
        .as_deref()
        .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
        .is_some_and(|p| p["accepted"] == true)
}

/// A passing failure: pending again, until the horizon.
async fn not_sent(ctx: &JobContext, email: &OutboundEmail, error: String) -> Outcome {
    let horizon = ctx.app.outbox.retry_horizon;
    if ctx.now >= email.created_at + horizon {
        let hours = horizon.num_hours();
        return fail(ctx, email, format!("not sent within {hours} h: {error}")).await;
    }
    ctx.app
        .store
        .email_not_sent(email.id, email.attempts, &error, ctx.now)
        .await?;
    let delay = backoff(ctx.attempt);
    count("retry");
    tracing::warn!(
        id = email.id,
        purpose = %email.purpose,
        %error,
        attempt = ctx.attempt,
        retry_in_secs = delay.as_secs(),
        "e-mail not sent; will retry"
    );
    Err(JobError::Retry {
        error,
        at: Some(ctx.now + chrono::Duration::from_std(delay).unwrap_or_default()),
    })
}

/// Given up: failed, its bodies erased.
async fn fail(ctx: &JobContext, email: &OutboundEmail, error: String) -> Outcome {
    ctx.app
        .store
        .email_failed(email.id, &error, ctx.now)
        .await?;
    count("failed");
    tracing::error!(
        id = email.id,
        purpose = %email.purpose,
        to = %email.to.masked(),
        %error,
        attempt = ctx.attempt,
        "e-mail failed for good"
    );
    Err(JobError::Fail(error))
}
