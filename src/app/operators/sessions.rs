//! Logging in and the sessions it opens. A session is a random 256-bit token in the browser's
//! cookie and its SHA-256 in the database; it ends after `session_idle` without a request or
//! `session_max` after the login, whichever comes first, and at logout. Failed logins (and
//! wrong second-factor codes) are counted in the database per account and per address, so
//! that every process enforces one budget.

use chrono::Utc;
use serde_json::json;

use super::totp::{self, Proof};
use super::{Actor, audit, password, random_token, sha256_hex};
use crate::app::{App, AppResult};
use crate::config::AdminSettings;
use crate::domain::Email;
use crate::store::{Operator, OperatorSession};

/// What a login attempt came to.
#[derive(Debug)]
pub enum Login {
    /// A session: its token for the cookie, and whether a TOTP code is still due.
    Opened {
        token: String,
        second_factor_due: bool,
    },
    /// Wrong e-mail or password, or a disabled operator: one answer for all, so that nobody
    /// learns which e-mails are operators'.
    Refused,
    /// Too many failures for this account or from this address lately.
    Limited,
}

/// How the attempts of one account are counted: the e-mail as typed, normalised, hashed
/// (whether or not an operator has it; the table holds no address of anyone).
fn account_key(email: &str) -> String {
    sha256_hex(&email.trim().to_lowercase())
}

async fn limited(
    app: &App,
    settings: &AdminSettings,
    account: &str,
    address: &str,
) -> AppResult<bool> {
    let since = Utc::now() - settings.failure_window;
    let (per_account, per_address) = app
        .store
        .login_failures_since(account, address, since)
        .await?;
    Ok(
        per_account >= settings.failures_per_account
            || per_address >= settings.failures_per_address,
    )
}

async fn failed(app: &App, account: &str, address: &str) -> AppResult<()> {
    Ok(app
        .store
        .record_login_failure(account, address, Utc::now())
        .await?)
}

/// The first step: e-mail and password. `address` is the caller's (its /64 for IPv6).
pub async fn login(
    app: &App,
    settings: &AdminSettings,
    email: &str,
    password: &str,
    address: &str,
) -> AppResult<Login> {
    let account = account_key(email);
    if limited(app, settings, &account, address).await? {
        tracing::warn!(address, "login refused: too many failures");
        return Ok(Login::Limited);
    }
    let parsed = Email::parse(email).ok();
    let operator = match &parsed {
        Some(email) => app.store.operator_by_email(email).await?,
        None => None,
    };
    let usable = operator.as_ref().filter(|o| o.disabled_at.is_none());
    // A hash is verified whatever happens, so that an unknown e-mail takes as long.
    let right = password::verify(password, usable.map(|o| o.password_hash.as_str())).await;
    let Some(operator) = usable.filter(|_| right) else {
        failed(app, &account, address).await?;
        let target = parsed.as_ref().map(Email::masked);
        let actor = match &operator {
            Some(o) => Actor::operator(o),
            None => Actor::anonymous(address),
        };
        audit::record(
            app,
            &actor,
            "login.failed",
            target.as_deref(),
            json!({ "address": address }),
        )
        .await?;
        tracing::info!(
            operator = target.as_deref().unwrap_or("-"),
            address,
            "login refused"
        );
        return Ok(Login::Refused);
    };
    let now = Utc::now();
    // Housekeeping rides on logins, which are rare: the failures of this account and any
    // past the window, and sessions dead by now, go.
    app.store
        .clear_login_failures(&account, now - settings.failure_window)
        .await?;
    app.store
        .delete_expired_operator_sessions(now - settings.session_idle, now - settings.session_max)
        .await?;
    let token = random_token();
    let second_factor_due = operator.totp_enabled;
    app.store
        .insert_operator_session(&OperatorSession {
            id: sha256_hex(&token),
            operator_id: operator.id,
            created_at: now,
            last_seen_at: now,
            second_factor_pending: second_factor_due,
            csrf_token: random_token(),
        })
        .await?;
    if !second_factor_due {
        audit::record(
            app,
            &Actor::operator(operator),
            "login",
            Some(operator.email.as_str()),
            json!({ "address": address, "second_factor": "none" }),
        )
        .await?;
    }
    tracing::info!(operator = %operator.email.masked(), second_factor_due, "password accepted");
    Ok(Login::Opened {
        token,
        second_factor_due,
    })
}

/// A live session and its operator.
#[derive(Debug, Clone)]
pub struct Current {
    pub session: OperatorSession,
    pub operator: Operator,
}

/// The session the cookie's token opens, if it is live: not idle too long, not too old, its
/// operator not disabled. An expired one is deleted; a live one is marked as seen now.
pub async fn current(
    app: &App,
    settings: &AdminSettings,
    token: &str,
) -> AppResult<Option<Current>> {
    let id = sha256_hex(token);
    let Some(session) = app.store.operator_session(&id).await? else {
        return Ok(None);
    };
    let now = Utc::now();
    let expired = now - session.last_seen_at > settings.session_idle
        || now - session.created_at > settings.session_max;
    let operator = app.store.operator_by_id(session.operator_id).await?;
    let Some(operator) = operator.filter(|o| !expired && o.disabled_at.is_none()) else {
        app.store.delete_operator_session(&id).await?;
        return Ok(None);
    };
    app.store.touch_operator_session(&id, now).await?;
    Ok(Some(Current { session, operator }))
}

/// What a second-factor attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Passed(Proof),
    Wrong,
    Limited,
}

/// The second step: a TOTP code or a recovery code, for a session whose password was right.
pub async fn second_factor(
    app: &App,
    settings: &AdminSettings,
    current: &Current,
    code: &str,
    address: &str,
) -> AppResult<SecondFactor> {
    let operator = &current.operator;
    let account = account_key(operator.email.as_str());
    if limited(app, settings, &account, address).await? {
        return Ok(SecondFactor::Limited);
    }
    let Some(proof) = totp::verify(app, operator, code).await? else {
        failed(app, &account, address).await?;
        audit::record(
            app,
            &Actor::operator(operator),
            "login.second_factor_failed",
            Some(operator.email.as_str()),
            json!({ "address": address }),
        )
        .await?;
        tracing::info!(operator = %operator.email.masked(), "wrong second-factor code");
        return Ok(SecondFactor::Wrong);
    };
    app.store
        .pass_second_factor(&current.session.id, Utc::now())
        .await?;
    app.store
        .clear_login_failures(&account, Utc::now() - settings.failure_window)
        .await?;
    audit::record(
        app,
        &Actor::operator(operator),
        "login",
        Some(operator.email.as_str()),
        json!({ "address": address, "second_factor": proof.as_str() }),
    )
    .await?;
    Ok(SecondFactor::Passed(proof))
}

/// Ends this session.
pub async fn logout(app: &App, current: &Current) -> AppResult<()> {
    app.store
        .delete_operator_session(&current.session.id)
        .await?;
    audit::record(
        app,
        &Actor::operator(&current.operator),
        "logout",
        Some(current.operator.email.as_str()),
        json!({}),
    )
    .await
}

/// Ends every session of the operator, in every browser.
pub async fn logout_everywhere(app: &App, current: &Current) -> AppResult<u64> {
    let ended = app
        .store
        .delete_operator_sessions(current.operator.id)
        .await?;
    audit::record(
        app,
        &Actor::operator(&current.operator),
        "logout.everywhere",
        Some(current.operator.email.as_str()),
        json!({ "sessions": ended }),
    )
    .await?;
    Ok(ended)
}
