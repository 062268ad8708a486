//! `proxycall keys`: API keys from the command line.

use chrono::Duration;
use clap::Subcommand;

use super::{Failure, usage};
use crate::app::{App, keys};
use crate::domain::Scopes;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once; only its hash is stored.
    Create {
        /// What the key is for, e.g. the integration using it.
        #[arg(long)]
        name: String,
        /// Comma-separated: admin, orders, clients, pool, read.
        #[arg(long)]
        scopes: String,
        /// Days until the key stops working (never, when absent).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by its id.
    Revoke { id: String },
}

pub async fn run(app: &App, action: KeysCommand) -> Result<(), Failure> {
    match action {
        KeysCommand::Create {
            name,
            scopes,
            expires_in_days,
        } => {
            let scopes = Scopes::parse(&scopes).map_err(|e| usage(format!("--scopes: {e}")))?;
            let expires = expires_in_days.map(|d| Duration::days(i64::from(d)));
            let issued = keys::create(app, name.trim(), scopes, expires).await?;
            println!("{}", issued.secret);
            eprintln!(
                "key {} created with scopes {}; it is shown only now: store it safely",
                issued.key.id, issued.key.scopes
            );
        }
        KeysCommand::List => {
            let now = chrono::Utc::now();
            println!(
                "{:<10} {:<20} {:<24} {:<10} {:<20} {:<20}",
                "ID", "NAME", "SCOPES", "STATE", "EXPIRES", "LAST USED"
            );
            for k in keys::list(app).await? {
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else if k.is_usable(now) {
                    "active"
                } else {
                    "expired"
                };
                let day = |t: Option<chrono::DateTime<chrono::Utc>>| {
                    t.map_or("-".to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string())
                };
                println!(
                    "{:<10} {:<20} {:<24} {:<10} {:<20} {:<20}",
                    k.id,
                    k.name,
                    k.scopes.to_string(),
                    state,
                    day(k.expires_at),
                    day(k.last_used_at)
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !keys::revoke(app, id.trim()).await? {
                return Err(usage(format!("no active key with id '{id}'")));
            }
            println!("key {id} revoked");
        }
    }
    Ok(())
}
