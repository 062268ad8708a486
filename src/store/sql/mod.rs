//! The SQL both engines share, written once, one file per area. `$1` placeholders and the statements below are
//! understood by SQLite and PostgreSQL alike; what differs (pools, how a write transaction
//! starts, the claim query) is supplied by each back-end, which instantiates `impl_store!`.

mod activations;
mod clients;
mod email;
mod import;
mod jobs;
mod keys;
mod low_water;
mod operators;
mod outbox;
mod pool;
mod reports;
mod routing;
mod simulated;
mod voicemail;

use chrono::{DateTime, Utc};

use crate::domain::{
    ActivationStatus, ClientId, ClientName, CountryIso, E164, Email, NumberType, OrderId,
    PendingId, Scopes,
};
use crate::store::{
    Activation, ApiKey, Channel, Client, Contact, EmailStatus, FailedOutbound, Interaction, Job,
    JobStatus, Order, OutboundEmail, OutboundKind, OutboundMessage, OutboundStatus, PoolNumber,
    PoolStatus, SimulatedDelivery, StoreError, StoreResult,
};
pub(crate) use activations::{
    activation_cols, begin_step, check_limits, impl_activation_store, insert_code,
    insert_interaction, locked_activation, record_request, reserve_sql, waiting,
};
pub(crate) use clients::impl_clients_store;
pub(crate) use email::{email_cols, impl_email_store, insert_email};
pub(crate) use import::impl_import_store;
pub(crate) use jobs::{finish_jobs_in, impl_job_store, insert_job, job_cols};
pub(crate) use keys::impl_keys_store;
pub(crate) use low_water::impl_low_water_store;
pub(crate) use operators::{
    audit_from, impl_operator_store, operator_cols, operator_from, session_cols, session_from,
};
pub(crate) use outbox::{impl_outbox_store, insert_bounce, insert_outbound};
pub(crate) use pool::impl_pool_store;
pub(crate) use reports::{hourly_sql, impl_reports_store};
pub(crate) use routing::impl_routing_store;
pub(crate) use simulated::{impl_simulated_store, simulated_cols};
pub(crate) use voicemail::{impl_voicemail_store, voicemail_cols};

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
         reserved_token, reserved_at, reserved_by_client_id, owner_client_id"
    };
}
macro_rules! key_cols {
    () => {
        "id, name, scopes, created_at, expires_at, revoked_at, last_used_at"
    };
}
macro_rules! outbound_cols {
    () => {
        "id, kind, purpose, from_number, to_number, body, url, status, attempts, \
         last_error, twilio_sid, delivery_status, created_at, send_started_at, requeued_at, \
         relay_of, media"
    };
}
pub(crate) use {client_cols, key_cols, outbound_cols, pool_cols};

/// The claim both engines run: the first fitting available number, which no client already
/// uses as its proxy, becomes assigned. `$lock` is PostgreSQL's `for update skip locked`, so
/// that concurrent claims pick different rows instead of queueing on one; SQLite serialises
/// writers and needs nothing.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "update pool_numbers set status = 'assigned', assigned_at = $1, \
             owner_client_id = $2, attribution_to_client_name = $3, \
             friendly_name = coalesce($4, friendly_name), reserved_token = null, \
             reserved_at = null, reserved_by_client_id = null \
             where id = (select p.id from pool_numbers p \
               where p.country_iso = $5 and p.number_type = $6 and p.status = 'available' \
               and (p.cooloff_until is null or p.cooloff_until <= $1) \
               and not exists (select 1 from clients c \
                 where c.client_proxy_number = p.phone_number) \
               order by p.id limit 1 ",
            $lock,
            ") and status = 'available' returning ",
            $crate::store::sql::pool_cols!()
        )
    };
}
pub(crate) use claim_sql;

/// Runs the back-end's `CLAIM_SQL` for one number type on an executor (the pool or a
/// transaction); evaluates to the claimed row, if any.
macro_rules! claim_number {
    ($executor:expr, $now:expr, $client:expr, $pick:expr, $number_type:expr) => {
        sqlx::query(Self::CLAIM_SQL)
            .bind($now)
            .bind($client.get())
            .bind(&$pick.attribution_name)
            .bind($pick.friendly_name.as_deref())
            .bind($pick.country.as_str())
            .bind($number_type.as_str())
            .fetch_optional($executor)
            .await?
    };
}
pub(crate) use claim_number;

/// Typed column access over either engine's row.
pub(crate) trait Columns {
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
pub(crate) use impl_columns;

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

pub(crate) fn phone(r: &impl Columns, col: &'static str) -> StoreResult<Option<E164>> {
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

pub(crate) fn client_from(r: &impl Columns) -> StoreResult<Client> {
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

/// A contact, or `None` for a row without a number (another kind of row in the same union).
pub(crate) fn contact_from(r: &impl Columns) -> StoreResult<Option<Contact>> {
    let Some(number) = phone(r, "number")? else {
        return Ok(None);
    };
    Ok(Some(Contact {
        client_id: client_id(r, "client_id")?.ok_or_else(corrupt("client_id"))?,
        number,
        last_at: r.time("last_at")?.ok_or_else(corrupt("last_at"))?,
        last_channel: present(r, "last_channel")?
            .map(|c| Channel::parse(&c).ok_or_else(corrupt("last_channel")))
            .transpose()?,
        order_id: present(r, "order_id")?
            .map(|o| OrderId::parse(&o).map_err(|_| corrupt("order_id")()))
            .transpose()?,
        blocked_at: r.time("blocked_at")?,
    }))
}

/// A client's latest order, from a row of `contact_from`'s union that has no number.
pub(crate) fn latest_order_from(r: &impl Columns) -> StoreResult<(ClientId, OrderId)> {
    Ok((
        client_id(r, "client_id")?.ok_or_else(corrupt("client_id"))?,
        OrderId::parse(&required(r, "order_id")?).map_err(|_| corrupt("order_id")())?,
    ))
}

pub(crate) fn activation_from(r: &impl Columns) -> StoreResult<Activation> {
    Ok(Activation {
        pending_id: PendingId::parse(&required(r, "pending_id")?)
            .map_err(|_| corrupt("pending_id")())?,
        name: ClientName::parse(&required(r, "client_name")?)
            .map_err(|_| corrupt("client_name")())?,
        mail: Email::parse(&required(r, "client_mail")?).map_err(|_| corrupt("client_mail")())?,
        phone: phone(r, "client_real_phone")?.ok_or_else(corrupt("client_real_phone"))?,
        country: country(r, "country_iso")?.ok_or_else(corrupt("country_iso"))?,
        number_type: required(r, "number_type")?,
        proxy: phone(r, "proxy_number")?.ok_or_else(corrupt("proxy_number"))?,
        reserved: r.flag("reserved")?,
        client_id: client_id(r, "client_id")?,
        status: ActivationStatus::parse(&required(r, "status")?).ok_or_else(corrupt("status"))?,
        wrong_answers: r.int("wrong_answers")?.unwrap_or(0),
        call_sid: present(r, "call_sid")?,
        call_tries: r.int("call_tries")?.unwrap_or(0),
        link_used_at: r.time("link_used_at")?,
        created_at: r.time("created_at")?.ok_or_else(corrupt("created_at"))?,
        updated_at: r.time("updated_at")?.ok_or_else(corrupt("updated_at"))?,
        verified_at: r.time("verified_at")?,
        ended_at: r.time("ended_at")?,
        promoted_client_id: client_id(r, "promoted_client_id")?,
    })
}

pub(crate) fn order_from(r: &impl Columns) -> StoreResult<Order> {
    Ok(Order {
        id: OrderId::parse(&required(r, "order_id")?).map_err(|_| corrupt("order_id")())?,
        client_id: client_id(r, "client_id")?.ok_or_else(corrupt("client_id"))?,
        created_at: r.time("created_at")?.ok_or_else(corrupt("created_at"))?,
    })
}

pub(crate) fn pool_from(r: &impl Columns) -> StoreResult<PoolNumber> {
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
        owner_client_id: client_id(r, "owner_client_id")?,
    })
}

pub(crate) fn key_from(r: &impl Columns) -> StoreResult<ApiKey> {
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

pub(crate) fn interaction_from(r: &impl Columns) -> StoreResult<Interaction> {
    Ok(Interaction {
        id: r.int("id")?.ok_or_else(corrupt("id"))?,
        occurred_at: r.time("occurred_at")?.ok_or_else(corrupt("occurred_at"))?,
        proxy: phone(r, "proxy_number")?.ok_or_else(corrupt("proxy_number"))?,
        client_id: client_id(r, "client_id")?,
        direction: required(r, "direction")?,
        channel: required(r, "channel")?,
        outcome: required(r, "outcome")?,
        twilio_sid: present(r, "twilio_sid")?,
    })
}

pub(crate) fn outbound_from(r: &impl Columns) -> StoreResult<OutboundMessage> {
    Ok(OutboundMessage {
        id: r.int("id")?.ok_or_else(corrupt("id"))?,
        kind: OutboundKind::parse(&required(r, "kind")?).ok_or_else(corrupt("kind"))?,
        purpose: required(r, "purpose")?,
        from: phone(r, "from_number")?.ok_or_else(corrupt("from_number"))?,
        to: phone(r, "to_number")?.ok_or_else(corrupt("to_number"))?,
        body: r.text("body")?,
        url: present(r, "url")?,
        status: OutboundStatus::parse(&required(r, "status")?).ok_or_else(corrupt("status"))?,
        attempts: r.int("attempts")?.unwrap_or(0),
        last_error: present(r, "last_error")?,
        twilio_sid: present(r, "twilio_sid")?,
        delivery_status: present(r, "delivery_status")?,
        created_at: r.time("created_at")?.ok_or_else(corrupt("created_at"))?,
        send_started_at: r.time("send_started_at")?,
        requeued_at: r.time("requeued_at")?,
        relay_of: phone(r, "relay_of")?,
        media: crate::domain::split_media(r.text("media")?.as_deref()),
    })
}

pub(crate) fn failed_outbound_from(r: &impl Columns) -> StoreResult<FailedOutbound> {
    Ok(FailedOutbound {
        id: r.int("id")?.ok_or_else(corrupt("id"))?,
        kind: OutboundKind::parse(&required(r, "kind")?).ok_or_else(corrupt("kind"))?,
        purpose: required(r, "purpose")?,
        to: phone(r, "to_number")?.ok_or_else(corrupt("to_number"))?,
        attempts: r.int("attempts")?.unwrap_or(0),
        last_error: present(r, "last_error")?,
        created_at: r.time("created_at")?.ok_or_else(corrupt("created_at"))?,
        failed_at: r.time("updated_at")?.ok_or_else(corrupt("updated_at"))?,
    })
}

pub(crate) fn email_from(r: &impl Columns) -> StoreResult<OutboundEmail> {
    Ok(OutboundEmail {
        id: r.int("id")?.ok_or_else(corrupt("id"))?,
        purpose: required(r, "purpose")?,
        to: Email::parse(&required(r, "to_address")?).map_err(|_| corrupt("to_address")())?,
        subject: r.text("subject")?.unwrap_or_default(),
        text: r.text("body_text")?,
        html: r.text("body_html")?,
        status: EmailStatus::parse(&required(r, "status")?).ok_or_else(corrupt("status"))?,
        attempts: r.int("attempts")?.unwrap_or(0),
        last_error: present(r, "last_error")?,
        dedupe_key: present(r, "dedupe_key")?,
        created_at: r.time("created_at")?.ok_or_else(corrupt("created_at"))?,
        updated_at: r.time("updated_at")?.ok_or_else(corrupt("updated_at"))?,
        sent_at: r.time("sent_at")?,
    })
}

pub(crate) fn job_from(r: &impl Columns) -> StoreResult<Job> {
    Ok(Job {
        id: r.int("id")?.ok_or_else(corrupt("id"))?,
        kind: required(r, "kind")?,
        payload: r.text("payload")?.unwrap_or_default(),
        status: JobStatus::parse(&required(r, "status")?).ok_or_else(corrupt("status"))?,
        due_at: r.time("due_at")?.ok_or_else(corrupt("due_at"))?,
        attempts: r.int("attempts")?.unwrap_or(0),
        max_attempts: r.int("max_attempts")?.unwrap_or(1),
        locked_until: r.time("locked_until")?,
        last_error: present(r, "last_error")?,
        dedupe_key: present(r, "dedupe_key")?,
        progress: present(r, "progress")?,
        result: present(r, "result")?,
        created_at: r.time("created_at")?.ok_or_else(corrupt("created_at"))?,
        updated_at: r.time("updated_at")?.ok_or_else(corrupt("updated_at"))?,
        finished_at: r.time("finished_at")?,
    })
}

pub(crate) fn delivery_from(r: &impl Columns) -> StoreResult<SimulatedDelivery> {
    Ok(SimulatedDelivery {
        kind: required(r, "kind")?,
        from: phone(r, "from_number")?.ok_or_else(corrupt("from_number"))?,
        to: phone(r, "to_number")?.ok_or_else(corrupt("to_number"))?,
        body: r.text("body")?,
        url: present(r, "url")?,
        sid: required(r, "sid")?,
        delivered_at: r
            .time("delivered_at")?
            .ok_or_else(corrupt("delivered_at"))?,
        media: crate::domain::split_media(r.text("media")?.as_deref()),
    })
}

/// Maps a unique-constraint violation to the conflict the caller can act on.
pub(crate) fn on_unique(err: sqlx::Error, conflict: crate::store::Conflict) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(conflict),
        _ => StoreError::Database(err),
    }
}

/// Implements `Store` and every area trait for a back-end, which provides `reader()`,
/// `writer()`, `begin_write()`, the claim queries as associated constants, and its sqlx
/// database type as `DbEngine`.
macro_rules! impl_store {
    ($store:ty) => {
        $crate::store::sql::impl_activation_store!($store);
        $crate::store::sql::impl_clients_store!($store);
        $crate::store::sql::impl_pool_store!($store);
        $crate::store::sql::impl_keys_store!($store);
        $crate::store::sql::impl_routing_store!($store);
        $crate::store::sql::impl_outbox_store!($store);
        $crate::store::sql::impl_job_store!($store);
        $crate::store::sql::impl_simulated_store!($store);
        $crate::store::sql::impl_email_store!($store);
        $crate::store::sql::impl_reports_store!($store);
        $crate::store::sql::impl_import_store!($store);
        $crate::store::sql::impl_low_water_store!($store);
        $crate::store::sql::impl_operator_store!($store);
        $crate::store::sql::impl_voicemail_store!($store);

        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn ping(&self) -> $crate::store::StoreResult<()> {
                sqlx::query("select 1").execute(self.reader()).await?;
                Ok(())
            }

            async fn holds_data(&self) -> $crate::store::StoreResult<bool> {
                let any: i64 = sqlx::query_scalar(
                    "select (select count(*) from (select 1 from clients limit 1) c) \
                     + (select count(*) from (select 1 from api_keys limit 1) k) \
                     + (select count(*) from (select 1 from pool_numbers limit 1) p)",
                )
                .fetch_one(self.reader())
                .await?;
                Ok(any > 0)
            }

            async fn migration_status(
                &self,
            ) -> $crate::store::StoreResult<$crate::store::MigrationStatus> {
                // A database never migrated has no bookkeeping table yet: nothing applied.
                let applied: i64 =
                    sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
                        .fetch_one(self.reader())
                        .await
                        .unwrap_or(0);
                Ok($crate::store::MigrationStatus {
                    known: MIGRATIONS.len(),
                    applied: applied as usize,
                })
            }
        }
    };
}
pub(crate) use impl_store;
