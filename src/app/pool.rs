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
    /// The API key that asked for it (its id), named in every line the job logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

impl ReleaseJob {
    /// Refuses a request the job could not honour, naming the field.
    pub fn check(&self) -> AppResult<()> {
        let message = match self.numbers.len() {
            0 => "must list at least one number",
            n if n > 500 => "at most 500 numbers at a time",
            _ => return Ok(()),
        };
        Err(AppError::Invalid {
            field: "numbers",
            message: message.into(),
        })
    }
}

impl crate::jobs::Job for ReleaseJob {
    const KIND: &'static str = "pool.release";

    async fn run(
        self,
        ctx: crate::jobs::JobContext,
    ) -> Result<Option<serde_json::Value>, crate::jobs::JobError> {
        use serde_json::json;
        let (mut released, mut not_found, mut failed) = (Vec::new(), Vec::new(), Vec::new());
        for (i, number) in self.numbers.iter().enumerate() {
            match release_one(&ctx, number, self.force).await? {
                Released::Done | Released::MissingAtCarrier => released.push(number.to_string()),
                Released::NotInPool => not_found.push(number.to_string()),
                Released::Held(why) | Released::Failed(why) => {
                    failed.push(json!({"number": number.to_string(), "error": why}))
                }
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

/// Points each pool number's voice and SMS webhooks — URLs and methods — at this server
/// (issue 9), as a pool operation. A dry run changes nothing and lists what it would change.
/// The report has the earlier version's keys; a number fixed before a passing carrier failure
/// is found right at the next try, which fixes the rest.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FixWebhooksJob {
    pub dry_run: bool,
    pub only_country: Option<CountryIso>,
    pub only_status: Option<String>,
    pub fix_sms: bool,
    /// The API key that asked for it (its id), named in every line the job logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

impl FixWebhooksJob {
    /// Refuses a request the job could not honour, naming the field.
    pub fn check(&self) -> AppResult<()> {
        match &self.only_status {
            Some(s) if PoolStatus::parse(s).is_none() => Err(AppError::Invalid {
                field: "only_status",
                message: format!("'{s}' is not a status ({})", statuses()),
            }),
            _ => Ok(()),
        }
    }
}

/// The pool's statuses, as a list to quote in an error.
pub fn statuses() -> String {
    PoolStatus::ALL.map(PoolStatus::as_str).join(", ")
}

impl crate::jobs::Job for FixWebhooksJob {
    const KIND: &'static str = "pool.fix_webhooks";

    async fn run(
        self,
        ctx: crate::jobs::JobContext,
    ) -> Result<Option<serde_json::Value>, crate::jobs::JobError> {
        use crate::carrier::WebhookUpdate;
        use crate::jobs::JobError;
        use serde_json::json;
        let app = &ctx.app;
        let base = &app.routing.public_base_url;
        let voice_target = format!("{base}/twilio/voice");
        let sms_target = format!("{base}/twilio/sms");
        let status = self
            .only_status
            .as_deref()
            .map(|s| {
                PoolStatus::parse(s).ok_or_else(|| JobError::Fail(format!("unknown status {s}")))
            })
            .transpose()?;
        // A released number is no longer ours to point anywhere, unless asked for by status.
        let pool: Vec<_> = app
            .store
            .pool_numbers(self.only_country, NumberTypeFilter::Any, status)
            .await?
            .into_iter()
            .filter(|n| status.is_some() || n.status != PoolStatus::Released)
            .collect();
        let rented = app.carrier.incoming_numbers().await.map_err(|e| {
            if e.is_transient() {
                JobError::retry(e)
            } else {
                JobError::Fail(e.to_string())
            }
        })?;
        let wrong = |url: &Option<String>, method: &Option<String>, target: &str| {
            url.as_deref() != Some(target)
                || method
                    .as_deref()
                    .is_some_and(|m| !m.eq_ignore_ascii_case("POST"))
        };
        let (mut need_voice, mut need_sms, mut not_found, mut errors) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut fixed_voice, mut fixed_sms) = (Vec::new(), Vec::new());
        for (i, n) in pool.iter().enumerate() {
            let number = n.phone_number.to_string();
            let Some(at_carrier) = rented.iter().find(|r| r.phone_number == n.phone_number) else {
                not_found.push(number);
                continue;
            };
            let voice = wrong(
                &at_carrier.voice_url,
                &at_carrier.voice_method,
                &voice_target,
            );
            let sms =
                self.fix_sms && wrong(&at_carrier.sms_url, &at_carrier.sms_method, &sms_target);
            if voice {
                need_voice.push(json!({"phone_number": number,
                    "current_voice_url": at_carrier.voice_url.clone().unwrap_or_default()}));
            }
            if sms {
                need_sms.push(json!({"phone_number": number,
                    "current_sms_url": at_carrier.sms_url.clone().unwrap_or_default()}));
            }
            if self.dry_run || !(voice || sms) {
                continue;
            }
            let update = WebhookUpdate {
                voice_url: voice.then(|| voice_target.clone()),
                sms_url: sms.then(|| sms_target.clone()),
                friendly_name: None,
            };
            match app.carrier.update_number(&at_carrier.sid, &update).await {
                Ok(_) => {
                    if voice {
                        fixed_voice.push(json!({"phone_number": number}));
                    }
                    if sms {
                        fixed_sms.push(json!({"phone_number": number}));
                    }
                }
                Err(e) if e.is_transient() => {
                    ctx.progress(&json!({"done": i, "of": pool.len()})).await?;
                    return Err(JobError::retry(format!("the carrier failed mid-way: {e}")));
                }
                Err(e) => errors.push(json!({"phone_number": number, "err": e.to_string()})),
            }
            ctx.progress(&json!({"done": i + 1, "of": pool.len()}))
                .await?;
        }
        Ok(Some(json!({
            "target_voice_url": voice_target,
            "target_sms_url": if self.fix_sms { sms_target } else { String::new() },
            "checked": pool.len(),
            "need_fix": need_voice,
            "fixed": fixed_voice,
            "need_fix_voice": need_voice,
            "need_fix_sms": need_sms,
            "fixed_voice": fixed_voice,
            "fixed_sms": fixed_sms,
            "not_found_on_twilio": not_found,
            "errors": errors,
            "dry_run": self.dry_run,
            "only_status": self.only_status,
            "only_country": self.only_country.map(|c| c.to_string()),
            "ts": ctx.now.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        })))
    }
}

/// What releasing one number did.
pub(crate) enum Released {
    /// Marked released, and given back to the carrier (or never rented from it).
    Done,
    /// Marked released; the carrier no longer had it.
    MissingAtCarrier,
    NotInPool,
    /// Assigned or reserved, and not forced: left as it was.
    Held(String),
    /// Refused by the carrier: marked released here, still rented there.
    Failed(String),
}

/// Releases `number`: the pool is marked first, so that nobody is handed it meanwhile, then
/// the carrier is asked. A passing carrier failure is the job's: its next try asks again (a
/// release that went through answers 404, which counts as released).
pub(crate) async fn release_one(
    ctx: &crate::jobs::JobContext,
    number: &E164,
    force: bool,
) -> Result<Released, crate::jobs::JobError> {
    use crate::carrier::CarrierError;
    use crate::jobs::JobError;
    let app = &ctx.app;
    let held = |n: &PoolNumber| match n.status {
        PoolStatus::Missing if n.holder().is_some() => Some(
            "flagged missing, still a client's proxy (give \"force\": true to release it anyway)",
        ),
        PoolStatus::Assigned => {
            Some("assigned to a client (give \"force\": true to release it anyway)")
        }
        PoolStatus::Reserved => {
            Some("reserved for an activation (give \"force\": true to release it anyway)")
        }
        _ => None,
    };
    let Some(before) = app.store.mark_released(number, force, ctx.now).await? else {
        return Ok(Released::NotInPool);
    };
    if !force && let Some(why) = held(&before) {
        return Ok(Released::Held(why.into()));
    }
    let Some(sid) = before.twilio_sid.as_deref() else {
        return Ok(Released::Done);
    };
    match app.carrier.release_number(sid).await {
        Ok(()) => {
            tracing::info!(number = %number.masked(), "number released");
            Ok(Released::Done)
        }
        Err(CarrierError::Rejected { status: 404, .. }) => Ok(Released::MissingAtCarrier),
        Err(e) if e.is_transient() => {
            Err(JobError::retry(format!("the carrier failed mid-way: {e}")))
        }
        Err(e) => Ok(Released::Failed(format!(
            "{e}; marked released here, still rented from the carrier"
        ))),
    }
}

/// Releases the pool's numbers that cannot take texts (issue 9), as a pool operation: one that
/// is assigned or reserved is kept unless `force`. Report with the earlier version's keys.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PurgeWithoutSmsJob {
    pub force: bool,
    /// The API key that asked for it (its id), named in every line the job logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

impl crate::jobs::Job for PurgeWithoutSmsJob {
    const KIND: &'static str = "pool.purge_without_sms";

    async fn run(
        self,
        ctx: crate::jobs::JobContext,
    ) -> Result<Option<serde_json::Value>, crate::jobs::JobError> {
        use serde_json::json;
        let numbers = ctx
            .app
            .store
            .pool_numbers(None, NumberTypeFilter::Any, None)
            .await?;
        // A draining number is on its way out already: the operator releases it by name. A
        // missing one is no longer rented: the operator decides, seeing the sync's report.
        let live: Vec<_> = numbers
            .iter()
            .filter(|n| {
                !matches!(
                    n.status,
                    PoolStatus::Released | PoolStatus::Draining | PoolStatus::Missing
                )
            })
            .collect();
        let (mut removed, mut released, mut missing, mut errors, mut kept_held) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut kept_sms = 0;
        for (i, n) in live.iter().enumerate() {
            if n.sms_capable {
                kept_sms += 1;
                continue;
            }
            // Said before each release, the slow part: how far the job got if it stops here.
            ctx.progress(&json!({"done": i, "of": live.len()})).await?;
            let number = n.phone_number.to_string();
            match release_one(&ctx, &n.phone_number, self.force).await? {
                Released::Done => {
                    if n.twilio_sid.is_some() {
                        released.push(number.clone());
                    }
                    removed.push(number);
                }
                Released::MissingAtCarrier => {
                    missing.push(number.clone());
                    removed.push(number);
                }
                Released::NotInPool => {}
                Released::Held(why) => kept_held.push(json!({"phone_number": number, "why": why})),
                Released::Failed(err) => {
                    removed.push(number.clone());
                    errors.push(json!({"phone_number": number, "err": err}));
                }
            }
        }
        Ok(Some(json!({
            "checked": live.len(),
            "kept_sms_capable": kept_sms,
            "removed_from_pool": removed,
            "released_on_twilio": released,
            "missing_on_twilio": missing,
            "kept_held": kept_held,
            "errors": errors,
            "ts": ctx.now.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        })))
    }
}

/// What draining (or undoing it) did to each number asked for.
#[derive(Debug, Default, serde::Serialize)]
pub struct DrainReport {
    /// `{number, status}`: the status each changed number has now.
    pub changed: Vec<serde_json::Value>,
    /// `{number, status}`: already as asked.
    pub unchanged: Vec<serde_json::Value>,
    pub not_found: Vec<String>,
    /// `{number, error}`: a status that cannot be drained (or undrained).
    pub failed: Vec<serde_json::Value>,
    pub undo: bool,
    pub ts: String,
}

/// Marks numbers `draining` — no new client gets them, their client keeps them — before the
/// operator releases them (issue 9 item 6); `undo` gives them back. A number reserved for an
/// activation under way is refused: the activation would hand it to its client.
pub async fn drain(app: &App, numbers: &[E164], undo: bool) -> AppResult<DrainReport> {
    use serde_json::json;
    if numbers.is_empty() || numbers.len() > 500 {
        return Err(AppError::Invalid {
            field: "numbers",
            message: "must list 1 to 500 numbers".into(),
        });
    }
    let now = Utc::now();
    let mut report = DrainReport {
        undo,
        ts: now.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        ..DrainReport::default()
    };
    let wanted = |s: PoolStatus| (s == PoolStatus::Draining) != undo;
    for number in numbers {
        let Some(before) = app.store.pool_number(number).await? else {
            report.not_found.push(number.to_string());
            continue;
        };
        if wanted(before.status) {
            report
                .unchanged
                .push(json!({"number": number.to_string(), "status": before.status.as_str()}));
            continue;
        }
        if app.store.set_draining(number, undo).await? {
            let after = app.store.pool_number(number).await?.map(|n| n.status);
            let status = after.map_or("unknown", PoolStatus::as_str);
            tracing::info!(number = %number.masked(), status, "pool number drain changed");
            report
                .changed
                .push(json!({"number": number.to_string(), "status": status}));
        } else {
            let error = match before.status {
                PoolStatus::Reserved => "reserved for an activation under way: drain it once \
                                         the activation has ended"
                    .to_owned(),
                other => format!("is {}, which cannot be drained", other.as_str()),
            };
            report
                .failed
                .push(json!({"number": number.to_string(), "error": error}));
        }
    }
    Ok(report)
}
