//! The outbox worker: sends what the store holds, once.
//!
//! Each `serve` process runs a few workers. A worker claims due messages with a lease (the
//! claim is atomic, so two workers, in one process or two, never take the same message),
//! sends each through the carrier, then records the outcome: sent; retry later with
//! exponential back-off and jitter on a passing failure (network, 429, 5xx); failed on a
//! refusal (4xx) or after the last try. A message whose worker vanished mid-send is not
//! retried (`abandon_expired_leases`): it may have left, and nothing is sent twice.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::Utc;
use tokio::sync::{Notify, watch};

use crate::carrier::{Carrier, CarrierError};
use crate::store::{OutboundKind, OutboundMessage, Store, StoreResult};

/// Tries per message, the first included.
pub const MAX_ATTEMPTS: i64 = 8;
/// Longer than the carrier client's own time-out, so a live worker never loses its lease.
const LEASE: Duration = Duration::from_secs(60);
/// Messages one worker takes at a time.
const BATCH: i64 = 8;
/// How often an idle worker looks for due retries without being woken.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How often a worker looks for messages whose sender vanished: leases last a minute, so
/// looking before every batch would only add writes.
const LEASE_CHECK: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Worker {
    store: Arc<dyn Store>,
    carrier: Arc<dyn Carrier>,
    wake: Arc<Notify>,
    status_callback: Option<String>,
}

/// Delay before try `attempt + 1`, after `attempt` failed tries: 2 s, 4 s, 8 s… up to 10 min,
/// with jitter so that retries after an outage do not arrive all at once.
pub fn backoff(attempt: i64) -> Duration {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(2))
        .with_max_delay(Duration::from_secs(600))
        .with_max_times(MAX_ATTEMPTS as usize)
        .with_jitter()
        .build()
        .nth(attempt.saturating_sub(1).max(0) as usize)
        .unwrap_or(Duration::from_secs(600))
}

impl Worker {
    pub fn new(
        store: Arc<dyn Store>,
        carrier: Arc<dyn Carrier>,
        wake: Arc<Notify>,
        status_callback: Option<String>,
    ) -> Self {
        Self {
            store,
            carrier,
            wake,
            status_callback,
        }
    }

    /// Claims one batch of due messages and sends them. Returns how many it handled: 0 when
    /// nothing is due. Tests drive the worker with this.
    pub async fn run_once(&self) -> StoreResult<usize> {
        self.run_once_at(Utc::now()).await
    }

    /// `run_once` as if it were `now`: tests use it to reach a retry's time.
    pub async fn run_once_at(&self, now: chrono::DateTime<Utc>) -> StoreResult<usize> {
        let lease_until = now + chrono::Duration::from_std(LEASE).expect("a minute fits");
        let claimed = self.store.claim_outbound(now, lease_until, BATCH).await?;
        // The batch's sends overlap: each waits on the carrier, not on the others.
        let outcomes =
            futures_util::future::join_all(claimed.iter().map(|m| self.send(m, now))).await;
        outcomes.into_iter().collect::<StoreResult<Vec<()>>>()?;
        Ok(claimed.len())
    }

    /// Sends one claimed message; `now` is the claim's time, from which a retry is scheduled.
    async fn send(&self, m: &OutboundMessage, now: chrono::DateTime<Utc>) -> StoreResult<()> {
        let kind = m.kind.as_str();
        let result = match m.kind {
            OutboundKind::Sms => {
                let body = m.body.as_deref().unwrap_or_default();
                self.carrier
                    .send_sms(&m.from, &m.to, body, self.status_callback.as_deref())
                    .await
            }
            OutboundKind::Call => {
                let url = m.url.as_deref().unwrap_or_default();
                self.carrier.place_call(&m.from, &m.to, url).await
            }
        };
        match result {
            Ok(sid) => {
                self.store.outbound_sent(m.id, &sid, now).await?;
                metrics::counter!("outbound_send_attempts_total", "kind" => kind, "outcome" => "sent").increment(1);
                tracing::info!(id = m.id, kind, purpose = %m.purpose, to = %m.to.masked(), attempts = m.attempts, "message sent");
            }
            Err(e) if e.is_transient() && m.attempts < MAX_ATTEMPTS => {
                let delay = match &e {
                    CarrierError::RateLimited {
                        retry_after: Some(after),
                    } => (*after).max(backoff(m.attempts)),
                    _ => backoff(m.attempts),
                };
                let next = now + chrono::Duration::from_std(delay).unwrap_or_default();
                self.store
                    .outbound_retry(m.id, &e.to_string(), next, now)
                    .await?;
                metrics::counter!("outbound_send_attempts_total", "kind" => kind, "outcome" => "retry").increment(1);
                tracing::warn!(id = m.id, kind, error = %e, attempts = m.attempts, retry_in_secs = delay.as_secs(), "send failed; will retry");
            }
            Err(e) => {
                self.store
                    .outbound_failed(m.id, &e.to_string(), now)
                    .await?;
                metrics::counter!("outbound_send_attempts_total", "kind" => kind, "outcome" => "failed").increment(1);
                tracing::error!(id = m.id, kind, error = %e, attempts = m.attempts, "send failed for good");
            }
        }
        Ok(())
    }

    /// Works until `shutdown` turns true: sends what is due, then sleeps until woken by a new
    /// message or the idle poll.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut leases_checked: Option<std::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            if leases_checked.is_none_or(|t| t.elapsed() >= LEASE_CHECK) {
                leases_checked = Some(std::time::Instant::now());
                match self.store.abandon_expired_leases(Utc::now()).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::error!(count = n, "messages interrupted mid-send were not retried")
                    }
                    Err(e) => tracing::warn!(error = %e, "outbox: could not check leases"),
                }
            }
            let handled = match self.run_once().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox: store unavailable");
                    0
                }
            };
            if handled == 0 {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        let first = backoff(1);
        assert!(
            first >= Duration::from_secs(2) && first <= Duration::from_secs(4),
            "{first:?}"
        );
        let fourth = backoff(4);
        assert!(fourth >= Duration::from_secs(16), "{fourth:?}");
        assert!(backoff(50) <= Duration::from_secs(1200));
    }
}
