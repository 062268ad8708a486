//! The SQL of `ReportStore`, shared by both engines. Timestamps are compared in SQL: both
//! engines store them so that order is preserved (PostgreSQL as `timestamptz`, SQLite as
//! RFC 3339 text in UTC, written and bound alike).

/// Interactions per hour of a period; `$hour` turns `occurred_at` into `YYYY-MM-DDTHH` (UTC)
/// on its engine.
macro_rules! hourly_sql {
    ($hour:literal) => {
        concat!(
            "select ",
            $hour,
            " as hour, channel, outcome, count(*) as n from interactions \
             where occurred_at >= $1 and occurred_at < $2 \
             group by 1, channel, outcome order by 1, channel, outcome"
        )
    };
}
pub(crate) use hourly_sql;

/// Implements `ReportStore` for a back-end (see `impl_store!`).
macro_rules! impl_reports_store {
    ($store:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};
            use sqlx::Row;

            use $crate::store::*;

            #[async_trait::async_trait]
            impl ReportStore for $store {
                async fn hourly_interactions(
                    &self,
                    from: DateTime<Utc>,
                    to: DateTime<Utc>,
                ) -> StoreResult<Vec<HourCount>> {
                    sqlx::query(Self::HOURLY_SQL)
                        .bind(from)
                        .bind(to)
                        .fetch_all(self.reader())
                        .await?
                        .iter()
                        .map(|r| {
                            Ok(HourCount {
                                hour: r.try_get("hour")?,
                                channel: r.try_get("channel")?,
                                outcome: r.try_get("outcome")?,
                                count: r.try_get("n")?,
                            })
                        })
                        .collect()
                }

                async fn activation_funnel(&self, since: DateTime<Utc>) -> StoreResult<Funnel> {
                    let r = sqlx::query(concat!(
                        "select count(*) as started, \
                         count(case when call_sid is not null then 1 end) as reached_call, \
                         count(case when link_token_hash is not null then 1 end) as reached_link, \
                         count(case when status = 'PROMOTED' or status like 'UPDATED%' \
                           then 1 end) as promoted, \
                         count(case when status in ('EXPIRED', 'LOCKED') then 1 end) as expired, \
                         count(case when status in ",
                        $crate::store::sql::waiting!(),
                        " then 1 end) as waiting from activations where created_at >= $1"
                    ))
                    .bind(since)
                    .fetch_one(self.reader())
                    .await?;
                    Ok(Funnel {
                        started: r.try_get("started")?,
                        call: r.try_get("reached_call")?,
                        link: r.try_get("reached_link")?,
                        promoted: r.try_get("promoted")?,
                        expired: r.try_get("expired")?,
                        waiting: r.try_get("waiting")?,
                    })
                }

                async fn queues(&self, now: DateTime<Utc>) -> StoreResult<Queues> {
                    let db = self.reader();
                    let health = |r: &_| -> StoreResult<QueueHealth> {
                        let r: &<DbEngine as sqlx::Database>::Row = r;
                        Ok(QueueHealth {
                            queued: r.try_get("queued")?,
                            oldest: r.try_get("oldest")?,
                            failed: r.try_get("failed")?,
                        })
                    };
                    let outbox = sqlx::query(
                        "select (select count(*) from outbound_messages \
                           where status in ('pending', 'sending')) as queued, \
                         (select min(created_at) from outbound_messages \
                           where status = 'pending') as oldest, \
                         (select count(*) from outbound_messages where status = 'failed') \
                           as failed",
                    )
                    .fetch_one(db)
                    .await?;
                    let jobs = sqlx::query(
                        "select (select count(*) from jobs where status in ('queued', 'running')) \
                           as queued, \
                         (select min(due_at) from jobs where status = 'queued' and due_at <= $1) \
                           as oldest, \
                         (select count(*) from jobs where status = 'failed') as failed",
                    )
                    .bind(now)
                    .fetch_one(db)
                    .await?;
                    let emails = sqlx::query(
                        "select (select count(*) from outbound_emails \
                           where status in ('pending', 'sending')) as queued, \
                         (select min(created_at) from outbound_emails \
                           where status = 'pending') as oldest, \
                         (select count(*) from outbound_emails where status = 'failed') \
                           as failed",
                    )
                    .fetch_one(db)
                    .await?;
                    Ok(Queues {
                        outbox: health(&outbox)?,
                        jobs: health(&jobs)?,
                        emails: health(&emails)?,
                    })
                }

                async fn period_figures(
                    &self,
                    from: DateTime<Utc>,
                    to: DateTime<Utc>,
                ) -> StoreResult<PeriodFigures> {
                    let db = self.reader();
                    let clients = sqlx::query(
                        "select count(case when created_at < $2 then 1 end) as total, \
                         count(case when created_at >= $1 and created_at < $2 then 1 end) as new \
                         from clients",
                    )
                    .bind(from)
                    .bind(to)
                    .fetch_one(db)
                    .await?;
                    // An activation ends once: promoted or updated when verified, expired or
                    // locked at `ended_at`.
                    let activations = sqlx::query(
                        "select \
                         count(case when created_at >= $1 and created_at < $2 then 1 end) \
                           as started, \
                         count(case when status = 'PROMOTED' \
                           and coalesce(verified_at, updated_at) >= $1 \
                           and coalesce(verified_at, updated_at) < $2 then 1 end) as promoted, \
                         count(case when status like 'UPDATED%' \
                           and coalesce(verified_at, updated_at) >= $1 \
                           and coalesce(verified_at, updated_at) < $2 then 1 end) as updated, \
                         count(case when status = 'EXPIRED' \
                           and ended_at >= $1 and ended_at < $2 then 1 end) as expired, \
                         count(case when status = 'LOCKED' \
                           and ended_at >= $1 and ended_at < $2 then 1 end) as locked \
                         from activations",
                    )
                    .bind(from)
                    .bind(to)
                    .fetch_one(db)
                    .await?;
                    let interactions = sqlx::query(
                        "select channel, outcome, count(*) as n from interactions \
                         where occurred_at >= $1 and occurred_at < $2 \
                         group by channel, outcome order by channel, outcome",
                    )
                    .bind(from)
                    .bind(to)
                    .fetch_all(db)
                    .await?;
                    let pool = sqlx::query(
                        "select country_iso, number_type, status, count(*) as n, \
                         count(case when purchased_at >= $1 and purchased_at < $2 then 1 end) \
                           as bought, \
                         count(case when released_at >= $1 and released_at < $2 then 1 end) \
                           as released \
                         from pool_numbers group by country_iso, number_type, status \
                         order by country_iso, number_type, status",
                    )
                    .bind(from)
                    .bind(to)
                    .fetch_all(db)
                    .await?;
                    let outbound = sqlx::query(
                        "select kind, count(*) as n from outbound_messages \
                         where status = 'failed' and updated_at >= $1 and updated_at < $2 \
                         group by kind order by kind",
                    )
                    .bind(from)
                    .bind(to)
                    .fetch_all(db)
                    .await?;
                    let emails_failed: i64 = sqlx::query_scalar(
                        "select count(*) from outbound_emails \
                         where status = 'failed' and updated_at >= $1 and updated_at < $2",
                    )
                    .bind(from)
                    .bind(to)
                    .fetch_one(db)
                    .await?;
                    Ok(PeriodFigures {
                        clients_total: clients.try_get("total")?,
                        clients_new: clients.try_get("new")?,
                        activations: ActivationCounts {
                            started: activations.try_get("started")?,
                            promoted: activations.try_get("promoted")?,
                            updated: activations.try_get("updated")?,
                            expired: activations.try_get("expired")?,
                            locked: activations.try_get("locked")?,
                        },
                        interactions: interactions
                            .iter()
                            .map(|r| Ok((r.try_get("channel")?, r.try_get("outcome")?, r.try_get("n")?)))
                            .collect::<StoreResult<_>>()?,
                        pool: pool
                            .iter()
                            .map(|r| {
                                Ok(PoolGroup {
                                    country: r.try_get("country_iso")?,
                                    number_type: r.try_get("number_type")?,
                                    status: r.try_get("status")?,
                                    count: r.try_get("n")?,
                                    bought: r.try_get("bought")?,
                                    released: r.try_get("released")?,
                                })
                            })
                            .collect::<StoreResult<_>>()?,
                        outbound_failed: outbound
                            .iter()
                            .map(|r| Ok((r.try_get("kind")?, r.try_get("n")?)))
                            .collect::<StoreResult<_>>()?,
                        emails_failed,
                    })
                }
            }
        };
    };
}
pub(crate) use impl_reports_store;
