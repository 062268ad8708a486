//! The SQL both engines share, written once. `$1` placeholders and the statements below are
//! understood by SQLite and PostgreSQL alike; what differs (pools, how a write transaction
//! starts, the claim query) is supplied by each back-end, which instantiates `impl_store!`.

use chrono::{DateTime, Utc};

use super::{ApiKey, Client, Order, PoolNumber, PoolStatus, StoreError, StoreResult};
use crate::domain::{ClientId, ClientName, CountryIso, E164, Email, NumberType, OrderId, Scopes};

/// Column lists as macros, so that `concat!` builds each statement as a `&'static str`.
macro_rules! client_cols {
    () => {
        "client_id, client_name, client_mail, client_real_phone, client_proxy_number, \
         client_iso_residency, client_country_code, client_last_caller, created_at, updated_at"
    };
}
macro_rules! pool_cols {
    () => {
        "phone_number, twilio_sid, country_iso, number_type, voice_capable, sms_capable, \
         status, friendly_name, purchased_at, assigned_at, attribution_to_client_name, \
         reserved_token, reserved_at, reserved_by_client_id"
    };
}
macro_rules! key_cols {
    () => {
        "id, name, scopes, created_at, expires_at, revoked_at, last_used_at"
    };
}
pub(super) use {client_cols, key_cols, pool_cols};

/// The claim both engines run: the first fitting available number, which no client already
/// uses as its proxy, becomes assigned. `$lock` is PostgreSQL's `for update skip locked`, so
/// that concurrent claims pick different rows instead of queueing on one; SQLite serialises
/// writers and needs nothing.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "update pool_numbers set status = 'assigned', assigned_at = $1, \
             reserved_by_client_id = $2, attribution_to_client_name = $3, \
             friendly_name = coalesce($4, friendly_name), reserved_token = null, \
             reserved_at = null \
             where id = (select p.id from pool_numbers p \
               where p.country_iso = $5 and p.number_type = $6 and p.status = 'available' \
               and not exists (select 1 from clients c \
                 where c.client_proxy_number = p.phone_number) \
               order by p.id limit 1 ",
            $lock,
            ") and status = 'available' returning ",
            pool_cols!()
        )
    };
}
pub(super) use claim_sql;

/// Typed column access over either engine's row.
pub(super) trait Columns {
    fn text(&self, col: &'static str) -> StoreResult<Option<String>>;
    fn int(&self, col: &'static str) -> StoreResult<Option<i64>>;
    fn flag(&self, col: &'static str) -> StoreResult<bool>;
    fn time(&self, col: &'static str) -> StoreResult<Option<DateTime<Utc>>>;
}

macro_rules! impl_columns {
    ($row:ty) => {
        impl $crate::store::sql::Columns for $row {
            fn text(&self, col: &'static str) -> $crate::store::StoreResult<Option<String>> {
                Ok(sqlx::Row::try_get::<Option<String>, _>(self, col)?)
            }
            fn int(&self, col: &'static str) -> $crate::store::StoreResult<Option<i64>> {
                Ok(sqlx::Row::try_get::<Option<i64>, _>(self, col)?)
            }
            fn flag(&self, col: &'static str) -> $crate::store::StoreResult<bool> {
                Ok(sqlx::Row::try_get::<bool, _>(self, col)?)
            }
            fn time(
                &self,
                col: &'static str,
            ) -> $crate::store::StoreResult<Option<chrono::DateTime<chrono::Utc>>> {
                Ok(sqlx::Row::try_get::<
                    Option<chrono::DateTime<chrono::Utc>>,
                    _,
                >(self, col)?)
            }
        }
    };
}
pub(super) use impl_columns;

fn corrupt(column: &'static str) -> impl Fn() -> StoreError {
    move || StoreError::Corrupt { column }
}

/// A text column that is absent or blank (imported sheets write `""`) reads as `None`.
fn present(r: &impl Columns, col: &'static str) -> StoreResult<Option<String>> {
    Ok(r.text(col)?.filter(|s| !s.trim().is_empty()))
}

fn required(r: &impl Columns, col: &'static str) -> StoreResult<String> {
    present(r, col)?.ok_or_else(corrupt(col))
}

fn phone(r: &impl Columns, col: &'static str) -> StoreResult<Option<E164>> {
    present(r, col)?
        .map(|s| E164::parse_shape(&s).map_err(|_| corrupt(col)()))
        .transpose()
}

fn client_id(r: &impl Columns, col: &'static str) -> StoreResult<Option<ClientId>> {
    r.int(col)?
        .map(|v| ClientId::new(v).map_err(|_| corrupt(col)()))
        .transpose()
}

fn country(r: &impl Columns, col: &'static str) -> StoreResult<Option<CountryIso>> {
    present(r, col)?
        .map(|s| CountryIso::parse(&s).map_err(|_| corrupt(col)()))
        .transpose()
}

pub(super) fn client_from(r: &impl Columns) -> StoreResult<Client> {
    Ok(Client {
        id: client_id(r, "client_id")?.ok_or_else(corrupt("client_id"))?,
        name: ClientName::parse(&required(r, "client_name")?)
            .map_err(|_| corrupt("client_name")())?,
        mail: Email::parse(&required(r, "client_mail")?).map_err(|_| corrupt("client_mail")())?,
        real_phone: phone(r, "client_real_phone")?.ok_or_else(corrupt("client_real_phone"))?,
        proxy: phone(r, "client_proxy_number")?,
        iso_residency: country(r, "client_iso_residency")?,
        country_code: present(r, "client_country_code")?,
        last_caller: phone(r, "client_last_caller")?,
        created_at: r.time("created_at")?.ok_or_else(corrupt("created_at"))?,
        updated_at: r.time("updated_at")?.ok_or_else(corrupt("updated_at"))?,
    })
}

pub(super) fn order_from(r: &impl Columns) -> StoreResult<Order> {
    Ok(Order {
        id: OrderId::parse(&required(r, "order_id")?).map_err(|_| corrupt("order_id")())?,
        client_id: client_id(r, "client_id")?.ok_or_else(corrupt("client_id"))?,
        created_at: r.time("created_at")?.ok_or_else(corrupt("created_at"))?,
    })
}

pub(super) fn pool_from(r: &impl Columns) -> StoreResult<PoolNumber> {
    Ok(PoolNumber {
        phone_number: phone(r, "phone_number")?.ok_or_else(corrupt("phone_number"))?,
        twilio_sid: present(r, "twilio_sid")?,
        country_iso: country(r, "country_iso")?.ok_or_else(corrupt("country_iso"))?,
        number_type: NumberType::parse(&required(r, "number_type")?)
            .map_err(|_| corrupt("number_type")())?,
        voice_capable: r.flag("voice_capable")?,
        sms_capable: r.flag("sms_capable")?,
        status: PoolStatus::parse(&required(r, "status")?).ok_or_else(corrupt("status"))?,
        friendly_name: present(r, "friendly_name")?,
        purchased_at: r.time("purchased_at")?,
        assigned_at: r.time("assigned_at")?,
        attribution_to_client_name: present(r, "attribution_to_client_name")?,
        reserved_token: present(r, "reserved_token")?,
        reserved_at: r.time("reserved_at")?,
        reserved_by_client_id: client_id(r, "reserved_by_client_id")?,
    })
}

pub(super) fn key_from(r: &impl Columns) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        id: required(r, "id")?,
        name: r.text("name")?.unwrap_or_default(),
        scopes: Scopes::parse(&required(r, "scopes")?).map_err(|_| corrupt("scopes")())?,
        created_at: r.time("created_at")?.ok_or_else(corrupt("created_at"))?,
        expires_at: r.time("expires_at")?,
        revoked_at: r.time("revoked_at")?,
        last_used_at: r.time("last_used_at")?,
    })
}

/// Maps a unique-constraint violation to the conflict the caller can act on.
pub(super) fn on_unique(err: sqlx::Error, conflict: super::Conflict) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(conflict),
        _ => StoreError::Database(err),
    }
}

/// The `Store` implementation shared by both engines. The type it is given provides
/// `reader()`, `writer()`, `begin_write()` and the `CLAIM_SQL` constant.
macro_rules! impl_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("select 1").execute(self.reader()).await?;
                Ok(())
            }

            async fn next_client_id(&self) -> StoreResult<i64> {
                let max: Option<i64> = sqlx::query_scalar("select max(client_id) from clients")
                    .fetch_one(self.reader())
                    .await?;
                Ok(max.unwrap_or(0) + 1)
            }

            async fn client(&self, id: ClientId) -> StoreResult<Option<Client>> {
                sqlx::query(concat!("select ", client_cols!(), " from clients where client_id = $1"))
                    .bind(id.get())
                    .fetch_optional(self.reader())
                    .await?
                    .map(|r| client_from(&r))
                    .transpose()
            }

            async fn client_by_proxy(&self, proxy: &E164) -> StoreResult<Option<Client>> {
                sqlx::query(concat!(
                    "select ", client_cols!(), " from clients where client_proxy_number = $1"
                ))
                .bind(proxy.as_str())
                .fetch_optional(self.reader())
                .await?
                .map(|r| client_from(&r))
                .transpose()
            }

            async fn insert_client(
                &self,
                client: &NewClient,
                pick: Option<&ProxyPick>,
            ) -> StoreResult<Option<Client>> {
                let mut tx = self.begin_write().await?;
                let exists: Option<i64> =
                    sqlx::query_scalar("select client_id from clients where client_id = $1")
                        .bind(client.id.get())
                        .fetch_optional(&mut *tx)
                        .await?;
                if exists.is_some() {
                    return Err(StoreError::Conflict(Conflict::ClientExists));
                }
                let now = Utc::now();
                let mut proxy = None;
                if let Some(pick) = pick {
                    for number_type in &pick.types {
                        let row = sqlx::query(Self::CLAIM_SQL)
                            .bind(now)
                            .bind(client.id.get())
                            .bind(&pick.attribution_name)
                            .bind(pick.friendly_name.as_deref())
                            .bind(pick.country.as_str())
                            .bind(number_type.as_str())
                            .fetch_optional(&mut *tx)
                            .await?;
                        if let Some(row) = row {
                            proxy = Some(pool_from(&row)?.phone_number);
                            break;
                        }
                    }
                    if proxy.is_none() {
                        return Ok(None);
                    }
                }
                let row = sqlx::query(concat!(
                    "insert into clients (client_id, client_name, client_mail, \
                     client_real_phone, client_proxy_number, client_iso_residency, \
                     client_country_code, created_at, updated_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $8) returning ",
                    client_cols!()
                ))
                .bind(client.id.get())
                .bind(client.name.as_str())
                .bind(client.mail.as_str())
                .bind(client.real_phone.as_str())
                .bind(proxy.as_ref().map(E164::as_str))
                .bind(client.iso_residency.as_ref().map(CountryIso::as_str))
                .bind(client.country_code.as_deref())
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| on_unique(e, Conflict::ClientExists))?;
                let created = client_from(&row)?;
                tx.commit().await?;
                Ok(Some(created))
            }

            async fn attach_proxy(
                &self,
                id: ClientId,
                pick: &ProxyPick,
            ) -> StoreResult<Option<Client>> {
                let mut tx = self.begin_write().await?;
                let now = Utc::now();
                for number_type in &pick.types {
                    let row = sqlx::query(Self::CLAIM_SQL)
                        .bind(now)
                        .bind(id.get())
                        .bind(&pick.attribution_name)
                        .bind(pick.friendly_name.as_deref())
                        .bind(pick.country.as_str())
                        .bind(number_type.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(row) = row else { continue };
                    let number = pool_from(&row)?.phone_number;
                    // Only a client still without a proxy takes it: a concurrent request may
                    // have been first, and then this claim is rolled back.
                    let updated = sqlx::query(concat!(
                        "update clients set client_proxy_number = $1, updated_at = $2 \
                         where client_id = $3 and client_proxy_number is null returning ",
                        client_cols!()
                    ))
                    .bind(number.as_str())
                    .bind(now)
                    .bind(id.get())
                    .fetch_optional(&mut *tx)
                    .await?;
                    return match updated {
                        Some(row) => {
                            let client = client_from(&row)?;
                            tx.commit().await?;
                            Ok(Some(client))
                        }
                        None => {
                            tx.rollback().await?;
                            self.client(id).await?.ok_or(StoreError::NotFound).map(Some)
                        }
                    };
                }
                Ok(None)
            }

            async fn update_client(&self, id: ClientId, patch: &ClientPatch) -> StoreResult<Client> {
                let mut tx = self.begin_write().await?;
                let current = sqlx::query(concat!(
                    "select ", client_cols!(), " from clients where client_id = $1"
                ))
                .bind(id.get())
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| client_from(&r))
                .transpose()?
                .ok_or(StoreError::NotFound)?;
                let now = Utc::now();
                if let Some(proxy) = patch.proxy.as_ref().filter(|p| Some(*p) != current.proxy.as_ref()) {
                    let owner: Option<i64> = sqlx::query_scalar(
                        "select client_id from clients where client_proxy_number = $1",
                    )
                    .bind(proxy.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(owner) = owner {
                        return Err(StoreError::Conflict(Conflict::ProxyTaken {
                            owner: ClientId::new(owner).ok(),
                        }));
                    }
                    let pooled = sqlx::query(concat!(
                        "select ", pool_cols!(), " from pool_numbers where phone_number = $1"
                    ))
                    .bind(proxy.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| pool_from(&r))
                    .transpose()?;
                    if let Some(pooled) = pooled {
                        let held_by_other = match pooled.status {
                            PoolStatus::Available | PoolStatus::Released => false,
                            PoolStatus::Assigned | PoolStatus::Reserved => {
                                pooled.reserved_by_client_id != Some(id)
                            }
                        };
                        if held_by_other {
                            return Err(StoreError::Conflict(Conflict::ProxyTaken {
                                owner: pooled.reserved_by_client_id,
                            }));
                        }
                        // Keep the pool's view in step with the client's.
                        sqlx::query(
                            "update pool_numbers set status = 'assigned', \
                             assigned_at = coalesce(assigned_at, $1), reserved_by_client_id = $2, \
                             attribution_to_client_name = $3, reserved_token = null, \
                             reserved_at = null where phone_number = $4",
                        )
                        .bind(now)
                        .bind(id.get())
                        .bind(patch.name.as_ref().unwrap_or(&current.name).as_str())
                        .bind(proxy.as_str())
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                let row = sqlx::query(concat!(
                    "update clients set client_name = coalesce($1, client_name), \
                     client_mail = coalesce($2, client_mail), \
                     client_real_phone = coalesce($3, client_real_phone), \
                     client_proxy_number = coalesce($4, client_proxy_number), updated_at = $5, \
                     client_country_code = coalesce($7, client_country_code) \
                     where client_id = $6 returning ",
                    client_cols!()
                ))
                .bind(patch.name.as_ref().map(ClientName::as_str))
                .bind(patch.mail.as_ref().map(Email::as_str))
                .bind(patch.real_phone.as_ref().map(E164::as_str))
                .bind(patch.proxy.as_ref().map(E164::as_str))
                .bind(now)
                .bind(id.get())
                .bind(patch.country_code.as_deref())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| on_unique(e, Conflict::ProxyTaken { owner: None }))?;
                let updated = client_from(&row)?;
                tx.commit().await?;
                Ok(updated)
            }

            async fn order(&self, id: &OrderId) -> StoreResult<Option<Order>> {
                sqlx::query("select order_id, client_id, created_at from orders where order_id = $1")
                    .bind(id.as_str())
                    .fetch_optional(self.reader())
                    .await?
                    .map(|r| order_from(&r))
                    .transpose()
            }

            async fn insert_order(&self, id: &OrderId, client: ClientId) -> StoreResult<Order> {
                let row = sqlx::query(
                    "insert into orders (order_id, client_id, created_at) values ($1, $2, $3) \
                     returning order_id, client_id, created_at",
                )
                .bind(id.as_str())
                .bind(client.get())
                .bind(Utc::now())
                .fetch_one(self.writer())
                .await
                .map_err(|e| on_unique(e, Conflict::OrderExists))?;
                order_from(&row)
            }

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

            async fn assign_from_pool(
                &self,
                client: ClientId,
                pick: &ProxyPick,
            ) -> StoreResult<Option<PoolNumber>> {
                let now = Utc::now();
                for number_type in &pick.types {
                    let row = sqlx::query(Self::CLAIM_SQL)
                        .bind(now)
                        .bind(client.get())
                        .bind(&pick.attribution_name)
                        .bind(pick.friendly_name.as_deref())
                        .bind(pick.country.as_str())
                        .bind(number_type.as_str())
                        .fetch_optional(self.writer())
                        .await?;
                    if let Some(row) = row {
                        return pool_from(&row).map(Some);
                    }
                }
                Ok(None)
            }

            async fn insert_api_key(&self, key: &NewApiKey) -> StoreResult<()> {
                sqlx::query(
                    "insert into api_keys (id, name, key_hash, scopes, created_at, expires_at) \
                     values ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&key.id)
                .bind(&key.name)
                .bind(&key.hash)
                .bind(key.scopes.to_string())
                .bind(key.created_at)
                .bind(key.expires_at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
                sqlx::query(concat!("select ", key_cols!(), " from api_keys where key_hash = $1"))
                    .bind(hash)
                    .fetch_optional(self.reader())
                    .await?
                    .map(|r| key_from(&r))
                    .transpose()
            }

            async fn api_keys(&self) -> StoreResult<Vec<ApiKey>> {
                sqlx::query(concat!("select ", key_cols!(), " from api_keys order by created_at, id"))
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(key_from)
                    .collect()
            }

            async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
                let done = sqlx::query(
                    "update api_keys set revoked_at = $1 where id = $2 and revoked_at is null",
                )
                .bind(at)
                .bind(id)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn touch_api_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query("update api_keys set last_used_at = $1 where id = $2")
                    .bind(at)
                    .bind(id)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn count_usable_api_keys(&self, now: DateTime<Utc>) -> StoreResult<i64> {
                // Few keys: filtering in Rust avoids comparing timestamps in SQL, which
                // SQLite stores as text.
                let keys = self.api_keys().await?;
                Ok(keys.iter().filter(|k| k.is_usable(now)).count() as i64)
            }
        }
    };
}
pub(super) use impl_store;
