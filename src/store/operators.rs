//! The dashboard's operators, their sessions, failed logins and the audit log.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::{Email, Role};

/// An operator as stored. `Debug` leaves out the password hash and the TOTP secret.
#[derive(Clone)]
pub struct Operator {
    pub id: i64,
    pub email: Email,
    pub password_hash: String,
    pub role: Role,
    /// Base32, set from the start of an enrolment.
    pub totp_secret: Option<String>,
    pub totp_enabled: bool,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("totp_enabled", &self.totp_enabled)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

pub struct NewOperator {
    pub email: Email,
    pub password_hash: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// A session as stored: `id` is SHA-256 of the cookie's token.
#[derive(Debug, Clone)]
pub struct OperatorSession {
    pub id: String,
    pub operator_id: i64,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub second_factor_pending: bool,
    pub csrf_token: String,
}

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub operator_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    /// JSON.
    pub details: String,
}

#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub at: DateTime<Utc>,
    pub operator_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub details: String,
}

#[async_trait]
pub trait OperatorStore {
    /// The new operator's id; `None` when the e-mail is taken.
    async fn insert_operator(&self, operator: &NewOperator) -> StoreResult<Option<i64>>;
    async fn operator_by_email(&self, email: &Email) -> StoreResult<Option<Operator>>;
    async fn operator_by_id(&self, id: i64) -> StoreResult<Option<Operator>>;
    async fn operators(&self) -> StoreResult<Vec<Operator>>;
    /// Disables the operator and ends its sessions, in one transaction; whether it was enabled.
    async fn disable_operator(&self, id: i64, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Sets the password hash and ends the operator's sessions, in one transaction.
    async fn set_operator_password(
        &self,
        id: i64,
        hash: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Keeps a new secret for an enrolment not yet confirmed; `false` when TOTP is already on.
    async fn begin_totp(&self, id: i64, secret: &str, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Turns TOTP on with the step of the code that confirmed it, and replaces the recovery
    /// codes, in one transaction; `false` when it was on already.
    async fn enable_totp(
        &self,
        id: i64,
        step: i64,
        recovery_hashes: &[String],
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Turns TOTP off and forgets its secret and recovery codes.
    async fn disable_totp(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()>;
    /// Records `step` as used, unless it or a later one was: each code is accepted once.
    async fn accept_totp_step(&self, id: i64, step: i64) -> StoreResult<bool>;
    /// Marks an unused recovery code with that hash as used; whether there was one.
    async fn use_recovery_code(&self, id: i64, hash: &str, at: DateTime<Utc>) -> StoreResult<bool>;
    async fn recovery_codes_left(&self, id: i64) -> StoreResult<i64>;

    async fn insert_operator_session(&self, session: &OperatorSession) -> StoreResult<()>;
    async fn operator_session(&self, id: &str) -> StoreResult<Option<OperatorSession>>;
    async fn touch_operator_session(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()>;
    async fn pass_second_factor(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()>;
    async fn delete_operator_session(&self, id: &str) -> StoreResult<()>;
    /// Ends every session of the operator; how many there were.
    async fn delete_operator_sessions(&self, operator_id: i64) -> StoreResult<u64>;
    /// Forgets sessions last seen before `idle_before` or opened before `opened_before`.
    async fn delete_expired_operator_sessions(
        &self,
        idle_before: DateTime<Utc>,
        opened_before: DateTime<Utc>,
    ) -> StoreResult<u64>;

    async fn record_login_failure(
        &self,
        account_hash: &str,
        address: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Failed logins since `since`: for this account, and from this address.
    async fn login_failures_since(
        &self,
        account_hash: &str,
        address: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<(i64, i64)>;
    /// Forgets the account's failures (after a successful login) and every one before `before`.
    async fn clear_login_failures(
        &self,
        account_hash: &str,
        before: DateTime<Utc>,
    ) -> StoreResult<()>;

    async fn insert_audit(&self, entry: &NewAuditEntry) -> StoreResult<()>;
    /// The newest entries first, those with an id below `before` when given (keyset).
    async fn audit_page(&self, before: Option<i64>, limit: i64) -> StoreResult<Vec<AuditEntry>>;
    /// Sets the operator's role; whether it changed. Its sessions keep going: each request
    /// reads the operator again, so the new role holds from the next one.
    async fn set_operator_role(&self, id: i64, role: Role, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Each operator's latest login as the audit log has it (operators never logged in are
    /// absent).
    async fn last_logins(&self) -> StoreResult<Vec<(i64, DateTime<Utc>)>>;
}
