//! A client's quiet hours (issue 12, item 8): local times of day (`PROXYCALL_TIMEZONE`) during
//! which texts to the client are held — their send job is due when the quiet hours end — and
//! calls to the client go straight to voicemail, whatever `PROXYCALL_VOICEMAIL` says: an urgent
//! caller can always leave a message.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::{App, AppError, AppResult};
use crate::domain::ClientId;
use std::collections::HashMap;

use crate::store::{Direction, QuietHours, RoutingJob, Store, StoreError};

/// When the quiet hours that `now` falls in end, if it falls in them. `start` to `end` runs
/// over midnight when `end` is earlier than `start`.
pub fn quiet_until(hours: &QuietHours, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(&tz);
    let (time, today) = (local.time(), local.date_naive());
    let end_day = if hours.start < hours.end {
        (hours.start <= time && time < hours.end).then_some(today)?
    } else if time >= hours.start {
        today.succ_opt()?
    } else if time < hours.end {
        today
    } else {
        return None;
    };
    let end = end_day.and_time(hours.end);
    // An end that falls in a clock change's gap is taken an hour later.
    tz.from_local_datetime(&end)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(end + Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

/// When the client's quiet hours now end, if they are in them.
pub async fn held_until(app: &App, client: ClientId) -> AppResult<Option<DateTime<Utc>>> {
    let hours = match app.store.quiet_hours(client).await {
        Ok(hours) => hours,
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(hours.and_then(|h| quiet_until(&h, Utc::now(), app.routing.timezone)))
}

/// The quiet hours of a routing batch's clients: one read for the batch.
pub(crate) async fn of_batch(
    store: &dyn Store,
    clients: impl Iterator<Item = ClientId>,
) -> Result<HashMap<ClientId, QuietHours>, StoreError> {
    let ids: Vec<ClientId> = clients.collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(store.quiet_hours_of(&ids).await?.into_iter().collect())
}

/// Holds a text relayed to a client in their quiet hours until they end.
pub(crate) fn hold(
    job: &mut RoutingJob,
    quiet: &HashMap<ClientId, QuietHours>,
    tz: Tz,
    now: DateTime<Utc>,
) {
    if job.outbound.is_none() || job.interaction.direction != Direction::ToClient {
        return;
    }
    if let Some(hours) = job.interaction.client_id.and_then(|id| quiet.get(&id)) {
        job.hold_until = quiet_until(hours, now, tz);
    }
}

/// Parses `HH:MM` (24-hour clock).
pub fn parse_time(field: &'static str, raw: &str) -> AppResult<NaiveTime> {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M").map_err(|_| AppError::Invalid {
        field,
        message: format!("'{raw}' is not a time of day (HH:MM, e.g. 22:00)"),
    })
}

pub async fn get(app: &App, client: ClientId) -> AppResult<Option<QuietHours>> {
    app.store.quiet_hours(client).await.map_err(not_found)
}

pub async fn set(app: &App, client: ClientId, hours: QuietHours) -> AppResult<QuietHours> {
    if hours.start == hours.end {
        return Err(AppError::Invalid {
            field: "end",
            message: "must differ from start".into(),
        });
    }
    app.store
        .set_quiet_hours(client, Some(hours), Utc::now())
        .await
        .map_err(not_found)?;
    Ok(hours)
}

pub async fn clear(app: &App, client: ClientId) -> AppResult<()> {
    app.store
        .set_quiet_hours(client, None, Utc::now())
        .await
        .map_err(not_found)
}

fn not_found(e: StoreError) -> AppError {
    match e {
        StoreError::NotFound => AppError::NotFound { what: "client" },
        e => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(start: &str, end: &str) -> QuietHours {
        QuietHours {
            start: parse_time("start", start).unwrap(),
            end: parse_time("end", end).unwrap(),
        }
    }

    fn paris(local: &str) -> DateTime<Utc> {
        let naive = chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").unwrap();
        chrono_tz::Europe::Paris
            .from_local_datetime(&naive)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn quiet_hours_run_over_midnight_and_end_at_their_local_end() {
        let tz = chrono_tz::Europe::Paris;
        let night = hours("22:00", "07:00");
        assert_eq!(
            quiet_until(&night, paris("2026-12-01 23:30"), tz),
            Some(paris("2026-12-02 07:00"))
        );
        assert_eq!(
            quiet_until(&night, paris("2026-12-02 06:59"), tz),
            Some(paris("2026-12-02 07:00"))
        );
        assert_eq!(quiet_until(&night, paris("2026-12-02 07:00"), tz), None);
        assert_eq!(quiet_until(&night, paris("2026-12-02 21:59"), tz), None);
        let lunch = hours("12:00", "14:00");
        assert_eq!(
            quiet_until(&lunch, paris("2026-12-02 12:00"), tz),
            Some(paris("2026-12-02 14:00"))
        );
        assert_eq!(quiet_until(&lunch, paris("2026-12-02 14:00"), tz), None);
        // The night the clocks go forward (02:00 → 03:00): an end at 02:30 is at 03:30.
        let short = hours("01:00", "02:30");
        assert_eq!(
            quiet_until(&short, paris("2026-03-29 01:30"), tz),
            Some(paris("2026-03-29 03:30"))
        );
    }

    #[test]
    fn times_are_hours_and_minutes() {
        assert!(parse_time("start", "22:00").is_ok());
        assert!(parse_time("start", "7:05").is_ok());
        for bad in ["24:00", "22h", "", "22:00:00", "-1:00"] {
            assert!(parse_time("start", bad).is_err(), "{bad}");
        }
    }
}
