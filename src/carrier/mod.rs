//! The carrier: whoever rents numbers and carries calls and texts. Twilio in production
//! (`twilio.rs`), or a simulation with the same interface (`simulated.rs`) for demos, laptops
//! and tests.

pub mod signature;
pub mod simulated;
pub mod twilio;

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{CountryIso, E164, NumberType};

/// What went wrong, sorted by what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CarrierError {
    /// The request may not have reached the carrier: try again later.
    #[error("carrier unreachable ({0})")]
    Network(String),
    /// 429 or Twilio code 20429: try again later.
    #[error("carrier rate limit reached")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx: the carrier failed; try again later.
    #[error("carrier error (HTTP {status})")]
    Server { status: u16 },
    /// Twilio code 20003, or 401.
    #[error("the carrier refused our credentials (check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)")]
    BadCredentials,
    /// Twilio code 21649: the bundle's regulation does not fit this number; try another.
    #[error("the regulatory bundle does not fit this number (Twilio 21649)")]
    BundleMismatch,
    /// Twilio code 21651: stop, the configuration is wrong.
    #[error(
        "the address is not attached to the bundle: check that TWILIO_ADDRESS_SID belongs to \
         TWILIO_BUNDLE_SID (Twilio 21651)"
    )]
    AddressNotInBundle,
    /// Any other refusal; never retried. The carrier's message is not kept: it may quote a
    /// phone number, and the code names the reason.
    #[error("carrier refused the request (HTTP {status}, code {})", code.map_or("none".into(), |c| c.to_string()))]
    Rejected { status: u16, code: Option<u32> },
    /// An answer we could not read.
    #[error("unexpected answer from the carrier ({0})")]
    Protocol(String),
}

impl CarrierError {
    /// Passing failures, worth retrying later: network, 429, 5xx. Never a 4xx.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Network(_) | Self::RateLimited { .. } | Self::Server { .. }
        )
    }

    /// A short stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Network(_) => "network",
            Self::RateLimited { .. } => "rate_limited",
            Self::Server { .. } => "server",
            Self::BadCredentials => "bad_credentials",
            Self::BundleMismatch => "bundle_mismatch",
            Self::AddressNotInBundle => "address_not_in_bundle",
            Self::Rejected { .. } => "rejected",
            Self::Protocol(_) => "protocol",
        }
    }
}

pub type CarrierResult<T> = Result<T, CarrierError>;

/// A new SID of Twilio's shape, e.g. `CA` + 32 hex digits.
pub fn sid(prefix: &str) -> String {
    use rand::RngExt;
    let mut bytes = [0u8; 16];
    rand::rng().fill(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// A number the carrier offers to rent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailableNumber {
    pub phone_number: E164,
    pub voice: bool,
    pub sms: bool,
}

/// A number the account rents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingNumber {
    pub sid: String,
    pub phone_number: E164,
    pub friendly_name: Option<String>,
    pub voice_url: Option<String>,
    pub voice_method: Option<String>,
    pub sms_url: Option<String>,
    pub sms_method: Option<String>,
    pub voice: bool,
    pub sms: bool,
}

#[derive(Debug, Clone)]
pub struct NumberSearch {
    pub country: CountryIso,
    pub number_type: NumberType,
    pub sms: bool,
    pub voice: bool,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct Purchase {
    pub phone_number: E164,
    pub voice_url: String,
    pub sms_url: String,
    pub friendly_name: String,
    pub address_sid: Option<String>,
    pub bundle_sid: Option<String>,
}

/// Where a number's calls and texts go; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookUpdate {
    pub voice_url: Option<String>,
    pub sms_url: Option<String>,
    pub friendly_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub sid: String,
    pub status: String,
    pub friendly_name: String,
}

#[async_trait]
pub trait Carrier: Send + Sync + 'static {
    /// `twilio` or `simulated`.
    fn name(&self) -> &'static str;
    /// Sends a text; returns its SID.
    async fn send_sms(
        &self,
        from: &E164,
        to: &E164,
        body: &str,
        status_callback: Option<&str>,
    ) -> CarrierResult<String>;
    /// Places a call that fetches its TwiML from `url` (POST); returns its SID.
    async fn place_call(&self, from: &E164, to: &E164, url: &str) -> CarrierResult<String>;
    async fn search_numbers(&self, search: &NumberSearch) -> CarrierResult<Vec<AvailableNumber>>;
    async fn buy_number(&self, purchase: &Purchase) -> CarrierResult<IncomingNumber>;
    /// Every number the account rents, all pages.
    async fn incoming_numbers(&self) -> CarrierResult<Vec<IncomingNumber>>;
    async fn update_number(
        &self,
        sid: &str,
        update: &WebhookUpdate,
    ) -> CarrierResult<IncomingNumber>;
    async fn release_number(&self, sid: &str) -> CarrierResult<()>;
    async fn account(&self) -> CarrierResult<Account>;
}
