//! The SQL of `VoicemailStore`, shared by both engines.

macro_rules! voicemail_cols {
    () => {
        "id, call_sid, client_id, proxy_number, caller, recording_sid, duration_secs, \
         link_expires_at, created_at, recorded_at"
    };
}
pub(crate) use voicemail_cols;

/// Implements `VoicemailStore` for a back-end (see `impl_store!`).
macro_rules! impl_voicemail_store {
    ($store:ty) => {
        const _: () = {
            use chrono::{DateTime, NaiveTime, Utc};
            use sqlx::Row;

            use $crate::domain::*;
            use $crate::store::sql::*;
            use $crate::store::*;

            fn voicemail_from(r: &impl Columns) -> StoreResult<Voicemail> {
                let corrupt = |column| move || StoreError::Corrupt { column };
                let phone = |col: &'static str| {
                    r.text(col)?
                        .and_then(|s| E164::parse_shape(&s).ok())
                        .ok_or_else(corrupt(col))
                };
                Ok(Voicemail {
                    id: r.int("id")?.ok_or_else(corrupt("id"))?,
                    call_sid: r.text("call_sid")?.ok_or_else(corrupt("call_sid"))?,
                    client_id: r
                        .int("client_id")?
                        .and_then(|v| ClientId::new(v).ok())
                        .ok_or_else(corrupt("client_id"))?,
                    proxy: phone("proxy_number")?,
                    caller: phone("caller")?,
                    recording_sid: r.text("recording_sid")?,
                    duration_secs: r.int("duration_secs")?,
                    link_expires_at: r.time("link_expires_at")?,
                    created_at: r.time("created_at")?.ok_or_else(corrupt("created_at"))?,
                    recorded_at: r.time("recorded_at")?,
                })
            }

            fn quiet_time(raw: Option<String>) -> StoreResult<Option<NaiveTime>> {
                raw.map(|s| {
                    NaiveTime::parse_from_str(&s, "%H:%M").map_err(|_| StoreError::Corrupt {
                        column: "quiet_start",
                    })
                })
                .transpose()
            }

            #[async_trait::async_trait]
            impl VoicemailStore for $store {
                async fn forwarded_call(
                    &self,
                    call_sid: &str,
                ) -> StoreResult<Option<ForwardedCall>> {
                    let row = sqlx::query(
                        "select proxy_number, client_id from interactions \
                         where channel = 'voice' and twilio_sid = $1 \
                         and direction = 'to_client' and outcome = 'forwarded'",
                    )
                    .bind(call_sid)
                    .fetch_optional(self.reader())
                    .await?;
                    let Some(row) = row else { return Ok(None) };
                    let proxy: String = row.try_get("proxy_number")?;
                    let client_id: Option<i64> = row.try_get("client_id")?;
                    let (Ok(proxy), Some(Ok(id))) =
                        (E164::parse_shape(&proxy), client_id.map(ClientId::new))
                    else {
                        return Ok(None);
                    };
                    Ok(self
                        .client(id)
                        .await?
                        .map(|client| ForwardedCall { proxy, client }))
                }

                async fn open_voicemail(&self, v: &NewVoicemail) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "insert into voicemails (call_sid, client_id, proxy_number, caller, \
                         created_at) values ($1, $2, $3, $4, $5) \
                         on conflict (call_sid) do nothing",
                    )
                    .bind(&v.call_sid)
                    .bind(v.client_id.get())
                    .bind(v.proxy.as_str())
                    .bind(v.caller.as_str())
                    .bind(v.created_at)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn voicemail_by_call(
                    &self,
                    call_sid: &str,
                ) -> StoreResult<Option<Voicemail>> {
                    sqlx::query(concat!(
                        "select ",
                        voicemail_cols!(),
                        " from voicemails where call_sid = $1"
                    ))
                    .bind(call_sid)
                    .fetch_optional(self.reader())
                    .await?
                    .as_ref()
                    .map(voicemail_from)
                    .transpose()
                }

                async fn record_voicemail(
                    &self,
                    call_sid: &str,
                    recorded: &Recorded,
                    text: &NewOutbound,
                    send_at: DateTime<Utc>,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    // Conditional on no recording yet: a retried callback changes nothing.
                    let done = sqlx::query(
                        "update voicemails set recording_sid = $2, duration_secs = $3, \
                         token_hash = $4, link_expires_at = $5, recorded_at = $6 \
                         where call_sid = $1 and recording_sid is null",
                    )
                    .bind(call_sid)
                    .bind(&recorded.recording_sid)
                    .bind(recorded.duration_secs)
                    .bind(&recorded.token_hash)
                    .bind(recorded.link_expires_at)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Ok(false);
                    }
                    insert_outbound!(tx, text, send_at, now);
                    tx.commit().await?;
                    Ok(true)
                }

                async fn voicemail_by_token(
                    &self,
                    token_hash: &str,
                ) -> StoreResult<Option<Voicemail>> {
                    sqlx::query(concat!(
                        "select ",
                        voicemail_cols!(),
                        " from voicemails where token_hash = $1"
                    ))
                    .bind(token_hash)
                    .fetch_optional(self.reader())
                    .await?
                    .as_ref()
                    .map(voicemail_from)
                    .transpose()
                }

                async fn voicemails_before(
                    &self,
                    before: DateTime<Utc>,
                    limit: i64,
                ) -> StoreResult<Vec<Voicemail>> {
                    sqlx::query(concat!(
                        "select ",
                        voicemail_cols!(),
                        " from voicemails where created_at < $1 order by created_at, id limit $2"
                    ))
                    .bind(before)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(voicemail_from)
                    .collect()
                }

                async fn delete_voicemail(&self, id: i64) -> StoreResult<()> {
                    sqlx::query("delete from voicemails where id = $1")
                        .bind(id)
                        .execute(self.writer())
                        .await?;
                    Ok(())
                }

                async fn quiet_hours_of(
                    &self,
                    clients: &[ClientId],
                ) -> StoreResult<Vec<(ClientId, QuietHours)>> {
                    if clients.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut q = sqlx::QueryBuilder::<DbEngine>::new(
                        "select client_id, quiet_start, quiet_end from clients \
                         where quiet_start is not null and client_id in (",
                    );
                    let mut list = q.separated(", ");
                    for id in clients {
                        list.push_bind(id.get());
                    }
                    q.push(")");
                    let rows = q.build().persistent(false).fetch_all(self.reader()).await?;
                    let mut found = Vec::new();
                    for row in rows {
                        let id: i64 = row.try_get("client_id")?;
                        let start = quiet_time(row.try_get("quiet_start")?)?;
                        let end = quiet_time(row.try_get("quiet_end")?)?;
                        if let (Ok(id), Some(start), Some(end)) = (ClientId::new(id), start, end) {
                            found.push((id, QuietHours { start, end }));
                        }
                    }
                    Ok(found)
                }

                async fn quiet_hours(&self, client: ClientId) -> StoreResult<Option<QuietHours>> {
                    let row = sqlx::query(
                        "select quiet_start, quiet_end from clients where client_id = $1",
                    )
                    .bind(client.get())
                    .fetch_optional(self.reader())
                    .await?
                    .ok_or(StoreError::NotFound)?;
                    let start = quiet_time(row.try_get("quiet_start")?)?;
                    let end = quiet_time(row.try_get("quiet_end")?)?;
                    Ok(start.zip(end).map(|(start, end)| QuietHours { start, end }))
                }

                async fn set_quiet_hours(
                    &self,
                    client: ClientId,
                    hours: Option<QuietHours>,
                    now: DateTime<Utc>,
                ) -> StoreResult<()> {
                    let text = |t: NaiveTime| t.format("%H:%M").to_string();
                    let done = sqlx::query(
                        "update clients set quiet_start = $2, quiet_end = $3, updated_at = $4 \
                         where client_id = $1",
                    )
                    .bind(client.get())
                    .bind(hours.map(|h| text(h.start)))
                    .bind(hours.map(|h| text(h.end)))
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    Ok(())
                }
            }
        };
    };
}
pub(crate) use impl_voicemail_store;
