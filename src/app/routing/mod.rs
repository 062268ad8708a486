//! Masked routing (SPEC §5): a third party reaching a client through the proxy, and the client
//! reaching their last correspondent. Decides and records; the HTTP layer renders TwiML.
//!
//! Webhooks go through one engine task per process (`crate::batch`): it takes whatever has
//! queued up, reads all their clients in one query, decides each in arrival order (so a
//! call-back in the same batch sees the caller just remembered), and records the batch in one
//! transaction. Under load a batch holds many webhooks, and the database work per webhook
//! falls accordingly. A batch that fails is routed again webhook by webhook, so that one bad
//! webhook fails only itself (`engine.rs`).

mod decide;
mod engine;
mod limits;

use super::{App, AppError, AppResult};
use crate::domain::{ClientId, E164};
use crate::store::StoreError;
pub use engine::{Engine, engine, engine_with, route_batch};
pub use limits::RelayLimits;

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
        /// The client, when the call goes to them (a third party's call): such a call may be
        /// whispered, and one they do not answer ends in a missed-call text or a voicemail.
        to_client: Option<ClientId>,
    },
}

/// An incoming text.
// `Debug` in `redact.rs`: never the body.
#[derive(Clone)]
pub struct Text {
    pub from: Option<E164>,
    pub to: Option<E164>,
    pub body: String,
    pub sid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextAnswer {
    /// Nothing to say back (relayed, a duplicate, or nothing to do).
    Nothing,
    UnknownProxy,
    CountryBlocked,
    NoRecentCorrespondent,
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

fn failed() -> AppError {
    AppError::Store(StoreError::Unavailable(
        "routing failed; see the log".into(),
    ))
}
