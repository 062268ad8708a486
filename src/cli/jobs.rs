//! `proxycall jobs list`: the background work, as the database holds it.

use clap::Subcommand;
use serde_json::json;

use super::{Failure, usage};
use crate::app::{self, App};
use crate::jobs::Registry;
use crate::store::{Job, JobStatus};

#[derive(Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only this kind, e.g. outbound.send.
        #[arg(long)]
        kind: Option<String>,
        /// queued, running, done or failed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print a JSON array (with each job's progress and report).
        #[arg(long)]
        json: bool,
    },
}

/// A job as scripts read it. Payloads stay out: they may name a client's numbers.
fn job_json(j: &Job, known: bool) -> serde_json::Value {
    let parsed = |raw: &Option<String>| {
        raw.as_deref()
            .map(|r| serde_json::from_str(r).unwrap_or_else(|_| json!(r)))
    };
    json!({
        "id": j.id,
        "kind": j.kind,
        "known_here": known,
        "status": j.status.as_str(),
        "attempts": j.attempts,
        "max_attempts": j.max_attempts,
        "due_at": j.due_at,
        "created_at": j.created_at,
        "finished_at": j.finished_at,
        "last_error": j.last_error,
        "progress": parsed(&j.progress),
        "result": parsed(&j.result),
    })
}

pub async fn run(app: &App, registry: &Registry, action: JobsCommand) -> Result<(), Failure> {
    let JobsCommand::List {
        kind,
        status,
        limit,
        json,
    } = action;
    let status = status
        .map(|s| {
            JobStatus::parse(&s).ok_or_else(|| {
                usage(format!(
                    "--status: '{s}' is not one of queued, running, done, failed"
                ))
            })
        })
        .transpose()?;
    let jobs = app::jobs::list(app, kind.as_deref(), status, limit).await?;
    if json {
        let list: Vec<_> = jobs
            .iter()
            .map(|j| job_json(j, registry.knows(&j.kind)))
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return Ok(());
    }
    println!("ID       KIND                   STATUS   TRIES    DUE                  LAST ERROR");
    for j in jobs {
        // A kind another binary (newer, or older) enqueued: this one leaves it in the queue.
        let kind = if registry.knows(&j.kind) {
            j.kind
        } else {
            format!("{} (unknown here)", j.kind)
        };
        println!(
            "{:<8} {:<22} {:<8} {:<8} {:<20} {}",
            j.id,
            kind,
            j.status.as_str(),
            format!("{}/{}", j.attempts, j.max_attempts),
            j.due_at.format("%Y-%m-%d %H:%M:%S"),
            j.last_error.unwrap_or_default()
        );
    }
    Ok(())
}
