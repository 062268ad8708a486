//! `POST /pool/sync` (issue 9): the carrier's inventory against the pool, both ways, as a pool
//! operation (`app::operations`: one at a time, resumable).
//!
//! - A number the carrier rents and the pool lacks is added as `available`, with its country
//!   (the number's own region), its type as the carrier classes it (its typed lists: the
//!   `type` field of a listed number is documented by Twilio's spec only as "The phone number
//!   type", without its values, and is absent from the typed lists' own schemas), its
//!   capabilities, SID and friendly name. One of a type the pool does not hold (toll-free…) or
//!   of no country is skipped, with why: never added on a guess.
//! - A pool number the carrier no longer lists is flagged `missing`, whatever held it: the
//!   pool only holds numbers rented through this account, so one added by hand without a SID
//!   that the carrier does not list cannot carry a call either. Its client keeps its row; it is
//!   never handed out. Listed again, it is restored.
//! - Released numbers are left alone both ways. One the carrier still lists is reported
//!   (`released_still_on_twilio`), never added again: the operator gave it up, and the release
//!   at the carrier is what failed (`POST /pool/release` of it asks the carrier again).
//!
//! Without `apply` nothing changes: the report says what an applied run would do. A passing
//! carrier failure is retried at the job's next try, which compares afresh: what an earlier
//! try added is in the pool by then, so adding is never done twice.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppError;
use super::operations::Failure;
use crate::carrier::{Carrier, CarrierError, IncomingNumber};
use crate::domain::{E164, NumberType, NumberTypeFilter};
use crate::jobs::{JobContext, JobError};
use crate::store::{Conflict, NewPoolNumber, PoolNumber, PoolStatus, StoreError};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncJob {
    pub apply: bool,
    /// The API key that asked for it (its id), named in every line the job logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

/// A number of the carrier's left out of the pool, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub phone_number: E164,
    pub reason: String,
}

/// What comparing the two inventories calls for.
#[derive(Debug, Default)]
pub struct Plan {
    /// Listed by the carrier, absent from the pool (skipped ones included).
    pub missing_numbers: Vec<E164>,
    pub to_add: Vec<NewPoolNumber>,
    pub skipped: Vec<Skip>,
    /// Pool numbers (not released) the carrier does not list, flagged already or not.
    pub missing_on_twilio: Vec<E164>,
    /// Those of them not flagged yet.
    pub to_flag: Vec<E164>,
    /// Flagged numbers the carrier lists again.
    pub to_restore: Vec<E164>,
    pub released_still_on_twilio: Vec<E164>,
    pub total_twilio: usize,
    pub total_sheet: usize,
}

/// Compares the pool with the carrier's listing; `types` is the carrier's class of each
/// number it listed by type. Pure: `now` is the time an added number is dated.
pub fn plan(
    pool: &[PoolNumber],
    listed: &[IncomingNumber],
    types: &HashMap<E164, NumberType>,
    now: DateTime<Utc>,
) -> Plan {
    let in_pool: HashMap<&E164, &PoolNumber> = pool.iter().map(|n| (&n.phone_number, n)).collect();
    let mut plan = Plan {
        total_sheet: pool
            .iter()
            .filter(|n| n.status != PoolStatus::Released)
            .count(),
        ..Plan::default()
    };
    // A listing whose pages shifted while it was read may name a number twice.
    let mut seen = HashSet::new();
    for n in listed {
        if !seen.insert(&n.phone_number) {
            continue;
        }
        match in_pool.get(&n.phone_number).map(|p| p.status) {
            None => {
                plan.missing_numbers.push(n.phone_number.clone());
                match new_number(n, types, now) {
                    Ok(new) => plan.to_add.push(new),
                    Err(reason) => plan.skipped.push(Skip {
                        phone_number: n.phone_number.clone(),
                        reason,
                    }),
                }
            }
            Some(PoolStatus::Released) => {
                plan.released_still_on_twilio.push(n.phone_number.clone())
            }
            Some(PoolStatus::Missing) => plan.to_restore.push(n.phone_number.clone()),
            Some(_) => {}
        }
    }
    plan.total_twilio = seen.len();
    for n in pool {
        if n.status == PoolStatus::Released || seen.contains(&n.phone_number) {
            continue;
        }
        plan.missing_on_twilio.push(n.phone_number.clone());
        if n.status != PoolStatus::Missing {
            plan.to_flag.push(n.phone_number.clone());
        }
    }
    plan
}

/// The pool's row for a number the carrier rents, from what the carrier says of it.
fn new_number(
    n: &IncomingNumber,
    types: &HashMap<E164, NumberType>,
    now: DateTime<Utc>,
) -> Result<NewPoolNumber, String> {
    let number_type = n
        .number_type
        .or_else(|| types.get(&n.phone_number).copied())
        .ok_or(
            "the carrier lists it as neither mobile nor local (toll-free or another type the \
             pool does not hold)",
        )?;
    let country = n
        .phone_number
        .region()
        .ok_or("no country can be derived from the number (a non-geographic or unknown range)")?;
    Ok(NewPoolNumber {
        phone_number: n.phone_number.clone(),
        twilio_sid: Some(n.sid.clone()),
        country_iso: country,
        number_type,
        voice_capable: n.voice,
        sms_capable: n.sms,
        friendly_name: n.friendly_name.clone().filter(|f| !f.is_empty()),
        purchased_at: now,
    })
}

/// Every number the carrier rents, and the class of those its typed lists name.
async fn inventory(
    carrier: &dyn Carrier,
) -> Result<(Vec<IncomingNumber>, HashMap<E164, NumberType>), CarrierError> {
    let listed = carrier.incoming_numbers().await?;
    let mut types = HashMap::new();
    for number_type in NumberType::ALL {
        for n in carrier.incoming_numbers_of_type(number_type).await? {
            types.insert(n.phone_number, number_type);
        }
    }
    Ok((listed, types))
}

fn numbers(list: &[E164]) -> Vec<String> {
    list.iter().map(E164::to_string).collect()
}

/// What applied runs of one job changed, kept in its progress after each change: a try that
/// follows a failure or a crash finds the earlier tries' work done (the pool no longer calls
/// for it) and still reports it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Done {
    added: Vec<E164>,
    flagged: Vec<E164>,
    restored: Vec<Restored>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Restored {
    phone_number: E164,
    status: String,
}

impl Done {
    /// What the job's earlier tries recorded.
    async fn so_far(ctx: &JobContext) -> Result<Self, JobError> {
        let progress = ctx
            .app
            .store
            .job(ctx.job_id)
            .await?
            .and_then(|j| j.progress);
        Ok(progress
            .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
            .and_then(|p| p.get("done").cloned())
            .and_then(|d| serde_json::from_value(d).ok())
            .unwrap_or_default())
    }
}

impl crate::jobs::Job for SyncJob {
    const KIND: &'static str = "pool.sync";

    async fn run(self, ctx: JobContext) -> Result<Option<serde_json::Value>, JobError> {
        let app = &ctx.app;
        let mut done = Done::so_far(&ctx).await?;
        // The pool is read before the carrier is: a number bought meanwhile is rented before
        // it enters the pool, so it is in the listing whenever it is in this read, and is
        // never taken as missing.
        let pool = app
            .store
            .pool_numbers(None, NumberTypeFilter::Any, None)
            .await?;
        let (listed, types) = match inventory(app.carrier.as_ref()).await {
            Ok(found) => found,
            Err(error) => {
                ctx.progress(&json!({
                    "stage": "listing the carrier's numbers",
                    "done": done,
                    "failure": Failure::Carrier { error: error.clone() },
                }))
                .await?;
                return Err(if error.is_transient() {
                    JobError::retry(format!("listing the carrier's numbers failed: {error}"))
                } else {
                    JobError::Fail(AppError::Carrier(error).to_string())
                });
            }
        };
        let mut plan = plan(&pool, &listed, &types, ctx.now);
        // A client's real phone is never made a proxy (as `pool add` refuses it).
        let mut to_add = Vec::with_capacity(plan.to_add.len());
        for new in std::mem::take(&mut plan.to_add) {
            if app.store.is_client_phone(&new.phone_number).await? {
                plan.skipped.push(Skip {
                    phone_number: new.phone_number,
                    reason: "is a client's real phone, not a number of this service".into(),
                });
            } else {
                to_add.push(new);
            }
        }
        let left = json!({
            "to_add": to_add.len(),
            "to_flag": plan.to_flag.len(),
            "to_restore": plan.to_restore.len(),
        });
        let total_twilio = plan.total_twilio;
        let ctx = &ctx;
        let record = |done: &Done| {
            let progress = json!({"total_twilio": total_twilio, "this_try": left, "done": done});
            async move { ctx.progress(&progress).await }
        };
        record(&done).await?;
        if self.apply {
            for new in &to_add {
                match app.store.add_pool_number(new).await {
                    Ok(n) => {
                        tracing::info!(number = %n.phone_number.masked(), country = %n.country_iso,
                            number_type = %n.number_type, requested_by = ?self.requested_by,
                            "pool sync added a number");
                        done.added.push(n.phone_number);
                        record(&done).await?;
                    }
                    Err(StoreError::Conflict(Conflict::NumberExists)) => plan.skipped.push(Skip {
                        phone_number: new.phone_number.clone(),
                        reason: "entered the pool meanwhile".into(),
                    }),
                    Err(e) => return Err(e.into()),
                }
            }
            for number in &plan.to_flag {
                if app.store.flag_missing(number).await? {
                    tracing::warn!(number = %number.masked(), requested_by = ?self.requested_by,
                        "pool sync flagged a number the carrier no longer lists");
                    done.flagged.push(number.clone());
                    record(&done).await?;
                }
            }
            for number in &plan.to_restore {
                if let Some(n) = app.store.restore_missing(number).await? {
                    tracing::info!(number = %number.masked(), status = n.status.as_str(),
                        requested_by = ?self.requested_by, "pool sync restored a number");
                    done.restored.push(Restored {
                        phone_number: number.clone(),
                        status: n.status.as_str().to_owned(),
                    });
                    record(&done).await?;
                }
            }
        }
        tracing::info!(
            apply = self.apply,
            total_twilio = plan.total_twilio,
            total_pool = plan.total_sheet,
            added = done.added.len(),
            flagged = done.flagged.len(),
            restored = done.restored.len(),
            skipped = plan.skipped.len(),
            requested_by = ?self.requested_by,
            "pool sync done"
        );
        Ok(Some(json!({
            "missing_numbers": numbers(&plan.missing_numbers),
            "added_numbers": numbers(&done.added),
            "total_twilio": plan.total_twilio,
            "total_sheet": plan.total_sheet,
            "ts": ctx.now.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
            "apply": self.apply,
            "to_add": to_add.iter().map(|n| n.phone_number.to_string()).collect::<Vec<_>>(),
            "skipped": plan.skipped.iter().map(|s| json!({
                "phone_number": s.phone_number.to_string(),
                "reason": s.reason,
            })).collect::<Vec<_>>(),
            "missing_on_twilio": numbers(&plan.missing_on_twilio),
            "to_flag": numbers(&plan.to_flag),
            "flagged": numbers(&done.flagged),
            "to_restore": numbers(&plan.to_restore),
            "restored": done.restored,
            "released_still_on_twilio": numbers(&plan.released_still_on_twilio),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CountryIso;

    fn pooled(number: &str, status: PoolStatus) -> PoolNumber {
        PoolNumber {
            phone_number: E164::parse(number).unwrap(),
            twilio_sid: None,
            country_iso: CountryIso::parse("FR").unwrap(),
            number_type: NumberType::Mobile,
            voice_capable: true,
            sms_capable: true,
            status,
            friendly_name: None,
            purchased_at: None,
            assigned_at: None,
            attribution_to_client_name: None,
            reserved_token: None,
            reserved_at: None,
            reserved_by_client_id: None,
            owner_client_id: None,
        }
    }

    fn listed(number: &str) -> IncomingNumber {
        IncomingNumber {
            sid: format!("PN{number}"),
            phone_number: E164::parse(number).unwrap(),
            friendly_name: Some(String::new()),
            voice_url: None,
            voice_method: None,
            sms_url: None,
            sms_method: None,
            voice: true,
            sms: false,
            mms: false,
            number_type: None,
        }
    }

    #[test]
    fn a_number_listed_twice_counts_once_and_released_ones_are_left_alone() {
        let pool = [
            pooled("+33780000001", PoolStatus::Missing),
            pooled("+33780000002", PoolStatus::Released),
            pooled("+33780000003", PoolStatus::Draining),
        ];
        let new = listed("+33612000001");
        let types = HashMap::from([(new.phone_number.clone(), NumberType::Mobile)]);
        let plan = plan(&pool, &[new.clone(), new], &types, Utc::now());
        assert_eq!(plan.total_twilio, 1);
        assert_eq!(plan.to_add.len(), 1);
        assert_eq!(plan.to_add[0].friendly_name, None, "an empty name is none");
        assert_eq!(plan.total_sheet, 2);
        let numbers = |l: &[E164]| l.iter().map(|n| n.as_str().to_owned()).collect::<Vec<_>>();
        // Flagged already: still missing, not flagged again.
        assert_eq!(
            numbers(&plan.missing_on_twilio),
            ["+33780000001", "+33780000003"]
        );
        assert_eq!(numbers(&plan.to_flag), ["+33780000003"]);
        assert!(plan.to_restore.is_empty() && plan.released_still_on_twilio.is_empty());
    }
}
