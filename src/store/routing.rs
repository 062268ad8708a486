//! What routing records: interactions, the last caller, and the simulated carrier's phones.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Client, NewOutbound, StoreResult};
use crate::domain::{ClientId, E164, OrderId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A third party reached the client.
    ToClient,
    /// The client reached their last correspondent.
    FromClient,
    /// Refused before the client was known.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Voice,
    Sms,
}

/// What became of a call or text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Forwarded,
    UnknownProxy,
    BlockedCountry,
    NoRecentCaller,
    /// A text with nothing to relay (no body: media only).
    EmptyMessage,
    /// Over a relay limit (per sender and proxy, or per proxy): not relayed.
    RateLimited,
    /// A premium-rate, shared-cost or other service number (`E164::is_personal`): never
    /// remembered, dialled or texted.
    BlockedNumberType,
    /// From one of our own numbers (a proxy reaching a proxy), or a client reaching a last
    /// caller that is one: never relayed, so that no relay loops between proxies.
    OwnNumber,
    /// A text answering an activation with its right code.
    OtpAccepted,
    /// A text answering an activation with a wrong code.
    OtpRefused,
    /// From a correspondent the client blocked: not connected, not relayed.
    BlockedContact,
    /// A client's command to their proxy (`#?`, `BLOQUER #N`, `DEBLOQUER #N`), answered.
    Command,
    /// A client's command that names no contact (`#9` with fewer, `#x`, `#` alone), or a
    /// text to a contact the client blocked: answered with how to write it.
    BadCommand,
    /// A text that would have unmasked someone (a number, an e-mail, a link), not relayed
    /// under `PROXYCALL_UNMASK_POLICY=block`.
    UnmaskBlocked,
    /// A stop word (`STOP`…) where opt-outs apply: not relayed, its sender opted out.
    OptedOut,
    /// A start word from someone who had opted out: opted in again.
    OptedIn,
    /// A help word where opt-outs apply: answered, not relayed.
    HelpAnswered,
    /// Not relayed: its recipient opted out of the proxy's texts.
    RecipientOptedOut,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ToClient => "to_client",
            Self::FromClient => "from_client",
            Self::Unknown => "unknown",
        }
    }
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Voice => "voice",
            Self::Sms => "sms",
        }
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Forwarded => "forwarded",
            Self::UnknownProxy => "unknown_proxy",
            Self::BlockedCountry => "blocked_country",
            Self::NoRecentCaller => "no_recent_caller",
            Self::EmptyMessage => "empty_message",
            Self::RateLimited => "rate_limited",
            Self::BlockedNumberType => "blocked_number_type",
            Self::OwnNumber => "own_number",
            Self::OtpAccepted => "otp_accepted",
            Self::OtpRefused => "otp_refused",
            Self::BlockedContact => "blocked_contact",
            Self::Command => "command",
            Self::BadCommand => "bad_command",
            Self::UnmaskBlocked => "unmask_blocked",
            Self::OptedOut => "opted_out",
            Self::OptedIn => "opted_in",
            Self::HelpAnswered => "help_answered",
            Self::RecipientOptedOut => "recipient_opted_out",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewInteraction {
    pub occurred_at: DateTime<Utc>,
    pub proxy: E164,
    pub client_id: Option<ClientId>,
    pub direction: Direction,
    pub channel: Channel,
    pub outcome: Outcome,
    /// CallSid or MessageSid: a retried webhook with the same SID is recorded once.
    pub twilio_sid: Option<String>,
}

/// An interaction as stored; text fields as written.
#[derive(Debug, Clone)]
pub struct Interaction {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub proxy: E164,
    pub client_id: Option<ClientId>,
    pub direction: String,
    pub channel: String,
    pub outcome: String,
    pub twilio_sid: Option<String>,
}

/// What the simulated carrier "delivered".
// `Debug` in `redact.rs`: never the body.
#[derive(Clone)]
pub struct SimulatedDelivery {
    pub kind: String,
    pub from: E164,
    pub to: E164,
    pub body: Option<String>,
    pub url: Option<String>,
    pub sid: String,
    pub delivered_at: DateTime<Utc>,
    /// The pictures an MMS carried (their addresses at the carrier).
    pub media: Vec<crate::domain::MediaUrl>,
}

#[async_trait]
pub trait RoutingStore {
    /// What routing a batch needs to know: the clients these proxies belong to, and which of
    /// these senders and of those clients' recent contacts are numbers of ours (one
    /// statement); then those clients' recent contacts and those among the senders, and each
    /// one's latest order (a second). A client's recent contacts are its `most` newest since
    /// `since`: a client with thousands of correspondents costs a batch no more than one
    /// with a few.
    async fn routing_facts(
        &self,
        proxies: &[E164],
        senders: &[E164],
        since: DateTime<Utc>,
        most: usize,
    ) -> StoreResult<RoutingFacts>;
    /// A client's blocked correspondents, the latest blocked first.
    async fn blocked_contacts(&self, client: ClientId) -> StoreResult<Vec<Contact>>;
    /// Blocks (`at`) or unblocks (`None`) one of a client's correspondents. `None` when the
    /// number never reached the client; otherwise the contact, and whether this changed it.
    async fn set_blocked(
        &self,
        client: ClientId,
        number: &E164,
        at: Option<DateTime<Utc>>,
    ) -> StoreResult<Option<(Contact, bool)>>;
    /// Records what a batch of webhooks did, in one transaction: the interactions, the new
    /// last callers, the messages to send. Answers, per job, whether it was new: a job whose
    /// interaction (same channel and SID) exists already is a retried webhook, and changes
    /// nothing. When such a job was one that later jobs of the batch depend on
    /// (`RoutingJob::later_jobs_depend`), nothing is written and the answer names the retried
    /// webhooks, so that the batch is decided again without them.
    async fn record_routing_batch(&self, jobs: Vec<RoutingJob>) -> StoreResult<BatchWritten>;
    /// The pairs (proxy, number) of these proxies where the number opted out of the proxy's
    /// texts (`record_routing_batch` writes them from `RoutingJobGuard::opt_out`).
    async fn opt_outs(&self, proxies: &[E164]) -> StoreResult<Vec<(E164, E164)>>;
    /// The latest interactions, newest first.
    async fn interactions(&self, limit: i64) -> StoreResult<Vec<Interaction>>;
    /// Deletes interactions older than `before`, and the contacts last seen before it that are
    /// not blocked; returns how many interactions.
    async fn purge_interactions(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// The secret stored under `name`, stored as `candidate` the first time.
    async fn secret(&self, name: &str, candidate: &str) -> StoreResult<String>;
    /// The secret stored under `name`, if any; stores nothing.
    async fn existing_secret(&self, name: &str) -> StoreResult<Option<String>>;
    async fn record_simulated_delivery(&self, delivery: &SimulatedDelivery) -> StoreResult<()>;
    /// The latest simulated deliveries (to one number, or all), newest first.
    async fn simulated_deliveries(
        &self,
        to: Option<&E164>,
        limit: i64,
    ) -> StoreResult<Vec<SimulatedDelivery>>;
    /// A page of the dashboard's list, newest first (by time, then id): those `filter`
    /// keeps, before the interaction `before` (the last of the previous page; a page after
    /// one purged meanwhile is empty), each with its client's name and phone when known.
    async fn interaction_page(
        &self,
        filter: &InteractionFilter,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<ListedInteraction>>;
}

/// What `routing_facts` read.
#[derive(Debug, Clone, Default)]
pub struct RoutingFacts {
    /// The clients of the proxies asked about (a proxy of no client is simply absent).
    pub clients: Vec<Client>,
    /// The senders asked about, and the recent contacts of `clients`, that are numbers of
    /// ours: in the pool (and not released), or some client's proxy.
    pub ours: Vec<E164>,
    /// The recent contacts of `clients` (their `most` newest since `since`), and those among
    /// the senders asked about.
    pub contacts: Vec<Contact>,
    /// The latest order of each of `clients` that has one.
    pub latest_orders: Vec<(ClientId, OrderId)>,
}

/// A correspondent of a client: someone who reached them through their proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub client_id: ClientId,
    pub number: E164,
    pub last_at: DateTime<Utc>,
    /// How they last reached the client (unknown for a last caller from before contacts).
    pub last_channel: Option<Channel>,
    /// The client's latest order when they last reached them.
    pub order_id: Option<OrderId>,
    pub blocked_at: Option<DateTime<Utc>>,
}

/// A correspondent reaching a client, as a batch records it.
#[derive(Debug, Clone)]
pub struct ContactSeen {
    pub client_id: ClientId,
    pub number: E164,
    pub channel: Channel,
    pub order_id: Option<OrderId>,
}

/// A client's `BLOQUER #N` or `DEBLOQUER #N`.
#[derive(Debug, Clone)]
pub struct BlockChange {
    pub client_id: ClientId,
    pub number: E164,
    pub blocked: bool,
}

/// What one webhook writes.
#[derive(Debug, Clone)]
pub struct RoutingJob {
    pub interaction: NewInteraction,
    /// A correspondent who reached the client: their contact, and the client's last caller.
    pub new_last_caller: Option<ContactSeen>,
    pub block: Option<BlockChange>,
    pub outbound: Option<NewOutbound>,
    /// A later job of the same batch was decided with the last caller this one sets.
    pub later_jobs_depend: bool,
    /// What the unmasking guard and the opt-out keywords add (`app/routing/guard.rs`,
    /// `keywords.rs`).
    pub guard: RoutingJobGuard,
    /// When the message may be sent, if not at once: the end of the client's quiet hours.
    pub hold_until: Option<DateTime<Utc>>,
}

/// What the unmasking guard and the opt-out keywords add to a webhook's record.
#[derive(Debug, Clone, Default)]
pub struct RoutingJobGuard {
    /// A text to the sender saying why their text was redacted or blocked; its dedupe key
    /// makes it once per period.
    pub notice: Option<NewOutbound>,
    /// A stop or start word's change.
    pub opt_out: Option<OptOutChange>,
    /// The kinds of unmasking parts found (`phone`, `email`, `link`): not written, counted
    /// once the webhook is recorded as new.
    pub unmasked: Vec<&'static str>,
}

/// `number` opts out of the texts of `proxy` (`out`), or back in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOutChange {
    pub proxy: E164,
    pub number: E164,
    pub out: bool,
}

/// What `record_routing_batch` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchWritten {
    /// Written; per job, whether it was new (not a retried webhook).
    Written(Vec<bool>),
    /// Nothing written: these webhooks (channel, SID) are retries of recorded ones, and later
    /// jobs were decided as if they were new.
    Retried(Vec<(Channel, String)>),
}

impl Channel {
    pub const ALL: [Self; 2] = [Self::Voice, Self::Sms];

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

impl Outcome {
    /// Every outcome routing and activation record.
    pub const ALL: [Self; 18] = [
        Self::Forwarded,
        Self::UnknownProxy,
        Self::BlockedCountry,
        Self::NoRecentCaller,
        Self::EmptyMessage,
        Self::RateLimited,
        Self::BlockedNumberType,
        Self::OwnNumber,
        Self::OtpAccepted,
        Self::OtpRefused,
        Self::BlockedContact,
        Self::Command,
        Self::BadCommand,
        Self::UnmaskBlocked,
        Self::OptedOut,
        Self::OptedIn,
        Self::HelpAnswered,
        Self::RecipientOptedOut,
    ];

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == raw)
    }
}

/// What the dashboard's interactions page keeps; `None` keeps every value.
#[derive(Debug, Clone, Default)]
pub struct InteractionFilter {
    pub proxy: Option<E164>,
    pub channel: Option<Channel>,
    pub outcome: Option<Outcome>,
    /// From this time on.
    pub from: Option<DateTime<Utc>>,
    /// Before this time.
    pub until: Option<DateTime<Utc>>,
}

/// An interaction as the dashboard lists it: never a body (none is stored).
#[derive(Debug, Clone)]
pub struct ListedInteraction {
    pub interaction: Interaction,
    /// The client of the proxy at the time, if still known.
    pub client_name: Option<String>,
    pub client_phone: Option<E164>,
}
