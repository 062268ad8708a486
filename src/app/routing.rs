//! Masked routing (SPEC §5): a third party reaching a client through the proxy, and the client
//! reaching their last correspondent. Decides and records; the HTTP layer renders TwiML.
//!
//! Webhooks go through one engine task per process (`crate::batch`): it takes whatever has
//! queued up, reads all their clients in one query, decides each in arrival order (so a
//! call-back in the same batch sees the caller just remembered), and records the batch in one
//! transaction. Under load a batch holds many webhooks, and the database work per webhook
//! falls accordingly.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::Notify;

use super::{App, AppError, AppResult, Routing};
use crate::batch::Batcher;
use crate::domain::E164;
use crate::store::{
    Channel, Client, Direction, NewInteraction, NewOutbound, OutboundKind, Outcome, RoutingJob,
    Store, StoreError,
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

/// The engine: a queue of webhooks in front of one batch task. `None` answers an internal
/// failure (already logged).
pub type Engine = Batcher<Inbound, Option<Answer>>;

/// Most webhooks decided and written together.
const BATCH: usize = 256;

pub fn engine(store: Arc<dyn Store>, routing: Arc<Routing>, wake: Arc<Notify>) -> Engine {
    Batcher::spawn(BATCH, move |jobs| {
        let (store, routing, wake) = (store.clone(), routing.clone(), wake.clone());
        async move { route_batch(store.as_ref(), &routing, &wake, jobs).await }
    })
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

/// A delivery-status callback for a text we sent.
pub async fn delivery_status(app: &App, sid: &str, status: &str) -> AppResult<()> {
    // Twilio may call back before the worker has stored the SID its send returned: an unknown
    // SID is tried again a few times, briefly, before it is given up.
    let mut known = false;
    for attempt in 0..4 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        known = app
            .store
            .outbound_delivery_status(sid, status, Utc::now())
            .await?;
        if known {
            break;
        }
    }
    metrics::counter!("webhook_outcomes_total", "channel" => "sms_status",
        "outcome" => if known { "recorded" } else { "unknown_sid" })
    .increment(1);
    tracing::debug!(known, status, "delivery status");
    Ok(())
}

/// What one webhook decided: its answer, and what to record (nothing for bad input).
struct Decision {
    answer: Answer,
    record: Option<RoutingJob>,
}

fn interaction(
    channel: Channel,
    proxy: &E164,
    client: Option<&Client>,
    direction: Direction,
    outcome: Outcome,
    sid: Option<&String>,
) -> NewInteraction {
    NewInteraction {
        occurred_at: Utc::now(),
        proxy: proxy.clone(),
        client_id: client.map(|c| c.id),
        direction,
        channel,
        outcome,
        twilio_sid: sid.cloned(),
    }
}

fn only(interaction: NewInteraction) -> Option<RoutingJob> {
    Some(RoutingJob {
        interaction,
        new_last_caller: None,
        outbound: None,
    })
}

fn decide_call(routing: &Routing, clients: &HashMap<E164, Client>, call: &Call) -> Decision {
    let voice = |answer| Answer::Call(answer);
    let Some(proxy) = &call.to else {
        return Decision {
            answer: voice(CallAnswer::UnknownNumber),
            record: None,
        };
    };
    let record = |client, direction, outcome| {
        interaction(
            Channel::Voice,
            proxy,
            client,
            direction,
            outcome,
            call.sid.as_ref(),
        )
    };
    let Some(client) = clients.get(proxy) else {
        let record = only(record(None, Direction::Unknown, Outcome::UnknownProxy));
        return Decision {
            answer: voice(CallAnswer::UnknownNumber),
            record,
        };
    };
    // An anonymous or garbled caller has no country to check: refused as one from
    // elsewhere, and not recorded (there is nothing to record it as).
    let Some(from) = &call.from else {
        return Decision {
            answer: voice(CallAnswer::CountryBlocked),
            record: None,
        };
    };
    if !routing.allow_list.allows(from) {
        let record = only(record(
            Some(client),
            Direction::Unknown,
            Outcome::BlockedCountry,
        ));
        return Decision {
            answer: voice(CallAnswer::CountryBlocked),
            record,
        };
    }
    if *from == client.real_phone {
        return match &client.last_caller {
            None => Decision {
                answer: voice(CallAnswer::NoRecentCaller),
                record: only(record(
                    Some(client),
                    Direction::FromClient,
                    Outcome::NoRecentCaller,
                )),
            },
            Some(last) => Decision {
                answer: voice(CallAnswer::Connect {
                    proxy: proxy.clone(),
                    number: last.clone(),
                }),
                record: only(record(
                    Some(client),
                    Direction::FromClient,
                    Outcome::Forwarded,
                )),
            },
        };
    }
    Decision {
        answer: voice(CallAnswer::Connect {
            proxy: proxy.clone(),
            number: client.real_phone.clone(),
        }),
        record: Some(RoutingJob {
            interaction: record(Some(client), Direction::ToClient, Outcome::Forwarded),
            new_last_caller: Some((client.id, from.clone())),
            outbound: None,
        }),
    }
}

fn decide_text(routing: &Routing, clients: &HashMap<E164, Client>, text: &Text) -> Decision {
    let sms = |answer| Answer::Text(answer);
    let (Some(from), Some(proxy)) = (&text.from, &text.to) else {
        return Decision {
            answer: sms(TextAnswer::Nothing),
            record: None,
        };
    };
    let record = |client, direction, outcome| {
        interaction(
            Channel::Sms,
            proxy,
            client,
            direction,
            outcome,
            text.sid.as_ref(),
        )
    };
    let Some(client) = clients.get(proxy) else {
        let record = only(record(None, Direction::Unknown, Outcome::UnknownProxy));
        return Decision {
            answer: sms(TextAnswer::UnknownProxy),
            record,
        };
    };
    if !routing.allow_list.allows(from) {
        let record = only(record(
            Some(client),
            Direction::Unknown,
            Outcome::BlockedCountry,
        ));
        return Decision {
            answer: sms(TextAnswer::CountryBlocked),
            record,
        };
    }
    let relay = |to: &E164| NewOutbound {
        kind: OutboundKind::Sms,
        purpose: "relay",
        from: proxy.clone(),
        to: to.clone(),
        body: Some(text.body.clone()),
        url: None,
        // A retried webhook carries the same MessageSid: it relays once.
        dedupe_key: text.sid.as_ref().map(|s| format!("relay:{s}")),
    };
    let empty = text.body.trim().is_empty();
    let outcome = if empty {
        Outcome::EmptyMessage
    } else {
        Outcome::Forwarded
    };
    if *from == client.real_phone {
        let Some(last) = &client.last_caller else {
            let record = only(record(
                Some(client),
                Direction::FromClient,
                Outcome::NoRecentCaller,
            ));
            return Decision {
                answer: sms(TextAnswer::NoRecentCorrespondent),
                record,
            };
        };
        return Decision {
            answer: sms(TextAnswer::Nothing),
            record: Some(RoutingJob {
                interaction: record(Some(client), Direction::FromClient, outcome),
                new_last_caller: None,
                outbound: (!empty).then(|| relay(last)),
            }),
        };
    }
    Decision {
        answer: sms(TextAnswer::Nothing),
        record: Some(RoutingJob {
            interaction: record(Some(client), Direction::ToClient, outcome),
            new_last_caller: Some((client.id, from.clone())),
            outbound: (!empty).then(|| relay(&client.real_phone)),
        }),
    }
}

/// The channel and SID a webhook is recorded under, when it has a SID.
fn webhook_sid(job: &Inbound) -> Option<(Channel, String)> {
    match job {
        Inbound::Call(c) => Some((Channel::Voice, c.sid.clone()?)),
        Inbound::Text(t) => Some((Channel::Sms, t.sid.clone()?)),
    }
}

/// One batch: read, decide in order, write, log. The engine calls it; tests call it to put
/// webhooks in one batch for certain.
pub async fn route_batch(
    store: &dyn Store,
    routing: &Routing,
    wake: &Notify,
    jobs: Vec<Inbound>,
) -> Vec<Option<Answer>> {
    let mut proxies: Vec<E164> = jobs
        .iter()
        .filter_map(|j| match j {
            Inbound::Call(c) => c.to.clone(),
            Inbound::Text(t) => t.to.clone(),
        })
        .collect();
    proxies.sort();
    proxies.dedup();
    let mut clients: HashMap<E164, Client> = match store.clients_by_proxies(&proxies).await {
        Ok(found) => found
            .into_iter()
            .filter_map(|c| Some((c.proxy.clone()?, c)))
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "routing: clients could not be read");
            return vec![None; jobs.len()];
        }
    };
    // Retried webhooks (a SID recorded already, or twice in this batch) are answered but
    // change nothing: the store skips them, so what the batch remembers must skip them too.
    let sids: Vec<(Channel, String)> = jobs.iter().filter_map(webhook_sid).collect();
    let mut seen = match store.recorded_webhooks(&sids).await {
        Ok(recorded) => recorded,
        Err(e) => {
            tracing::error!(error = %e, "routing: recorded webhooks could not be read");
            return vec![None; jobs.len()];
        }
    };
    let mut decisions = Vec::with_capacity(jobs.len());
    for job in &jobs {
        let decision = match job {
            Inbound::Call(call) => decide_call(routing, &clients, call),
            Inbound::Text(text) => decide_text(routing, &clients, text),
        };
        let retried = webhook_sid(job).is_some_and(|sid| !seen.insert(sid));
        // The next webhook of this batch sees the caller this one remembered.
        if !retried
            && let Some(RoutingJob {
                interaction,
                new_last_caller: Some((_, caller)),
                ..
            }) = &decision.record
            && let Some(client) = clients.get_mut(&interaction.proxy)
        {
            client.last_caller = Some(caller.clone());
        }
        decisions.push(decision);
    }
    let records: Vec<RoutingJob> = decisions.iter().filter_map(|d| d.record.clone()).collect();
    let written = match store.record_routing_batch(records).await {
        Ok(new) => new,
        Err(e) => {
            tracing::error!(error = %e, "routing: the batch could not be recorded");
            return vec![None; jobs.len()];
        }
    };
    let mut written = written.into_iter();
    let mut relayed = false;
    for d in &decisions {
        let Some(record) = &d.record else {
            tracing::info!(channel = ?d.answer, "webhook without a usable From or To: refused");
            continue;
        };
        let new = written.next().unwrap_or(false);
        relayed |= new && record.outbound.is_some();
        let i = &record.interaction;
        metrics::counter!("webhook_outcomes_total", "channel" => i.channel.as_str(), "outcome" => i.outcome.as_str())
            .increment(1);
        tracing::info!(
            channel = i.channel.as_str(),
            proxy = %i.proxy.masked(),
            client_id = i.client_id.map(|c| c.get()),
            outcome = i.outcome.as_str(),
            duplicate = !new,
            "webhook routed"
        );
    }
    if relayed {
        wake.notify_one();
    }
    decisions.into_iter().map(|d| Some(d.answer)).collect()
}
