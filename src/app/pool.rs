//! The pool: what is available, handing a number to a client, adding numbers by hand.

use chrono::Utc;

use super::{App, AppError, AppResult, pool_exhausted};
use crate::domain::{ClientId, ClientName, CountryIso, E164, NumberType, NumberTypeFilter};
use crate::store::{Conflict, NewPoolNumber, PoolNumber, PoolStatus, ProxyPick, StoreError};

pub async fn available(
    app: &App,
    country: CountryIso,
    filter: NumberTypeFilter,
) -> AppResult<Vec<PoolNumber>> {
    Ok(app
        .store
        .pool_numbers(Some(country), filter, Some(PoolStatus::Available))
        .await?)
}

#[derive(Debug, Clone)]
pub struct Assign {
    pub client_id: ClientId,
    pub country: CountryIso,
    pub client_name: ClientName,
    pub number_type: NumberType,
    pub friendly_name: Option<String>,
}

/// Marks one available number of exactly that type as the client's, atomically. As in the
/// earlier version, the client row is not touched: the operator then sets the proxy with
/// `PUT /clients/{id}`.
pub async fn assign(app: &App, a: Assign) -> AppResult<PoolNumber> {
    let pick = ProxyPick {
        country: a.country,
        types: vec![a.number_type],
        attribution_name: a.client_name.as_str().to_owned(),
        friendly_name: a.friendly_name.clone(),
    };
    match app.store.assign_from_pool(a.client_id, &pick).await? {
        Some(number) => {
            tracing::info!(
                client_id = %a.client_id,
                proxy = %number.phone_number.masked(),
                country = %a.country,
                number_type = %a.number_type,
                "pool number assigned"
            );
            Ok(number)
        }
        None => Err(pool_exhausted(app.store.as_ref(), a.country, &pick.types).await),
    }
}

#[derive(Debug, Clone)]
pub struct AddNumber {
    pub phone_number: E164,
    pub country: Option<CountryIso>,
    pub number_type: NumberType,
    pub voice: bool,
    pub sms: bool,
    pub friendly_name: Option<String>,
}

/// Adds a number the operator already has (or a simulated one) as available, without asking
/// the carrier. The country defaults to the number's own. A client's real phone is refused:
/// as one of ours, that client's own calls and texts would no longer be relayed.
pub async fn add(app: &App, n: AddNumber) -> AppResult<PoolNumber> {
    if app.store.is_client_phone(&n.phone_number).await? {
        return Err(AppError::Invalid {
            field: "phone_number",
            message: "is a client's real phone, not a number of this service".into(),
        });
    }
    let country = n
        .country
        .or_else(|| n.phone_number.region())
        .ok_or_else(|| AppError::Invalid {
            field: "country",
            message: "is required: no country can be derived from the number".into(),
        })?;
    let new = NewPoolNumber {
        phone_number: n.phone_number.clone(),
        twilio_sid: None,
        country_iso: country,
        number_type: n.number_type,
        voice_capable: n.voice,
        sms_capable: n.sms,
        friendly_name: n.friendly_name,
        purchased_at: Utc::now(),
    };
    match app.store.add_pool_number(&new).await {
        Ok(number) => {
            tracing::info!(number = %number.phone_number.masked(), %country, "pool number added");
            Ok(number)
        }
        Err(StoreError::Conflict(Conflict::NumberExists)) => Err(AppError::Conflict {
            kind: super::ConflictKind::NumberExists,
            message: format!("{} is already in the pool", n.phone_number),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Gives numbers back to the carrier and marks them `released` (issue 9), as a pool operation
/// (`app::operations`): one at a time, resumable. A number held — assigned to a client or
/// reserved for an activation — is refused unless `force`; forced, its client loses it. The
/// pool is marked first, so that nobody is handed the number while the carrier releases it;
/// a number the carrier no longer has counts as released. A passing carrier failure is
/// retried at the job's next try, which goes on with the numbers not yet done.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReleaseJob {
    pub numbers: Vec<E164>,
    pub force: bool,
}

impl crate::jobs::Job for ReleaseJob {
    const KIND: &'static str = "pool.release";

    async fn run(
        self,
        ctx: crate::jobs::JobContext,
    ) -> Result<Option<serde_json::Value>, crate::jobs::JobError> {
        use crate::carrier::CarrierError;
        use crate::jobs::JobError;
        use serde_json::json;
        let app = &ctx.app;
        let (mut released, mut not_found, mut failed) = (Vec::new(), Vec::new(), Vec::new());
        for (i, number) in self.numbers.iter().enumerate() {
            let Some(now) = app.store.pool_number(number).await? else {
                not_found.push(number.to_string());
                continue;
            };
            let held = matches!(now.status, PoolStatus::Assigned | PoolStatus::Reserved);
            if held && !self.force {
                failed.push(json!({"number": number.to_string(),
                    "error": format!("{} (give \"force\": true to release it anyway)",
                        match now.status { PoolStatus::Assigned => "assigned to a client",
                                           _ => "reserved for an activation" })}));
                continue;
            }
            let Some(before) = app.store.mark_released(number, self.force, ctx.now).await? else {
                not_found.push(number.to_string());
                continue;
            };
            if matches!(before.status, PoolStatus::Assigned | PoolStatus::Reserved) && !self.force {
                failed.push(json!({"number": number.to_string(),
                    "error": "taken meanwhile; not released"}));
                continue;
            }
            let Some(sid) = before.twilio_sid.as_deref() else {
                released.push(number.to_string());
                continue;
            };
            match app.carrier.release_number(sid).await {
                Ok(()) | Err(CarrierError::Rejected { status: 404, .. }) => {
                    tracing::info!(number = %number.masked(), "number released");
                    released.push(number.to_string());
                }
                Err(e) if e.is_transient() => {
                    // The rest at the next try: this one is marked, and its release is asked
                    // again (the carrier answers 404 if it went through).
                    ctx.progress(&json!({"released": released, "not_found": not_found,
                        "failed": failed, "done": i, "of": self.numbers.len()}))
                        .await?;
                    return Err(JobError::retry(format!("the carrier failed mid-way: {e}")));
                }
                Err(e) => failed.push(json!({"number": number.to_string(),
                    "error": format!("{e}; marked released here, still rented from the carrier")})),
            }
            ctx.progress(&json!({"done": i + 1, "of": self.numbers.len()}))
                .await?;
        }
        Ok(Some(json!({
            "released": released,
            "not_found": not_found,
            "failed": failed,
            "ts": ctx.now.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        })))
    }
}
