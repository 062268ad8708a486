//! The routing engine: one task per process takes the webhooks queued meanwhile, reads their
//! clients in one query, decides each in arrival order, and records the batch in one
//! transaction.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::Notify;

use super::decide::{Decision, decide_call, decide_text};
use super::{Answer, Inbound};
use crate::app::Routing;
use crate::batch::Batcher;
use crate::domain::E164;
use crate::store::{BatchWritten, Channel, Client, RoutingJob, Store};

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

/// The channel and SID a webhook is recorded under, when it has a SID.
fn webhook_sid(job: &Inbound) -> Option<(Channel, String)> {
    match job {
        Inbound::Call(c) => Some((Channel::Voice, c.sid.clone()?)),
        Inbound::Text(t) => Some((Channel::Sms, t.sid.clone()?)),
    }
}

/// Decides the batch in arrival order: each webhook sees the last caller the ones before it
/// remembered, except retries (of `recorded` webhooks, or of one earlier in the batch).
fn decide_batch(
    routing: &Routing,
    clients: &HashMap<E164, Client>,
    jobs: &[Inbound],
    recorded: &HashSet<(Channel, String)>,
) -> Vec<Decision> {
    let mut clients = clients.clone();
    let mut seen = recorded.clone();
    // Where each proxy last appears: a webhook's new last caller matters to the batch only
    // when a later webhook of the same proxy reads it.
    let mut last_index: HashMap<&E164, usize> = HashMap::new();
    for (i, job) in jobs.iter().enumerate() {
        if let Some(proxy) = proxy_of(job) {
            last_index.insert(proxy, i);
        }
    }
    let mut decisions = Vec::with_capacity(jobs.len());
    for (i, job) in jobs.iter().enumerate() {
        let mut decision = match job {
            Inbound::Call(call) => decide_call(routing, &clients, call),
            Inbound::Text(text) => decide_text(routing, &clients, text),
        };
        let retried = webhook_sid(job).is_some_and(|sid| !seen.insert(sid));
        if let Some(record) = &mut decision.record
            && let Some((_, caller)) = &record.new_last_caller
            && !retried
            && let Some(client) = clients.get_mut(&record.interaction.proxy)
        {
            // The next webhooks of this batch see the caller this one remembered.
            client.last_caller = Some(caller.clone());
            record.later_jobs_depend = last_index
                .get(&record.interaction.proxy)
                .is_some_and(|&last| last > i);
        }
        decisions.push(decision);
    }
    decisions
}

fn proxy_of(job: &Inbound) -> Option<&E164> {
    match job {
        Inbound::Call(c) => c.to.as_ref(),
        Inbound::Text(t) => t.to.as_ref(),
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
    let mut proxies: Vec<E164> = jobs.iter().filter_map(proxy_of).cloned().collect();
    proxies.sort();
    proxies.dedup();
    let clients: HashMap<E164, Client> = match store.clients_by_proxies(&proxies).await {
        Ok(found) => found
            .into_iter()
            .filter_map(|c| Some((c.proxy.clone()?, c)))
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "routing: clients could not be read");
            return vec![None; jobs.len()];
        }
    };
    // Retried webhooks are answered but change nothing: the store skips them, so what the
    // batch remembers must skip them too. Those retried within the batch are seen here; those
    // recorded before are found by the store, which refuses the batch when later jobs were
    // decided after one (rare: Twilio retries, and a later webhook of the same client in the
    // same batch). It is then decided again, knowing them: no read is added to the common case.
    let mut recorded: HashSet<(Channel, String)> = HashSet::new();
    let (decisions, written) = loop {
        let decisions = decide_batch(routing, &clients, &jobs, &recorded);
        let records: Vec<RoutingJob> = decisions.iter().filter_map(|d| d.record.clone()).collect();
        match store.record_routing_batch(records).await {
            Ok(BatchWritten::Written(new)) => break (decisions, new),
            Ok(BatchWritten::Retried(sids)) if sids.iter().any(|s| !recorded.contains(s)) => {
                recorded.extend(sids);
            }
            Ok(BatchWritten::Retried(_)) => {
                tracing::error!("routing: the store keeps refusing the batch");
                return vec![None; jobs.len()];
            }
            Err(e) => {
                tracing::error!(error = %e, "routing: the batch could not be recorded");
                return vec![None; jobs.len()];
            }
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
