//! Activation with a one-time code (SPEC §7): a new client proves they own their phone before
//! their proxy goes live.
//!
//! `start` reserves a number (or reuses an existing client's proxy) and texts a code from it;
//! the cascade (`cascade.rs`, durable jobs) calls to read a code if nothing came back, then
//! sends a single-use link by SMS and e-mail. Any channel's right answer promotes, in one
//! transaction; wrong answers are counted across channels and lock the activation at
//! `PROXYCALL_OTP_MAX_WRONG`. Codes are kept only as keyed hashes (`code.rs`); a code is never
//! logged, nor is a token or a text's body.

mod cascade;
pub mod code;
mod email;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use cascade::{ActivationSweep, CascadeCall, CascadeLink, EnsureWebhooks};
pub use code::CodeKey;

use super::{App, AppError, AppResult, ConflictKind};
use crate::domain::{
    ActivationStatus, ClientName, ContactChange, CountryIso, E164, Email, NumberType, PendingId,
    code_in_text,
};
use crate::messages::{Catalogue, Language};
use crate::store::{
    Activation, CallStart, Channel, CodeHash, Created, Direction, NewInteraction, NewOutbound,
    OutboundKind, Outcome, Promoted, Promotion, Proof, RequestLimits, ResendRefused, WrongAnswer,
};

/// How activation behaves in this deployment.
#[derive(Debug, Clone)]
pub struct Policy {
    /// What the texts, calls and e-mails say.
    pub words: &'static Catalogue,
    pub key: CodeKey,
    pub ttl: chrono::Duration,
    pub max_wrong: i64,
    pub call_after: chrono::Duration,
    pub link_after: chrono::Duration,
    pub expire_after: chrono::Duration,
    pub limits: RequestLimits,
    /// `TWILIO_PHONE_COUNTRY` and `TWILIO_NUMBER_TYPE`: what a request without them asks for.
    pub default_country: CountryIso,
    pub default_type: NumberType,
}

impl Default for Policy {
    fn default() -> Self {
        let otp = crate::config::OtpSettings::default();
        Self::from_settings(
            &otp,
            Language::Fr,
            CodeKey::random(),
            CountryIso::parse("FR").expect("FR is a country"),
            NumberType::Mobile,
        )
    }
}

impl Policy {
    pub fn from_settings(
        otp: &crate::config::OtpSettings,
        language: Language,
        key: CodeKey,
        default_country: CountryIso,
        default_type: NumberType,
    ) -> Self {
        Self {
            words: Catalogue::get(language),
            key,
            ttl: otp.ttl,
            max_wrong: otp.max_wrong,
            call_after: otp.call_after,
            link_after: otp.link_after,
            expire_after: otp.expire_after,
            limits: RequestLimits {
                min_interval: otp.min_interval,
                per_phone_per_day: otp.per_phone_per_day,
                per_email_per_day: otp.per_email_per_day,
            },
            default_country,
            default_type,
        }
    }
}

/// An activation an operator's system (or the self-service page) asks for.
#[derive(Debug, Clone)]
pub struct NewActivation {
    pub pending_id: Option<PendingId>,
    pub name: ClientName,
    pub mail: Email,
    pub phone: E164,
    pub country: Option<CountryIso>,
    pub number_type: Option<NumberType>,
}

#[derive(Debug, Clone)]
pub struct Started {
    pub pending_id: PendingId,
    pub proxy_number: E164,
    pub status: ActivationStatus,
    /// `mobile`, `local` or `existant`.
    pub number_type: String,
    /// An activation of this phone or e-mail was under way: it is answered, nothing new
    /// was reserved or sent.
    pub already_under_way: bool,
}

/// Where an activation stands, for `GET /confirmations/status` and the self-service page.
#[derive(Debug, Clone)]
pub struct ActivationView {
    pub pending_id: PendingId,
    pub status: ActivationStatus,
    pub proxy_number: E164,
    pub created_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
    pub wrong_answers: i64,
    pub max_wrong: i64,
}

/// The channels a code can be sent again on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResendChannel {
    Sms,
    Voice,
    Email,
}

impl ResendChannel {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "sms" => Some(Self::Sms),
            "voice" => Some(Self::Voice),
            "email" => Some(Self::Email),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Voice => "voice",
            Self::Email => "email",
        }
    }
}

fn limited(l: crate::store::Limited) -> AppError {
    AppError::TooManyRequests {
        code: l.code,
        retry_after: l.retry_after.to_std().unwrap_or(Duration::from_secs(1)),
    }
}

fn not_waiting(status: ActivationStatus) -> AppError {
    AppError::Conflict {
        kind: ConflictKind::NotPending,
        message: format!("Confirmation non en attente (status={status})"),
    }
}

fn refused(r: ResendRefused) -> AppError {
    match r {
        ResendRefused::NotFound => AppError::NotFound { what: "pending_id" },
        ResendRefused::NotWaiting(s) => not_waiting(s),
        ResendRefused::Limited(l) => limited(l),
    }
}

/// Starts an activation: answers the one under way for this phone or e-mail, or — within
/// the limits — reserves a number and texts a code from it.
pub async fn start(app: &App, new: NewActivation) -> AppResult<Started> {
    let policy = &app.activation;
    // Codes go by SMS and call to this phone: never to a premium-rate or service number (each
    // text would cost), one of ours, or a country the service does not serve.
    super::clients::check_real_phone(app, &new.phone).await?;
    if !app.routing.allow_list.allows(&new.phone) {
        return Err(AppError::Invalid {
            field: "client_real_phone",
            message:
                "is in a country this service does not serve (PROXYCALL_ALLOWED_CALLING_CODES)"
                    .into(),
        });
    }
    let now = Utc::now();
    let pending_id = new.pending_id.unwrap_or_else(PendingId::generate);
    let country = new.country.unwrap_or(policy.default_country);
    let wanted = new.number_type.unwrap_or(policy.default_type);
    let code = code::new_code();
    let row = crate::store::NewActivation {
        code: CodeHash {
            hash: policy.key.hash(&pending_id, &code),
            expires_at: now + policy.ttl,
        },
        sms_body: policy.words.otp_sms.replace("{code}", &code),
        call_job: cascade::call_job(&pending_id, now + policy.call_after),
        webhooks_job: cascade::webhooks_job(&pending_id, now),
        pending_id,
        name: new.name,
        mail: new.mail,
        phone: new.phone,
        country,
        types: vec![wanted, wanted.other()],
        under_way_since: now - chrono::Duration::hours(24),
        limits: policy.limits,
    };
    let (activation, already) = match app.store.create_activation(&row, now).await? {
        Created::Created(a) => (a, false),
        Created::UnderWay(a) => (a, true),
        Created::IdTaken(a) => {
            return Err(AppError::Conflict {
                kind: ConflictKind::PendingIdTaken,
                message: format!(
                    "pending_id {} is taken by another activation (status={})",
                    a.pending_id, a.status
                ),
            });
        }
        Created::Limited(l) => {
            tracing::info!(limit = l.code, phone = %row.phone.masked(), "activation refused");
            return Err(limited(l));
        }
        Created::NoNumber => {
            return Err(super::pool_exhausted(app.store.as_ref(), country, &row.types).await);
        }
    };
    if already {
        tracing::info!(pending_id = %activation.pending_id, "activation already under way");
    } else {
        metrics::counter!("activations_started_total").increment(1);
        metrics::counter!("activation_channel_total", "channel" => "sms").increment(1);
        tracing::info!(
            pending_id = %activation.pending_id,
            phone = %activation.phone.masked(),
            mail = %activation.mail.masked(),
            number_type = %activation.number_type,
            "activation started"
        );
        app.job_wake.notify_waiters();
    }
    Ok(Started {
        pending_id: activation.pending_id,
        proxy_number: activation.proxy,
        status: activation.status,
        number_type: activation.number_type,
        already_under_way: already,
    })
}

pub async fn status(app: &App, id: &PendingId) -> AppResult<ActivationView> {
    let a = app
        .store
        .activation(id)
        .await?
        .ok_or(AppError::NotFound { what: "pending_id" })?;
    Ok(ActivationView {
        pending_id: a.pending_id,
        status: a.status,
        proxy_number: a.proxy,
        created_at: a.created_at,
        verified_at: a.verified_at,
        wrong_answers: a.wrong_answers,
        max_wrong: app.activation.max_wrong,
    })
}

/// Sends the code again on `channel`, within the limits: a new code by SMS (the earlier ones
/// stop working), a call that reads a new one, or a new single-use link by SMS and e-mail.
pub async fn resend(app: &App, id: &PendingId, channel: ResendChannel) -> AppResult<()> {
    let policy = &app.activation;
    let now = Utc::now();
    let a = app
        .store
        .activation(id)
        .await?
        .ok_or(AppError::NotFound { what: "pending_id" })?;
    if !a.status.is_waiting() {
        return Err(not_waiting(a.status));
    }
    let waiting = ActivationStatus::WAITING;
    let done = match channel {
        ResendChannel::Sms => {
            let code = code::new_code();
            let hash = CodeHash {
                hash: policy.key.hash(id, &code),
                expires_at: now + policy.ttl,
            };
            let sms = NewOutbound {
                kind: OutboundKind::Sms,
                purpose: "otp",
                from: a.proxy.clone(),
                to: a.phone.clone(),
                body: Some(policy.words.otp_sms.replace("{code}", &code)),
                url: None,
                dedupe_key: None,
                relay: None,
            };
            app.store
                .resend_code(id, &hash, &sms, &policy.limits, now)
                .await?
        }
        ResendChannel::Voice => {
            let call = cascade::call(app, &a, None);
            app.store
                .queue_call(id, &waiting, &call, None, Some(&policy.limits), now)
                .await?
        }
        ResendChannel::Email => cascade::send_link(app, &a, &waiting, Some(&policy.limits), now)
            .await?
            .map(|_| ()),
    };
    done.map_err(refused)?;
    let reached = match channel {
        ResendChannel::Sms => "sms",
        ResendChannel::Voice => "call",
        ResendChannel::Email => "link",
    };
    metrics::counter!("activation_channel_total", "channel" => reached).increment(1);
    tracing::info!(pending_id = %id, channel = channel.as_str(), "code sent again");
    app.job_wake.notify_waiters();
    Ok(())
}

/// What `POST /confirmations/expire` freed.
#[derive(Debug, Clone)]
pub struct ExpireReport {
    pub expired: Vec<crate::store::Expired>,
    pub released_total: u64,
}

/// Expires waiting activations older than `hours`, and gives back at once the numbers of
/// every activation that ended.
pub async fn expire(app: &App, hours: i64) -> AppResult<ExpireReport> {
    let now = Utc::now();
    let (expired, released_total) = app
        .store
        .expire_activations(now - chrono::Duration::hours(hours), now, now)
        .await?;
    metrics::counter!("activations_expired_total").increment(expired.len() as u64);
    tracing::info!(
        expired = expired.len(),
        released = released_total,
        "activations expired on demand"
    );
    Ok(ExpireReport {
        expired,
        released_total,
    })
}

/// Expires one waiting activation at once (an operator's decision, from the dashboard): its
/// codes and links stop working and the number it reserved goes back to the pool.
pub async fn expire_one(app: &App, id: &PendingId) -> AppResult<crate::store::Expired> {
    let expired = app
        .store
        .expire_activation(id, Utc::now())
        .await?
        .map_err(refused)?;
    metrics::counter!("activations_expired_total").increment(1);
    tracing::info!(pending_id = %id, "activation expired by an operator");
    Ok(expired)
}

/// How an answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// The activation was promoted.
    Confirmed(ActivationStatus),
    Wrong {
        /// This answer locked the activation.
        locked: bool,
        /// Wrong tries of the call it came from.
        call_tries: i64,
    },
    /// The activation no longer waits (promoted meanwhile, expired, locked).
    NotWaiting(ActivationStatus),
    /// A retried webhook: nothing changed.
    Duplicate,
    /// A code sent, but past its time: not counted.
    Expired,
    /// Right, but an existing client's contact would change and this channel does not prove
    /// the contact that stays: nothing changed.
    NeedsProof(ContactChange),
}

/// Checks `given` against the live codes; a right one promotes, a wrong one is counted.
async fn answer(
    app: &App,
    a: &Activation,
    given: Option<&str>,
    channel: &'static str,
    call_sid: Option<&str>,
    sid: Option<&str>,
) -> AppResult<Answered> {
    let policy = &app.activation;
    let now = Utc::now();
    let live = app.store.live_codes(&a.pending_id, now).await?;
    let right = given.is_some_and(|g| policy.key.matches(&a.pending_id, g, &live));
    let interaction = |outcome| {
        sid.map(|sid| NewInteraction {
            occurred_at: now,
            proxy: a.proxy.clone(),
            client_id: a.client_id,
            direction: Direction::FromClient,
            channel: Channel::Sms,
            outcome,
            twilio_sid: Some(sid.to_owned()),
        })
    };
    if right {
        return promote(
            app,
            a,
            channel,
            interaction(Outcome::OtpAccepted),
            Proof::Phone,
        )
        .await;
    }
    // A code sent but past its time is no guess: say so, and count nothing.
    if let Some(g) = given {
        let sent = app.store.activation_codes(&a.pending_id).await?;
        if policy.key.matches(&a.pending_id, g, &sent) {
            tracing::info!(pending_id = %a.pending_id, channel, "expired code");
            return Ok(Answered::Expired);
        }
    }
    let wrong = app
        .store
        .wrong_answer(
            &a.pending_id,
            call_sid,
            interaction(Outcome::OtpRefused).as_ref(),
            policy.max_wrong,
            now,
        )
        .await?;
    Ok(match wrong {
        WrongAnswer::Counted {
            wrong_answers,
            locked,
            call_tries,
        } => {
            metrics::counter!("activation_wrong_answers_total", "channel" => channel).increment(1);
            if locked {
                metrics::counter!("activations_locked_total").increment(1);
                tracing::warn!(pending_id = %a.pending_id, wrong_answers, "activation locked");
            } else {
                tracing::info!(pending_id = %a.pending_id, channel, wrong_answers, "wrong code");
            }
            Answered::Wrong { locked, call_tries }
        }
        WrongAnswer::NotWaiting(s) => Answered::NotWaiting(s),
        WrongAnswer::Duplicate => Answered::Duplicate,
    })
}

async fn promote(
    app: &App,
    a: &Activation,
    channel: &'static str,
    interaction: Option<NewInteraction>,
    proof: Proof,
) -> AppResult<Answered> {
    let promotion = Promotion {
        confirmation_body: app.activation.words.otp_confirmed_sms.clone(),
        interaction,
        link_used: channel == "link",
        proof,
    };
    let now = Utc::now();
    match app.store.promote(&a.pending_id, &promotion, now).await? {
        Promoted::Done { status, client_id } => {
            metrics::counter!("activations_promoted_total", "channel" => channel).increment(1);
            let took = (now - a.created_at).num_milliseconds().max(0) as f64 / 1000.0;
            metrics::histogram!("activation_promotion_seconds").record(took);
            tracing::info!(
                pending_id = %a.pending_id,
                client_id = client_id.get(),
                channel,
                status = %status,
                "activation promoted"
            );
            app.job_wake.notify_waiters();
            Ok(Answered::Confirmed(status))
        }
        Promoted::NotWaiting(s) => Ok(Answered::NotWaiting(s)),
        Promoted::Duplicate => Ok(Answered::Duplicate),
        Promoted::NeedsProof(change) => {
            tracing::warn!(
                pending_id = %a.pending_id,
                channel,
                change = ?change,
                "answer does not prove the contact that stays: not promoted"
            );
            Ok(Answered::NeedsProof(change))
        }
        Promoted::ProxyTaken => {
            tracing::error!(pending_id = %a.pending_id, "activation's proxy belongs to another client");
            Err(AppError::Conflict {
                kind: ConflictKind::ProxyTaken,
                message: "the activation's proxy belongs to another client".into(),
            })
        }
    }
}

/// What to say back to a text sent to a proxy during its activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextReply {
    /// Promoted: the confirmation goes through the outbox; nothing to reply.
    Confirmed,
    Wrong,
    Locked,
    /// The text holds no code (or several): it is not counted, and is routed as any text.
    NotAnAnswer,
    /// A code past its time: not counted.
    Expired,
    /// The right code, but the change of phone must be confirmed from the e-mail's link.
    ConfirmFromEmail,
    /// A retry, or an activation that just ended: nothing to say.
    Nothing,
}

/// A text from `from` to `to`: an answer when an activation of that phone on that proxy
/// waits; `None` otherwise (route it as any text).
pub async fn answer_text(
    app: &App,
    from: &E164,
    to: &E164,
    body: &str,
    sid: Option<&str>,
) -> AppResult<Option<TextReply>> {
    let Some(a) = app.store.waiting_activation(from, to).await? else {
        return Ok(None);
    };
    if a.status == ActivationStatus::Locked {
        // Said while its number is still held for it; after that the number may serve
        // someone else, and the text is routed as any other. A proxy reused from an existing
        // client is that client's: its texts are routed.
        let held = a.reserved
            && a.ended_at
                .is_some_and(|t| t + cascade::RESERVATION_GRACE > Utc::now());
        return Ok(held.then_some(TextReply::Locked));
    }
    let Some(given) = code_in_text(body) else {
        return Ok(Some(TextReply::NotAnAnswer));
    };
    Ok(Some(
        match answer(app, &a, Some(given), "sms", None, sid).await? {
            Answered::Confirmed(_) => TextReply::Confirmed,
            Answered::Wrong { locked: true, .. } => TextReply::Locked,
            Answered::Wrong { .. } => TextReply::Wrong,
            Answered::NotWaiting(ActivationStatus::Locked) => TextReply::Locked,
            Answered::Expired => TextReply::Expired,
            Answered::NeedsProof(_) => TextReply::ConfirmFromEmail,
            Answered::NotWaiting(_) | Answered::Duplicate => TextReply::Nothing,
        },
    ))
}

/// What the verification call says when Twilio asks for its script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallScript {
    /// Read `code` and gather as many digits.
    ReadCode {
        code: String,
    },
    NotValid,
    Technical,
}

/// The verification call's first request: a new code, live from now, read to the caller.
/// The call must be the one placed for this activation (from its proxy, to its phone), and
/// only its first request gets a code: a replayed request gets none.
pub async fn call_script(
    app: &App,
    id: Option<&PendingId>,
    call_sid: Option<&str>,
    from: Option<&E164>,
    to: Option<&E164>,
) -> AppResult<CallScript> {
    let (Some(id), Some(call_sid)) = (id, call_sid) else {
        return Ok(CallScript::Technical);
    };
    let Some(a) = app.store.activation(id).await? else {
        return Ok(CallScript::NotValid);
    };
    if !a.status.is_waiting() || from != Some(&a.proxy) || to != Some(&a.phone) {
        return Ok(CallScript::NotValid);
    }
    let now = Utc::now();
    let code = code::new_code();
    let hash = CodeHash {
        hash: app.activation.key.hash(id, &code),
        expires_at: now + app.activation.ttl,
    };
    Ok(
        match app.store.start_call(id, call_sid, &hash, now).await? {
            CallStart::Started => CallScript::ReadCode { code },
            CallStart::Repeated | CallStart::NotWaiting(_) => CallScript::NotValid,
        },
    )
}

/// Tries a call gets before it hangs up.
pub const CALL_TRIES: i64 = 3;

/// What the call says after the caller typed digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatherReply {
    Confirmed,
    /// Wrong: ask again.
    Again,
    TooMany,
    Locked,
    NotValid,
    Technical,
    /// Promotion failed (the proxy was taken meanwhile): nothing changed.
    Failed,
    /// The right code, but the change of phone must be confirmed from the e-mail's link.
    ConfirmFromEmail,
}

pub async fn gather(
    app: &App,
    id: Option<&PendingId>,
    call_sid: Option<&str>,
    digits: Option<&str>,
) -> AppResult<GatherReply> {
    let Some(id) = id else {
        return Ok(GatherReply::Technical);
    };
    let Some(a) = app.store.activation(id).await? else {
        return Ok(GatherReply::NotValid);
    };
    // Only the call that got the code answers for it.
    if !a.status.is_waiting() || call_sid.is_none() || a.call_sid.as_deref() != call_sid {
        return Ok(GatherReply::NotValid);
    }
    if a.call_tries >= CALL_TRIES {
        return Ok(GatherReply::TooMany);
    }
    // Exactly as many digits as a code has; anything else is a wrong answer.
    let given =
        digits.filter(|d| d.len() == code::CODE_DIGITS && d.chars().all(|c| c.is_ascii_digit()));
    let given = given.or(Some(""));
    match answer(app, &a, given, "call", call_sid, None).await {
        Ok(Answered::Confirmed(_)) => Ok(GatherReply::Confirmed),
        Ok(Answered::Wrong { locked: true, .. }) => Ok(GatherReply::Locked),
        Ok(Answered::Wrong { call_tries, .. }) if call_tries >= CALL_TRIES => {
            Ok(GatherReply::TooMany)
        }
        Ok(Answered::Wrong { .. }) => Ok(GatherReply::Again),
        Ok(Answered::NotWaiting(ActivationStatus::Locked)) => Ok(GatherReply::Locked),
        Ok(Answered::NeedsProof(_)) => Ok(GatherReply::ConfirmFromEmail),
        Ok(Answered::NotWaiting(_) | Answered::Duplicate | Answered::Expired) => {
            Ok(GatherReply::NotValid)
        }
        Err(AppError::Conflict { .. }) => Ok(GatherReply::Failed),
        Err(e) => Err(e),
    }
}

/// What opening a verification link did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    Confirmed(ActivationStatus),
    /// Used before, or the activation was confirmed another way.
    AlreadyUsed,
    /// No link has this token (or a newer link replaced it).
    Unknown,
    Expired,
    Locked,
    /// An e-mailed link cannot confirm a new e-mail for an existing client (nor any link a
    /// change of both): the code texted to the phone does.
    ConfirmFromPhone,
    /// A texted link cannot confirm a new phone for an existing client: the link e-mailed to
    /// the account's address does.
    ConfirmFromEmail,
}

pub async fn verify_link(app: &App, token: &str) -> AppResult<LinkOutcome> {
    let hash = code::link_token_hash(token.trim());
    let Some((a, proof)) = app.store.activation_by_link(&hash).await? else {
        return Ok(LinkOutcome::Unknown);
    };
    let ended = |s: ActivationStatus| match s {
        ActivationStatus::Expired => LinkOutcome::Expired,
        ActivationStatus::Locked => LinkOutcome::Locked,
        _ => LinkOutcome::AlreadyUsed,
    };
    if a.link_used_at.is_some() || !a.status.is_waiting() {
        return Ok(ended(a.status));
    }
    Ok(match promote(app, &a, "link", None, proof).await? {
        Answered::Confirmed(s) => LinkOutcome::Confirmed(s),
        Answered::NotWaiting(s) => ended(s),
        Answered::NeedsProof(ContactChange::Phone) => LinkOutcome::ConfirmFromEmail,
        Answered::NeedsProof(_) => LinkOutcome::ConfirmFromPhone,
        Answered::Wrong { .. } | Answered::Duplicate | Answered::Expired => {
            LinkOutcome::AlreadyUsed
        }
    })
}
