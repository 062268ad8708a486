//! The low pool's watch (issue 9 item 8, `app::low_water`): how many numbers each country and
//! type can hand out now, when the operator was last alerted about each, and the numbers
//! bought automatically per calendar month — reserved in the database before buying, so that
//! processes deciding at the same time never spend more than the month's budget together.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{NewEmail, StoreResult};
use crate::domain::{CountryIso, NumberType};

/// A country and type the pool holds (numbers not released), and how many of its numbers a
/// client could be given now: available, not cooling off, no client's proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSupply {
    pub country: CountryIso,
    pub number_type: NumberType,
    pub available: i64,
}

#[async_trait]
pub trait LowWaterStore {
    /// Every country and type the pool holds, with what it can hand out at `now`.
    async fn pool_supply(&self, now: DateTime<Utc>) -> StoreResult<Vec<PoolSupply>>;
    /// Writes the alert `email` about `country` and `number_type` (with its send job) and
    /// records `now` as the alert's time, in one transaction — unless an alert about them was
    /// recorded after `quiet_since`. Returns the e-mail's id when it was written.
    async fn record_pool_alert(
        &self,
        country: CountryIso,
        number_type: NumberType,
        email: &NewEmail,
        now: DateTime<Utc>,
        quiet_since: DateTime<Utc>,
    ) -> StoreResult<Option<i64>>;
    /// Reserves up to `wanted` numbers of `month`'s budget (`YYYY-MM`), which allows `budget`
    /// in all; returns how many were granted (0 when it is spent). Each grant is a conditional
    /// update (`spent + n <= budget`), so that concurrent reservations never exceed it.
    async fn reserve_auto_buy(
        &self,
        month: &str,
        wanted: i64,
        budget: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<i64>;
    /// Gives back `n` reserved but not bought.
    async fn release_auto_buy(&self, month: &str, n: i64, now: DateTime<Utc>) -> StoreResult<()>;
    /// What `month` has spent (reserved and not given back).
    async fn auto_buy_spent(&self, month: &str) -> StoreResult<i64>;
}
