//! The SQL of `OutboxStore`, shared by both engines.

/// Inserts an outbound message and the job that sends it, once per dedupe key, on any
/// executor (a transaction: the message and its job are written together). Evaluates to the
/// new message's id, if one was inserted.
macro_rules! insert_outbound {
    ($executor:expr, $message:expr, $send_at:expr, $now:expr) => {{
        let m: &NewOutbound = $message;
        let id: Option<i64> = sqlx::query_scalar(
            "insert into outbound_messages (kind, purpose, from_number, to_number, body, url, \
             dedupe_key, status, attempts, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8) \
             on conflict (dedupe_key) do nothing returning id",
        )
        .bind(m.kind.as_str())
        .bind(m.purpose)
        .bind(m.from.as_str())
        .bind(m.to.as_str())
        .bind(m.body.as_deref())
        .bind(m.url.as_deref())
        .bind(m.dedupe_key.as_deref())
        .bind($now)
        .fetch_optional(&mut *$executor)
        .await?;
        if let Some(id) = id {
            insert_job!(&mut *$executor, &send_job(id, $send_at), $now);
        }
        id
    }};
}
pub(crate) use insert_outbound;

/// Implements `OutboxStore` for a back-end (see `impl_store!`).
macro_rules! impl_outbox_store {
    ($store:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};

            use $crate::store::sql::*;
            use $crate::store::*;

            #[async_trait::async_trait]
            impl OutboxStore for $store {
                async fn enqueue_at(
                    &self,
                    message: &NewOutbound,
                    send_at: DateTime<Utc>,
                    now: DateTime<Utc>,
                ) -> StoreResult<Option<i64>> {
                    let mut tx = self.begin_write().await?;
                    let id = insert_outbound!(tx, message, send_at, now);
                    tx.commit().await?;
                    Ok(id)
                }

                async fn outbound_message(&self, id: i64) -> StoreResult<Option<OutboundMessage>> {
                    sqlx::query(concat!(
                        "select ", outbound_cols!(), " from outbound_messages where id = $1"
                    ))
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?
                    .as_ref()
                    .map(outbound_from)
                    .transpose()
                }

                async fn outbound_sent(
                    &self,
                    id: i64,
                    sid: &str,
                    attempts: i64,
                    now: DateTime<Utc>,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "update outbound_messages set status = 'sent', twilio_sid = $2, \
                         attempts = $3, body = null, last_error = null, \
                         updated_at = $4 where id = $1",
                    )
                    .bind(id)
                    .bind(sid)
                    .bind(attempts)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn outbound_retry(
                    &self,
                    id: i64,
                    error: &str,
                    attempts: i64,
                    now: DateTime<Utc>,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "update outbound_messages set status = 'pending', last_error = $2, \
                         attempts = $3, updated_at = $4 where id = $1",
                    )
                    .bind(id)
                    .bind(error)
                    .bind(attempts)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn outbound_failed(
                    &self,
                    id: i64,
                    error: &str,
                    attempts: i64,
                    now: DateTime<Utc>,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "update outbound_messages set status = 'failed', last_error = $2, \
                         attempts = $3, body = null, updated_at = $4 \
                         where id = $1",
                    )
                    .bind(id)
                    .bind(error)
                    .bind(attempts)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn abandon_interrupted_sends(&self, now: DateTime<Utc>) -> StoreResult<u64> {
                    // A send job's dedupe key is `outbound:<message id>` (`send_job`): the
                    // message is found from it on both engines, without parsing JSON.
                    let done = sqlx::query(
                        "update outbound_messages set status = 'failed', body = null, \
                         last_error = 'interrupted while sending: not retried, so that it is \
                         never sent twice', updated_at = $1 \
                         where status = 'pending' and id in (select \
                           cast(substr(dedupe_key, 10) as bigint) from jobs \
                           where status = 'failed' and kind = $2)",
                    )
                    .bind(now)
                    .bind(SEND_JOB_KIND)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected())
                }

                async fn outbound_delivery_status(
                    &self,
                    sid: &str,
                    status: &str,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "update outbound_messages set delivery_status = $2, updated_at = $3 \
                         where twilio_sid = $1",
                    )
                    .bind(sid)
                    .bind(status)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn outbox_stats(&self) -> StoreResult<OutboxStats> {
                    let rows = sqlx::query(
                        "select status, count(*) as n from outbound_messages group by status",
                    )
                    .fetch_all(self.reader())
                    .await?;
                    let mut stats = OutboxStats::default();
                    for row in &rows {
                        let n: i64 = sqlx::Row::try_get(row, "n")?;
                        match Columns::text(row, "status")?.as_deref() {
                            Some("pending") => stats.pending = n,
                            Some("sent") => stats.sent = n,
                            Some("failed") => stats.failed = n,
                            _ => {}
                        }
                    }
                    let oldest = sqlx::query(
                        "select min(created_at) as oldest from outbound_messages \
                         where status = 'pending'",
                    )
                    .fetch_one(self.reader())
                    .await?;
                    stats.oldest_pending_at = Columns::time(&oldest, "oldest")?;
                    Ok(stats)
                }

                async fn outbound_messages(&self, limit: i64) -> StoreResult<Vec<OutboundMessage>> {
                    sqlx::query(concat!(
                        "select ", outbound_cols!(), " from outbound_messages order by id desc limit $1"
                    ))
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(outbound_from)
                    .collect()
                }
            }
        };
    };
}
pub(crate) use impl_outbox_store;
