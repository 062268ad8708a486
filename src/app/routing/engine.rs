//! The routing engine: one task per process takes the webhooks queued meanwhile, reads what
//! they need in one query, decides each in arrival order, and records the batch in one
//! transaction.
//!
//! One bad webhook fails only itself: when the batch's read or write fails (a row the
//! database refuses, a client row that no longer parses), each webhook is read, decided and
//! recorded again on its own, and only those that still fail get the apology. A panic too:
//! the batch's webhooks are routed again one at a time, and only one that panics alone gets
//! the apology; panics in a row make the engine pause (`crate::batch`).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::decide::{Decision, Facts, decide_call, decide_text};
use super::guard;
use super::{Answer, CallAnswer, Inbound, Known};
use crate::app::Routing;
use crate::batch::Batcher;
use crate::domain::E164;
use crate::store::{BatchWritten, Channel, Contact, RoutingJob, Store, StoreError};

/// The engine: a queue of webhooks in front of one batch task. `None` answers an internal
/// failure (already logged).
pub type Engine = Batcher<Inbound, Option<Answer>>;

/// Most webhooks decided and written together.
const BATCH: usize = 256;
/// The engine's first pause when panics follow each other (doubled with each further one).
const RESTART_AFTER: Duration = Duration::from_millis(100);

pub fn engine(store: Arc<dyn Store>, routing: Arc<Routing>, wake: Arc<Notify>) -> Engine {
    engine_with(RESTART_AFTER, move |jobs| {
        let (store, routing, wake) = (store.clone(), routing.clone(), wake.clone());
        async move { route_batch(store.as_ref(), &routing, &wake, jobs).await }
    })
}

/// An engine that runs `batch` on each batch (production runs `route_batch`), and pauses
/// `restart_after` when panics follow each other: tests pass a batch function that panics.
pub fn engine_with<F, Fut>(restart_after: Duration, batch: F) -> Engine
where
    F: Fn(Vec<Inbound>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<Option<Answer>>> + Send,
{
    Batcher::spawn(BATCH, restart_after, batch)
}

/// The channel and SID a webhook is recorded under, when it has a SID.
fn webhook_sid(job: &Inbound) -> Option<(Channel, String)> {
    match job {
        Inbound::Call(c) => Some((Channel::Voice, c.sid.clone()?)),
        Inbound::Text(t) => Some((Channel::Sms, t.sid.clone()?)),
    }
}

fn proxy_of(job: &Inbound) -> Option<&E164> {
    match job {
        Inbound::Call(c) => c.to.as_ref(),
        Inbound::Text(t) => t.to.as_ref(),
    }
}

fn sender_of(job: &Inbound) -> Option<&E164> {
    match job {
        Inbound::Call(c) => c.from.as_ref(),
        Inbound::Text(t) => t.from.as_ref(),
    }
}

fn channel_of(job: &Inbound) -> Channel {
    match job {
        Inbound::Call(_) => Channel::Voice,
        Inbound::Text(_) => Channel::Sms,
    }
}

/// Decides the jobs in arrival order: each webhook sees the last caller the ones before it
/// remembered, except retries (of `recorded` webhooks, or of one earlier in the batch).
/// `allowed` holds, per job, what the relay limits answered it: they are asked once per
/// webhook, however often it is decided.
fn decide_jobs(
    facts: &Facts,
    jobs: &[Inbound],
    recorded: &HashSet<(Channel, String)>,
    allowed: &mut [Option<bool>],
) -> Vec<Decision> {
    let mut contacts = facts.contacts.clone();
    let mut opted_out = facts.opted_out.clone();
    let mut seen = recorded.clone();
    // Where each proxy last appears: a webhook's new last caller matters to the batch only
    // when a later webhook of the same proxy reads it.
    let mut last_index: HashMap<&E164, usize> = HashMap::new();
    for (i, job) in jobs.iter().enumerate() {
        if let Some(proxy) = proxy_of(job) {
            last_index.insert(proxy, i);
        }
    }
    let limits = &facts.routing.relay_limits;
    let mut decisions = Vec::with_capacity(jobs.len());
    for (i, job) in jobs.iter().enumerate() {
        let now = Facts {
            contacts: &contacts,
            opted_out: &opted_out,
            ..*facts
        };
        let mut may_relay = |sender: &E164, proxy: &E164| {
            *allowed[i].get_or_insert_with(|| limits.allow(sender, proxy))
        };
        let mut decision = match job {
            Inbound::Call(call) => decide_call(&now, call, &mut may_relay),
            Inbound::Text(text) => decide_text(&now, text, &mut may_relay),
        };
        let retried = webhook_sid(job).is_some_and(|sid| !seen.insert(sid));
        // The next webhooks of this batch see a stop or start word this one recorded.
        if let Some(change) = decision
            .record
            .as_ref()
            .and_then(|r| r.guard.opt_out.as_ref())
            && !retried
        {
            let pair = (change.proxy.clone(), change.number.clone());
            if change.out {
                opted_out.insert(pair);
            } else {
                opted_out.remove(&pair);
            }
        }
        if let Some(record) = &mut decision.record
            && !retried
            && (record.new_last_caller.is_some() || record.block.is_some())
        {
            // The next webhooks of this batch see the contact this one remembered or blocked.
            let proxy = &record.interaction.proxy;
            if let Some(seen) = &record.new_last_caller {
                let list = contacts.entry(seen.client_id).or_default();
                let blocked_at = list
                    .iter()
                    .find(|c| c.number == seen.number)
                    .and_then(|c| c.blocked_at);
                list.retain(|c| c.number != seen.number);
                list.push(Contact {
                    client_id: seen.client_id,
                    number: seen.number.clone(),
                    last_at: record.interaction.occurred_at,
                    last_channel: Some(seen.channel),
                    order_id: seen.order_id.clone(),
                    blocked_at,
                });
            }
            if let Some(block) = &record.block
                && let Some(contact) = contacts
                    .get_mut(&block.client_id)
                    .and_then(|list| list.iter_mut().find(|c| c.number == block.number))
            {
                contact.blocked_at = block.blocked.then_some(record.interaction.occurred_at);
            }
            record.later_jobs_depend = last_index.get(proxy).is_some_and(|&last| last > i);
        }
        decisions.push(decision);
    }
    decisions
}

/// A webhook decided and recorded; `new` is false for a retry of a recorded one.
struct Routed {
    decision: Decision,
    new: bool,
}

/// Why jobs could not be routed together: the stage (a metric label) and the error.
struct Failed {
    stage: &'static str,
    error: StoreError,
}

/// Reads, decides and records `jobs` together: one read, one transaction.
async fn route_together(
    store: &dyn Store,
    routing: &Routing,
    jobs: &[Inbound],
    allowed: &mut [Option<bool>],
) -> Result<Vec<Routed>, Failed> {
    let numbers = |of: fn(&Inbound) -> Option<&E164>| {
        let mut numbers: Vec<E164> = jobs.iter().filter_map(of).cloned().collect();
        numbers.sort();
        numbers.dedup();
        numbers
    };
    let since = chrono::Utc::now() - routing.contact_window;
    let read = store
        .routing_facts(
            &numbers(proxy_of),
            &numbers(sender_of),
            since,
            super::contacts::MOST,
        )
        .await
        .map_err(|error| Failed {
            stage: "read",
            error,
        })?;
    let mut known = Known::from(read);
    // Opt-outs are read only where they apply (none by default in the EU): one small read.
    let opt_out_proxies: Vec<E164> = numbers(proxy_of)
        .into_iter()
        .filter(|p| routing.guard.opt_out.applies(p))
        .collect();
    if !opt_out_proxies.is_empty() {
        known.opted_out = store
            .opt_outs(&opt_out_proxies)
            .await
            .map_err(|error| Failed {
                stage: "read",
                error,
            })?
            .into_iter()
            .collect();
    }
    let facts = known.facts(routing, since);
    // Retried webhooks are answered but change nothing: the store skips them, so what the
    // batch remembers must skip them too. Those retried within the batch are seen here; those
    // recorded before are found by the store, which refuses the batch when later jobs were
    // decided after one (rare: Twilio retries, and a later webhook of the same client in the
    // same batch). It is then decided again, knowing them: no read is added to the common case.
    // Read once for the batch: texts to a quiet client are held, calls to one go to voicemail.
    let quiet = crate::app::quiet_hours::of_batch(store, known.clients.values().map(|c| c.id))
        .await
        .map_err(|error| Failed {
            stage: "read",
            error,
        })?;
    let mut recorded: HashSet<(Channel, String)> = HashSet::new();
    loop {
        let mut decisions = decide_jobs(&facts, jobs, &recorded, allowed);
        let now = chrono::Utc::now();
        for decision in &mut decisions {
            if let Some(record) = &mut decision.record {
                crate::app::quiet_hours::hold(record, &quiet, routing.timezone, now);
            }
            if let Answer::Call(CallAnswer::Connect {
                to_client: Some(to),
                ..
            }) = &mut decision.answer
            {
                to.quiet_until = quiet
                    .get(&to.client)
                    .and_then(|h| crate::app::quiet_hours::quiet_until(h, now, routing.timezone));
            }
        }
        let records: Vec<RoutingJob> = decisions.iter().filter_map(|d| d.record.clone()).collect();
        let write = |error| Failed {
            stage: "write",
            error,
        };
        match store.record_routing_batch(records).await.map_err(write)? {
            BatchWritten::Written(new) => {
                let mut new = new.into_iter();
                return Ok(decisions
                    .into_iter()
                    .map(|decision| Routed {
                        // Nothing recorded: nothing to be a retry of.
                        new: decision.record.is_none() || new.next().unwrap_or(false),
                        decision,
                    })
                    .collect());
            }
            BatchWritten::Retried(sids) if sids.iter().any(|s| !recorded.contains(s)) => {
                recorded.extend(sids);
            }
            BatchWritten::Retried(_) => {
                return Err(write(StoreError::Unavailable(
                    "the store keeps refusing the batch".into(),
                )));
            }
        }
    }
}

/// One batch: read, decide in order, write, log; on a failure, each webhook on its own. The
/// engine calls it; tests call it to put webhooks in one batch for certain.
pub async fn route_batch(
    store: &dyn Store,
    routing: &Routing,
    wake: &Notify,
    jobs: Vec<Inbound>,
) -> Vec<Option<Answer>> {
    let mut allowed = vec![None; jobs.len()];
    let routed: Vec<Option<Routed>> = match route_together(store, routing, &jobs, &mut allowed)
        .await
    {
        Ok(routed) => routed.into_iter().map(Some).collect(),
        Err(Failed { stage, error }) => {
            metrics::counter!("routing_batch_fallbacks_total", "stage" => stage).increment(1);
            tracing::warn!(%error, stage, jobs = jobs.len(),
                    "routing: the batch failed; routing its webhooks one by one");
            let mut routed = Vec::with_capacity(jobs.len());
            for (i, job) in jobs.iter().enumerate() {
                let one = std::slice::from_ref(job);
                match route_together(store, routing, one, &mut allowed[i..=i]).await {
                    Ok(mut one) => routed.push(one.pop()),
                    Err(Failed { stage, error }) => {
                        let channel = channel_of(job).as_str();
                        metrics::counter!("routing_failures_total", "stage" => stage, "channel" => channel)
                                .increment(1);
                        tracing::error!(%error, stage, channel, "routing: a webhook failed");
                        routed.push(None);
                    }
                }
            }
            routed
        }
    };
    let mut relayed = false;
    let answers = routed
        .into_iter()
        .map(|routed| {
            let Routed { decision, new } = routed?;
            let Some(record) = &decision.record else {
                tracing::info!(answer = ?decision.answer, "webhook without a usable From or To: refused");
                return Some(decision.answer);
            };
            relayed |= new && (record.outbound.is_some() || record.guard.notice.is_some());
            let i = &record.interaction;
            let outcome = if new { i.outcome.as_str() } else { "duplicate" };
            if new {
                guard::count(routing.guard.unmask, &record.guard.unmasked);
            }
            metrics::counter!("webhook_outcomes_total", "channel" => i.channel.as_str(), "outcome" => outcome)
                .increment(1);
            tracing::info!(
                channel = i.channel.as_str(),
                proxy = %i.proxy.masked(),
                client_id = i.client_id.map(|c| c.get()),
                outcome = i.outcome.as_str(),
                duplicate = !new,
                "webhook routed"
            );
            // Twilio does not send a call's webhook twice with its CallSid: one that comes
            // again is a replay, and hears nothing of the client (not the number the first
            // one was connected to). A text's retry is answered as before (empty, relayed
            // once).
            if !new && matches!(decision.answer, Answer::Call(_)) {
                return Some(Answer::Call(CallAnswer::Unavailable));
            }
            Some(decision.answer)
        })
        .collect();
    if relayed {
        wake.notify_one();
    }
    answers
}
