//! Buying numbers from the carrier into the pool (SPEC §6): search the country's mobile
//! numbers (local ones when no mobile is offered, or when asked), try the candidates in turn,
//! buy with this server's webhooks, and report what was bought and why others were skipped.

use std::collections::BTreeMap;

use chrono::Utc;

use super::{App, AppError, AppResult};
use crate::carrier::{CarrierError, NumberSearch, Purchase};
use crate::domain::{CountryIso, E164, NumberType, NumberTypeFilter};
use crate::store::{NewPoolNumber, PoolNumber};

#[derive(Debug, Clone)]
pub struct Provision {
    pub country: CountryIso,
    pub batch_size: u32,
    pub number_type: NumberType,
    pub require_sms: bool,
    pub require_voice: bool,
    pub candidates_limit: u32,
    pub address_sid: Option<String>,
    pub bundle_sid: Option<String>,
    /// Whether local numbers are bought when no mobile is offered (the route's way). Off when
    /// a shortage of mobiles is to be made good (`app::low_water`): a local number would not.
    pub local_fallback: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub phone_number: Option<E164>,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Provisioned {
    pub purchased: Vec<PoolNumber>,
    pub skipped: Vec<Skipped>,
    /// Why buying stopped before the batch was complete, when it did.
    pub stopped: Option<String>,
    /// The carrier's failure that stopped it.
    pub stop: Option<CarrierError>,
}

/// What a refusal means for the remaining candidates.
enum Next {
    TryAnother(String),
    Stop(CarrierError),
}

fn on_refusal(e: CarrierError) -> Next {
    match e {
        // Another number may fit the bundle, or still be free.
        CarrierError::BundleMismatch => Next::TryAnother("bundle_mismatch (Twilio 21649)".into()),
        CarrierError::Rejected { status, code } => Next::TryAnother(format!(
            "refused (HTTP {status}, code {})",
            code.map_or("none".into(), |c| c.to_string())
        )),
        // Configuration, credentials or an outage: every other candidate would fail alike.
        other => Next::Stop(other),
    }
}

pub async fn provision(app: &App, p: Provision) -> AppResult<Provisioned> {
    let mut done = Provisioned::default();
    let types = match p.number_type {
        NumberType::Mobile if p.local_fallback => vec![NumberType::Mobile, NumberType::Local],
        NumberType::Mobile => vec![NumberType::Mobile],
        NumberType::Local => vec![NumberType::Local],
    };
    let with_sms = if p.require_sms {
        " with SMS capability"
    } else {
        ""
    };
    // Why each type offered nothing to buy, for the 409 that says so.
    let mut reasons: BTreeMap<&'static str, String> = BTreeMap::new();
    // A search that failed because the carrier is down: the answer when nothing is bought.
    let mut down: Option<CarrierError> = None;
    let mut offered_any = false;
    'types: for number_type in types {
        let search = NumberSearch {
            country: p.country,
            number_type,
            sms: p.require_sms,
            voice: p.require_voice,
            limit: p.candidates_limit,
        };
        let candidates = match app.carrier.search_numbers(&search).await {
            Ok(c) => c,
            // Twilio answers 404 (20404) for a country or type it has no inventory for: that
            // type has nothing to offer, and the next type is tried, as the earlier version did.
            Err(e @ CarrierError::Rejected { .. }) => {
                reasons.insert(number_type.as_str(), format!("none offered ({e})"));
                continue;
            }
            Err(e) => {
                // As the earlier version did: no mobile search, try local numbers.
                done.skipped.push(Skipped {
                    phone_number: None,
                    reason: format!("{number_type} search failed: {e}"),
                });
                reasons.insert(number_type.as_str(), format!("search failed ({e})"));
                down.get_or_insert(e);
                continue;
            }
        };
        let mut offered = false;
        for candidate in candidates {
            if done.purchased.len() as u32 >= p.batch_size {
                break 'types;
            }
            // The filters are checked again: an answer may not honour them.
            if (p.require_sms && !candidate.sms) || (p.require_voice && !candidate.voice) {
                continue;
            }
            offered = true;
            if app
                .store
                .pool_number(&candidate.phone_number)
                .await?
                .is_some()
            {
                continue;
            }
            let purchase = Purchase {
                phone_number: candidate.phone_number.clone(),
                voice_url: format!("{}/twilio/voice", app.routing.public_base_url),
                sms_url: format!("{}/twilio/sms", app.routing.public_base_url),
                friendly_name: friendly_name(app, p.country).await?,
                address_sid: p.address_sid.clone(),
                bundle_sid: p.bundle_sid.clone(),
            };
            match app.carrier.buy_number(&purchase).await {
                Ok(bought) => {
                    let added = app
                        .store
                        .add_pool_number(&NewPoolNumber {
                            phone_number: bought.phone_number,
                            twilio_sid: Some(bought.sid),
                            country_iso: p.country,
                            // The type actually bought (the earlier version wrote `mobile`).
                            number_type,
                            voice_capable: candidate.voice,
                            sms_capable: candidate.sms,
                            friendly_name: bought.friendly_name.or(Some(purchase.friendly_name)),
                            purchased_at: Utc::now(),
                        })
                        .await?;
                    tracing::info!(number = %added.phone_number.masked(), country = %p.country, %number_type, "number bought");
                    done.purchased.push(added);
                }
                Err(e) => match on_refusal(e) {
                    Next::TryAnother(reason) => done.skipped.push(Skipped {
                        phone_number: Some(candidate.phone_number),
                        reason,
                    }),
                    Next::Stop(e) => return finish(done, Some(e)),
                },
            }
        }
        offered_any |= offered;
        if !offered {
            reasons.insert(number_type.as_str(), format!("none offered{with_sms}"));
        }
        if !done.purchased.is_empty() {
            // Local numbers are a fall-back for when no mobile could be had.
            break;
        }
    }
    if done.purchased.is_empty()
        && let Some(e) = down
    {
        // A carrier that is down says nothing about its inventory: that is the answer.
        return Err(AppError::Carrier(e));
    }
    if done.purchased.is_empty() && !offered_any {
        let why: Vec<String> = reasons.iter().map(|(t, r)| format!("{t}: {r}")).collect();
        return Err(AppError::NoNumbers {
            message: format!(
                "no number available for {} (type {}{with_sms}): {}",
                p.country,
                p.number_type,
                why.join("; ")
            ),
            reasons,
        });
    }
    if done.purchased.is_empty()
        && done
            .skipped
            .iter()
            .all(|s| s.reason.starts_with("bundle_mismatch"))
    {
        return Err(AppError::Conflict {
            kind: super::ConflictKind::BundleMismatch,
            message: "none of the offered numbers can be bought with the current bundle \
                      (TWILIO_BUNDLE_SID): its regulation type does not fit them (Twilio 21649)"
                .into(),
        });
    }
    finish(done, None)
}

/// With nothing bought, a stop is the answer; with some bought, they are reported with it.
fn finish(mut done: Provisioned, stop: Option<CarrierError>) -> AppResult<Provisioned> {
    match stop {
        Some(e) if done.purchased.is_empty() => Err(AppError::Carrier(e)),
        Some(e) => {
            tracing::warn!(error = %e, bought = done.purchased.len(), "buying stopped");
            done.stopped = Some(e.to_string());
            done.stop = Some(e);
            Ok(done)
        }
        None => Ok(done),
    }
}

/// `Pool-FR-7`: the country and the number's rank in that country's pool.
async fn friendly_name(app: &App, country: CountryIso) -> AppResult<String> {
    let n = app
        .store
        .pool_numbers(Some(country), NumberTypeFilter::Any, None)
        .await?
        .len();
    Ok(format!("Pool-{country}-{}", n + 1))
}

/// Provisioning as a pool operation (`app::operations`): one at a time, resumable. Its report
/// has the route's keys. A run interrupted by a passing carrier failure after buying some
/// numbers goes on at its next try with the numbers still to buy (those bought since the job
/// began are in the pool, and count); one that bought nothing answers the failure, as the
/// route did before it ran as a job.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProvisionJob {
    pub country: CountryIso,
    pub batch_size: u32,
    pub number_type: NumberType,
    pub require_sms: bool,
    pub require_voice: bool,
    pub candidates_limit: u32,
    pub address_sid: Option<String>,
    pub bundle_sid: Option<String>,
    /// The API key that asked for it (its id), named in every line the job logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

impl ProvisionJob {
    /// Refuses a request the job could not honour, naming the field.
    pub fn check(&self) -> AppResult<()> {
        if !(1..=50).contains(&self.batch_size) {
            return Err(AppError::Invalid {
                field: "batch_size",
                message: "must be between 1 and 50".into(),
            });
        }
        if self.candidates_limit == 0 {
            return Err(AppError::Invalid {
                field: "candidates_limit",
                message: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

impl crate::jobs::Job for ProvisionJob {
    const KIND: &'static str = "pool.provision";

    async fn run(
        self,
        ctx: crate::jobs::JobContext,
    ) -> Result<Option<serde_json::Value>, crate::jobs::JobError> {
        use super::operations::Failure;
        use crate::jobs::JobError;
        let app = &ctx.app;
        let began = app
            .store
            .job(ctx.job_id)
            .await?
            .map_or(ctx.now, |j| j.created_at);
        // What earlier tries of this job bought.
        let mut bought: Vec<PoolNumber> = app
            .store
            .pool_numbers(Some(self.country), NumberTypeFilter::Any, None)
            .await?
            .into_iter()
            .filter(|n| n.purchased_at.is_some_and(|t| t >= began) && n.twilio_sid.is_some())
            .collect();
        let remaining = self.batch_size.saturating_sub(bought.len() as u32);
        let mut skipped = Vec::new();
        let mut stopped = None;
        if remaining > 0 {
            let run = provision(
                app,
                Provision {
                    country: self.country,
                    batch_size: remaining,
                    number_type: self.number_type,
                    require_sms: self.require_sms,
                    require_voice: self.require_voice,
                    candidates_limit: self.candidates_limit,
                    address_sid: self.address_sid.clone(),
                    bundle_sid: self.bundle_sid.clone(),
                    local_fallback: true,
                },
            )
            .await;
            match run {
                Ok(done) => {
                    bought.extend(done.purchased);
                    // Stopped mid-way by a passing failure: what was bought is kept (in the
                    // pool, and said in the progress), the rest is bought at the next try.
                    if let Some(e) = done.stop.filter(CarrierError::is_transient) {
                        ctx.progress(&serde_json::json!({
                            "purchased_now": bought.iter().map(|n| n.phone_number.to_string()).collect::<Vec<_>>(),
                            "of": self.batch_size,
                            "failure": Failure::Carrier { error: e.clone() },
                        }))
                        .await?;
                        return Err(JobError::retry(format!("stopped mid-way: {e}")));
                    }
                    skipped = done.skipped;
                    stopped = done.stopped;
                }
                Err(e) => {
                    let failure = Failure::of(e).map_err(JobError::retry)?;
                    let transient =
                        matches!(&failure, Failure::Carrier { error } if error.is_transient());
                    ctx.progress(&serde_json::json!({ "failure": failure }))
                        .await?;
                    // Bought some before: the rest at the next try. None: that is the answer.
                    if transient && !bought.is_empty() {
                        return Err(JobError::retry("the carrier failed mid-way"));
                    }
                    return Err(JobError::Fail(AppError::from(failure).to_string()));
                }
            }
        }
        let mut report = serde_json::json!({
            "country_iso": self.country.to_string(),
            "purchased_now": bought.iter().map(|n| n.phone_number.to_string()).collect::<Vec<_>>(),
            "batch_size": self.batch_size,
            "number_type": self.number_type.to_string(),
            "require_sms_capability": self.require_sms,
            "require_voice_capability": self.require_voice,
            "candidates_limit": self.candidates_limit,
            "skipped": skipped.iter().map(|s| serde_json::json!({
                "phone_number": s.phone_number.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                "reason": s.reason,
            })).collect::<Vec<_>>(),
        });
        // As the route answered before it ran as a job: `stopped` only when buying stopped.
        if let Some(why) = stopped {
            report["stopped"] = why.into();
        }
        Ok(Some(report))
    }
}
