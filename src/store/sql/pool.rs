//! The SQL of `PoolStore`, shared by both engines.

/// Implements `PoolStore` for a back-end (see `impl_store!`).
macro_rules! impl_pool_store {
    ($store:ty) => {
        const _: () = {
            use chrono::Utc;

            use $crate::domain::*;
            use $crate::store::sql::*;
            use $crate::store::*;

            #[async_trait::async_trait]
            impl PoolStore for $store {
            async fn add_pool_number(&self, n: &NewPoolNumber) -> StoreResult<PoolNumber> {
                let row = sqlx::query(concat!(
                    "insert into pool_numbers (phone_number, twilio_sid, country_iso, \
                     number_type, voice_capable, sms_capable, status, friendly_name, \
                     purchased_at) values ($1, $2, $3, $4, $5, $6, 'available', $7, $8) \
                     returning ",
                    pool_cols!()
                ))
                .bind(n.phone_number.as_str())
                .bind(n.twilio_sid.as_deref())
                .bind(n.country_iso.as_str())
                .bind(n.number_type.as_str())
                .bind(n.voice_capable)
                .bind(n.sms_capable)
                .bind(n.friendly_name.as_deref())
                .bind(n.purchased_at)
                .fetch_one(self.writer())
                .await
                .map_err(|e| on_unique(e, Conflict::NumberExists))?;
                pool_from(&row)
            }

            async fn mark_released(
                &self,
                number: &E164,
                force: bool,
                now: chrono::DateTime<Utc>,
            ) -> StoreResult<Option<PoolNumber>> {
                let mut tx = self.begin_write().await?;
                let Some(before) = sqlx::query(concat!(
                    "select ", pool_cols!(), " from pool_numbers where phone_number = $1"
                ))
                .bind(number.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| pool_from(&r))
                .transpose()?
                else {
                    return Ok(None);
                };
                // A missing number a client still has is theirs as much as an assigned one.
                let held = match before.status {
                    PoolStatus::Assigned | PoolStatus::Reserved => true,
                    PoolStatus::Missing => before.holder().is_some(),
                    _ => false,
                };
                if held && !force {
                    return Ok(Some(before));
                }
                sqlx::query(
                    "update pool_numbers set status = 'released', owner_client_id = null, \
                     reserved_token = null, reserved_at = null, reserved_by_client_id = null, \
                     released_at = coalesce(released_at, $2) where phone_number = $1",
                )
                .bind(number.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                // A client keeps no proxy the carrier no longer rents us.
                sqlx::query(
                    "update clients set client_proxy_number = null, updated_at = $2 \
                     where client_proxy_number = $1",
                )
                .bind(number.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some(before))
            }

            async fn pool_number(&self, number: &E164) -> StoreResult<Option<PoolNumber>> {
                sqlx::query(concat!("select ", pool_cols!(), " from pool_numbers where phone_number = $1"))
                    .bind(number.as_str())
                    .fetch_optional(self.reader())
                    .await?
                    .map(|r| pool_from(&r))
                    .transpose()
            }

            async fn pool_numbers(
                &self,
                country: Option<CountryIso>,
                filter: NumberTypeFilter,
                status: Option<PoolStatus>,
            ) -> StoreResult<Vec<PoolNumber>> {
                let number_type = match filter {
                    NumberTypeFilter::Any => None,
                    NumberTypeFilter::Only(t) => Some(t.as_str()),
                };
                sqlx::query(concat!(
                    "select ", pool_cols!(), " from pool_numbers \
                     where ($1 is null or country_iso = $1) and ($2 is null or number_type = $2) \
                     and ($3 is null or status = $3) order by id"
                ))
                .bind(country.as_ref().map(CountryIso::as_str))
                .bind(number_type)
                .bind(status.map(PoolStatus::as_str))
                .fetch_all(self.reader())
                .await?
                .iter()
                .map(pool_from)
                .collect()
            }

            async fn pool_page(
                &self,
                country: Option<CountryIso>,
                filter: NumberTypeFilter,
                status: Option<PoolStatus>,
                after: i64,
                limit: i64,
            ) -> StoreResult<Vec<(i64, PoolNumber)>> {
                let number_type = match filter {
                    NumberTypeFilter::Any => None,
                    NumberTypeFilter::Only(t) => Some(t.as_str()),
                };
                sqlx::query(concat!(
                    "select id, ", pool_cols!(), " from pool_numbers \
                     where ($1 is null or country_iso = $1) and ($2 is null or number_type = $2) \
                     and ($3 is null or status = $3) and id > $4 order by id limit $5"
                ))
                .bind(country.as_ref().map(CountryIso::as_str))
                .bind(number_type)
                .bind(status.map(PoolStatus::as_str))
                .bind(after)
                .bind(limit)
                .fetch_all(self.reader())
                .await?
                .iter()
                .map(|r| Ok((sqlx::Row::try_get::<i64, _>(r, "id")?, pool_from(r)?)))
                .collect()
            }

            async fn pool_counts(&self) -> StoreResult<Vec<PoolCount>> {
                let rows = sqlx::query(
                    "select country_iso, number_type, status, count(*) as n from pool_numbers \
                     group by country_iso, number_type, status order by 1, 2, 3",
                )
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|r| {
                        let n: i64 = sqlx::Row::try_get(r, "n")?;
                        let p = |col| $crate::store::sql::Columns::text(r, col);
                        Ok(PoolCount {
                            country_iso: CountryIso::parse(&p("country_iso")?.unwrap_or_default())
                                .map_err(|_| StoreError::Corrupt { column: "country_iso" })?,
                            number_type: NumberType::parse(&p("number_type")?.unwrap_or_default())
                                .map_err(|_| StoreError::Corrupt { column: "number_type" })?,
                            status: PoolStatus::parse(&p("status")?.unwrap_or_default())
                                .ok_or(StoreError::Corrupt { column: "status" })?,
                            count: n,
                        })
                    })
                    .collect()
            }

            async fn flag_missing(&self, number: &E164) -> StoreResult<bool> {
                let flagged = sqlx::query(
                    "update pool_numbers set status = 'missing' where phone_number = $1 \
                     and status not in ('released', 'missing')",
                )
                .bind(number.as_str())
                .execute(self.writer())
                .await?
                .rows_affected();
                Ok(flagged == 1)
            }

            async fn restore_missing(&self, number: &E164) -> StoreResult<Option<PoolNumber>> {
                // Every `set` reads the row as it was: the holder is decided once.
                macro_rules! held {
                    () => {
                        "exists (select 1 from clients c \
                         where c.client_proxy_number = pool_numbers.phone_number \
                         and c.client_id = pool_numbers.owner_client_id)"
                    };
                }
                sqlx::query(concat!(
                    "update pool_numbers set \
                     status = case when ", held!(), " then 'assigned' else 'available' end, \
                     owner_client_id = case when ", held!(), " then owner_client_id end, \
                     assigned_at = case when ", held!(), " then assigned_at end, \
                     attribution_to_client_name = case when ", held!(),
                    " then attribution_to_client_name end, \
                     reserved_token = null, reserved_at = null, reserved_by_client_id = null \
                     where phone_number = $1 and status = 'missing' returning ",
                    pool_cols!()
                ))
                .bind(number.as_str())
                .fetch_optional(self.writer())
                .await?
                .map(|r| pool_from(&r))
                .transpose()
            }

            async fn set_draining(&self, number: &E164, undo: bool) -> StoreResult<bool> {
                let sql = if undo {
                    "update pool_numbers set status = case when owner_client_id is null \
                     then 'available' else 'assigned' end \
                     where phone_number = $1 and status = 'draining'"
                } else {
                    "update pool_numbers set status = 'draining' \
                     where phone_number = $1 and status in ('available', 'assigned')"
                };
                let done = sqlx::query(sql)
                    .bind(number.as_str())
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn assign_from_pool(
                &self,
                client: ClientId,
                pick: &ProxyPick,
            ) -> StoreResult<Option<PoolNumber>> {
                let now = Utc::now();
                for number_type in &pick.types {
                    let row = claim_number!(self.writer(), now, client, pick, number_type);
                    if let Some(row) = row {
                        return pool_from(&row).map(Some);
                    }
                }
                Ok(None)
            }
            }
        };
    };
}
pub(crate) use impl_pool_store;
