//! `proxycall jobs list`: the background work, as the database holds it.

use clap::Subcommand;

use super::{Failure, usage};
use crate::app::{self, App};
use crate::jobs::Registry;
use crate::store::JobStatus;

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
    },
}

pub async fn run(app: &App, registry: &Registry, action: JobsCommand) -> Result<(), Failure> {
    let JobsCommand::List {
        kind,
        status,
        limit,
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
