//! Masked routing (SPEC §5): a third party reaching a client through the proxy, and the client
//! reaching their last correspondent. Decides and records; the HTTP layer renders TwiML.

use chrono::Utc;

use super::{App, AppResult};
use crate::domain::{ClientId, E164};
use crate::store::{
    Channel, Client, Direction, NewInteraction, NewOutbound, OutboundKind, Outcome,
};

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
    /// Connect to `number`, showing the proxy as caller id.
    Connect {
        proxy: E164,
        number: E164,
    },
}

/// An incoming text.
#[derive(Debug, Clone)]
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

impl CallAnswer {
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::UnknownNumber => Outcome::UnknownProxy,
            Self::CountryBlocked => Outcome::BlockedCountry,
            Self::NoRecentCaller => Outcome::NoRecentCaller,
            Self::Connect { .. } => Outcome::Forwarded,
        }
    }
}

/// Where a call or text from `from` to `client`'s proxy goes, before the country check.
enum Leg {
    /// The client: towards their last correspondent, if any.
    FromClient(Option<E164>),
    /// Anyone else: towards the client, and they become the last correspondent.
    ToClient(E164),
}

fn leg(client: &Client, from: &E164) -> Leg {
    if *from == client.real_phone {
        Leg::FromClient(client.last_caller.clone())
    } else {
        Leg::ToClient(from.clone())
    }
}

/// What one webhook is about, to record with its outcome.
struct Seen<'a> {
    channel: Channel,
    proxy: &'a E164,
    sid: Option<&'a str>,
}

impl Seen<'_> {
    fn interaction(
        &self,
        client: Option<ClientId>,
        direction: Direction,
        outcome: Outcome,
    ) -> NewInteraction {
        NewInteraction {
            occurred_at: Utc::now(),
            proxy: self.proxy.clone(),
            client_id: client,
            direction,
            channel: self.channel,
            outcome,
            twilio_sid: self.sid.map(str::to_owned),
        }
    }
}

/// Records an interaction, with the caller to remember and the message to send, at once.
/// `false` for a retried webhook, which changes nothing.
async fn record(
    app: &App,
    interaction: NewInteraction,
    new_last_caller: Option<(ClientId, &E164)>,
    outbound: Option<&NewOutbound>,
) -> AppResult<bool> {
    metrics::counter!("webhook_outcomes_total",
        "channel" => interaction.channel.as_str(),
        "outcome" => interaction.outcome.as_str())
    .increment(1);
    Ok(app
        .store
        .record_routing(&interaction, new_last_caller, outbound)
        .await?)
}

pub async fn route_call(app: &App, call: Call) -> AppResult<CallAnswer> {
    let Some(proxy) = call.to else {
        tracing::info!("call without a usable To: refused");
        return Ok(CallAnswer::UnknownNumber);
    };
    let seen = Seen {
        channel: Channel::Voice,
        proxy: &proxy,
        sid: call.sid.as_deref(),
    };
    let Some(client) = app.store.client_by_proxy(&proxy).await? else {
        record(
            app,
            seen.interaction(None, Direction::Unknown, Outcome::UnknownProxy),
            None,
            None,
        )
        .await?;
        tracing::info!(proxy = %proxy.masked(), "call to an unknown proxy");
        return Ok(CallAnswer::UnknownNumber);
    };
    // An anonymous or garbled caller has no country to check: refused as one from
    // elsewhere, and not recorded (there is nothing to record it as).
    let Some(from) = call.from else {
        tracing::info!(proxy = %proxy.masked(), "call without a usable From: refused");
        return Ok(CallAnswer::CountryBlocked);
    };
    if !app.routing.allow_list.allows(&from) {
        record(
            app,
            seen.interaction(Some(client.id), Direction::Unknown, Outcome::BlockedCountry),
            None,
            None,
        )
        .await?;
        tracing::info!(proxy = %proxy.masked(), "call from a country not allowed");
        return Ok(CallAnswer::CountryBlocked);
    }
    let answer = match leg(&client, &from) {
        Leg::FromClient(None) => {
            record(
                app,
                seen.interaction(
                    Some(client.id),
                    Direction::FromClient,
                    Outcome::NoRecentCaller,
                ),
                None,
                None,
            )
            .await?;
            CallAnswer::NoRecentCaller
        }
        Leg::FromClient(Some(last)) => {
            record(
                app,
                seen.interaction(Some(client.id), Direction::FromClient, Outcome::Forwarded),
                None,
                None,
            )
            .await?;
            CallAnswer::Connect {
                proxy: proxy.clone(),
                number: last,
            }
        }
        Leg::ToClient(caller) => {
            record(
                app,
                seen.interaction(Some(client.id), Direction::ToClient, Outcome::Forwarded),
                Some((client.id, &caller)),
                None,
            )
            .await?;
            CallAnswer::Connect {
                proxy: proxy.clone(),
                number: client.real_phone.clone(),
            }
        }
    };
    tracing::info!(proxy = %proxy.masked(), client_id = %client.id, outcome = answer.outcome().as_str(), "call routed");
    Ok(answer)
}

pub async fn route_text(app: &App, text: Text) -> AppResult<TextAnswer> {
    let (Some(from), Some(proxy)) = (text.from, text.to) else {
        tracing::info!("text without a usable From or To: ignored");
        return Ok(TextAnswer::Nothing);
    };
    let sid = text.sid.as_deref();
    let seen = Seen {
        channel: Channel::Sms,
        proxy: &proxy,
        sid,
    };
    let Some(client) = app.store.client_by_proxy(&proxy).await? else {
        record(
            app,
            seen.interaction(None, Direction::Unknown, Outcome::UnknownProxy),
            None,
            None,
        )
        .await?;
        tracing::info!(proxy = %proxy.masked(), "text to an unknown proxy");
        return Ok(TextAnswer::UnknownProxy);
    };
    if !app.routing.allow_list.allows(&from) {
        record(
            app,
            seen.interaction(Some(client.id), Direction::Unknown, Outcome::BlockedCountry),
            None,
            None,
        )
        .await?;
        tracing::info!(proxy = %proxy.masked(), "text from a country not allowed");
        return Ok(TextAnswer::CountryBlocked);
    }
    let relay = |to: E164| NewOutbound {
        kind: OutboundKind::Sms,
        purpose: "relay",
        from: proxy.clone(),
        to,
        body: Some(text.body.clone()),
        url: None,
        // A retried webhook carries the same MessageSid: it relays once.
        dedupe_key: sid.map(|s| format!("relay:{s}")),
    };
    let empty = text.body.trim().is_empty();
    let (direction, answer, outcome, last_caller, outbound) = match leg(&client, &from) {
        Leg::FromClient(None) => (
            Direction::FromClient,
            TextAnswer::NoRecentCorrespondent,
            Outcome::NoRecentCaller,
            None,
            None,
        ),
        Leg::FromClient(Some(_)) if empty => (
            Direction::FromClient,
            TextAnswer::Nothing,
            Outcome::EmptyMessage,
            None,
            None,
        ),
        Leg::FromClient(Some(last)) => (
            Direction::FromClient,
            TextAnswer::Nothing,
            Outcome::Forwarded,
            None,
            Some(relay(last)),
        ),
        Leg::ToClient(caller) if empty => (
            Direction::ToClient,
            TextAnswer::Nothing,
            Outcome::EmptyMessage,
            Some(caller),
            None,
        ),
        Leg::ToClient(caller) => (
            Direction::ToClient,
            TextAnswer::Nothing,
            Outcome::Forwarded,
            Some(caller),
            Some(relay(client.real_phone.clone())),
        ),
    };
    let new_last_caller = last_caller.as_ref().map(|c| (client.id, c));
    let interaction = seen.interaction(Some(client.id), direction, outcome);
    let first_time = record(app, interaction, new_last_caller, outbound.as_ref()).await?;
    if first_time && outbound.is_some() {
        app.outbox_wake.notify_one();
    }
    tracing::info!(
        proxy = %proxy.masked(),
        client_id = %client.id,
        outcome = outcome.as_str(),
        duplicate = !first_time,
        "text routed"
    );
    Ok(answer)
}

/// A delivery-status callback for a text we sent.
pub async fn delivery_status(app: &App, sid: &str, status: &str) -> AppResult<()> {
    let known = app
        .store
        .outbound_delivery_status(sid, status, Utc::now())
        .await?;
    metrics::counter!("webhook_outcomes_total", "channel" => "sms_status", "outcome" => if known { "recorded" } else { "unknown_sid" })
        .increment(1);
    tracing::debug!(known, status, "delivery status");
    Ok(())
}
