//! The SQL of `OperatorStore`, shared by both engines.

use super::{Columns, corrupt, required};
use crate::domain::{Email, Role};
use crate::store::{AuditEntry, Operator, OperatorSession, StoreResult};

macro_rules! operator_cols {
    () => {
        "id, email, password_hash, role, totp_secret, totp_enabled, created_at, disabled_at"
    };
}
macro_rules! session_cols {
    () => {
        "id, operator_id, created_at, last_seen_at, second_factor_pending, csrf_token"
    };
}
pub(crate) use {operator_cols, session_cols};

pub(crate) fn operator_from(r: &impl Columns) -> StoreResult<Operator> {
    Ok(Operator {
        id: r.int("id")?.ok_or_else(corrupt("id"))?,
        email: Email::parse(&required(r, "email")?).map_err(|_| corrupt("email")())?,
        password_hash: required(r, "password_hash")?,
        role: Role::parse(&required(r, "role")?).map_err(|_| corrupt("role")())?,
        totp_secret: r.text("totp_secret")?,
        totp_enabled: r.flag("totp_enabled")?,
        created_at: r.time("created_at")?.ok_or_else(corrupt("created_at"))?,
        disabled_at: r.time("disabled_at")?,
    })
}

pub(crate) fn session_from(r: &impl Columns) -> StoreResult<OperatorSession> {
    Ok(OperatorSession {
        id: required(r, "id")?,
        operator_id: r.int("operator_id")?.ok_or_else(corrupt("operator_id"))?,
        created_at: r.time("created_at")?.ok_or_else(corrupt("created_at"))?,
        last_seen_at: r
            .time("last_seen_at")?
            .ok_or_else(corrupt("last_seen_at"))?,
        second_factor_pending: r.flag("second_factor_pending")?,
        csrf_token: required(r, "csrf_token")?,
    })
}

pub(crate) fn audit_from(r: &impl Columns) -> StoreResult<AuditEntry> {
    Ok(AuditEntry {
        id: r.int("id")?.ok_or_else(corrupt("id"))?,
        at: r.time("at")?.ok_or_else(corrupt("at"))?,
        operator_id: r.int("operator_id")?,
        actor: required(r, "actor")?,
        action: required(r, "action")?,
        target: r.text("target")?,
        details: r.text("details")?.unwrap_or_else(|| "{}".into()),
    })
}

/// Implements `OperatorStore` for a back-end (see `impl_store!`).
macro_rules! impl_operator_store {
    ($store:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};

            use $crate::domain::Email;
            use $crate::store::sql::*;
            use $crate::store::*;

            #[async_trait::async_trait]
            impl OperatorStore for $store {
                async fn insert_operator(&self, op: &NewOperator) -> StoreResult<Option<i64>> {
                    let id: Option<i64> = sqlx::query_scalar(
                        "insert into operators (email, password_hash, role, created_at, updated_at) \
                         values ($1, $2, $3, $4, $4) on conflict (email) do nothing returning id",
                    )
                    .bind(op.email.as_str())
                    .bind(&op.password_hash)
                    .bind(op.role.as_str())
                    .bind(op.created_at)
                    .fetch_optional(self.writer())
                    .await?;
                    Ok(id)
                }

                async fn operator_by_email(&self, email: &Email) -> StoreResult<Option<Operator>> {
                    sqlx::query(concat!(
                        "select ", operator_cols!(), " from operators where email = $1"
                    ))
                    .bind(email.as_str())
                    .fetch_optional(self.writer())
                    .await?
                    .map(|r| operator_from(&r))
                    .transpose()
                }

                async fn operator_by_id(&self, id: i64) -> StoreResult<Option<Operator>> {
                    // From the writer: a login or an enrolment reads what it just wrote.
                    sqlx::query(concat!("select ", operator_cols!(), " from operators where id = $1"))
                        .bind(id)
                        .fetch_optional(self.writer())
                        .await?
                        .map(|r| operator_from(&r))
                        .transpose()
                }

                async fn operators(&self) -> StoreResult<Vec<Operator>> {
                    sqlx::query(concat!("select ", operator_cols!(), " from operators order by id"))
                        .fetch_all(self.reader())
                        .await?
                        .iter()
                        .map(operator_from)
                        .collect()
                }

                async fn disable_operator(&self, id: i64, at: DateTime<Utc>) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query(
                        "update operators set disabled_at = $2, updated_at = $2 \
                         where id = $1 and disabled_at is null",
                    )
                    .bind(id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("delete from operator_sessions where operator_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn set_operator_password(
                    &self,
                    id: i64,
                    hash: &str,
                    at: DateTime<Utc>,
                ) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query("update operators set password_hash = $2, updated_at = $3 where id = $1")
                        .bind(id)
                        .bind(hash)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("delete from operator_sessions where operator_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn begin_totp(&self, id: i64, secret: &str, at: DateTime<Utc>) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "update operators set totp_secret = $2, updated_at = $3 \
                         where id = $1 and not totp_enabled",
                    )
                    .bind(id)
                    .bind(secret)
                    .bind(at)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn enable_totp(
                    &self,
                    id: i64,
                    step: i64,
                    recovery_hashes: &[String],
                    at: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query(
                        "update operators set totp_enabled = true, totp_last_step = $2, \
                         updated_at = $3 where id = $1 and not totp_enabled \
                         and totp_secret is not null",
                    )
                    .bind(id)
                    .bind(step)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    sqlx::query("delete from operator_recovery_codes where operator_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    for hash in recovery_hashes {
                        sqlx::query(
                            "insert into operator_recovery_codes (operator_id, code_hash) values ($1, $2)",
                        )
                        .bind(id)
                        .bind(hash)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(true)
                }

                async fn disable_totp(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "update operators set totp_enabled = false, totp_secret = null, \
                         totp_last_step = null, updated_at = $2 where id = $1",
                    )
                    .bind(id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("delete from operator_recovery_codes where operator_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn accept_totp_step(&self, id: i64, step: i64) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "update operators set totp_last_step = $2 where id = $1 \
                         and (totp_last_step is null or totp_last_step < $2)",
                    )
                    .bind(id)
                    .bind(step)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn use_recovery_code(
                    &self,
                    id: i64,
                    hash: &str,
                    at: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "update operator_recovery_codes set used_at = $3 where id = \
                         (select id from operator_recovery_codes \
                          where operator_id = $1 and code_hash = $2 and used_at is null limit 1) \
                         and used_at is null",
                    )
                    .bind(id)
                    .bind(hash)
                    .bind(at)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn recovery_codes_left(&self, id: i64) -> StoreResult<i64> {
                    Ok(sqlx::query_scalar(
                        "select count(*) from operator_recovery_codes \
                         where operator_id = $1 and used_at is null",
                    )
                    .bind(id)
                    .fetch_one(self.writer())
                    .await?)
                }

                async fn insert_operator_session(&self, s: &OperatorSession) -> StoreResult<()> {
                    sqlx::query(
                        "insert into operator_sessions (id, operator_id, created_at, last_seen_at, \
                         second_factor_pending, csrf_token) values ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&s.id)
                    .bind(s.operator_id)
                    .bind(s.created_at)
                    .bind(s.last_seen_at)
                    .bind(s.second_factor_pending)
                    .bind(&s.csrf_token)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn operator_session(&self, id: &str) -> StoreResult<Option<OperatorSession>> {
                    // From the writer: a session ended a moment ago must not be read back from
                    // a reader that has not seen it go.
                    sqlx::query(concat!(
                        "select ", session_cols!(), " from operator_sessions where id = $1"
                    ))
                    .bind(id)
                    .fetch_optional(self.writer())
                    .await?
                    .map(|r| session_from(&r))
                    .transpose()
                }

                async fn touch_operator_session(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
                    sqlx::query("update operator_sessions set last_seen_at = $2 where id = $1")
                        .bind(id)
                        .bind(at)
                        .execute(self.writer())
                        .await?;
                    Ok(())
                }

                async fn pass_second_factor(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
                    sqlx::query(
                        "update operator_sessions set second_factor_pending = false, \
                         last_seen_at = $2 where id = $1",
                    )
                    .bind(id)
                    .bind(at)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn delete_operator_session(&self, id: &str) -> StoreResult<()> {
                    sqlx::query("delete from operator_sessions where id = $1")
                        .bind(id)
                        .execute(self.writer())
                        .await?;
                    Ok(())
                }

                async fn delete_operator_sessions(&self, operator_id: i64) -> StoreResult<u64> {
                    let done = sqlx::query("delete from operator_sessions where operator_id = $1")
                        .bind(operator_id)
                        .execute(self.writer())
                        .await?;
                    Ok(done.rows_affected())
                }

                async fn delete_expired_operator_sessions(
                    &self,
                    idle_before: DateTime<Utc>,
                    opened_before: DateTime<Utc>,
                ) -> StoreResult<u64> {
                    let done = sqlx::query(
                        "delete from operator_sessions where last_seen_at < $1 or created_at < $2",
                    )
                    .bind(idle_before)
                    .bind(opened_before)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected())
                }

                async fn record_login_failure(
                    &self,
                    account_hash: &str,
                    address: &str,
                    at: DateTime<Utc>,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "insert into login_failures (account_hash, address, failed_at) values ($1, $2, $3)",
                    )
                    .bind(account_hash)
                    .bind(address)
                    .bind(at)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn login_failures_since(
                    &self,
                    account_hash: &str,
                    address: &str,
                    since: DateTime<Utc>,
                ) -> StoreResult<(i64, i64)> {
                    let row = sqlx::query(
                        "select \
                         (select count(*) from login_failures where account_hash = $1 and failed_at > $3) as per_account, \
                         (select count(*) from login_failures where address = $2 and failed_at > $3) as per_address",
                    )
                    .bind(account_hash)
                    .bind(address)
                    .bind(since)
                    .fetch_one(self.writer())
                    .await?;
                    Ok((
                        Columns::int(&row, "per_account")?.unwrap_or(0),
                        Columns::int(&row, "per_address")?.unwrap_or(0),
                    ))
                }

                async fn clear_login_failures(
                    &self,
                    account_hash: &str,
                    before: DateTime<Utc>,
                ) -> StoreResult<()> {
                    sqlx::query("delete from login_failures where account_hash = $1 or failed_at < $2")
                        .bind(account_hash)
                        .bind(before)
                        .execute(self.writer())
                        .await?;
                    Ok(())
                }

                async fn insert_audit(&self, e: &NewAuditEntry) -> StoreResult<()> {
                    sqlx::query(
                        "insert into audit_log (at, operator_id, actor, action, target, details) \
                         values ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(e.at)
                    .bind(e.operator_id)
                    .bind(&e.actor)
                    .bind(&e.action)
                    .bind(e.target.as_deref())
                    .bind(&e.details)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn set_operator_role(
                    &self,
                    id: i64,
                    role: $crate::domain::Role,
                    at: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "update operators set role = $2, updated_at = $3 where id = $1 and role <> $2",
                    )
                    .bind(id)
                    .bind(role.as_str())
                    .bind(at)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn last_logins(&self) -> StoreResult<Vec<(i64, DateTime<Utc>)>> {
                    // Read from the index on (action, operator_id, at) of migration 0017.
                    sqlx::query(
                        "select operator_id, max(at) as at from audit_log \
                         where action = 'login' and operator_id is not null group by operator_id",
                    )
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(|r| {
                        Ok((
                            r.int("operator_id")?
                                .ok_or(StoreError::Corrupt { column: "operator_id" })?,
                            r.time("at")?.ok_or(StoreError::Corrupt { column: "at" })?,
                        ))
                    })
                    .collect()
                }

                async fn audit_page(&self, before: Option<i64>, limit: i64) -> StoreResult<Vec<AuditEntry>> {
                    sqlx::query(
                        "select id, at, operator_id, actor, action, target, details from audit_log \
                         where id < $1 order by id desc limit $2",
                    )
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(audit_from)
                    .collect()
                }
            }
        };
    };
}
pub(crate) use impl_operator_store;
