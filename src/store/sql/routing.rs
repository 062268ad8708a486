//! The SQL of `RoutingStore`, shared by both engines.

/// Implements `RoutingStore` for a back-end (see `impl_store!`).
macro_rules! impl_routing_store {
    ($store:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};

            use $crate::domain::*;
            use $crate::store::sql::*;
            use $crate::store::*;

            #[async_trait::async_trait]
            impl RoutingStore for $store {
                async fn record_routing(
                    &self,
                    i: &NewInteraction,
                    new_last_caller: Option<(ClientId, &E164)>,
                    outbound: Option<&NewOutbound>,
                ) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let recorded = sqlx::query(
                        "insert into interactions (occurred_at, proxy_number, client_id, \
                         direction, channel, outcome, twilio_sid) \
                         values ($1, $2, $3, $4, $5, $6, $7) \
                         on conflict (channel, twilio_sid) do nothing",
                    )
                    .bind(i.occurred_at)
                    .bind(i.proxy.as_str())
                    .bind(i.client_id.map(ClientId::get))
                    .bind(i.direction.as_str())
                    .bind(i.channel.as_str())
                    .bind(i.outcome.as_str())
                    .bind(i.twilio_sid.as_deref())
                    .execute(&mut *tx)
                    .await?;
                    if recorded.rows_affected() == 0 {
                        // A retried webhook: what it asked for is done already.
                        tx.rollback().await?;
                        return Ok(false);
                    }
                    if let Some((client, caller)) = new_last_caller {
                        sqlx::query(
                            "update clients set client_last_caller = $1, updated_at = $2 \
                             where client_id = $3",
                        )
                        .bind(caller.as_str())
                        .bind(i.occurred_at)
                        .bind(client.get())
                        .execute(&mut *tx)
                        .await?;
                    }
                    if let Some(message) = outbound {
                        insert_outbound!(&mut *tx, message, i.occurred_at);
                    }
                    tx.commit().await?;
                    Ok(true)
                }

                async fn interactions(&self, limit: i64) -> StoreResult<Vec<Interaction>> {
                    sqlx::query(
                        "select id, occurred_at, proxy_number, client_id, direction, channel, \
                         outcome, twilio_sid from interactions order by id desc limit $1",
                    )
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(interaction_from)
                    .collect()
                }

                async fn purge_interactions(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                    let done = sqlx::query("delete from interactions where occurred_at < $1")
                        .bind(before)
                        .execute(self.writer())
                        .await?;
                    Ok(done.rows_affected())
                }

                async fn secret(&self, name: &str, candidate: &str) -> StoreResult<String> {
                    sqlx::query(
                        "insert into app_secrets (name, value, created_at) values ($1, $2, $3) \
                         on conflict (name) do nothing",
                    )
                    .bind(name)
                    .bind(candidate)
                    .bind(Utc::now())
                    .execute(self.writer())
                    .await?;
                    Ok(
                        sqlx::query_scalar("select value from app_secrets where name = $1")
                            .bind(name)
                            .fetch_one(self.writer())
                            .await?,
                    )
                }

                async fn record_simulated_delivery(
                    &self,
                    d: &SimulatedDelivery,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "insert into simulated_deliveries (kind, from_number, to_number, body, \
                         url, sid, delivered_at) values ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&d.kind)
                    .bind(d.from.as_str())
                    .bind(d.to.as_str())
                    .bind(d.body.as_deref())
                    .bind(d.url.as_deref())
                    .bind(&d.sid)
                    .bind(d.delivered_at)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn simulated_deliveries(
                    &self,
                    to: Option<&E164>,
                    limit: i64,
                ) -> StoreResult<Vec<SimulatedDelivery>> {
                    sqlx::query(
                        "select kind, from_number, to_number, body, url, sid, delivered_at \
                         from simulated_deliveries where ($1 is null or to_number = $1) \
                         order by id desc limit $2",
                    )
                    .bind(to.map(E164::as_str))
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(delivery_from)
                    .collect()
                }
            }
        };
    };
}
pub(crate) use impl_routing_store;
