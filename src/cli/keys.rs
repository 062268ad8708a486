//! `proxycall keys`: API keys from the command line.

use chrono::{DateTime, Duration, Utc};
use clap::Subcommand;
use serde_json::json;

use super::{Failure, usage};
use crate::app::{App, keys};
use crate::domain::Scopes;
use crate::store::ApiKey;

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
        /// Print the key and its details as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List keys (never the keys themselves).
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by its id.
    Revoke {
        id: String,
        /// Print the outcome as a JSON object.
        #[arg(long)]
        json: bool,
    },
}

fn state(k: &ApiKey, now: DateTime<Utc>) -> &'static str {
    if k.revoked_at.is_some() {
        "revoked"
    } else if k.is_usable(now) {
        "active"
    } else {
        "expired"
    }
}

/// A key as scripts read it: never the secret, never its hash.
fn key_json(k: &ApiKey, now: DateTime<Utc>) -> serde_json::Value {
    json!({
        "id": k.id,
        "name": k.name,
        "scopes": k.scopes.to_string(),
        "state": state(k, now),
        "created_at": k.created_at,
        "expires_at": k.expires_at,
        "revoked_at": k.revoked_at,
        "last_used_at": k.last_used_at,
    })
}

pub async fn run(app: &App, action: KeysCommand) -> Result<(), Failure> {
    match action {
        KeysCommand::Create {
            name,
            scopes,
            expires_in_days,
            json,
        } => {
            let scopes = Scopes::parse(&scopes).map_err(|e| usage(format!("--scopes: {e}")))?;
            let expires = expires_in_days.map(|d| Duration::days(i64::from(d)));
            let issued = keys::create(app, name.trim(), scopes, expires).await?;
            if json {
                let mut report = key_json(&issued.key, chrono::Utc::now());
                report["key"] = json!(issued.secret);
                println!("{report}");
            } else {
                println!("{}", issued.secret);
            }
            eprintln!(
                "key {} created with scopes {}; it is shown only now: store it safely",
                issued.key.id, issued.key.scopes
            );
        }
        KeysCommand::List { json } => {
            let now = chrono::Utc::now();
            let keys = keys::list(app).await?;
            if json {
                let list: Vec<_> = keys.iter().map(|k| key_json(k, now)).collect();
                println!("{}", serde_json::Value::Array(list));
                return Ok(());
            }
            println!(
                "{:<10} {:<20} {:<24} {:<10} {:<20} {:<20}",
                "ID", "NAME", "SCOPES", "STATE", "EXPIRES", "LAST USED"
            );
            for k in keys {
                let day = |t: Option<chrono::DateTime<chrono::Utc>>| {
                    t.map_or("-".to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string())
                };
                println!(
                    "{:<10} {:<20} {:<24} {:<10} {:<20} {:<20}",
                    k.id,
                    k.name,
                    k.scopes.to_string(),
                    state(&k, now),
                    day(k.expires_at),
                    day(k.last_used_at)
                );
            }
        }
        KeysCommand::Revoke { id, json } => {
            if !keys::revoke(app, id.trim()).await? {
                return Err(usage(format!("no active key with id '{id}'")));
            }
            if json {
                println!("{}", json!({ "id": id.trim(), "revoked": true }));
            } else {
                println!("key {id} revoked");
            }
        }
    }
    Ok(())
}
