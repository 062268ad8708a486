//! Creating, listing, disabling operators and resetting their passwords (the `operators`
//! command). Each change is audited; disabling and a new password end the sessions.

use chrono::Utc;
use serde_json::json;

use super::{Actor, audit, password};
use crate::app::{App, AppError, AppResult};
use crate::domain::{Email, Role};
use crate::store::{NewOperator, Operator};

pub async fn create(
    app: &App,
    actor: &Actor,
    email: &Email,
    role: Role,
    password: &str,
) -> AppResult<i64> {
    let hash = password::hash(password).await?;
    let id = app
        .store
        .insert_operator(&NewOperator {
            email: email.clone(),
            password_hash: hash,
            role,
            created_at: Utc::now(),
        })
        .await?
        .ok_or_else(|| AppError::Invalid {
            field: "email",
            message: "an operator with this e-mail exists already".into(),
        })?;
    audit::record(
        app,
        actor,
        "operator.create",
        Some(email.as_str()),
        json!({ "role": role.as_str() }),
    )
    .await?;
    tracing::info!(operator = %email.masked(), role = %role, "operator created");
    Ok(id)
}

/// The operator as stored now.
pub async fn get(app: &App, id: i64) -> AppResult<Option<Operator>> {
    Ok(app.store.operator_by_id(id).await?)
}

pub async fn list(app: &App) -> AppResult<Vec<Operator>> {
    Ok(app.store.operators().await?)
}

async fn existing(app: &App, email: &Email) -> AppResult<Operator> {
    app.store
        .operator_by_email(email)
        .await?
        .ok_or(AppError::NotFound { what: "operator" })
}

/// Disables the operator and ends its sessions; `false` when it was disabled already.
pub async fn disable(app: &App, actor: &Actor, email: &Email) -> AppResult<bool> {
    let operator = existing(app, email).await?;
    let done = app.store.disable_operator(operator.id, Utc::now()).await?;
    if done {
        audit::record(
            app,
            actor,
            "operator.disable",
            Some(email.as_str()),
            json!({}),
        )
        .await?;
        tracing::info!(operator = %email.masked(), "operator disabled");
    }
    Ok(done)
}

/// Sets a new password and ends the operator's sessions.
pub async fn reset_password(
    app: &App,
    actor: &Actor,
    email: &Email,
    password: &str,
) -> AppResult<()> {
    let operator = existing(app, email).await?;
    let hash = password::hash(password).await?;
    app.store
        .set_operator_password(operator.id, &hash, Utc::now())
        .await?;
    audit::record(
        app,
        actor,
        "operator.reset_password",
        Some(email.as_str()),
        json!({}),
    )
    .await?;
    tracing::info!(operator = %email.masked(), "operator's password reset, sessions ended");
    Ok(())
}
