//! What the operator's overview shows (issue 10): the pool against its low-water mark, calls
//! and texts per hour over the last 7 days by outcome, the activation funnel, and the queues'
//! health. Counted by the database; shaped here for the page.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::{App, AppResult};
use crate::domain::{ActivationStatus, CountryIso, NumberTypeFilter, PendingId};
use crate::store::{
    Funnel, InteractionFilter, Job, ListedActivation, ListedInteraction, PoolNumber, PoolStatus,
    Queues,
};

/// How far back the chart and the funnel look.
pub const WINDOW_DAYS: i64 = 7;

/// The pool of one country and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolLine {
    pub country: String,
    pub number_type: String,
    /// Numbers per status (every status, 0 when none).
    pub by_status: Vec<(PoolStatus, i64)>,
    pub available: i64,
    /// Fewer available than the low-water mark.
    pub low: bool,
}

/// One hour of the chart: its start, and per channel the interactions by outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hour {
    pub start: DateTime<Utc>,
    pub voice: BTreeMap<String, i64>,
    pub sms: BTreeMap<String, i64>,
}

#[derive(Debug, Clone)]
pub struct Overview {
    pub now: DateTime<Utc>,
    pub low_water: i64,
    pub pool: Vec<PoolLine>,
    /// Every hour of the window, oldest first, the current one last (empty ones too).
    pub hours: Vec<Hour>,
    pub funnel: Funnel,
    pub queues: Queues,
}

/// The chart's hours that are over. Interactions are recorded when they happen, so an hour
/// before the last one never changes again: each process counts it once and keeps it, and the
/// overview reads only the last two hours from the database (a 7-day scan of a busy
/// interactions table costs hundreds of milliseconds; two hours cost one or two).
#[derive(Debug, Default)]
pub struct SettledHours(Mutex<BTreeMap<DateTime<Utc>, Hour>>);

impl SettledHours {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<DateTime<Utc>, Hour>> {
        // A panic elsewhere left a map of whole hours: still good to read.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Every hour from `from` to `to` (exclusive), with the interactions the store counts there.
async fn count_hours(app: &App, from: DateTime<Utc>, to: DateTime<Utc>) -> AppResult<Vec<Hour>> {
    let counts = app.store.hourly_interactions(from, to).await?;
    let mut hours: Vec<Hour> = (0..(to - from).num_hours())
        .map(|i| Hour {
            start: from + Duration::hours(i),
            voice: BTreeMap::new(),
            sms: BTreeMap::new(),
        })
        .collect();
    let index: HashMap<String, usize> = hours
        .iter()
        .enumerate()
        .map(|(i, h)| (hour_key(h.start), i))
        .collect();
    for c in counts {
        let Some(hour) = index.get(&c.hour).map(|&i| &mut hours[i]) else {
            continue;
        };
        let channel = if c.channel == "voice" {
            &mut hour.voice
        } else {
            &mut hour.sms
        };
        *channel.entry(c.outcome).or_default() += c.count;
    }
    Ok(hours)
}

/// The window's hours, oldest first: the settled ones from `app.settled_hours` (counting
/// those it lacks), the last two from the database.
async fn chart_hours(app: &App, this_hour: DateTime<Utc>) -> AppResult<Vec<Hour>> {
    let from = this_hour - Duration::hours(24 * WINDOW_DAYS - 1);
    let settled_until = this_hour - Duration::hours(1);
    let first_missing = {
        let settled = app.settled_hours.lock();
        (0..(settled_until - from).num_hours())
            .map(|i| from + Duration::hours(i))
            .find(|h| !settled.contains_key(h))
    };
    if let Some(first) = first_missing {
        let counted = count_hours(app, first, settled_until).await?;
        let mut settled = app.settled_hours.lock();
        settled.extend(counted.into_iter().map(|h| (h.start, h)));
    }
    let mut hours: Vec<Hour> = {
        let mut settled = app.settled_hours.lock();
        // Hours that left the window go; so does any "future" a clock change left behind.
        settled.retain(|start, _| (from..settled_until).contains(start));
        settled.values().cloned().collect()
    };
    if hours.len() as i64 != (settled_until - from).num_hours() {
        // Another overview asked at a very different time trimmed the map meanwhile.
        hours = count_hours(app, from, settled_until).await?;
    }
    hours.extend(count_hours(app, settled_until, this_hour + Duration::hours(1)).await?);
    Ok(hours)
}

pub async fn overview(app: &App, now: DateTime<Utc>, low_water: i64) -> AppResult<Overview> {
    let this_hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    Ok(Overview {
        now,
        low_water,
        pool: pool_lines(app, low_water).await?,
        hours: chart_hours(app, this_hour).await?,
        funnel: app
            .store
            .activation_funnel(now - Duration::days(WINDOW_DAYS))
            .await?,
        queues: app.store.queues(now).await?,
    })
}

/// A page of the pool's numbers, by id, after `after` (0 for the first), with their ids.
pub async fn pool_page(
    app: &App,
    country: Option<CountryIso>,
    filter: NumberTypeFilter,
    status: Option<PoolStatus>,
    after: i64,
    limit: i64,
) -> AppResult<Vec<(i64, PoolNumber)>> {
    Ok(app
        .store
        .pool_page(country, filter, status, after, limit)
        .await?)
}

/// A job, for its page.
pub async fn job(app: &App, id: i64) -> AppResult<Option<Job>> {
    Ok(app.store.job(id).await?)
}

/// The key the store gives an hour: `YYYY-MM-DDTHH`, UTC.
fn hour_key(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H").to_string()
}

async fn pool_lines(app: &App, low_water: i64) -> AppResult<Vec<PoolLine>> {
    let mut lines: BTreeMap<(String, String), BTreeMap<PoolStatus, i64>> = BTreeMap::new();
    for c in app.store.pool_counts().await? {
        lines
            .entry((c.country_iso.to_string(), c.number_type.as_str().to_owned()))
            .or_default()
            .insert(c.status, c.count);
    }
    Ok(lines
        .into_iter()
        .map(|((country, number_type), counts)| {
            let available = counts.get(&PoolStatus::Available).copied().unwrap_or(0);
            PoolLine {
                country,
                number_type,
                by_status: PoolStatus::ALL
                    .iter()
                    .map(|s| (*s, counts.get(s).copied().unwrap_or(0)))
                    .collect(),
                available,
                low: available < low_water,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_hour_key_is_the_one_both_engines_group_by() {
        let t = Utc.with_ymd_and_hms(2026, 11, 30, 7, 59, 59).unwrap();
        assert_eq!(hour_key(t), "2026-11-30T07");
    }
}

/// The channel an activation's cascade reached: the code by SMS, a call, or the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Sms,
    Call,
    Link,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Call => "call",
            Self::Link => "link",
        }
    }

    /// A waiting activation's status says it; one that ended keeps the traces of its steps
    /// (a link issued, a call answered), the furthest of which is its stage.
    pub fn of(listed: &ListedActivation) -> Self {
        let a = &listed.activation;
        match a.status {
            ActivationStatus::Pending => Self::Sms,
            ActivationStatus::PendingCall => Self::Call,
            ActivationStatus::PendingMail => Self::Link,
            _ if listed.link_sent => Self::Link,
            _ if a.call_sid.is_some() => Self::Call,
            _ => Self::Sms,
        }
    }
}

/// A page of the activations, newest first, after the activation `after`.
pub async fn activations_page(
    app: &App,
    status: Option<ActivationStatus>,
    after: Option<&PendingId>,
    limit: i64,
) -> AppResult<Vec<ListedActivation>> {
    Ok(app.store.activation_page(status, after, limit).await?)
}

/// How many activations are in each status the store knows (0 for none), in their order.
pub async fn activation_counts(app: &App) -> AppResult<Vec<(ActivationStatus, i64)>> {
    let stored: BTreeMap<String, i64> = app.store.activation_counts().await?.into_iter().collect();
    Ok(ActivationStatus::ALL
        .into_iter()
        .map(|s| (s, stored.get(s.as_str()).copied().unwrap_or(0)))
        .collect())
}

/// A page of the interactions `filter` keeps, newest first, before the interaction `before`.
pub async fn interactions_page(
    app: &App,
    filter: &InteractionFilter,
    before: Option<i64>,
    limit: i64,
) -> AppResult<Vec<ListedInteraction>> {
    Ok(app.store.interaction_page(filter, before, limit).await?)
}

/// One activation, for its page.
pub async fn activation(app: &App, id: &PendingId) -> AppResult<Option<crate::store::Activation>> {
    Ok(app.store.activation(id).await?)
}
