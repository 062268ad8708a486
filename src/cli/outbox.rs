//! `proxycall outbox requeue`: failed messages back in the queue, once the operator has dealt
//! with why they failed (an outage longer than `PROXYCALL_OUTBOX_RETRY_HOURS`, a refusal).

use chrono::{DateTime, Utc};
use clap::{ArgGroup, Subcommand};
use serde_json::json;

use super::{Failure, usage};
use crate::app::{App, outbox};

#[derive(Subcommand)]
pub enum OutboxCommand {
    /// Put failed messages back in the queue, each with a new send job. Messages sent, in
    /// doubt (they may have left: they settle by themselves) or still queued are refused.
    #[command(group(ArgGroup::new("which").required(true).args(["id", "failed_since"])))]
    Requeue {
        /// One message, by id.
        #[arg(long)]
        id: Option<i64>,
        /// Every message that failed since this time: RFC 3339 (2026-11-30T08:00:00Z) or a
        /// duration back from now (90s, 45m, 2h, 3d).
        #[arg(long)]
        failed_since: Option<String>,
        /// Print the outcome as one JSON object (recipients masked, as in the text output).
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(app: &App, action: OutboxCommand) -> Result<(), Failure> {
    let OutboxCommand::Requeue {
        id,
        failed_since,
        json,
    } = action;
    let now = Utc::now();
    let done = match (id, failed_since) {
        (Some(id), _) => outbox::requeue(app, &[id], now).await?,
        (None, Some(since)) => {
            let since =
                since_time(&since, now).map_err(|e| usage(format!("--failed-since: {e}")))?;
            outbox::requeue_failed_since(app, since, now).await?
        }
        (None, None) => return Err(usage("give --id or --failed-since")),
    };
    if json {
        let requeued: Vec<_> = done
            .requeued
            .iter()
            .map(|m| {
                json!({
                    "id": m.id,
                    "kind": m.kind.as_str(),
                    "to": m.to.masked().to_string(),
                    "last_error": m.last_error,
                })
            })
            .collect();
        let refused: Vec<_> = done
            .refused
            .iter()
            .map(|(id, why)| json!({ "id": id, "reason": why }))
            .collect();
        println!("{}", json!({ "requeued": requeued, "refused": refused }));
    }
    for m in done.requeued.iter().filter(|_| !json) {
        println!(
            "requeued {} ({} to {}, failed: {})",
            m.id,
            m.kind.as_str(),
            m.to.masked(),
            m.last_error.as_deref().unwrap_or("-")
        );
    }
    if !json {
        for (id, why) in &done.refused {
            println!("not requeued {id}: {why}");
        }
        println!("{} message(s) requeued", done.requeued.len());
    }
    // Asked for one message by id, a refusal is a failure.
    if id.is_some() && done.requeued.is_empty() {
        return Err(Failure::from("nothing requeued"));
    }
    Ok(())
}

/// An RFC 3339 time, or a duration back from `now`: a whole number and `s`, `m`, `h` or `d`.
fn since_time(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    let split = raw.len().saturating_sub(1);
    let (number, unit) = raw.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("'{raw}' is not an RFC 3339 time nor a duration such as 2h"))?;
    let back = match unit {
        "s" => chrono::Duration::try_seconds(n),
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        _ => None,
    }
    .ok_or_else(|| format!("'{raw}': a duration ends in s, m, h or d"))?;
    Ok(now - back)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_a_time_or_a_duration_back() {
        let now = Utc::now();
        assert_eq!(
            since_time("2h", now).unwrap(),
            now - chrono::Duration::hours(2)
        );
        assert_eq!(
            since_time("90s", now).unwrap(),
            now - chrono::Duration::seconds(90)
        );
        assert_eq!(
            since_time("2026-11-30T08:00:00Z", now)
                .unwrap()
                .to_rfc3339(),
            "2026-11-30T08:00:00+00:00"
        );
        assert!(since_time("2 weeks", now).is_err());
        assert!(since_time("h", now).is_err());
        assert!(since_time("", now).is_err());
    }
}
