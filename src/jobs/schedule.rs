//! Periodic jobs: each period's job is enqueued by every process, and stored once, by a dedupe
//! key naming the kind and the period's start. A process that restarts enqueues the current
//! period again and finds it there: nothing is repeated, and a period that began while it was
//! down still gets its job when it comes back.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::watch;

use super::Registry;
use super::registry::Periodic;
use crate::app::App;
use crate::store::{NewJob, Store, StoreResult};

/// The start of the period `now` falls in, aligned on the Unix epoch.
pub fn period_start(period: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
    let step = period.as_millis().max(1) as i64;
    let ms = now.timestamp_millis();
    Utc.timestamp_millis_opt(ms - ms.rem_euclid(step))
        .single()
        .unwrap_or(now)
}

fn key(p: &Periodic, start: DateTime<Utc>) -> String {
    format!("{}@{}", p.kind, start.timestamp_millis())
}

/// Enqueues the current period's job of every periodic kind; returns how many were new.
pub async fn enqueue_periodic(
    store: &dyn Store,
    registry: &Registry,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    let mut new = 0;
    for p in &registry.periodic {
        let start = period_start(p.period, now);
        let job = NewJob {
            kind: p.kind.to_owned(),
            payload: p.payload.clone(),
            due_at: start,
            max_attempts: p.max_attempts,
            dedupe_key: Some(key(p, start)),
        };
        if store.enqueue_job(&job, now).await?.is_some() {
            new += 1;
        }
    }
    Ok(new)
}

/// Enqueues each period's jobs as periods begin, until `shutdown` turns true.
pub async fn run(
    app: App,
    registry: std::sync::Arc<Registry>,
    mut shutdown: watch::Receiver<bool>,
) {
    if registry.periodic.is_empty() {
        return;
    }
    loop {
        let now = Utc::now();
        match enqueue_periodic(app.store.as_ref(), &registry, now).await {
            Ok(0) => {}
            Ok(_) => app.job_wake.notify_waiters(),
            Err(e) => tracing::warn!(error = %e, "jobs: could not enqueue periodic jobs"),
        }
        // Until the soonest next period, looked at again at least every minute.
        let next = registry
            .periodic
            .iter()
            .map(|p| {
                let start = period_start(p.period, now);
                (start + chrono::Duration::from_std(p.period).unwrap_or_default() - now)
                    .to_std()
                    .unwrap_or_default()
            })
            .min()
            .unwrap_or(Duration::from_secs(60))
            .min(Duration::from_secs(60));
        tokio::select! {
            () = tokio::time::sleep(next + Duration::from_millis(5)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_aligned_on_the_epoch() {
        let t = Utc.with_ymd_and_hms(2026, 11, 30, 10, 47, 12).unwrap();
        assert_eq!(
            period_start(Duration::from_secs(3600), t),
            Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap()
        );
        assert_eq!(
            period_start(Duration::from_secs(86_400), t),
            Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap()
        );
        assert_eq!(period_start(Duration::from_secs(1), t), t);
    }
}
