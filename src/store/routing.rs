//! What routing records: interactions, the last caller, and the simulated carrier's phones.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Client, NewOutbound, StoreResult};
use crate::domain::{ClientId, E164};

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
}

#[async_trait]
pub trait RoutingStore {
    /// What routing a batch needs to know, read in one statement: the clients these proxies
    /// belong to, and which of these senders and of those clients' last callers are numbers
    /// of ours.
    async fn routing_facts(&self, proxies: &[E164], senders: &[E164]) -> StoreResult<RoutingFacts>;
    /// Records what a batch of webhooks did, in one transaction: the interactions, the new
    /// last callers, the messages to send. Answers, per job, whether it was new: a job whose
    /// interaction (same channel and SID) exists already is a retried webhook, and changes
    /// nothing. When such a job was one that later jobs of the batch depend on
    /// (`RoutingJob::later_jobs_depend`), nothing is written and the answer names the retried
    /// webhooks, so that the batch is decided again without them.
    async fn record_routing_batch(&self, jobs: Vec<RoutingJob>) -> StoreResult<BatchWritten>;
    /// The latest interactions, newest first.
    async fn interactions(&self, limit: i64) -> StoreResult<Vec<Interaction>>;
    /// Deletes interactions older than `before`; returns how many.
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
    /// The senders asked about, and the last callers of `clients`, that are numbers of ours:
    /// in the pool (and not released), or some client's proxy.
    pub ours: Vec<E164>,
}

/// What one webhook writes.
#[derive(Debug, Clone)]
pub struct RoutingJob {
    pub interaction: NewInteraction,
    pub new_last_caller: Option<(ClientId, E164)>,
    pub outbound: Option<NewOutbound>,
    /// A later job of the same batch was decided with the last caller this one sets.
    pub later_jobs_depend: bool,
    /// When the message may be sent, if not at once: the end of the client's quiet hours.
    pub hold_until: Option<DateTime<Utc>>,
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
    pub const ALL: [Self; 10] = [
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
