//! The SQL of `EmailStore`, shared by both engines.

/// Inserts an e-mail and the job that sends it (due at `$send_at`), once per dedupe key, in a
/// transaction (`&mut *$executor`): another area's transaction can write an e-mail with the
/// change that calls for it. Evaluates to the new e-mail's id, if one was inserted. The
/// calling scope has `store::*` in scope, as `impl_store!`'s areas do.
macro_rules! insert_email {
    ($executor:expr, $email:expr, $send_at:expr, $now:expr) => {{
        let e: &$crate::store::NewEmail = $email;
        let id: Option<i64> = sqlx::query_scalar(
            "insert into outbound_emails (purpose, to_address, subject, body_text, body_html, \
             status, attempts, dedupe_key, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $7) \
             on conflict (dedupe_key) do nothing returning id",
        )
        .bind(e.purpose)
        .bind(e.to.as_str())
        .bind(&e.subject)
        .bind(&e.text)
        .bind(e.html.as_deref())
        .bind(e.dedupe_key.as_deref())
        .bind($now)
        .fetch_optional(&mut *$executor)
        .await?;
        if let Some(id) = id {
            $crate::store::sql::insert_job!(
                &mut *$executor,
                &$crate::store::email_send_job(id, $send_at),
                $now
            );
        }
        id
    }};
}
pub(crate) use insert_email;

macro_rules! email_cols {
    () => {
        "id, purpose, to_address, subject, body_text, body_html, status, attempts, last_error, \
         dedupe_key, created_at, updated_at, sent_at"
    };
}
pub(crate) use email_cols;

/// Implements `EmailStore` for a back-end (see `impl_store!`).
macro_rules! impl_email_store {
    ($store:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};

            use $crate::store::sql::*;
            use $crate::store::*;

            #[async_trait::async_trait]
            impl EmailStore for $store {
                async fn enqueue_email(
                    &self,
                    email: &NewEmail,
                    send_at: DateTime<Utc>,
                    now: DateTime<Utc>,
                ) -> StoreResult<Option<i64>> {
                    let mut tx = self.begin_write().await?;
                    let id = insert_email!(tx, email, send_at, now);
                    tx.commit().await?;
                    Ok(id)
                }

                async fn email(&self, id: i64) -> StoreResult<Option<OutboundEmail>> {
                    sqlx::query(concat!(
                        "select ", email_cols!(), " from outbound_emails where id = $1"
                    ))
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?
                    .as_ref()
                    .map(email_from)
                    .transpose()
                }

                async fn email_begin_send(
                    &self,
                    id: i64,
                    attempt: i64,
                    now: DateTime<Utc>,
                ) -> StoreResult<Option<OutboundEmail>> {
                    sqlx::query(concat!(
                        "update outbound_emails set status = 'sending', attempts = $2, \
                         updated_at = $3 where id = $1 and status in ('pending', 'sending') \
                         returning ",
                        email_cols!()
                    ))
                    .bind(id)
                    .bind(attempt)
                    .bind(now)
                    .fetch_optional(self.writer())
                    .await?
                    .as_ref()
                    .map(email_from)
                    .transpose()
                }

                async fn email_sent(&self, id: i64, now: DateTime<Utc>) -> StoreResult<bool> {
                    // The bodies may hold a credential (a verification link): gone once sent.
                    let done = sqlx::query(
                        "update outbound_emails set status = 'sent', sent_at = $2, \
                         body_text = null, body_html = null, last_error = null, updated_at = $2 \
                         where id = $1 and status = 'sending'",
                    )
                    .bind(id)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn email_not_sent(
                    &self,
                    id: i64,
                    attempt: i64,
                    error: &str,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "update outbound_emails set status = 'pending', last_error = $2, \
                         updated_at = $3 where id = $1 and status = 'sending' and attempts = $4",
                    )
                    .bind(id)
                    .bind(error)
                    .bind(now)
                    .bind(attempt)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn email_failed(
                    &self,
                    id: i64,
                    error: &str,
                    now: DateTime<Utc>,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "update outbound_emails set status = 'failed', last_error = $2, \
                         body_text = null, body_html = null, updated_at = $3 \
                         where id = $1 and status in ('pending', 'sending')",
                    )
                    .bind(id)
                    .bind(error)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn purge_emails(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                    // One waiting or being sent is kept until it is done with.
                    let done = sqlx::query(
                        "delete from outbound_emails where created_at < $1 \
                         and status in ('sent', 'failed')",
                    )
                    .bind(before)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected())
                }

                async fn emails(&self, limit: i64) -> StoreResult<Vec<OutboundEmail>> {
                    sqlx::query(concat!(
                        "select ", email_cols!(), " from outbound_emails order by id desc limit $1"
                    ))
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(email_from)
                    .collect()
                }
            }
        };
    };
}
pub(crate) use impl_email_store;
