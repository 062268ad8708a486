//! The pool of numbers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::{ClientId, CountryIso, E164, NumberType, NumberTypeFilter};

/// What to take from the pool: the first available number of the country, trying the types
/// in order (mobile first, local as fall-back, for instance).
#[derive(Debug, Clone)]
pub struct ProxyPick {
    pub country: CountryIso,
    pub types: Vec<NumberType>,
    pub attribution_name: String,
    pub friendly_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PoolStatus {
    Available,
    Reserved,
    Assigned,
    /// Its client keeps it, no new client gets it, until it is released (issue 9 item 6; a
    /// legacy `error` row).
    Draining,
    Released,
    /// The carrier no longer lists it (`POST /pool/sync`): never handed out; its client keeps
    /// its row, for an operator to see; a sync that finds it listed again restores it.
    Missing,
}

impl PoolStatus {
    pub const ALL: [PoolStatus; 6] = [
        PoolStatus::Available,
        PoolStatus::Reserved,
        PoolStatus::Assigned,
        PoolStatus::Draining,
        PoolStatus::Released,
        PoolStatus::Missing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Reserved => "reserved",
            Self::Assigned => "assigned",
            Self::Draining => "draining",
            Self::Released => "released",
            Self::Missing => "missing",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone)]
pub struct PoolNumber {
    pub phone_number: E164,
    pub twilio_sid: Option<String>,
    pub country_iso: CountryIso,
    pub number_type: NumberType,
    pub voice_capable: bool,
    pub sms_capable: bool,
    pub status: PoolStatus,
    pub friendly_name: Option<String>,
    pub purchased_at: Option<DateTime<Utc>>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub attribution_to_client_name: Option<String>,
    pub reserved_token: Option<String>,
    pub reserved_at: Option<DateTime<Utc>>,
    /// The client a `reserved` number is held for while they activate.
    pub reserved_by_client_id: Option<ClientId>,
    /// The client an `assigned` number belongs to.
    pub owner_client_id: Option<ClientId>,
}

impl PoolNumber {
    /// The client holding the number, owner or reservation: column K of the legacy sheet.
    pub fn holder(&self) -> Option<ClientId> {
        match self.status {
            PoolStatus::Assigned | PoolStatus::Draining => self.owner_client_id,
            PoolStatus::Reserved => self.reserved_by_client_id,
            // Whoever held it when the carrier stopped listing it.
            PoolStatus::Missing => self.owner_client_id.or(self.reserved_by_client_id),
            PoolStatus::Available | PoolStatus::Released => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewPoolNumber {
    pub phone_number: E164,
    pub twilio_sid: Option<String>,
    pub country_iso: CountryIso,
    pub number_type: NumberType,
    pub voice_capable: bool,
    pub sms_capable: bool,
    pub friendly_name: Option<String>,
    pub purchased_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolCount {
    pub country_iso: CountryIso,
    pub number_type: NumberType,
    pub status: PoolStatus,
    pub count: i64,
}

#[async_trait]
pub trait PoolStore {
    async fn add_pool_number(&self, number: &NewPoolNumber) -> StoreResult<PoolNumber>;
    async fn pool_number(&self, number: &E164) -> StoreResult<Option<PoolNumber>>;
    async fn pool_numbers(
        &self,
        country: Option<CountryIso>,
        filter: NumberTypeFilter,
        status: Option<PoolStatus>,
    ) -> StoreResult<Vec<PoolNumber>>;
    /// Up to `limit` numbers after the id `after` (0 for the first page), by id, with their
    /// ids: the dashboard's pages (keyset, so a page costs the same wherever it is).
    async fn pool_page(
        &self,
        country: Option<CountryIso>,
        filter: NumberTypeFilter,
        status: Option<PoolStatus>,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<(i64, PoolNumber)>>;
    /// Counts per country, type and status, for metrics and the "pool is empty" answers.
    async fn pool_counts(&self) -> StoreResult<Vec<PoolCount>>;
    /// Marks `number` released (given back to the carrier), unless it is held — assigned to a
    /// client or reserved for an activation — and `force` is not set. Forced, its client loses
    /// it as their proxy. Returns the number as it was, or `None` when it is not in the pool.
    async fn mark_released(
        &self,
        number: &E164,
        force: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<PoolNumber>>;
    /// Flags `number` `missing` (the carrier no longer lists it), whatever holds it, unless it
    /// is released or flagged already: `true` when this call flagged it. Its client keeps it.
    async fn flag_missing(&self, number: &E164) -> StoreResult<bool>;
    /// Restores a `missing` number the carrier lists again: `assigned` when a client still
    /// has it as their proxy, else `available` (a reservation it had is dropped). The number
    /// as restored, or `None` when it was not missing.
    async fn restore_missing(&self, number: &E164) -> StoreResult<Option<PoolNumber>>;
    /// Drains `number` (`available` or `assigned` → `draining`: its client keeps it, no new
    /// client gets it), or with `undo` gives a draining one back (to `assigned` when it has
    /// a client, else `available`). `false` when its status did not allow it.
    async fn set_draining(&self, number: &E164, undo: bool) -> StoreResult<bool>;
    /// Atomically marks the first fitting available number as assigned to `client`.
    async fn assign_from_pool(
        &self,
        client: ClientId,
        pick: &ProxyPick,
    ) -> StoreResult<Option<PoolNumber>>;
}
