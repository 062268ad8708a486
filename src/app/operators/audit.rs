//! The audit log: who did what, when, to what. Details never hold a secret: callers pass
//! names, roles and counts, never a password, code or token.

use chrono::Utc;
use serde_json::Value;

use crate::app::{App, AppResult};
use crate::store::{AuditEntry, NewAuditEntry, Operator};

/// Who acted.
#[derive(Debug, Clone)]
pub struct Actor {
    pub operator_id: Option<i64>,
    pub name: String,
}

impl Actor {
    /// Someone at the server's command line.
    pub fn command_line() -> Self {
        Self {
            operator_id: None,
            name: "command line".into(),
        }
    }

    pub fn operator(operator: &Operator) -> Self {
        Self {
            operator_id: Some(operator.id),
            name: operator.email.as_str().to_owned(),
        }
    }

    /// A visitor of the login page who is no operator (yet): known by the address only.
    pub fn anonymous(address: &str) -> Self {
        Self {
            operator_id: None,
            name: format!("anonymous ({address})"),
        }
    }
}

/// Writes one entry.
pub async fn record(
    app: &App,
    actor: &Actor,
    action: &str,
    target: Option<&str>,
    details: Value,
) -> AppResult<()> {
    app.store
        .insert_audit(&NewAuditEntry {
            at: Utc::now(),
            operator_id: actor.operator_id,
            actor: actor.name.clone(),
            action: action.to_owned(),
            target: target.map(str::to_owned),
            details: details.to_string(),
        })
        .await?;
    Ok(())
}

/// The newest entries first; `before` is the last id of the previous page.
pub async fn page(app: &App, before: Option<i64>, size: i64) -> AppResult<Vec<AuditEntry>> {
    Ok(app.store.audit_page(before, size).await?)
}
