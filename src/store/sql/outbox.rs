//! The SQL of `OutboxStore`, shared by both engines.

/// Inserts an outbound message and the job that sends it, once per dedupe key, on any
/// executor (a transaction: the message and its job are written together). Evaluates to the
/// new message's id, if one was inserted.
macro_rules! insert_outbound {
    ($executor:expr, $message:expr, $send_at:expr, $now:expr) => {{
        let m: &NewOutbound = $message;
        let id: Option<i64> = sqlx::query_scalar(
            "insert into outbound_messages (kind, purpose, from_number, to_number, body, url, \
             dedupe_key, status, attempts, created_at, updated_at, relay_of, media) \
             values ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8, $9, $10) \
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
        .bind(m.relay.as_ref().map(|r| r.sender.as_str()))
        .bind(
            m.relay
                .as_ref()
                .and_then(|r| $crate::domain::join_media(&r.media)),
        )
        .fetch_optional(&mut *$executor)
        .await?;
        if let Some(id) = id {
            insert_job!(&mut *$executor, &send_job(id, $send_at), $now);
        }
        id
    }};
}
pub(crate) use insert_outbound;

/// Queues, on a transaction, the bounce of message `$id` if it is due (see
/// `store::Bounce`): to the relay's sender, from the proxy it went through, once per message
/// (`bounce_key`), unless a text from that proxy to that sender failed since `bounce_quiet`
/// ago. A bounce has no `relay_of`, so it is never bounced. Evaluates to the bounce's id,
/// if one was queued.
macro_rules! insert_bounce {
    ($executor:expr, $id:expr, $bounce:expr, $now:expr) => {{
        let id: i64 = $id;
        let bounce: &Bounce = $bounce;
        let now: DateTime<Utc> = $now;
        // `where` before `on conflict`: SQLite reads the clause as the select's otherwise. A
        // sender who opted out of the proxy's texts (STOP) gets no bounce either.
        let queued: Option<i64> = sqlx::query_scalar(
            "insert into outbound_messages (kind, purpose, from_number, to_number, body, \
             dedupe_key, status, attempts, created_at, updated_at) \
             select 'sms', $2, m.from_number, m.relay_of, $3, $4, 'pending', 0, $5, $5 \
             from outbound_messages m where m.id = $1 and m.relay_of is not null \
             and m.purpose <> $2 \
             and not exists (select 1 from opt_outs x \
               where x.proxy_number = m.from_number and x.number = m.relay_of) \
             and not exists (select 1 from outbound_messages o \
               where o.to_number = m.relay_of and o.from_number = m.from_number \
               and o.updated_at >= $6 \
               and (o.status = 'failed' or o.delivery_status in ('undelivered', 'failed'))) \
             on conflict (dedupe_key) do nothing returning id",
        )
        .bind(id)
        .bind(BOUNCE_PURPOSE)
        .bind(bounce.body)
        .bind(bounce_key(id))
        .bind(now)
        .bind(now - bounce_quiet())
        .fetch_optional(&mut *$executor)
        .await?;
        if let Some(queued) = queued {
            insert_job!(&mut *$executor, &send_job(queued, now), now);
        }
        queued
    }};
}
pub(crate) use insert_bounce;

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

                async fn outbound_begin_send(
                    &self,
                    id: i64,
                    attempt: i64,
                    now: DateTime<Utc>,
                ) -> StoreResult<Option<OutboundMessage>> {
                    // One statement both reads the message and records that its send begins:
                    // the send path pays no extra round-trip for it.
                    sqlx::query(concat!(
                        "update outbound_messages set status = 'sending', send_started_at = $3, \
                         attempts = $2, updated_at = $3 where id = $1 and status = 'pending' \
                         returning ",
                        outbound_cols!()
                    ))
                    .bind(id)
                    .bind(attempt)
                    .bind(now)
                    .fetch_optional(self.writer())
                    .await?
                    .as_ref()
                    .map(outbound_from)
                    .transpose()
                }

                async fn outbound_begin_sends(
                    &self,
                    sends: &[(i64, i64)],
                    now: DateTime<Utc>,
                ) -> StoreResult<Vec<OutboundMessage>> {
                    if sends.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut q = sqlx::QueryBuilder::<DbEngine>::new(
                        "update outbound_messages set status = 'sending', send_started_at = ",
                    );
                    q.push_bind(now).push(", updated_at = ").push_bind(now);
                    q.push(", attempts = case id");
                    for &(id, attempt) in sends {
                        q.push(" when ").push_bind(id).push(" then ").push_bind(attempt);
                    }
                    q.push(" end where status = 'pending' and id in (");
                    let mut ids = q.separated(", ");
                    for &(id, _) in sends {
                        ids.push_bind(id);
                    }
                    q.push(concat!(") returning ", outbound_cols!()));
                    q.build()
                        .fetch_all(self.writer())
                        .await?
                        .iter()
                        .map(outbound_from)
                        .collect()
                }

                async fn sends_withheld(&self, ids: &[i64]) -> StoreResult<Vec<(i64, &'static str)>> {
                    if ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    // `send_withheld`'s question, asked of each message's own numbers.
                    let mut q = sqlx::QueryBuilder::<DbEngine>::new(
                        "select m.id, case \
                         when exists (select 1 from opt_outs x \
                           where x.proxy_number = m.from_number and x.number = m.to_number) \
                           then 'recipient_opted_out' \
                         when exists (select 1 from contacts c \
                           join clients k on k.client_id = c.client_id \
                           where k.client_proxy_number = m.from_number and c.number = m.relay_of \
                           and c.blocked_at is not null) then 'sender_blocked' \
                         end as why from outbound_messages m where m.id in (",
                    );
                    let mut list = q.separated(", ");
                    for &id in ids {
                        list.push_bind(id);
                    }
                    q.push(")");
                    let mut withheld = Vec::new();
                    for row in q.build().fetch_all(self.reader()).await? {
                        let why = match row.text("why")?.as_deref() {
                            Some("recipient_opted_out") => "recipient_opted_out",
                            Some("sender_blocked") => "sender_blocked",
                            _ => continue,
                        };
                        let id = row.int("id")?.ok_or(StoreError::Corrupt { column: "id" })?;
                        withheld.push((id, why));
                    }
                    Ok(withheld)
                }

                async fn outbound_sent_finish(
                    &self,
                    sent: &[(i64, String)],
                    outcomes: &[JobOutcome],
                    now: DateTime<Utc>,
                ) -> StoreResult<Vec<i64>> {
                    // One commit for the sends and their jobs: on PostgreSQL each commit waits
                    // for the disk, and on SQLite each statement is a hand-off to the writer.
                    let mut tx = self.begin_write().await?;
                    let mut first = Vec::new();
                    if !sent.is_empty() {
                        let mut q = sqlx::QueryBuilder::<DbEngine>::new(
                            "update outbound_messages set status = 'sent', body = null, \
                             media = null, last_error = null, updated_at = ",
                        );
                        q.push_bind(now).push(", twilio_sid = case id");
                        for (id, sid) in sent {
                            q.push(" when ").push_bind(*id).push(" then ").push_bind(sid.clone());
                        }
                        // A status callback may have recorded it first.
                        q.push(" end where status <> 'sent' and id in (");
                        let mut ids = q.separated(", ");
                        for (id, _) in sent {
                            ids.push_bind(*id);
                        }
                        q.push(") returning id");
                        let recorded: Vec<i64> = q.build_query_scalar().fetch_all(&mut *tx).await?;
                        first = sent
                            .iter()
                            .map(|(id, _)| *id)
                            .filter(|id| !recorded.contains(id))
                            .collect();
                    }
                    finish_jobs_in!(tx, outcomes, now);
                    tx.commit().await?;
                    Ok(first)
                }

                async fn outbound_sent(
                    &self,
                    id: i64,
                    sid: &str,
                    delivery_status: Option<&str>,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    // A status callback may have recorded it first.
                    let done = sqlx::query(
                        "update outbound_messages set status = 'sent', twilio_sid = $2, \
                         delivery_status = coalesce($3, delivery_status), body = null, \
                         media = null, last_error = null, updated_at = $4 \
                         where id = $1 and status <> 'sent'",
                    )
                    .bind(id)
                    .bind(sid)
                    .bind(delivery_status)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn outbound_not_sent(
                    &self,
                    id: i64,
                    attempt: i64,
                    error: &str,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "update outbound_messages set status = 'pending', last_error = $2, \
                         send_started_at = null, updated_at = $3 \
                         where id = $1 and status = 'sending' and attempts = $4",
                    )
                    .bind(id)
                    .bind(error)
                    .bind(now)
                    .bind(attempt)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn outbound_in_doubt(
                    &self,
                    id: i64,
                    error: &str,
                    now: DateTime<Utc>,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "update outbound_messages set last_error = $2, updated_at = $3 \
                         where id = $1 and status = 'sending'",
                    )
                    .bind(id)
                    .bind(error)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn send_withheld(
                    &self,
                    m: &OutboundMessage,
                ) -> StoreResult<Option<&'static str>> {
                    let why: Option<String> = sqlx::query_scalar(
                        "select case \
                         when exists (select 1 from opt_outs \
                           where proxy_number = $1 and number = $2) then 'recipient_opted_out' \
                         when exists (select 1 from contacts c \
                           join clients k on k.client_id = c.client_id \
                           where k.client_proxy_number = $1 and c.number = $3 \
                           and c.blocked_at is not null) then 'sender_blocked' \
                         end",
                    )
                    .bind(m.from.as_str())
                    .bind(m.to.as_str())
                    .bind(m.relay_of.as_ref().map(|n| n.as_str()))
                    .fetch_one(self.reader())
                    .await?;
                    Ok(match why.as_deref() {
                        Some("recipient_opted_out") => Some("recipient_opted_out"),
                        Some("sender_blocked") => Some("sender_blocked"),
                        _ => None,
                    })
                }

                async fn outbound_failed(
                    &self,
                    id: i64,
                    error: &str,
                    in_doubt: bool,
                    bounce: Option<&Bounce>,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    // `send_started_at` stays only on a message that may have left: a requeue
                    // reads it to settle the message before sending it again. A one-time code
                    // or a verification link is a credential, and useless late: its text goes
                    // (and with it any requeue). Pictures go whatever the purpose.
                    let failed = sqlx::query(
                        "update outbound_messages set status = 'failed', last_error = $2, \
                         send_started_at = case when $4 then send_started_at else null end, \
                         body = case when purpose in ('otp', 'otp_link', 'voicemail') \
                           then null else body end, \
                         media = null, updated_at = $3 \
                         where id = $1 and status in ('pending', 'sending')",
                    )
                    .bind(id)
                    .bind(error)
                    .bind(now)
                    .bind(in_doubt)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    let bounced = match bounce {
                        Some(bounce) if failed > 0 => insert_bounce!(tx, id, bounce, now).is_some(),
                        _ => false,
                    };
                    tx.commit().await?;
                    Ok(bounced)
                }

                async fn outbound_sids_taken(
                    &self,
                    sids: &[String],
                    id: i64,
                ) -> StoreResult<Vec<String>> {
                    if sids.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut q = sqlx::QueryBuilder::<DbEngine>::new(
                        "select twilio_sid from outbound_messages where id <> ",
                    );
                    q.push_bind(id).push(" and twilio_sid in (");
                    let mut list = q.separated(", ");
                    for sid in sids {
                        list.push_bind(sid.clone());
                    }
                    q.push(")");
                    Ok(q.build_query_scalar().fetch_all(self.writer()).await?)
                }

                async fn outbound_callback(
                    &self,
                    id: i64,
                    sid: &str,
                    status: &str,
                    bounce: Option<&Bounce>,
                    now: DateTime<Utc>,
                ) -> StoreResult<CallbackApplied> {
                    let mut tx = self.begin_write().await?;
                    // Not known as sent: the carrier took it, whatever we thought.
                    let settled = sqlx::query(
                        "update outbound_messages set status = 'sent', twilio_sid = $2, \
                         delivery_status = $3, body = null, media = null, last_error = null, \
                         updated_at = $4 where id = $1 and status <> 'sent'",
                    )
                    .bind(id)
                    .bind(sid)
                    .bind(status)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    let applied = if settled > 0 {
                        CallbackApplied::Settled
                    } else if sqlx::query(
                        "update outbound_messages set delivery_status = $3, updated_at = $4 \
                         where id = $1 and twilio_sid = $2",
                    )
                    .bind(id)
                    .bind(sid)
                    .bind(status)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        > 0
                    {
                        CallbackApplied::Recorded
                    } else {
                        let exists: Option<i64> =
                            sqlx::query_scalar("select id from outbound_messages where id = $1")
                                .bind(id)
                                .fetch_optional(&mut *tx)
                                .await?;
                        if exists.is_some() {
                            CallbackApplied::OtherSid
                        } else {
                            CallbackApplied::Unknown
                        }
                    };
                    if let Some(bounce) = bounce
                        && undelivered(status)
                        && matches!(applied, CallbackApplied::Settled | CallbackApplied::Recorded)
                    {
                        insert_bounce!(tx, id, bounce, now);
                    }
                    tx.commit().await?;
                    Ok(applied)
                }

                async fn outbound_delivery_status(
                    &self,
                    sid: &str,
                    status: &str,
                    bounce: Option<&Bounce>,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let id: Option<i64> = sqlx::query_scalar(
                        "update outbound_messages set delivery_status = $2, updated_at = $3 \
                         where twilio_sid = $1 returning id",
                    )
                    .bind(sid)
                    .bind(status)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let (Some(id), Some(bounce)) = (id, bounce)
                        && undelivered(status)
                    {
                        insert_bounce!(tx, id, bounce, now);
                    }
                    tx.commit().await?;
                    Ok(id.is_some())
                }

                async fn outbound_requeue(
                    &self,
                    ids: &[i64],
                    now: DateTime<Utc>,
                ) -> StoreResult<Vec<i64>> {
                    let mut tx = self.begin_write().await?;
                    let mut requeued = Vec::new();
                    for &id in ids {
                        let back: Option<i64> = sqlx::query_scalar(
                            // A text that may have left goes back in doubt, not to the queue:
                            // its send job settles it (callback, listing) before any resend.
                            "update outbound_messages set requeued_at = $2, \
                             status = case when send_started_at is null then 'pending' \
                             else 'sending' end, last_error = null, updated_at = $2 \
                             where id = $1 and status = 'failed' \
                             and ((kind = 'call' and send_started_at is null) \
                                  or (kind = 'sms' and body is not null and body <> '')) returning id",
                        )
                        .bind(id)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await?;
                        if back.is_none() {
                            continue;
                        }
                        // The finished job keeps its history; the key goes to the new one.
                        sqlx::query("update jobs set dedupe_key = null where dedupe_key = $1")
                            .bind(send_job_key(id))
                            .execute(&mut *tx)
                            .await?;
                        insert_job!(&mut *tx, &send_job(id, now), now);
                        requeued.push(id);
                    }
                    tx.commit().await?;
                    Ok(requeued)
                }

                async fn outbound_failed_since(
                    &self,
                    since: DateTime<Utc>,
                ) -> StoreResult<Vec<OutboundMessage>> {
                    sqlx::query(concat!(
                        "select ", outbound_cols!(), " from outbound_messages \
                         where status = 'failed' and updated_at >= $1 order by id"
                    ))
                    .bind(since)
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(outbound_from)
                    .collect()
                }

                async fn purge_outbound(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                    // A message waiting or in doubt is never purged: it is not done with.
                    let done = sqlx::query(
                        "delete from outbound_messages where created_at < $1 \
                         and status in ('sent', 'failed')",
                    )
                    .bind(before)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected())
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

                async fn failed_outbound_page(
                    &self,
                    after: Option<i64>,
                    limit: i64,
                ) -> StoreResult<Vec<FailedOutbound>> {
                    sqlx::query(
                        "select id, kind, purpose, to_number, attempts, last_error, created_at, \
                         updated_at from outbound_messages where status = 'failed' and id < $1 \
                         order by id desc limit $2",
                    )
                    .bind(after.unwrap_or(i64::MAX))
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(failed_outbound_from)
                    .collect()
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
