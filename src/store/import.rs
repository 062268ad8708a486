//! The import from the Google Sheets version: rows already parsed and checked by
//! `app::import`, written in one transaction, each only when absent.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{PoolStatus, StoreResult};
use crate::domain::{
    ActivationStatus, ClientId, ClientName, CountryIso, E164, Email, NumberType, PendingId,
};

#[derive(Debug, Clone)]
pub struct ImportClient {
    pub id: ClientId,
    pub name: ClientName,
    pub mail: Email,
    pub real_phone: E164,
    pub proxy: Option<E164>,
    pub iso_residency: Option<CountryIso>,
    pub country_code: Option<String>,
    pub last_caller: Option<E164>,
}

#[derive(Debug, Clone)]
pub struct ImportPoolNumber {
    pub phone_number: E164,
    pub country_iso: CountryIso,
    pub number_type: NumberType,
    pub status: PoolStatus,
    pub friendly_name: Option<String>,
    pub purchased_at: Option<DateTime<Utc>>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub attribution_to_client_name: Option<String>,
    pub reserved_token: Option<String>,
    pub reserved_at: Option<DateTime<Utc>>,
    /// Column K: the owner of an assigned or draining number, the holder of a reservation.
    pub holder: Option<ClientId>,
}

#[derive(Debug, Clone)]
pub struct ImportActivation {
    pub pending_id: PendingId,
    pub name: ClientName,
    pub mail: Email,
    pub phone: E164,
    pub country: CountryIso,
    pub number_type: NumberType,
    pub proxy: E164,
    /// Whether the pool holds `proxy` reserved under this activation's id.
    pub reserved: bool,
    pub status: ActivationStatus,
    pub created_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default)]
pub struct ImportSet {
    pub clients: Vec<ImportClient>,
    pub pool: Vec<ImportPoolNumber>,
    pub activations: Vec<ImportActivation>,
}

/// Per sheet: rows written, and rows whose key (client id, number, pending id) was already
/// stored and were left as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportCount {
    pub imported: u64,
    pub already_present: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportCounts {
    pub clients: ImportCount,
    pub pool: ImportCount,
    pub pending: ImportCount,
}

#[async_trait]
pub trait ImportStore {
    /// Writes every row whose key is absent, in one transaction; with `dry_run` the
    /// transaction is rolled back, so the counts are those a real run would give. A proxy
    /// that another stored client already has fails the whole set (`Conflict::ProxyTaken`).
    async fn import_sheets(&self, set: &ImportSet, dry_run: bool) -> StoreResult<ImportCounts>;
}
