//! The routing engine: one task per process takes the webhooks queued meanwhile, reads their
//! clients in one query, decides each in arrival order, and records the batch in one
//! transaction.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Notify;

use super::decide::{decide_call, decide_text};
use super::{Answer, Inbound};
use crate::app::Routing;
use crate::batch::Batcher;
use crate::domain::E164;
use crate::store::{Channel, Client, RoutingJob, Store};

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
    // Retried webhooks (a SID recorded already, or twice in this batch) are answered but
    // change nothing: the store skips them, so what the batch remembers must skip them too.
    // Both reads go at once: the engine waits for the slower, not for their sum.
    let sids: Vec<(Channel, String)> = jobs.iter().filter_map(webhook_sid).collect();
    let (found, recorded) = tokio::join!(
        store.clients_by_proxies(&proxies),
        store.recorded_webhooks(&sids)
    );
    let mut clients: HashMap<E164, Client> = match found {
        Ok(found) => found
            .into_iter()
            .filter_map(|c| Some((c.proxy.clone()?, c)))
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "routing: clients could not be read");
            return vec![None; jobs.len()];
        }
    };
    let mut seen = match recorded {
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
