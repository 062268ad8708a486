//! What the simulated carrier keeps: the numbers it "rents", so that a restart keeps them, and
//! what it delivered (`simulated_deliveries`, written by `RoutingStore::record_simulated_delivery`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{SimulatedDelivery, StoreResult};
use crate::domain::E164;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedNumber {
    pub sid: String,
    pub phone_number: E164,
    pub friendly_name: Option<String>,
    pub voice_url: Option<String>,
    pub sms_url: Option<String>,
    pub voice: bool,
    pub sms: bool,
    pub bought_at: DateTime<Utc>,
}

#[async_trait]
pub trait SimulatedStore {
    /// `false` when the number is rented already.
    async fn add_simulated_number(&self, number: &SimulatedNumber) -> StoreResult<bool>;
    async fn simulated_numbers(&self) -> StoreResult<Vec<SimulatedNumber>>;
    /// Sets the given fields of number `sid`; `None` when there is no such number.
    async fn update_simulated_number(
        &self,
        sid: &str,
        voice_url: Option<&str>,
        sms_url: Option<&str>,
        friendly_name: Option<&str>,
    ) -> StoreResult<Option<SimulatedNumber>>;
    /// `false` when there is no such number.
    async fn remove_simulated_number(&self, sid: &str) -> StoreResult<bool>;
    /// Texts delivered from `from` to `to` at or after `since`, oldest first: what the
    /// simulated carrier lists as sent, as Twilio lists its messages.
    async fn simulated_texts_between(
        &self,
        from: &E164,
        to: &E164,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<SimulatedDelivery>>;
    /// Deletes deliveries older than `before` (they hold texts); returns how many.
    async fn purge_simulated_deliveries(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}
