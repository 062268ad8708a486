//! The cascade, as durable jobs (SPEC §7): still `PENDING` `call_after` after the code's text,
//! a call reads a code (`PENDING_CALL`); still waiting `link_after` later, a single-use link
//! goes by SMS and e-mail (`PENDING_MAIL`). Each step is one transaction conditional on the
//! status, with a dedupe key on what it sends: a step run twice (a restart, two processes)
//! sends once. A periodic sweep expires old activations and gives their numbers back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::code;
use crate::app::App;
use crate::domain::{ActivationStatus, PendingId};
use crate::jobs::{Job, JobContext, JobError};
use crate::store::{
    Activation, LinkMessages, NewJob, NewOutbound, OutboundKind, RequestLimits, ResendRefused,
};

type Outcome = Result<Option<serde_json::Value>, JobError>;

/// The cascade's call for activation `id`, due at `due_at`.
pub(super) fn call_job(id: &PendingId, due_at: DateTime<Utc>) -> NewJob {
    new_job(
        &CascadeCall {
            pending_id: id.to_string(),
        },
        due_at,
        format!("activation:{id}:call-step"),
    )
}

/// The job that points the proxy's webhooks at this server.
pub(super) fn webhooks_job(id: &PendingId, due_at: DateTime<Utc>) -> NewJob {
    new_job(
        &EnsureWebhooks {
            pending_id: id.to_string(),
        },
        due_at,
        format!("activation:{id}:webhooks"),
    )
}

fn link_job(id: &PendingId, due_at: DateTime<Utc>) -> NewJob {
    new_job(
        &CascadeLink {
            pending_id: id.to_string(),
        },
        due_at,
        format!("activation:{id}:link-step"),
    )
}

fn new_job<J: Job>(job: &J, due_at: DateTime<Utc>, key: String) -> NewJob {
    NewJob {
        kind: J::KIND.to_owned(),
        payload: serde_json::to_string(job).expect("a job payload serialises"),
        due_at,
        max_attempts: J::MAX_ATTEMPTS,
        dedupe_key: Some(key),
    }
}

/// A verification call from the proxy to the phone; its script is
/// `/twilio/voice/otp?pending_id=…`. `dedupe_key` makes the cascade's call once.
pub(super) fn call(app: &App, a: &Activation, dedupe_key: Option<String>) -> NewOutbound {
    NewOutbound {
        kind: OutboundKind::Call,
        purpose: "otp_call",
        from: a.proxy.clone(),
        to: a.phone.clone(),
        body: None,
        url: Some(format!(
            "{}/twilio/voice/otp?pending_id={}",
            app.routing.public_base_url, a.pending_id
        )),
        dedupe_key,
        relay: None,
    }
}

/// Issues a new single-use link and queues it by SMS and — with SMTP set up — by e-mail.
pub(super) async fn send_link(
    app: &App,
    a: &Activation,
    from: &[ActivationStatus],
    limits: Option<&RequestLimits>,
    now: DateTime<Utc>,
) -> Result<Result<(), ResendRefused>, crate::store::StoreError> {
    let words = app.activation.words;
    // Two tokens: the texted link proves the phone, the e-mailed one only the e-mail.
    let (token, hash) = code::new_link_token();
    let link = format!(
        "{}/confirmations/verify?token={token}",
        app.routing.public_base_url
    );
    let (mail_token, mail_hash) = code::new_link_token();
    let mail_link = format!(
        "{}/confirmations/verify?token={mail_token}",
        app.routing.public_base_url
    );
    let sms = NewOutbound {
        kind: OutboundKind::Sms,
        purpose: "otp_link",
        from: a.proxy.clone(),
        to: a.phone.clone(),
        body: Some(words.otp_link_sms.replace("{link}", &link)),
        url: None,
        dedupe_key: None,
        relay: None,
    };
    let email = super::email::link_email(app, a, &mail_link);
    let messages = LinkMessages {
        token_hash: &hash,
        sms: &sms,
        email: email.as_ref().map(|e| (e, mail_hash.as_str())),
    };
    app.store
        .queue_link(&a.pending_id, from, &messages, limits, now)
        .await
}

fn parse_id(raw: &str) -> Result<PendingId, JobError> {
    PendingId::parse(raw).map_err(|e| JobError::Fail(format!("pending_id {e}")))
}

/// The cascade's second step: a call that reads a code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CascadeCall {
    pub pending_id: String,
}

impl Job for CascadeCall {
    const KIND: &'static str = "activation.call";

    async fn run(self, ctx: JobContext) -> Outcome {
        let app = &ctx.app;
        let id = parse_id(&self.pending_id)?;
        let Some(a) = app.store.activation(&id).await? else {
            return Ok(Some(json!({"skipped": "not found"})));
        };
        let next = link_job(&id, ctx.now + app.activation.link_after);
        if a.status != ActivationStatus::Pending {
            // A call sent by hand already: the link still follows.
            if a.status == ActivationStatus::PendingCall {
                app.store.enqueue_job(&next, ctx.now).await?;
            }
            return Ok(Some(json!({"skipped": a.status.as_str()})));
        }
        let call = call(app, &a, Some(format!("activation:{id}:call")));
        let done = app
            .store
            .queue_call(
                &id,
                &[ActivationStatus::Pending],
                &call,
                Some(&next),
                None,
                ctx.now,
            )
            .await?;
        Ok(Some(match done {
            Ok(()) => {
                metrics::counter!("activation_channel_total", "channel" => "call").increment(1);
                tracing::info!(pending_id = %id, "activation: verification call queued");
                app.job_wake.notify_waiters();
                json!({"call": "queued"})
            }
            Err(r) => json!({"skipped": format!("{r:?}")}),
        }))
    }
}

/// Makes sure the proxy's voice and SMS webhooks point at this server (SPEC §7): a number put
/// in the pool by hand may still point at the earlier version, and the answer by SMS or call
/// would never reach us.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnsureWebhooks {
    pub pending_id: String,
}

impl Job for EnsureWebhooks {
    const KIND: &'static str = "activation.webhooks";

    async fn run(self, ctx: JobContext) -> Outcome {
        let app = &ctx.app;
        let id = parse_id(&self.pending_id)?;
        let Some(a) = app.store.activation(&id).await? else {
            return Ok(Some(json!({"skipped": "not found"})));
        };
        if !a.status.is_waiting() {
            return Ok(Some(json!({"skipped": a.status.as_str()})));
        }
        // A number the carrier knows by its SID; one without (tests, hand-made rows) is left.
        let Some(sid) = app
            .store
            .pool_number(&a.proxy)
            .await?
            .and_then(|n| n.twilio_sid)
        else {
            return Ok(Some(json!({"skipped": "no carrier SID"})));
        };
        let base = &app.routing.public_base_url;
        let update = crate::carrier::WebhookUpdate {
            voice_url: Some(format!("{base}/twilio/voice")),
            sms_url: Some(format!("{base}/twilio/sms")),
            friendly_name: None,
        };
        match app.carrier.update_number(&sid, &update).await {
            Ok(_) => Ok(Some(json!({"webhooks": "set"}))),
            Err(e) if e.is_transient() => Err(JobError::retry(e)),
            Err(e) => {
                tracing::warn!(pending_id = %id, error = %e, "activation: webhooks not set");
                Err(JobError::Fail(e.to_string()))
            }
        }
    }
}

/// The cascade's last step: the single-use link, by SMS and e-mail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CascadeLink {
    pub pending_id: String,
}

impl Job for CascadeLink {
    const KIND: &'static str = "activation.link";

    async fn run(self, ctx: JobContext) -> Outcome {
        let app = &ctx.app;
        let id = parse_id(&self.pending_id)?;
        let Some(a) = app.store.activation(&id).await? else {
            return Ok(Some(json!({"skipped": "not found"})));
        };
        let from = [ActivationStatus::Pending, ActivationStatus::PendingCall];
        if !from.contains(&a.status) {
            return Ok(Some(json!({"skipped": a.status.as_str()})));
        }
        Ok(Some(
            match send_link(app, &a, &from, None, ctx.now).await? {
                Ok(()) => {
                    metrics::counter!("activation_channel_total", "channel" => "link").increment(1);
                    tracing::info!(pending_id = %id, "activation: verification link queued");
                    app.job_wake.notify_waiters();
                    json!({"link": "queued"})
                }
                Err(r) => json!({"skipped": format!("{r:?}")}),
            },
        ))
    }
}

/// How long a reservation outlives the activation that ended without confirming it.
pub const RESERVATION_GRACE: chrono::Duration = chrono::Duration::minutes(10);

/// Every few minutes: activations older than `PROXYCALL_ACTIVATION_EXPIRE_HOURS` expire;
/// numbers held by activations that ended (expired, locked) more than 10 minutes ago go back
/// to the pool; finished activations past the retention are deleted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActivationSweep {
    pub retention_days: i64,
}

impl Job for ActivationSweep {
    const KIND: &'static str = "activations.sweep";

    async fn run(self, ctx: JobContext) -> Outcome {
        let app = &ctx.app;
        let now = ctx.now;
        let (expired, released) = app
            .store
            .expire_activations(
                now - app.activation.expire_after,
                now - RESERVATION_GRACE,
                now,
            )
            .await?;
        let purged = app
            .store
            .purge_activations(
                now - chrono::Duration::days(self.retention_days),
                now - chrono::Duration::days(2),
            )
            .await?;
        metrics::counter!("activations_expired_total").increment(expired.len() as u64);
        if !expired.is_empty() || released > 0 {
            tracing::info!(
                expired = expired.len(),
                released,
                purged,
                "activations swept"
            );
        }
        Ok(Some(json!({
            "expired": expired.len(),
            "released": released,
            "purged": purged,
        })))
    }
}
