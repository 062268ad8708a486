//! The SQL of `SimulatedStore`, shared by both engines.

macro_rules! simulated_cols {
    () => {
        "sid, phone_number, friendly_name, voice_url, sms_url, voice, sms, bought_at"
    };
}

/// Implements `SimulatedStore` for a back-end (see `impl_store!`).
macro_rules! impl_simulated_store {
    ($store:ty) => {
        const _: () = {
            use $crate::store::sql::*;
            use $crate::store::*;

            fn simulated_from(r: &impl Columns) -> StoreResult<SimulatedNumber> {
                let corrupt = |column| StoreError::Corrupt { column };
                Ok(SimulatedNumber {
                    sid: r.text("sid")?.ok_or_else(|| corrupt("sid"))?,
                    phone_number: r
                        .text("phone_number")?
                        .and_then(|p| $crate::domain::E164::parse_shape(&p).ok())
                        .ok_or_else(|| corrupt("phone_number"))?,
                    friendly_name: r.text("friendly_name")?,
                    voice_url: r.text("voice_url")?,
                    sms_url: r.text("sms_url")?,
                    voice: r.flag("voice")?,
                    sms: r.flag("sms")?,
                    bought_at: r.time("bought_at")?.ok_or_else(|| corrupt("bought_at"))?,
                })
            }

            #[async_trait::async_trait]
            impl SimulatedStore for $store {
                async fn add_simulated_number(&self, n: &SimulatedNumber) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "insert into simulated_numbers (sid, phone_number, friendly_name, \
                         voice_url, sms_url, voice, sms, bought_at) \
                         values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict do nothing",
                    )
                    .bind(&n.sid)
                    .bind(n.phone_number.as_str())
                    .bind(n.friendly_name.as_deref())
                    .bind(n.voice_url.as_deref())
                    .bind(n.sms_url.as_deref())
                    .bind(n.voice)
                    .bind(n.sms)
                    .bind(n.bought_at)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn simulated_numbers(&self) -> StoreResult<Vec<SimulatedNumber>> {
                    sqlx::query(concat!(
                        "select ", simulated_cols!(), " from simulated_numbers order by bought_at, sid"
                    ))
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(simulated_from)
                    .collect()
                }

                async fn update_simulated_number(
                    &self,
                    sid: &str,
                    voice_url: Option<&str>,
                    sms_url: Option<&str>,
                    friendly_name: Option<&str>,
                ) -> StoreResult<Option<SimulatedNumber>> {
                    sqlx::query(concat!(
                        "update simulated_numbers set voice_url = coalesce($2, voice_url), \
                         sms_url = coalesce($3, sms_url), \
                         friendly_name = coalesce($4, friendly_name) where sid = $1 returning ",
                        simulated_cols!()
                    ))
                    .bind(sid)
                    .bind(voice_url)
                    .bind(sms_url)
                    .bind(friendly_name)
                    .fetch_optional(self.writer())
                    .await?
                    .as_ref()
                    .map(simulated_from)
                    .transpose()
                }

                async fn remove_simulated_number(&self, sid: &str) -> StoreResult<bool> {
                    let done = sqlx::query("delete from simulated_numbers where sid = $1")
                        .bind(sid)
                        .execute(self.writer())
                        .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn simulated_texts_between(
                    &self,
                    from: &$crate::domain::E164,
                    to: &$crate::domain::E164,
                    since: chrono::DateTime<chrono::Utc>,
                ) -> StoreResult<Vec<SimulatedDelivery>> {
                    // The index on (to_number, id) finds one recipient's deliveries.
                    sqlx::query(
                        "select kind, from_number, to_number, body, url, sid, delivered_at, \
                         media from simulated_deliveries where to_number = $2 and from_number = $1 \
                         and kind = 'sms' and delivered_at >= $3 order by id",
                    )
                    .bind(from.as_str())
                    .bind(to.as_str())
                    .bind(since)
                    .fetch_all(self.writer())
                    .await?
                    .iter()
                    .map(delivery_from)
                    .collect()
                }

                async fn purge_simulated_deliveries(
                    &self,
                    before: chrono::DateTime<chrono::Utc>,
                ) -> StoreResult<u64> {
                    let done = sqlx::query("delete from simulated_deliveries where delivered_at < $1")
                        .bind(before)
                        .execute(self.writer())
                        .await?;
                    Ok(done.rows_affected())
                }
            }
        };
    };
}
pub(crate) use {impl_simulated_store, simulated_cols};
