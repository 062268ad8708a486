//! What the operator watches: gauges read from the database at each scrape (so that every
//! process reports the same figures), and whether the database answers.

use std::collections::BTreeSet;

use super::{App, AppResult, jobs};
use crate::domain::NumberType;
use crate::store::PoolStatus;

/// Sets the pool, outbox and job gauges from the database.
pub async fn record(app: &App) -> AppResult<()> {
    let counts = app.store.pool_counts().await?;
    // Every type and status of every country gets a value, so a count that drops to zero
    // reads 0 instead of keeping its last value.
    let countries: BTreeSet<_> = counts.iter().map(|c| c.country_iso).collect();
    for country in countries {
        for number_type in NumberType::ALL {
            for status in PoolStatus::ALL {
                let n = counts
                    .iter()
                    .find(|c| {
                        c.country_iso == country
                            && c.number_type == number_type
                            && c.status == status
                    })
                    .map_or(0, |c| c.count);
                metrics::gauge!("proxycall_pool_numbers",
                    "country" => country.to_string(),
                    "type" => number_type.as_str(),
                    "status" => status.as_str())
                .set(n as f64);
            }
        }
    }
    let outbox = app.store.outbox_stats().await?;
    for (status, n) in [
        ("pending", outbox.pending),
        ("sending", outbox.sending),
        ("sent", outbox.sent),
        ("failed", outbox.failed),
    ] {
        metrics::gauge!("proxycall_outbox_messages", "status" => status).set(n as f64);
    }
    let age = outbox.oldest_pending_at.map_or(0.0, |t| {
        (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0
    });
    metrics::gauge!("proxycall_outbox_oldest_pending_seconds").set(age);
    // Activations by status (every `UPDATED (…)` as one), so that a stuck funnel shows.
    let mut activations: std::collections::BTreeMap<&str, i64> = [
        "PENDING",
        "PENDING_CALL",
        "PENDING_MAIL",
        "VERIFIED",
        "PROMOTED",
        "UPDATED",
        "EXPIRED",
        "LOCKED",
    ]
    .into_iter()
    .map(|s| (s, 0))
    .collect();
    for (status, n) in app.store.activation_counts().await? {
        let status = if status.starts_with("UPDATED") {
            "UPDATED"
        } else {
            status.as_str()
        };
        if let Some(count) = activations.get_mut(status) {
            *count += n;
        }
    }
    for (status, n) in activations {
        metrics::gauge!("proxycall_activations", "status" => status).set(n as f64);
    }
    jobs::record_gauges(app).await
}

/// Whether the database answers a trivial query now.
pub async fn database_answers(app: &App) -> bool {
    match app.store.ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            false
        }
    }
}
