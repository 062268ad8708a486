//! `proxycall import`: the CSV exports of the Google Sheets version (`app::import`).

use std::path::PathBuf;

use clap::Args;

use super::Failure;
use crate::app::{App, import};

#[derive(Args)]
pub struct ImportArgs {
    /// The `Clients` sheet as CSV.
    #[arg(long)]
    clients: Option<PathBuf>,
    /// The `TwilioPools` sheet as CSV.
    #[arg(long)]
    pool: Option<PathBuf>,
    /// The `CONFIRMATION_PENDING` sheet as CSV.
    #[arg(long)]
    pending: Option<PathBuf>,
    /// Check and count, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The report as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(app: &App, args: ImportArgs) -> Result<(), Failure> {
    let files = import::Files {
        clients: args.clients,
        pool: args.pool,
        pending: args.pending,
    };
    let report = import::run(app, &files, args.dry_run).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    if report.refused_set.is_empty() {
        Ok(())
    } else {
        Err(Failure::from(
            "the file set was refused: nothing was written",
        ))
    }
}

fn print_report(report: &import::ImportReport) {
    for reason in &report.refused_set {
        println!("refused: {reason}");
    }
    for row in &report.refused_rows {
        println!(
            "{} line {}: not imported: {}",
            row.sheet, row.line, row.reason
        );
    }
    for row in &report.notices {
        println!("{} line {}: {}", row.sheet, row.line, row.reason);
    }
    let c = &report.counts;
    let verb = if report.dry_run {
        "would import"
    } else {
        "imported"
    };
    for (sheet, count) in [
        ("Clients", c.clients),
        ("TwilioPools", c.pool),
        ("CONFIRMATION_PENDING", c.pending),
    ] {
        println!(
            "{sheet}: {verb} {}, already present {}",
            count.imported, count.already_present
        );
    }
    println!("rows refused: {}", report.refused());
}
