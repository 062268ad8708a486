//! The SQL of `ActivationStore`, shared by both engines. Every change starts with a
//! statement conditional on the activation's status (which, on PostgreSQL, also locks its
//! row), so that concurrent answers, retried webhooks and several processes act once.

macro_rules! activation_cols {
    () => {
        "pending_id, client_name, client_mail, client_real_phone, country_iso, number_type, \
         proxy_number, reserved, client_id, status, wrong_answers, call_sid, call_tries, \
         link_used_at, created_at, updated_at, verified_at, ended_at, promoted_client_id"
    };
}
pub(crate) use activation_cols;

/// Reserving a number for an activation: the first available one of the country and type
/// that no client uses, as assignment claims (`claim_sql!`), held under the activation's id.
macro_rules! reserve_sql {
    ($lock:literal) => {
        concat!(
            "update pool_numbers set status = 'reserved', reserved_token = $1, \
             reserved_at = $2, attribution_to_client_name = $3, reserved_by_client_id = null \
             where id = (select p.id from pool_numbers p \
               where p.country_iso = $4 and p.number_type = $5 and p.status = 'available' \
               and (p.cooloff_until is null or p.cooloff_until <= $2) \
               and not exists (select 1 from clients c \
                 where c.client_proxy_number = p.phone_number) \
               order by p.id limit 1 ",
            $lock,
            ") and status = 'available' returning phone_number"
        )
    };
}
pub(crate) use reserve_sql;

/// The waiting statuses, as an SQL list.
macro_rules! waiting {
    () => {
        "('PENDING', 'PENDING_CALL', 'PENDING_MAIL')"
    };
}
pub(crate) use waiting;

/// Checks the request limits of `phone` and `mail` inside a transaction; evaluates to
/// `Option<Limited>`.
macro_rules! check_limits {
    ($tx:expr, $phone:expr, $mail:expr, $limits:expr, $now:expr) => {{
        let limits: &RequestLimits = $limits;
        let now: chrono::DateTime<chrono::Utc> = $now;
        let day = chrono::Duration::days(1);
        let last: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
            "select requested_at from otp_requests where phone = $1 or mail = $2 \
             order by requested_at desc limit 1",
        )
        .bind($phone)
        .bind($mail)
        .fetch_optional(&mut *$tx)
        .await?;
        let by_phone: Vec<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
            "select requested_at from otp_requests where phone = $1 and requested_at > $2 \
             order by requested_at",
        )
        .bind($phone)
        .bind(now - day)
        .fetch_all(&mut *$tx)
        .await?;
        let by_mail: Vec<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
            "select requested_at from otp_requests where mail = $1 and requested_at > $2 \
             order by requested_at",
        )
        .bind($mail)
        .bind(now - day)
        .fetch_all(&mut *$tx)
        .await?;
        // The request that frees a slot is the oldest of the day's that count against it.
        let freed = |times: &[chrono::DateTime<chrono::Utc>], cap: i64| {
            let over = times.len() as i64 - cap;
            times[over.max(0) as usize] + day - now
        };
        if let Some(last) = last.filter(|l| *l + limits.min_interval > now) {
            Some(Limited {
                code: "COOLDOWN",
                retry_after: last + limits.min_interval - now,
            })
        } else if by_phone.len() as i64 >= limits.per_phone_per_day {
            Some(Limited {
                code: "DAILY_LIMIT_PHONE",
                retry_after: freed(&by_phone, limits.per_phone_per_day),
            })
        } else if by_mail.len() as i64 >= limits.per_email_per_day {
            Some(Limited {
                code: "DAILY_LIMIT_EMAIL",
                retry_after: freed(&by_mail, limits.per_email_per_day),
            })
        } else {
            None
        }
    }};
}
pub(crate) use check_limits;

macro_rules! record_request {
    ($tx:expr, $phone:expr, $mail:expr, $now:expr) => {
        sqlx::query("insert into otp_requests (phone, mail, requested_at) values ($1, $2, $3)")
            .bind($phone)
            .bind($mail)
            .bind($now)
            .execute(&mut *$tx)
            .await?
    };
}
pub(crate) use record_request;

macro_rules! insert_code {
    ($tx:expr, $id:expr, $code:expr) => {
        sqlx::query(
            "insert into activation_codes (pending_id, code_hash, expires_at) values ($1, $2, $3)",
        )
        .bind($id)
        .bind(&$code.hash)
        .bind($code.expires_at)
        .execute(&mut *$tx)
        .await?
    };
}
pub(crate) use insert_code;

/// The activation `id` inside a transaction, locked on PostgreSQL by a no-op update.
macro_rules! locked_activation {
    ($tx:expr, $id:expr, $now:expr) => {
        sqlx::query(concat!(
            "update activations set updated_at = updated_at where pending_id = $1 returning ",
            activation_cols!()
        ))
        .bind($id)
        .fetch_optional(&mut *$tx)
        .await?
        .map(|r| activation_from(&r))
        .transpose()?
    };
}
pub(crate) use locked_activation;

/// Opens a step of activation `id` in transaction `tx`: its row locked, its status one of
/// `from` and, for a request (`limits` given), within the limits, and recorded. Otherwise
/// returns, from the enclosing function, why not.
macro_rules! begin_step {
    ($tx:ident, $id:expr, $from:expr, $limits:expr, $now:expr) => {
        let Some(a) = locked_activation!($tx, $id, $now) else {
            return Ok(Err(ResendRefused::NotFound));
        };
        if !$from.contains(&a.status) {
            return Ok(Err(ResendRefused::NotWaiting(a.status)));
        }
        if let Some(limits) = $limits {
            let (phone, mail) = (a.phone.as_str(), a.mail.as_str());
            if let Some(limited) = check_limits!($tx, phone, mail, limits, $now) {
                return Ok(Err(ResendRefused::Limited(limited)));
            }
            record_request!($tx, phone, mail, $now);
        }
    };
}
pub(crate) use begin_step;

/// Records an interaction inside a transaction; evaluates to `false` when its SID was
/// recorded before (a retried webhook).
macro_rules! insert_interaction {
    ($tx:expr, $it:expr) => {{
        let it: &NewInteraction = $it;
        let id: Option<i64> = sqlx::query_scalar(
            "insert into interactions (occurred_at, proxy_number, client_id, direction, \
             channel, outcome, twilio_sid) values ($1, $2, $3, $4, $5, $6, $7) \
             on conflict (channel, twilio_sid) do nothing returning id",
        )
        .bind(it.occurred_at)
        .bind(it.proxy.as_str())
        .bind(it.client_id.map(|c| c.get()))
        .bind(it.direction.as_str())
        .bind(it.channel.as_str())
        .bind(it.outcome.as_str())
        .bind(it.twilio_sid.as_deref())
        .fetch_optional(&mut *$tx)
        .await?;
        id.is_some()
    }};
}
pub(crate) use insert_interaction;

/// Implements `ActivationStore` for a back-end (see `impl_store!`), which supplies
/// `RESERVE_SQL`.
macro_rules! impl_activation_store {
    ($store:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};

            use $crate::domain::*;
            use $crate::store::sql::*;
            use $crate::store::*;

            #[async_trait::async_trait]
            impl ActivationStore for $store {
                async fn create_activation(
                    &self,
                    new: &NewActivation,
                    now: DateTime<Utc>,
                ) -> StoreResult<Created> {
                    let mut tx = self.begin_write().await?;
                    let (phone, mail) = (new.phone.as_str(), new.mail.as_str());
                    // Requests for one phone or e-mail take turns (PostgreSQL; SQLite has one
                    // writer): the check of an activation under way and of the limits holds
                    // until this one commits. Always in the same order: no deadlock.
                    let mut keys = [format!("activation:{phone}"), format!("activation:{mail}")];
                    keys.sort();
                    for key in &keys {
                        sqlx::query(Self::LOCK_KEY_SQL)
                            .bind(key)
                            .execute(&mut *tx)
                            .await?;
                    }
                    let under_way = sqlx::query(concat!(
                        "select ", activation_cols!(), " from activations \
                         where (client_real_phone = $1 or client_mail = $2) \
                         and status in ", waiting!(), " and created_at > $3 \
                         order by created_at desc limit 1"
                    ))
                    .bind(phone)
                    .bind(mail)
                    .bind(new.under_way_since)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| activation_from(&r))
                    .transpose()?;
                    if let Some(a) = under_way {
                        return Ok(Created::UnderWay(a));
                    }
                    let same_id = sqlx::query(concat!(
                        "select ", activation_cols!(), " from activations where pending_id = $1"
                    ))
                    .bind(new.pending_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| activation_from(&r))
                    .transpose()?;
                    if let Some(a) = same_id {
                        return Ok(Created::IdTaken(a));
                    }
                    if let Some(limited) = check_limits!(tx, phone, mail, &new.limits, now) {
                        return Ok(Created::Limited(limited));
                    }
                    // An existing client's proxy: same e-mail first, then same phone.
                    let mut existing: Option<(i64, String)> = None;
                    for (column, value) in [("mail", mail), ("phone", phone)] {
                        let sql = if column == "mail" {
                            "select client_id, client_proxy_number from clients \
                             where client_mail = $1 and client_proxy_number is not null \
                             order by client_id limit 1"
                        } else {
                            "select client_id, client_proxy_number from clients \
                             where client_real_phone = $1 and client_proxy_number is not null \
                             order by client_id limit 1"
                        };
                        existing = sqlx::query_as(sql)
                            .bind(value)
                            .fetch_optional(&mut *tx)
                            .await?;
                        if existing.is_some() {
                            break;
                        }
                    }
                    let (proxy, number_type, reserved, client) = match existing {
                        Some((client, proxy)) => (proxy, "existant".to_owned(), false, Some(client)),
                        None => {
                            let mut found = None;
                            for t in &new.types {
                                let row: Option<String> = sqlx::query_scalar(Self::RESERVE_SQL)
                                    .bind(new.pending_id.as_str())
                                    .bind(now)
                                    .bind(new.name.as_str())
                                    .bind(new.country.as_str())
                                    .bind(t.as_str())
                                    .fetch_optional(&mut *tx)
                                    .await?;
                                if let Some(number) = row {
                                    found = Some((number, t.as_str().to_owned()));
                                    break;
                                }
                            }
                            let Some((number, t)) = found else {
                                return Ok(Created::NoNumber);
                            };
                            (number, t, true, None)
                        }
                    };
                    let row = sqlx::query(concat!(
                        "insert into activations (pending_id, client_name, client_mail, \
                         client_real_phone, country_iso, number_type, proxy_number, reserved, \
                         client_id, status, wrong_answers, call_tries, created_at, updated_at) \
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'PENDING', 0, 0, $10, $10) \
                         returning ",
                        activation_cols!()
                    ))
                    .bind(new.pending_id.as_str())
                    .bind(new.name.as_str())
                    .bind(mail)
                    .bind(phone)
                    .bind(new.country.as_str())
                    .bind(&number_type)
                    .bind(&proxy)
                    .bind(reserved)
                    .bind(client)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    let activation = activation_from(&row)?;
                    insert_code!(tx, new.pending_id.as_str(), new.code);
                    record_request!(tx, phone, mail, now);
                    let sms = NewOutbound {
                        kind: OutboundKind::Sms,
                        purpose: "otp",
                        from: activation.proxy.clone(),
                        to: activation.phone.clone(),
                        body: Some(new.sms_body.clone()),
                        url: None,
                        dedupe_key: Some(format!("activation:{}:sms", new.pending_id)),
                        relay: None,
                    };
                    insert_outbound!(tx, &sms, now, now);
                    insert_job!(&mut *tx, &new.call_job, now);
                    insert_job!(&mut *tx, &new.webhooks_job, now);
                    tx.commit().await?;
                    Ok(Created::Created(activation))
                }

                async fn activation(&self, id: &PendingId) -> StoreResult<Option<Activation>> {
                    sqlx::query(concat!(
                        "select ", activation_cols!(), " from activations where pending_id = $1"
                    ))
                    .bind(id.as_str())
                    .fetch_optional(self.reader())
                    .await?
                    .map(|r| activation_from(&r))
                    .transpose()
                }

                async fn waiting_activation(
                    &self,
                    phone: &E164,
                    proxy: &E164,
                ) -> StoreResult<Option<Activation>> {
                    sqlx::query(concat!(
                        "select ", activation_cols!(), " from activations \
                         where client_real_phone = $1 and proxy_number = $2 \
                         and status in ('PENDING', 'PENDING_CALL', 'PENDING_MAIL', 'LOCKED') \
                         order by created_at desc limit 1"
                    ))
                    .bind(phone.as_str())
                    .bind(proxy.as_str())
                    .fetch_optional(self.reader())
                    .await?
                    .map(|r| activation_from(&r))
                    .transpose()
                }

                async fn activation_by_link(
                    &self,
                    token_hash: &str,
                ) -> StoreResult<Option<(Activation, Proof)>> {
                    for (sql, proof) in [
                        (
                            concat!("select ", activation_cols!(),
                                    " from activations where link_token_hash = $1"),
                            Proof::Phone,
                        ),
                        (
                            concat!("select ", activation_cols!(),
                                    " from activations where mail_token_hash = $1"),
                            Proof::Email,
                        ),
                    ] {
                        let found = sqlx::query(sql)
                            .bind(token_hash)
                            .fetch_optional(self.reader())
                            .await?
                            .map(|r| activation_from(&r))
                            .transpose()?;
                        if let Some(a) = found {
                            return Ok(Some((a, proof)));
                        }
                    }
                    Ok(None)
                }

                async fn activation_codes(&self, id: &PendingId) -> StoreResult<Vec<CodeHash>> {
                    let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
                        "select code_hash, expires_at from activation_codes \
                         where pending_id = $1 order by id",
                    )
                    .bind(id.as_str())
                    .fetch_all(self.reader())
                    .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(hash, expires_at)| CodeHash { hash, expires_at })
                        .collect())
                }

                async fn live_codes(
                    &self,
                    id: &PendingId,
                    now: DateTime<Utc>,
                ) -> StoreResult<Vec<CodeHash>> {
                    let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
                        "select code_hash, expires_at from activation_codes \
                         where pending_id = $1 and expires_at > $2 order by id",
                    )
                    .bind(id.as_str())
                    .bind(now)
                    .fetch_all(self.reader())
                    .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(hash, expires_at)| CodeHash { hash, expires_at })
                        .collect())
                }

                async fn resend_code(
                    &self,
                    id: &PendingId,
                    code: &CodeHash,
                    sms: &NewOutbound,
                    limits: &RequestLimits,
                    now: DateTime<Utc>,
                ) -> StoreResult<Result<(), ResendRefused>> {
                    let mut tx = self.begin_write().await?;
                    begin_step!(tx, id.as_str(), ActivationStatus::WAITING, Some(limits), now);
                    // A new code replaces those sent before.
                    sqlx::query("delete from activation_codes where pending_id = $1")
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    insert_code!(tx, id.as_str(), code);
                    insert_outbound!(tx, sms, now, now);
                    tx.commit().await?;
                    Ok(Ok(()))
                }

                async fn queue_call(
                    &self,
                    id: &PendingId,
                    from: &[ActivationStatus],
                    call: &NewOutbound,
                    next: Option<&NewJob>,
                    limits: Option<&RequestLimits>,
                    now: DateTime<Utc>,
                ) -> StoreResult<Result<(), ResendRefused>> {
                    let mut tx = self.begin_write().await?;
                    begin_step!(tx, id.as_str(), from, limits, now);
                    sqlx::query(
                        "update activations set status = case when status = 'PENDING' \
                         then 'PENDING_CALL' else status end, updated_at = $2 \
                         where pending_id = $1",
                    )
                    .bind(id.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    insert_outbound!(tx, call, now, now);
                    if let Some(next) = next {
                        insert_job!(&mut *tx, next, now);
                    }
                    tx.commit().await?;
                    Ok(Ok(()))
                }

                async fn queue_link(
                    &self,
                    id: &PendingId,
                    from: &[ActivationStatus],
                    link: &LinkMessages<'_>,
                    limits: Option<&RequestLimits>,
                    now: DateTime<Utc>,
                ) -> StoreResult<Result<(), ResendRefused>> {
                    let mut tx = self.begin_write().await?;
                    begin_step!(tx, id.as_str(), from, limits, now);
                    // A new link replaces the one sent before.
                    sqlx::query(
                        "update activations set status = 'PENDING_MAIL', link_token_hash = $2, \
                         mail_token_hash = $4, link_used_at = null, updated_at = $3 \
                         where pending_id = $1",
                    )
                    .bind(id.as_str())
                    .bind(link.token_hash)
                    .bind(now)
                    .bind(link.email.map(|(_, hash)| hash))
                    .execute(&mut *tx)
                    .await?;
                    insert_outbound!(tx, link.sms, now, now);
                    if let Some((email, _)) = link.email {
                        insert_email!(tx, email, now, now);
                    }
                    tx.commit().await?;
                    Ok(Ok(()))
                }

                async fn start_call(
                    &self,
                    id: &PendingId,
                    call_sid: &str,
                    code: &CodeHash,
                    now: DateTime<Utc>,
                ) -> StoreResult<CallStart> {
                    let mut tx = self.begin_write().await?;
                    let Some(a) = locked_activation!(tx, id.as_str(), now) else {
                        return Err(StoreError::NotFound);
                    };
                    if !a.status.is_waiting() {
                        return Ok(CallStart::NotWaiting(a.status));
                    }
                    if a.call_sid.as_deref() == Some(call_sid) {
                        return Ok(CallStart::Repeated);
                    }
                    sqlx::query(
                        "update activations set call_sid = $2, call_tries = 0, updated_at = $3 \
                         where pending_id = $1",
                    )
                    .bind(id.as_str())
                    .bind(call_sid)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    insert_code!(tx, id.as_str(), code);
                    tx.commit().await?;
                    Ok(CallStart::Started)
                }

                async fn wrong_answer(
                    &self,
                    id: &PendingId,
                    call_sid: Option<&str>,
                    interaction: Option<&NewInteraction>,
                    max_wrong: i64,
                    now: DateTime<Utc>,
                ) -> StoreResult<WrongAnswer> {
                    let mut tx = self.begin_write().await?;
                    let counted: Option<(i64, String, i64)> = sqlx::query_as(concat!(
                        "update activations set wrong_answers = wrong_answers + 1, \
                         call_tries = case when call_sid = $2 then call_tries + 1 \
                           else call_tries end, \
                         status = case when wrong_answers + 1 >= $3 then 'LOCKED' \
                           else status end, \
                         ended_at = case when wrong_answers + 1 >= $3 then $4 \
                           else ended_at end, \
                         updated_at = $4 \
                         where pending_id = $1 and status in ", waiting!(),
                        " returning wrong_answers, status, call_tries"
                    ))
                    .bind(id.as_str())
                    .bind(call_sid)
                    .bind(max_wrong)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some((wrong_answers, status, call_tries)) = counted else {
                        let Some(a) = locked_activation!(tx, id.as_str(), now) else {
                            return Err(StoreError::NotFound);
                        };
                        return Ok(WrongAnswer::NotWaiting(a.status));
                    };
                    if let Some(it) = interaction
                        && !insert_interaction!(tx, it)
                    {
                        tx.rollback().await?;
                        return Ok(WrongAnswer::Duplicate);
                    }
                    let locked = status == "LOCKED";
                    if locked {
                        sqlx::query("delete from activation_codes where pending_id = $1")
                            .bind(id.as_str())
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(WrongAnswer::Counted {
                        wrong_answers,
                        locked,
                        call_tries,
                    })
                }

                async fn promote(
                    &self,
                    id: &PendingId,
                    promotion: &Promotion,
                    now: DateTime<Utc>,
                ) -> StoreResult<Promoted> {
                    let mut tx = self.begin_write().await?;
                    let verified = sqlx::query(concat!(
                        "update activations set status = 'VERIFIED', verified_at = $2, \
                         updated_at = $2 where pending_id = $1 and status in ", waiting!(),
                        " returning ", activation_cols!()
                    ))
                    .bind(id.as_str())
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| activation_from(&r))
                    .transpose()?;
                    let Some(a) = verified else {
                        let Some(a) = locked_activation!(tx, id.as_str(), now) else {
                            return Err(StoreError::NotFound);
                        };
                        return Ok(Promoted::NotWaiting(a.status));
                    };
                    if let Some(it) = &promotion.interaction
                        && !insert_interaction!(tx, it)
                    {
                        tx.rollback().await?;
                        return Ok(Promoted::Duplicate);
                    }
                    // The client: the one the proxy already belongs to, else the same e-mail,
                    // else the same phone.
                    let holder = sqlx::query(concat!(
                        "select ", client_cols!(), " from clients where client_proxy_number = $1"
                    ))
                    .bind(a.proxy.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| client_from(&r))
                    .transpose()?;
                    let mut client = holder.clone();
                    for (sql, value) in [
                        (
                            concat!("select ", client_cols!(), " from clients \
                                     where client_mail = $1 order by client_id limit 1"),
                            a.mail.as_str(),
                        ),
                        (
                            concat!("select ", client_cols!(), " from clients \
                                     where client_real_phone = $1 order by client_id limit 1"),
                            a.phone.as_str(),
                        ),
                    ] {
                        if client.is_some() {
                            break;
                        }
                        client = sqlx::query(sql)
                            .bind(value)
                            .fetch_optional(&mut *tx)
                            .await?
                            .map(|r| client_from(&r))
                            .transpose()?;
                    }
                    // A proxy reserved for this activation belongs to nobody yet; a reused one
                    // to the client it was reused from. Anyone else holding it wins.
                    if let Some(h) = &holder
                        && (a.reserved || Some(h.id) != a.client_id)
                    {
                        tx.rollback().await?;
                        return Ok(Promoted::ProxyTaken);
                    }
                    // Changing a client's contact needs proof of the contact that stays: a
                    // new e-mail is confirmed from the phone, a new phone from the e-mail; both
                    // at once never.
                    if let Some(c) = &client {
                        let change = ContactChange::of(c.mail != a.mail, c.real_phone != a.phone);
                        let proved = match change {
                            ContactChange::Nothing => true,
                            ContactChange::Mail => promotion.proof == Proof::Phone,
                            ContactChange::Phone => promotion.proof == Proof::Email,
                            ContactChange::MailAndPhone => false,
                        };
                        if !proved {
                            tx.rollback().await?;
                            return Ok(Promoted::NeedsProof(change));
                        }
                    }
                    // The pool's number must still be held for this activation (or be the
                    // reused client's, or free): never another's reservation or a released one.
                    let pooled = sqlx::query(concat!(
                        "select ", pool_cols!(), " from pool_numbers where phone_number = $1"
                    ))
                    .bind(a.proxy.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| pool_from(&r))
                    .transpose()?;
                    if let Some(p) = &pooled {
                        let ours = match p.status {
                            PoolStatus::Available => true,
                            PoolStatus::Reserved => {
                                p.reserved_token.as_deref() == Some(id.as_str())
                            }
                            PoolStatus::Assigned | PoolStatus::Draining => {
                                client.as_ref().is_some_and(|c| p.owner_client_id == Some(c.id))
                            }
                            // The carrier no longer lists it: it would not carry the texts.
                            PoolStatus::Released | PoolStatus::Missing => false,
                        };
                        if !ours {
                            tx.rollback().await?;
                            return Ok(Promoted::ProxyTaken);
                        }
                    }
                    let country_code = a.phone.calling_code();
                    let (client_id, status) = match client {
                        Some(c) => {
                            let change = ContactChange::of(c.mail != a.mail, c.real_phone != a.phone);
                            sqlx::query(
                                "update clients set client_name = $2, client_mail = $3, \
                                 client_real_phone = $4, client_proxy_number = $5, \
                                 client_country_code = $6, updated_at = $7 where client_id = $1",
                            )
                            .bind(c.id.get())
                            .bind(a.name.as_str())
                            .bind(a.mail.as_str())
                            .bind(a.phone.as_str())
                            .bind(a.proxy.as_str())
                            .bind(country_code.as_deref())
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| on_unique(e, Conflict::ProxyTaken { owner: None }))?;
                            (c.id, ActivationStatus::Updated(change))
                        }
                        None => {
                            // New ids are taken in turn (PostgreSQL), so that two promotions
                            // at once never pick the same.
                            sqlx::query(Self::LOCK_KEY_SQL)
                                .bind("clients:new-id")
                                .execute(&mut *tx)
                                .await?;
                            let next: i64 = sqlx::query_scalar(
                                "select coalesce(max(client_id), 0) + 1 from clients",
                            )
                            .fetch_one(&mut *tx)
                            .await?;
                            sqlx::query(
                                "insert into clients (client_id, client_name, client_mail, \
                                 client_real_phone, client_proxy_number, client_country_code, \
                                 created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $7)",
                            )
                            .bind(next)
                            .bind(a.name.as_str())
                            .bind(a.mail.as_str())
                            .bind(a.phone.as_str())
                            .bind(a.proxy.as_str())
                            .bind(country_code.as_deref())
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| on_unique(e, Conflict::ProxyTaken { owner: None }))?;
                            (
                                ClientId::new(next).map_err(|_| StoreError::Corrupt {
                                    column: "client_id",
                                })?,
                                ActivationStatus::Promoted,
                            )
                        }
                    };
                    // The pool's view: assigned to that client, whatever held it for the
                    // activation.
                    sqlx::query(
                        "update pool_numbers set status = 'assigned', \
                         assigned_at = coalesce(assigned_at, $1), owner_client_id = $2, \
                         attribution_to_client_name = $3, reserved_token = null, \
                         reserved_at = null, reserved_by_client_id = null \
                         where phone_number = $4",
                    )
                    .bind(now)
                    .bind(client_id.get())
                    .bind(a.name.as_str())
                    .bind(a.proxy.as_str())
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "update activations set status = $2, promoted_client_id = $3, \
                         link_used_at = case when $4 then $5 else link_used_at end, \
                         updated_at = $5 where pending_id = $1",
                    )
                    .bind(id.as_str())
                    .bind(status.as_str())
                    .bind(client_id.get())
                    .bind(promotion.link_used)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("delete from activation_codes where pending_id = $1")
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    let confirmation = NewOutbound {
                        kind: OutboundKind::Sms,
                        purpose: "otp_confirmed",
                        from: a.proxy.clone(),
                        to: a.phone.clone(),
                        body: Some(promotion.confirmation_body.clone()),
                        url: None,
                        dedupe_key: Some(format!("activation:{id}:confirmed")),
                        relay: None,
                    };
                    insert_outbound!(tx, &confirmation, now, now);
                    tx.commit().await?;
                    Ok(Promoted::Done { status, client_id })
                }

                async fn expire_activations(
                    &self,
                    created_before: DateTime<Utc>,
                    ended_before: DateTime<Utc>,
                    now: DateTime<Utc>,
                ) -> StoreResult<(Vec<Expired>, u64)> {
                    let mut tx = self.begin_write().await?;
                    let rows: Vec<(String, String)> = sqlx::query_as(concat!(
                        "update activations set status = 'EXPIRED', ended_at = $2, \
                         updated_at = $2 where status in ", waiting!(),
                        " and created_at < $1 returning pending_id, proxy_number"
                    ))
                    .bind(created_before)
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut expired = Vec::with_capacity(rows.len());
                    for (id, proxy) in rows {
                        expired.push(Expired {
                            pending_id: PendingId::parse(&id)
                                .map_err(|_| StoreError::Corrupt { column: "pending_id" })?,
                            proxy: E164::parse_shape(&proxy)
                                .map_err(|_| StoreError::Corrupt { column: "proxy_number" })?,
                        });
                    }
                    sqlx::query(
                        "delete from activation_codes where pending_id in \
                         (select pending_id from activations where status in ('EXPIRED', 'LOCKED'))",
                    )
                    .execute(&mut *tx)
                    .await?;
                    // Reservations go back: those of activations that ended (expired,
                    // locked) by then, and stale ones no activation here holds (the earlier
                    // version's, older than the grace, or of no readable time). One waiting
                    // activation's reservation is never touched.
                    let released = sqlx::query(
                        "update pool_numbers set status = 'available', reserved_token = null, \
                         reserved_at = null, reserved_by_client_id = null, \
                         attribution_to_client_name = null \
                         where status = 'reserved' and ( \
                           reserved_token in (select pending_id from activations \
                             where status in ('EXPIRED', 'LOCKED') and ended_at <= $1) \
                           or ((reserved_at is null or reserved_at <= $1) and not exists ( \
                             select 1 from activations a \
                             where a.pending_id = pool_numbers.reserved_token)))",
                    )
                    .bind(ended_before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    tx.commit().await?;
                    Ok((expired, released))
                }

                async fn purge_activations(
                    &self,
                    before: DateTime<Utc>,
                    requests_before: DateTime<Utc>,
                ) -> StoreResult<u64> {
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query(concat!(
                        "delete from activations where status not in ", waiting!(),
                        " and updated_at < $1 and not exists (select 1 from pool_numbers p \
                         where p.status = 'reserved' and p.reserved_token = activations.pending_id)"
                    ))
                    .bind(before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    sqlx::query("delete from otp_requests where requested_at < $1")
                        .bind(requests_before)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(done)
                }

                async fn activation_counts(&self) -> StoreResult<Vec<(String, i64)>> {
                    Ok(sqlx::query_as(
                        "select status, count(*) from activations group by status order by status",
                    )
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn activation_page(
                    &self,
                    status: Option<ActivationStatus>,
                    after: Option<&PendingId>,
                    limit: i64,
                ) -> StoreResult<Vec<ListedActivation>> {
                    let mut q = sqlx::QueryBuilder::<DbEngine>::new(concat!(
                        "select ", activation_cols!(),
                        ", (link_token_hash is not null) as link_sent from activations where 1 = 1"
                    ));
                    if let Some(status) = status {
                        q.push(" and status = ").push_bind(status.as_str());
                    }
                    if let Some(after) = after {
                        // The cursor's time is read by the database, in its own type: the
                        // first term keeps the read on the index, the second breaks ties.
                        const AT: &str =
                            "(select c.created_at from activations c where c.pending_id = ";
                        q.push(" and created_at <= ").push(AT).push_bind(after.as_str());
                        q.push(") and (created_at < ").push(AT).push_bind(after.as_str());
                        q.push(") or pending_id < ").push_bind(after.as_str()).push(")");
                    }
                    q.push(" order by created_at desc, pending_id desc limit ")
                        .push_bind(limit);
                    q.build()
                        .fetch_all(self.reader())
                        .await?
                        .iter()
                        .map(|r| {
                            Ok(ListedActivation {
                                activation: activation_from(r)?,
                                link_sent: Columns::flag(r, "link_sent")?,
                            })
                        })
                        .collect()
                }

                async fn expire_activation(
                    &self,
                    id: &PendingId,
                    now: DateTime<Utc>,
                ) -> StoreResult<Result<Expired, ResendRefused>> {
                    let mut tx = self.begin_write().await?;
                    let Some(a) = locked_activation!(tx, id.as_str(), now) else {
                        return Ok(Err(ResendRefused::NotFound));
                    };
                    if !a.status.is_waiting() {
                        return Ok(Err(ResendRefused::NotWaiting(a.status)));
                    }
                    sqlx::query(
                        "update activations set status = 'EXPIRED', ended_at = $2, \
                         updated_at = $2 where pending_id = $1",
                    )
                    .bind(id.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("delete from activation_codes where pending_id = $1")
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    // An operator ended it: no grace before its number serves again.
                    sqlx::query(
                        "update pool_numbers set status = 'available', reserved_token = null, \
                         reserved_at = null, reserved_by_client_id = null, \
                         attribution_to_client_name = null \
                         where status = 'reserved' and reserved_token = $1",
                    )
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(Ok(Expired {
                        pending_id: a.pending_id,
                        proxy: a.proxy,
                    }))
                }
            }
        };
    };
}
pub(crate) use impl_activation_store;
