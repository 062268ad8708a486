//! Creating, listing, disabling operators, resetting their passwords and changing their roles
//! (the `operators` command and the dashboard's operators page). Each change is audited;
//! disabling and a new password end the sessions.

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
    password::check(password)?;
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
    password::check(password)?;
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

/// Gives the operator another role; `false` when it had that role already. Its sessions go on
/// with the new role from their next request.
pub async fn set_role(app: &App, actor: &Actor, email: &Email, role: Role) -> AppResult<bool> {
    let operator = existing(app, email).await?;
    let done = app
        .store
        .set_operator_role(operator.id, role, Utc::now())
        .await?;
    if done {
        audit::record(
            app,
            actor,
            "operator.set_role",
            Some(email.as_str()),
            json!({ "from": operator.role.as_str(), "role": role.as_str() }),
        )
        .await?;
        tracing::info!(operator = %email.masked(), role = %role, "operator's role changed");
    }
    Ok(done)
}

/// Each operator's latest login, when the audit log has one.
pub async fn last_logins(
    app: &App,
) -> AppResult<std::collections::HashMap<i64, chrono::DateTime<Utc>>> {
    Ok(app.store.last_logins().await?.into_iter().collect())
}
