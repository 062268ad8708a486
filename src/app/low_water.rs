//! The low pool (issue 9 item 8, SPEC §6, API-COMPAT §9 "Pool alert"): every five minutes,
//! each country and type whose numbers a client could be given now fall under
//! `PROXYCALL_POOL_LOW_WATER` gets, when configured, numbers bought up to
//! `PROXYCALL_POOL_AUTO_BUY_TO` within `PROXYCALL_POOL_MONTHLY_BUDGET`, and an e-mail to the
//! operator saying so, at most once per `PROXYCALL_POOL_ALERT_COOLDOWN_HOURS`.
//!
//! Both limits live in the database (`store::LowWaterStore`), not in a process: the budget is
//! reserved before buying by a conditional update, and what was not bought is given back; the
//! alert's time is recorded by the statement that decides it, with its e-mail. So two
//! processes deciding at once never spend more than the budget nor send two alerts.

use std::sync::Once;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::provision::{Provision, provision};
use super::{App, AppError};
use crate::domain::{CountryIso, NumberType};
use crate::jobs::{Job, JobContext, JobError};
use crate::messages::PoolAlertWords;
use crate::store::{NewEmail, PoolSupply};

/// `PROXYCALL_POOL_LOW_WATER`'s default.
pub const DEFAULT_LOW_WATER: i64 = 10;
/// `PROXYCALL_POOL_ALERT_COOLDOWN_HOURS`'s default: the earlier version's.
pub const DEFAULT_ALERT_COOLDOWN_HOURS: i64 = 8;
/// How often the pool is looked at.
pub const PERIOD: std::time::Duration = std::time::Duration::from_secs(300);
/// The most one look buys: `POST /pool/provision`'s largest batch.
pub const MAX_BATCH: i64 = 50;

/// What the low pool's job does (`Settings::low_water`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowWaterPolicy {
    /// Under this many numbers a client could be given now, a country and type is low; 0 for
    /// never.
    pub low_water: i64,
    /// The least time between two alerts about one country and type.
    pub alert_cooldown: chrono::Duration,
    /// `None`: nothing is bought.
    pub auto_buy: Option<AutoBuy>,
}

impl Default for LowWaterPolicy {
    fn default() -> Self {
        Self {
            low_water: DEFAULT_LOW_WATER,
            alert_cooldown: chrono::Duration::hours(DEFAULT_ALERT_COOLDOWN_HOURS),
            auto_buy: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoBuy {
    /// Numbers a low country and type is brought back to.
    pub to: i64,
    /// Numbers bought automatically per calendar month (UTC), across every process.
    pub monthly_budget: i64,
    /// `TWILIO_ADDRESS_SID` and `TWILIO_BUNDLE_SID`, as `POST /pool/provision` buys with.
    pub address_sid: Option<String>,
    pub bundle_sid: Option<String>,
}

/// What auto-buy did for one low country and type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Bought {
    /// `PROXYCALL_POOL_AUTO_BUY_TO` is not set.
    Off,
    Bought {
        bought: i64,
        target: i64,
        /// The month's budget used, this purchase included.
        spent: i64,
        budget: i64,
    },
    /// Nothing bought: the month's budget is spent.
    BudgetSpent { spent: i64, budget: i64 },
    /// The carrier failed or had nothing to sell; `bought` before it stopped.
    Failed {
        bought: i64,
        /// The metrics' label: `carrier`, `no_numbers`, `bundle_mismatch`.
        reason: &'static str,
        error: String,
    },
}

/// Whether the operator was e-mailed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Alert {
    Queued,
    /// An alert about it went out less than the cool-down ago.
    CoolingDown,
    /// No SMTP settings or no `PROXYCALL_ALERT_EMAIL`.
    NoMailer,
}

impl Alert {
    fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::CoolingDown => "cooling_down",
            Self::NoMailer => "no_mailer",
        }
    }
}

/// One low country and type, and what was done about it: the job's report holds one per.
#[derive(Debug, Clone, Serialize)]
pub struct LowGroup {
    pub country: CountryIso,
    pub number_type: NumberType,
    pub available: i64,
    pub low_water: i64,
    pub auto_buy: Bought,
    pub alert: Alert,
}

/// The month a budget is counted in: `YYYY-MM`, UTC.
pub fn budget_month(at: DateTime<Utc>) -> String {
    at.format("%Y-%m").to_string()
}

/// Looks at the pool as of `now` and acts on every low country and type.
pub async fn check(app: &App, now: DateTime<Utc>) -> Result<Vec<LowGroup>, AppError> {
    let policy = &app.low_water;
    let mut low = Vec::new();
    for supply in app.store.pool_supply(now).await? {
        if supply.available >= policy.low_water {
            continue;
        }
        metrics::counter!("proxycall_pool_low_total",
            "country" => supply.country.to_string(), "number_type" => supply.number_type.as_str())
        .increment(1);
        let auto_buy = auto_buy(app, policy, &supply, now).await?;
        let alert = alert(app, policy, &supply, &auto_buy, now).await?;
        metrics::counter!("proxycall_pool_alerts_total", "outcome" => alert.as_str()).increment(1);
        tracing::info!(
            country = %supply.country,
            number_type = %supply.number_type,
            available = supply.available,
            low_water = policy.low_water,
            auto_buy = ?auto_buy,
            alert = alert.as_str(),
            "pool low"
        );
        low.push(LowGroup {
            country: supply.country,
            number_type: supply.number_type,
            available: supply.available,
            low_water: policy.low_water,
            auto_buy,
            alert,
        });
    }
    Ok(low)
}

async fn auto_buy(
    app: &App,
    policy: &LowWaterPolicy,
    supply: &PoolSupply,
    now: DateTime<Utc>,
) -> Result<Bought, AppError> {
    let Some(buy) = &policy.auto_buy else {
        return Ok(Bought::Off);
    };
    let (country, number_type) = (supply.country, supply.number_type);
    let wanted = (buy.to - supply.available).clamp(0, MAX_BATCH);
    let month = budget_month(now);
    // Reserved before the carrier is asked: what another process reserves meanwhile counts.
    let granted = app
        .store
        .reserve_auto_buy(&month, wanted, buy.monthly_budget, now)
        .await?;
    if granted == 0 {
        let spent = app.store.auto_buy_spent(&month).await?;
        metrics::counter!("proxycall_pool_auto_buy_refused_total", "reason" => "budget_spent")
            .increment(1);
        tracing::warn!(
            %country, %number_type, wanted, spent, budget = buy.monthly_budget, %month,
            "pool low: no number bought, this month's auto-buy budget \
             (PROXYCALL_POOL_MONTHLY_BUDGET) is spent"
        );
        return Ok(Bought::BudgetSpent {
            spent,
            budget: buy.monthly_budget,
        });
    }
    let run = provision(
        app,
        Provision {
            country,
            batch_size: granted as u32,
            number_type,
            // A proxy relays calls and texts.
            require_sms: true,
            require_voice: true,
            candidates_limit: 100,
            address_sid: buy.address_sid.clone(),
            bundle_sid: buy.bundle_sid.clone(),
            local_fallback: false,
        },
    )
    .await;
    let (bought, failure) = match run {
        Ok(done) => (done.purchased, done.stopped.map(|e| ("carrier", e))),
        Err(AppError::NoNumbers { message, .. }) => (Vec::new(), Some(("no_numbers", message))),
        Err(AppError::Conflict { message, .. }) => (Vec::new(), Some(("bundle_mismatch", message))),
        Err(AppError::Carrier(e)) => (Vec::new(), Some(("carrier", e.to_string()))),
        // The database failed mid-way: numbers may have been bought and not recorded, so the
        // reservation stays spent (the budget can only come out smaller, never exceeded).
        Err(other) => return Err(other),
    };
    let n = bought.len() as i64;
    if n < granted {
        give_back(app, &month, granted - n, now).await;
    }
    metrics::counter!("proxycall_pool_auto_bought_total",
        "country" => country.to_string(), "number_type" => number_type.as_str())
    .increment(n as u64);
    let masked: Vec<String> = bought
        .iter()
        .map(|b| b.phone_number.masked().to_string())
        .collect();
    if let Some((reason, error)) = failure {
        metrics::counter!("proxycall_pool_auto_buy_refused_total", "reason" => reason).increment(1);
        tracing::warn!(%country, %number_type, granted, bought = ?masked, reason, %error,
            "pool low: auto-buy failed");
        return Ok(Bought::Failed {
            bought: n,
            reason,
            error,
        });
    }
    let spent = app.store.auto_buy_spent(&month).await?;
    tracing::info!(%country, %number_type, wanted, granted, bought = ?masked, spent,
        budget = buy.monthly_budget, %month, "pool low: numbers bought");
    Ok(Bought::Bought {
        bought: n,
        target: buy.to,
        spent,
        budget: buy.monthly_budget,
    })
}

/// Gives back budget reserved and not spent. Lost, it only makes the month's budget smaller:
/// never larger.
async fn give_back(app: &App, month: &str, n: i64, now: DateTime<Utc>) {
    if let Err(e) = app.store.release_auto_buy(month, n, now).await {
        tracing::warn!(error = %e, n, month, "auto-buy: unspent budget not given back");
    }
}

static NO_MAIL_LOGGED: Once = Once::new();

async fn alert(
    app: &App,
    policy: &LowWaterPolicy,
    supply: &PoolSupply,
    bought: &Bought,
    now: DateTime<Utc>,
) -> Result<Alert, AppError> {
    let (Some(_), Some(to)) = (&app.mail, &app.alert_email) else {
        NO_MAIL_LOGGED.call_once(|| {
            tracing::info!(
                "pool low: the operator is not e-mailed (it needs the SMTP settings and \
                 PROXYCALL_ALERT_EMAIL)"
            );
        });
        return Ok(Alert::NoMailer);
    };
    let words = &app.activation.words.pool_alert;
    let email = NewEmail {
        purpose: "pool_alert",
        to: to.clone(),
        subject: words.email_subject.clone(),
        text: text(words, policy, supply, bought),
        html: None,
        dedupe_key: None,
    };
    let queued = app
        .store
        .record_pool_alert(
            supply.country,
            supply.number_type,
            &email,
            now,
            now - policy.alert_cooldown,
        )
        .await?;
    Ok(match queued {
        Some(id) => {
            app.job_wake.notify_waiters();
            tracing::info!(country = %supply.country, number_type = %supply.number_type,
                email_id = id, to = %to.masked(), "pool low: operator alerted");
            Alert::Queued
        }
        None => Alert::CoolingDown,
    })
}

/// The alert's plain-text body, in the catalogue's words.
pub fn text(
    words: &PoolAlertWords,
    policy: &LowWaterPolicy,
    supply: &PoolSupply,
    bought: &Bought,
) -> String {
    let auto_buy = match bought {
        Bought::Off => words.auto_buy_off.clone(),
        Bought::Bought {
            bought,
            target,
            spent,
            budget,
        } => words
            .auto_bought
            .replace("{bought}", &bought.to_string())
            .replace("{target}", &target.to_string())
            .replace("{spent}", &spent.to_string())
            .replace("{budget}", &budget.to_string()),
        Bought::BudgetSpent { spent, budget } => words
            .budget_spent
            .replace("{spent}", &spent.to_string())
            .replace("{budget}", &budget.to_string()),
        Bought::Failed { bought, error, .. } => words
            .auto_buy_failed
            .replace("{bought}", &bought.to_string())
            .replace("{error}", error),
    };
    let intro = words
        .intro
        .replace("{country}", supply.country.as_str())
        .replace("{number_type}", supply.number_type.as_str())
        .replace("{available}", &supply.available.to_string())
        .replace("{low_water}", &policy.low_water.to_string());
    format!("{intro}\n\n{auto_buy}\n\n{}\n", words.advice)
}

/// The periodic look at the pool (every [`PERIOD`]), once per period across processes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LowWaterCheck {}

impl Job for LowWaterCheck {
    const KIND: &'static str = "pool.low_water";
    const MAX_ATTEMPTS: i64 = 3;

    async fn run(self, ctx: JobContext) -> Result<Option<serde_json::Value>, JobError> {
        let low = check(&ctx.app, ctx.now).await.map_err(JobError::retry)?;
        Ok(Some(serde_json::json!({ "low": low })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Catalogue, Language};

    #[test]
    fn the_body_says_what_auto_buy_did() {
        let words = &Catalogue::get(Language::Fr).pool_alert;
        let policy = LowWaterPolicy::default();
        let supply = PoolSupply {
            country: CountryIso::parse("FR").unwrap(),
            number_type: NumberType::Mobile,
            available: 3,
        };
        let off = text(words, &policy, &supply, &Bought::Off);
        assert!(off.contains("FR (mobile)"), "{off}");
        assert!(
            off.contains("3 numéro(s) disponible(s), sous le seuil de 10"),
            "{off}"
        );
        assert!(off.contains("désactivé"), "{off}");
        let spent = text(
            words,
            &policy,
            &supply,
            &Bought::BudgetSpent {
                spent: 20,
                budget: 20,
            },
        );
        assert!(spent.contains("aucun achat"), "{spent}");
        assert!(spent.contains("(20 sur 20)"), "{spent}");
    }

    #[test]
    fn the_budget_is_counted_per_utc_month() {
        let at: DateTime<Utc> = "2026-11-30T23:59:59Z".parse().unwrap();
        assert_eq!(budget_month(at), "2026-11");
        assert_eq!(budget_month(at + chrono::Duration::seconds(1)), "2026-12");
    }
}
