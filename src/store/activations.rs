//! Activations: a new client proving they own their phone (SPEC §7). Each change is one
//! transaction, conditional on the status it starts from, so that two processes — or a
//! retried webhook — never both act on one activation.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{NewInteraction, NewJob, NewOutbound, StoreResult};
use crate::domain::{
    ActivationStatus, ClientId, ClientName, CountryIso, E164, Email, NumberType, PendingId,
};

/// An activation as stored.
#[derive(Debug, Clone)]
pub struct Activation {
    pub pending_id: PendingId,
    pub name: ClientName,
    pub mail: Email,
    pub phone: E164,
    pub country: CountryIso,
    /// `mobile`, `local`, or `existant` (an existing client's proxy is reused).
    pub number_type: String,
    pub proxy: E164,
    /// Whether the proxy is held in the pool for this activation.
    pub reserved: bool,
    /// The existing client whose proxy is reused.
    pub client_id: Option<ClientId>,
    pub status: ActivationStatus,
    pub wrong_answers: i64,
    pub call_sid: Option<String>,
    pub call_tries: i64,
    pub link_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub promoted_client_id: Option<ClientId>,
}

/// A live code's keyed hash.
#[derive(Debug, Clone)]
pub struct CodeHash {
    pub hash: String,
    pub expires_at: DateTime<Utc>,
}

/// The limits on requests for a code, per phone and per e-mail.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub min_interval: chrono::Duration,
    pub per_phone_per_day: i64,
    pub per_email_per_day: i64,
}

/// Which limit a request hit, and when it may come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// `COOLDOWN`, `DAILY_LIMIT_PHONE` or `DAILY_LIMIT_EMAIL`: the earlier version's codes.
    pub code: &'static str,
    pub retry_after: chrono::Duration,
}

/// Everything a new activation writes, in one transaction.
// `Debug` in `redact.rs`: never the code's text.
#[derive(Clone)]
pub struct NewActivation {
    pub pending_id: PendingId,
    pub name: ClientName,
    pub mail: Email,
    pub phone: E164,
    pub country: CountryIso,
    /// The types to reserve, in order (the requested one, then the other).
    pub types: Vec<NumberType>,
    pub code: CodeHash,
    /// The text that carries the code (sent from the proxy, once it is known).
    pub sms_body: String,
    /// The cascade's call, due `PROXYCALL_OTP_CALL_AFTER_SECS` later.
    pub call_job: NewJob,
    /// Points the proxy's webhooks at this server, at once.
    pub webhooks_job: NewJob,
    /// Activations under way for this phone or e-mail since then are answered instead.
    pub under_way_since: DateTime<Utc>,
    pub limits: RequestLimits,
}

#[derive(Debug, Clone)]
pub enum Created {
    Created(Activation),
    /// An activation of this phone or e-mail is under way: nothing new was reserved or sent.
    UnderWay(Activation),
    /// This `pending_id` names another activation.
    IdTaken(Activation),
    Limited(Limited),
    /// No number of the country in any of the types.
    NoNumber,
}

/// What an answer proved: the phone (a code by SMS or call, the texted link) or the e-mail
/// (the e-mailed link). Changing an existing client's contact needs proof of the contact
/// that stays: a new e-mail is confirmed from the phone, a new phone from the e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    Phone,
    Email,
}

/// What a promotion does besides the activation itself.
// `Debug` in `redact.rs`.
#[derive(Clone)]
pub struct Promotion {
    /// The text confirming it, sent from the proxy to the phone.
    pub confirmation_body: String,
    /// An SMS answer's interaction (keyed by its `MessageSid`).
    pub interaction: Option<NewInteraction>,
    /// Set for an answer by link: its token is used.
    pub link_used: bool,
    pub proof: Proof,
}

#[derive(Debug, Clone)]
pub enum Promoted {
    Done {
        status: ActivationStatus,
        client_id: ClientId,
    },
    /// It was no longer waiting (promoted meanwhile, expired, locked).
    NotWaiting(ActivationStatus),
    /// The proxy belongs to another client: nothing was changed.
    ProxyTaken,
    /// A retried webhook (its SID is recorded): nothing was changed.
    Duplicate,
    /// The existing client's contact would change, and this answer does not prove the
    /// contact that stays (or both would change): nothing was changed.
    NeedsProof(crate::domain::ContactChange),
}

/// The result of a wrong answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrongAnswer {
    Counted {
        wrong_answers: i64,
        /// This answer locked the activation.
        locked: bool,
        /// Wrong tries of the call it came from, if any.
        call_tries: i64,
    },
    NotWaiting(ActivationStatus),
    Duplicate,
}

/// What a verification call's first request finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallStart {
    /// A new call: its code is live and its tries start at 0.
    Started,
    /// This call asked before: nothing is issued again.
    Repeated,
    NotWaiting(ActivationStatus),
}

/// What an expiry freed.
#[derive(Debug, Clone)]
pub struct Expired {
    pub pending_id: PendingId,
    pub proxy: E164,
}

#[async_trait]
pub trait ActivationStore {
    /// Answers an activation under way for the phone or e-mail; else checks the limits,
    /// reuses an existing client's proxy (same e-mail, else same phone) or reserves a number,
    /// and writes the activation, its code, the request, the code's text and the cascade's
    /// call job — or nothing.
    async fn create_activation(
        &self,
        new: &NewActivation,
        now: DateTime<Utc>,
    ) -> StoreResult<Created>;
    async fn activation(&self, id: &PendingId) -> StoreResult<Option<Activation>>;
    /// The latest activation of `phone` on `proxy` that waits for an answer, or locked.
    async fn waiting_activation(
        &self,
        phone: &E164,
        proxy: &E164,
    ) -> StoreResult<Option<Activation>>;
    /// The activation a link's token opens, and what the link proves.
    async fn activation_by_link(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(Activation, Proof)>>;
    /// Every code it was sent, live or expired (an expired one is told apart from a wrong
    /// one).
    async fn activation_codes(&self, id: &PendingId) -> StoreResult<Vec<CodeHash>>;
    /// The codes it accepts at `now`.
    async fn live_codes(&self, id: &PendingId, now: DateTime<Utc>) -> StoreResult<Vec<CodeHash>>;
    /// A resend by SMS: checks the limits, then replaces the live codes with `code` and
    /// queues `sms`, if the activation is still waiting.
    async fn resend_code(
        &self,
        id: &PendingId,
        code: &CodeHash,
        sms: &NewOutbound,
        limits: &RequestLimits,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<(), ResendRefused>>;
    /// Queues `call` (a verification call) if the activation is in one of `from`; moves it
    /// to `PENDING_CALL` when it was `PENDING`, and enqueues `next` (the link's job).
    async fn queue_call(
        &self,
        id: &PendingId,
        from: &[ActivationStatus],
        call: &NewOutbound,
        next: Option<&NewJob>,
        limits: Option<&RequestLimits>,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<(), ResendRefused>>;
    /// Issues the single-use link (`token_hash`) if the activation is in one of `from`, moves
    /// it to `PENDING_MAIL`, and queues its text and its e-mail.
    async fn queue_link(
        &self,
        id: &PendingId,
        from: &[ActivationStatus],
        link: &LinkMessages<'_>,
        limits: Option<&RequestLimits>,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<(), ResendRefused>>;
    /// A verification call's TwiML request: the first from `call_sid` makes `code` live and
    /// starts its tries.
    async fn start_call(
        &self,
        id: &PendingId,
        call_sid: &str,
        code: &CodeHash,
        now: DateTime<Utc>,
    ) -> StoreResult<CallStart>;
    /// Counts a wrong answer (from call `call_sid`, or a text recorded as `interaction`);
    /// the `max_wrong`-th locks the activation.
    async fn wrong_answer(
        &self,
        id: &PendingId,
        call_sid: Option<&str>,
        interaction: Option<&NewInteraction>,
        max_wrong: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<WrongAnswer>;
    /// Verifies and promotes, in one transaction (SPEC §7): the client the activation's
    /// proxy belongs to, else the one with its e-mail, else with its phone, is updated — or a
    /// new one created —, the pool number assigned, the status set, the confirmation queued.
    async fn promote(
        &self,
        id: &PendingId,
        promotion: &Promotion,
        now: DateTime<Utc>,
    ) -> StoreResult<Promoted>;
    /// Expires waiting activations created before `created_before`, and gives back to the
    /// pool the numbers reserved by activations that ended (expired, locked) by
    /// `ended_before`, and stale reservations no activation holds (reserved by then, or at no
    /// recorded time). Returns those expired, and how many numbers went back.
    async fn expire_activations(
        &self,
        created_before: DateTime<Utc>,
        ended_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<(Vec<Expired>, u64)>;
    /// Deletes activations that ended (promoted, expired, locked) before `before`, and the
    /// code requests made before `requests_before`.
    async fn purge_activations(
        &self,
        before: DateTime<Utc>,
        requests_before: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// Counts per status, for the gauges.
    async fn activation_counts(&self) -> StoreResult<Vec<(String, i64)>>;
    /// A page of the dashboard's list, newest first: those in `status` (all without one),
    /// created before the activation `after` (the last of the previous page; a page after one
    /// purged meanwhile is empty).
    async fn activation_page(
        &self,
        status: Option<ActivationStatus>,
        after: Option<&PendingId>,
        limit: i64,
    ) -> StoreResult<Vec<ListedActivation>>;
    /// Expires one waiting activation (an operator's decision): its codes and links stop
    /// working and the number it reserved goes back to the pool at once.
    async fn expire_activation(
        &self,
        id: &PendingId,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<Expired, ResendRefused>>;
}

/// A new single-use link: the hash of its token, and the text and e-mail that carry it.
pub struct LinkMessages<'a> {
    pub token_hash: &'a str,
    pub sms: &'a NewOutbound,
    /// The e-mail, and the hash of its own token.
    pub email: Option<(&'a super::NewEmail, &'a str)>,
}

/// Why a resend or a cascade step did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResendRefused {
    NotFound,
    NotWaiting(ActivationStatus),
    Limited(Limited),
}

/// An activation as the dashboard lists it.
#[derive(Debug, Clone)]
pub struct ListedActivation {
    pub activation: Activation,
    /// A single-use link was issued (the cascade's last step, or a resend by e-mail).
    pub link_sent: bool,
}
