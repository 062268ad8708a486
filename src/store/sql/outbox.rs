//! The SQL of `OutboxStore`, shared by both engines.

/// Inserts an outbound message, once per dedupe key, on any executor (a pool or the
/// transaction of a webhook). Evaluates to the number of rows inserted.
macro_rules! insert_outbound {
    ($executor:expr, $message:expr, $now:expr) => {{
        let m: &NewOutbound = $message;
        sqlx::query(
            "insert into outbound_messages (kind, purpose, from_number, to_number, body, url, \
             dedupe_key, status, attempts, next_attempt_at, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8, $8) \
             on conflict (dedupe_key) do nothing",
        )
        .bind(m.kind.as_str())
        .bind(m.purpose)
        .bind(m.from.as_str())
        .bind(m.to.as_str())
        .bind(m.body.as_deref())
        .bind(m.url.as_deref())
        .bind(m.dedupe_key.as_deref())
        .bind($now)
        .execute($executor)
        .await?
        .rows_affected()
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
                async fn enqueue(&self, message: &NewOutbound, now: DateTime<Utc>) -> StoreResult<bool> {
                    Ok(insert_outbound!(self.writer(), message, now) == 1)
                }

                async fn claim_outbound(
                    &self,
                    now: DateTime<Utc>,
                    lease_until: DateTime<Utc>,
                    limit: i64,
                ) -> StoreResult<Vec<OutboundMessage>> {
                    sqlx::query(Self::CLAIM_OUTBOUND_SQL)
                        .bind(now)
                        .bind(lease_until)
                        .bind(limit)
                        .fetch_all(self.writer())
                        .await?
                        .iter()
                        .map(outbound_from)
                        .collect()
                }

                async fn outbound_sent(&self, id: i64, sid: &str, now: DateTime<Utc>) -> StoreResult<()> {
                    sqlx::query(
                        "update outbound_messages set status = 'sent', twilio_sid = $2, \
                         body = null, locked_until = null, last_error = null, updated_at = $3 \
                         where id = $1",
                    )
                    .bind(id)
                    .bind(sid)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn outbound_retry(
                    &self,
                    id: i64,
                    error: &str,
                    next_attempt_at: DateTime<Utc>,
                    now: DateTime<Utc>,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "update outbound_messages set status = 'pending', last_error = $2, \
                         next_attempt_at = $3, locked_until = null, updated_at = $4 where id = $1",
                    )
                    .bind(id)
                    .bind(error)
                    .bind(next_attempt_at)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn outbound_failed(&self, id: i64, error: &str, now: DateTime<Utc>) -> StoreResult<()> {
                    sqlx::query(
                        "update outbound_messages set status = 'failed', last_error = $2, \
                         body = null, locked_until = null, updated_at = $3 where id = $1",
                    )
                    .bind(id)
                    .bind(error)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn abandon_expired_leases(&self, now: DateTime<Utc>) -> StoreResult<u64> {
                    let done = sqlx::query(
                        "update outbound_messages set status = 'failed', body = null, \
                         last_error = 'interrupted while sending: not retried, so that it is \
                         never sent twice', locked_until = null, updated_at = $1 \
                         where status = 'sending' and locked_until < $1",
                    )
                    .bind(now)
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
                            Some("sending") => stats.sending = n,
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
