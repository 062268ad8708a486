//! Masked routing (SPEC §5): a third party reaching a client through the proxy, and the client
//! reaching their last correspondent. Decides and records; the HTTP layer renders TwiML.
//!
//! Webhooks go through one engine task per process (`crate::batch`): it takes whatever has
//! queued up, reads all their clients in one query, decides each in arrival order (so a
//! call-back in the same batch sees the caller just remembered), and records the batch in one
//! transaction. Under load a batch holds many webhooks, and the database work per webhook
//! falls accordingly. A batch that fails is routed again webhook by webhook, so that one bad
//! webhook fails only itself (`engine.rs`).

pub mod contacts;
mod decide;
mod engine;
pub mod guard;
pub mod keywords;
mod limits;
mod relay;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{App, AppError, AppResult};
use crate::domain::{ClientId, E164, Media, OrderId};
use crate::store::{Channel, Client, Contact, RoutingFacts, StoreError};
pub use engine::{Engine, engine, engine_with, route_batch};
pub use guard::{GuardSettings, UnmaskPolicy};
pub use keywords::OptOutRules;
pub use limits::RelayLimits;
pub use relay::RelaySettings;

/// An incoming call, as the webhook gave it. Numbers that do not parse are `None`.
#[derive(Debug, Clone)]
pub struct Call {
    pub from: Option<E164>,
    pub to: Option<E164>,
    pub sid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallAnswer {
    UnknownNumber,
    CountryBlocked,
    NoRecentCaller,
    /// A neutral "cannot be reached": a caller refused without saying why (a service number,
    /// one of our own, over the relay limit, a replayed `CallSid`).
    Unavailable,
    /// Connect to `number`, showing the proxy as caller id.
    Connect {
        proxy: E164,
        number: E164,
        /// When the call goes to the client (a third party's call): such a call may be
        /// whispered, and one they do not answer ends in a missed-call text or a voicemail.
        to_client: Option<ToClient>,
    },
    /// The client has several recent contacts: a keypad menu of `choices` (keyed by their
    /// `#N`), then `default` (the most recent) when no key is pressed. `again` after a key
    /// that numbers none of them.
    Menu {
        proxy: E164,
        choices: Vec<ContactLine>,
        default: E164,
        again: bool,
    },
}

/// A call to the client, with what the batch knew of it: the whisper and the quiet hours need
/// no read of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToClient {
    pub client: ClientId,
    /// The order the caller is tied to: the client's latest, which their contact now holds.
    pub order: Option<OrderId>,
    /// When the client's quiet hours end, if the call comes during them (set by the engine).
    pub quiet_until: Option<DateTime<Utc>>,
}

/// A recent contact as its client is told of it: its `#N`, its number (shown masked), when
/// and how it last reached them, the order it came about, and whether it is blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactLine {
    pub n: usize,
    pub number: E164,
    pub at: DateTime<Utc>,
    pub channel: Option<Channel>,
    pub order: Option<OrderId>,
    pub blocked: bool,
}

impl ContactLine {
    fn of(n: usize, c: &Contact) -> Self {
        Self {
            n,
            number: c.number.clone(),
            at: c.last_at,
            channel: c.last_channel,
            order: c.order_id.clone(),
            blocked: c.blocked_at.is_some(),
        }
    }
}

/// An incoming text.
// `Debug` in `redact.rs`: never the body.
#[derive(Clone)]
pub struct Text {
    pub from: Option<E164>,
    pub to: Option<E164>,
    pub body: String,
    pub sid: Option<String>,
    /// Its pictures (an MMS), parsed at the edge: only the carrier's addresses.
    pub media: Media,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextAnswer {
    /// Nothing to say back (relayed, a duplicate, or nothing to do).
    Nothing,
    UnknownProxy,
    CountryBlocked,
    NoRecentCorrespondent,
    /// `#?`: the client's recent contacts.
    Contacts(Vec<ContactLine>),
    /// `#N` (or `BLOQUER #N`) with fewer recent contacts.
    NoSuchContact(usize),
    /// A command that names no contact: how to write one.
    CommandUsage,
    ContactBlocked(ContactLine),
    ContactUnblocked(ContactLine),
    /// `#N message` to a contact the client blocked.
    IsBlocked(ContactLine),
    /// A stop word, where opt-outs apply: the confirmation carriers expect.
    OptedOut,
    /// A start word after a stop word.
    OptedIn,
    /// A help word, where opt-outs apply.
    Help,
}

/// A webhook for the engine.
#[derive(Debug, Clone)]
pub enum Inbound {
    Call(Call),
    Text(Text),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Call(CallAnswer),
    Text(TextAnswer),
}

pub async fn route_call(app: &App, call: Call) -> AppResult<CallAnswer> {
    match app
        .routing_engine
        .submit(Inbound::Call(call))
        .await
        .flatten()
    {
        Some(Answer::Call(answer)) => Ok(answer),
        _ => Err(failed()),
    }
}

pub async fn route_text(app: &App, text: Text) -> AppResult<TextAnswer> {
    match app
        .routing_engine
        .submit(Inbound::Text(text))
        .await
        .flatten()
    {
        Some(Answer::Text(answer)) => Ok(answer),
        _ => Err(failed()),
    }
}

/// The key a client pressed on the call menu (`CallAnswer::Menu`): the contact it numbers,
/// read again now (a contact blocked meanwhile is not connected), or the menu again.
pub async fn choose_contact(app: &App, call: Call, digits: &str) -> AppResult<CallAnswer> {
    let (Some(from), Some(proxy)) = (&call.from, &call.to) else {
        return Ok(CallAnswer::Unavailable);
    };
    let since = Utc::now() - app.routing.contact_window;
    let read = app
        .store
        .routing_facts(
            std::slice::from_ref(proxy),
            std::slice::from_ref(from),
            since,
            contacts::MOST,
        )
        .await?;
    let known = Known::from(read);
    Ok(decide::choose(
        &known.facts(&app.routing, since),
        &call,
        digits,
    ))
}

/// What the store read for routing, arranged for the rules.
struct Known {
    clients: HashMap<E164, Client>,
    /// Who opted out of which proxy's texts: read apart, only where opt-outs apply.
    opted_out: keywords::OptedOut,
    ours: HashSet<E164>,
    contacts: HashMap<ClientId, Vec<Contact>>,
    latest_orders: HashMap<ClientId, OrderId>,
}

impl From<RoutingFacts> for Known {
    fn from(read: RoutingFacts) -> Self {
        let mut contacts: HashMap<ClientId, Vec<Contact>> = HashMap::new();
        for c in read.contacts {
            contacts.entry(c.client_id).or_default().push(c);
        }
        Self {
            clients: read
                .clients
                .into_iter()
                .filter_map(|c| Some((c.proxy.clone()?, c)))
                .collect(),
            ours: read.ours.into_iter().collect(),
            contacts,
            latest_orders: read.latest_orders.into_iter().collect(),
            opted_out: keywords::OptedOut::default(),
        }
    }
}

impl Known {
    fn facts<'a>(&'a self, routing: &'a super::Routing, since: DateTime<Utc>) -> decide::Facts<'a> {
        decide::Facts {
            routing,
            clients: &self.clients,
            ours: &self.ours,
            contacts: &self.contacts,
            latest_orders: &self.latest_orders,
            opted_out: &self.opted_out,
            since,
        }
    }
}

fn failed() -> AppError {
    AppError::Store(StoreError::Unavailable(
        "routing failed; see the log".into(),
    ))
}
