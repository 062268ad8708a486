//! What the store reads and writes, in domain types.

use chrono::{DateTime, Utc};

use crate::domain::{ClientId, ClientName, CountryIso, E164, Email, NumberType, OrderId, Scopes};

#[derive(Debug, Clone)]
pub struct Client {
    pub id: ClientId,
    pub name: ClientName,
    pub mail: Email,
    pub real_phone: E164,
    pub proxy: Option<E164>,
    pub iso_residency: Option<CountryIso>,
    /// Calling code of the real phone, e.g. `+33`.
    pub country_code: Option<String>,
    pub last_caller: Option<E164>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewClient {
    pub id: ClientId,
    pub name: ClientName,
    pub mail: Email,
    pub real_phone: E164,
    pub iso_residency: Option<CountryIso>,
    pub country_code: Option<String>,
}

/// A partial update; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    pub name: Option<ClientName>,
    pub mail: Option<Email>,
    pub real_phone: Option<E164>,
    pub proxy: Option<E164>,
    /// Set by the use case when the real phone changes, never from input.
    pub country_code: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: OrderId,
    pub client_id: ClientId,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PoolStatus {
    Available,
    Reserved,
    Assigned,
    Released,
}

impl PoolStatus {
    pub const ALL: [PoolStatus; 4] = [
        PoolStatus::Available,
        PoolStatus::Reserved,
        PoolStatus::Assigned,
        PoolStatus::Released,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Reserved => "reserved",
            Self::Assigned => "assigned",
            Self::Released => "released",
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
    /// The client holding the number: its owner once assigned (column K of the legacy sheet).
    pub reserved_by_client_id: Option<ClientId>,
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

/// An API key as stored: never the key itself, only its SHA-256.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub scopes: Scopes,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: String,
    pub name: String,
    pub hash: String,
    pub scopes: Scopes,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}
