//! The SQL of `LowWaterStore`, shared by both engines.

/// Implements `LowWaterStore` for a back-end (see `impl_store!`).
macro_rules! impl_low_water_store {
    ($store:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};
            use sqlx::Row;

            use $crate::domain::*;
            use $crate::store::sql::*;
            use $crate::store::*;

            /// Reservations lost to concurrent ones before giving up: each loss means another
            /// process was granted some, so a few suffice.
            const RESERVE_TRIES: usize = 8;

            #[async_trait::async_trait]
            impl LowWaterStore for $store {
                async fn pool_supply(&self, now: DateTime<Utc>) -> StoreResult<Vec<PoolSupply>> {
                    // "Available" as the claims see it (`claim_sql!`): not cooling off, and
                    // no client's proxy.
                    let rows = sqlx::query(
                        "select p.country_iso, p.number_type, \
                         count(case when p.status = 'available' \
                           and (p.cooloff_until is null or p.cooloff_until <= $1) \
                           and not exists (select 1 from clients c \
                             where c.client_proxy_number = p.phone_number) \
                           then 1 end) as available \
                         from pool_numbers p where p.status <> 'released' \
                         group by p.country_iso, p.number_type \
                         order by p.country_iso, p.number_type",
                    )
                    .bind(now)
                    .fetch_all(self.reader())
                    .await?;
                    rows.iter()
                        .map(|r| {
                            Ok(PoolSupply {
                                country: CountryIso::parse(&r.try_get::<String, _>("country_iso")?)
                                    .map_err(|_| StoreError::Corrupt {
                                        column: "country_iso",
                                    })?,
                                number_type: NumberType::parse(
                                    &r.try_get::<String, _>("number_type")?,
                                )
                                .map_err(|_| StoreError::Corrupt {
                                    column: "number_type",
                                })?,
                                available: r.try_get::<i64, _>("available")?,
                            })
                        })
                        .collect()
                }

                async fn record_pool_alert(
                    &self,
                    country: CountryIso,
                    number_type: NumberType,
                    email: &NewEmail,
                    now: DateTime<Utc>,
                    quiet_since: DateTime<Utc>,
                ) -> StoreResult<Option<i64>> {
                    let mut tx = self.begin_write().await?;
                    // One statement decides: of two processes, the second finds the first's
                    // time and changes nothing.
                    let claimed = sqlx::query(
                        "insert into pool_alerts (country_iso, number_type, last_sent_at) \
                         values ($1, $2, $3) on conflict (country_iso, number_type) \
                         do update set last_sent_at = excluded.last_sent_at \
                         where pool_alerts.last_sent_at <= $4",
                    )
                    .bind(country.as_str())
                    .bind(number_type.as_str())
                    .bind(now)
                    .bind(quiet_since)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        > 0;
                    if !claimed {
                        return Ok(None);
                    }
                    let id = insert_email!(tx, email, now, now);
                    tx.commit().await?;
                    Ok(id)
                }

                async fn reserve_auto_buy(
                    &self,
                    month: &str,
                    wanted: i64,
                    budget: i64,
                    now: DateTime<Utc>,
                ) -> StoreResult<i64> {
                    sqlx::query(
                        "insert into pool_budget_months (month, spent, updated_at) \
                         values ($1, 0, $2) on conflict (month) do nothing",
                    )
                    .bind(month)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                    for _ in 0..RESERVE_TRIES {
                        let spent = self.auto_buy_spent(month).await?;
                        let n = wanted.min(budget - spent);
                        if n <= 0 {
                            return Ok(0);
                        }
                        let granted = sqlx::query(
                            "update pool_budget_months set spent = spent + $2, updated_at = $4 \
                             where month = $1 and spent + $2 <= $3",
                        )
                        .bind(month)
                        .bind(n)
                        .bind(budget)
                        .bind(now)
                        .execute(self.writer())
                        .await?
                        .rows_affected()
                            > 0;
                        if granted {
                            return Ok(n);
                        }
                    }
                    Ok(0)
                }

                async fn release_auto_buy(
                    &self,
                    month: &str,
                    n: i64,
                    now: DateTime<Utc>,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "update pool_budget_months set spent = spent - $2, updated_at = $3 \
                         where month = $1 and spent >= $2",
                    )
                    .bind(month)
                    .bind(n)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn auto_buy_spent(&self, month: &str) -> StoreResult<i64> {
                    // The writer: a reservation must see the latest grants.
                    let spent: Option<i64> =
                        sqlx::query_scalar("select spent from pool_budget_months where month = $1")
                            .bind(month)
                            .fetch_optional(self.writer())
                            .await?;
                    Ok(spent.unwrap_or(0))
                }
            }
        };
    };
}
pub(crate) use impl_low_water_store;
