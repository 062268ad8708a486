//! The carrier: whoever rents numbers and carries calls and texts. Twilio in production
//! (`twilio.rs`), or a simulation with the same interface (`simulated.rs`) for demos, laptops
//! and tests.

pub mod signature;
pub mod simulated;
pub mod twilio;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{CountryIso, E164, MediaUrl, NumberType};

/// What went wrong, sorted by what the caller can do about it. Serialisable: a pool
/// operation's job keeps the failure that ended it, for the route that waits for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum CarrierError {
    /// No connection was made (refused, DNS, TLS handshake): the request never reached the
    /// carrier. Try again later.
    #[error("carrier unreachable ({0})")]
    Unreachable(String),
    /// The exchange broke once connected (time-out, reset, an answer cut short): the request
    /// may have been carried out. A read can be tried again; a create's outcome is unknown.
    #[error("carrier connection failed ({0})")]
    Network(String),
    /// 429 or Twilio code 20429: nothing was done; try again later.
    #[error("carrier rate limit reached")]
    RateLimited { retry_after: Option<Duration> },
    /// 503 with `Retry-After`: the carrier turned the request away; try again then.
    #[error("carrier unavailable (HTTP 503)")]
    Unavailable { retry_after: Option<Duration> },
    /// Any other 5xx: the carrier failed, maybe after doing the work; try a read again later.
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
    /// An answer we could not read (for a create: a success we could not read).
    #[error("unexpected answer from the carrier ({0})")]
    Protocol(String),
}

/// What a failed create — a text or a call — says about whether it was carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFailure {
    /// Surely not: it may be sent again later.
    NotSent,
    /// Maybe: it must be settled before anything is sent again.
    Unknown,
    /// Refused (4xx): sending it again would not help.
    Refused,
}

impl CarrierError {
    /// Passing failures, worth retrying later: connection, 429, 5xx. Never a 4xx. For a read;
    /// a create asks `send_failure`.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable(_)
                | Self::Network(_)
                | Self::RateLimited { .. }
                | Self::Unavailable { .. }
                | Self::Server { .. }
        )
    }

    /// For a create: whether the text or call may have left. A time-out, a reset, a 5xx
    /// other than a 503 asking to come back, or a success we could not read may all follow
    /// the carrier's acceptance.
    pub fn send_failure(&self) -> SendFailure {
        match self {
            // A 401 took nothing: our token is wrong (a rotation half done, say) and the
            // messages wait for the operator to fix it, within the retry horizon.
            Self::Unreachable(_)
            | Self::RateLimited { .. }
            | Self::Unavailable { .. }
            | Self::BadCredentials => SendFailure::NotSent,
            Self::Network(_) | Self::Server { .. } | Self::Protocol(_) => SendFailure::Unknown,
            Self::BundleMismatch | Self::AddressNotInBundle | Self::Rejected { .. } => {
                SendFailure::Refused
            }
        }
    }

    /// When the carrier asked to be tried again, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Unavailable { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// A short stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unreachable(_) => "unreachable",
            Self::Network(_) => "network",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
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
    pub mms: bool,
    /// The carrier's own classification, when the listing gave one (its typed lists do:
    /// `Carrier::incoming_numbers_of_type`); never guessed from the number.
    pub number_type: Option<NumberType>,
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

/// A text the carrier holds as sent (or queued to be), as its list of messages shows it.
/// (`Debug` in `redact.rs`: the body is someone's text.)
#[derive(Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub sid: String,
    /// `None` or empty when the account redacts bodies.
    pub body: Option<String>,
    /// When the carrier created it; `None` when it did not say.
    pub created_at: Option<DateTime<Utc>>,
    /// The carrier's status: queued, sent, delivered, failed…
    pub status: Option<String>,
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
    /// Sends a text; returns its SID. Never retried inside: a failure's `send_failure` says
    /// whether it may have left.
    async fn send_sms(
        &self,
        from: &E164,
        to: &E164,
        body: &str,
        status_callback: Option<&str>,
    ) -> CarrierResult<String>;
    /// Sends a text with pictures (an MMS): the carrier fetches each of `media` (its own
    /// addresses, `domain::MediaUrl`) and sends them with `body`, which may be empty. As
    /// `send_sms` otherwise.
    async fn send_mms(
        &self,
        from: &E164,
        to: &E164,
        body: &str,
        media: &[MediaUrl],
        status_callback: Option<&str>,
    ) -> CarrierResult<String>;
    /// Places a call that fetches its TwiML from `url` (POST); returns its SID. Its status
    /// callbacks, if given, are POSTed to `status_callback`.
    async fn place_call(
        &self,
        from: &E164,
        to: &E164,
        url: &str,
        status_callback: Option<&str>,
    ) -> CarrierResult<String>;
    /// Texts sent from `from` to `to` created at or after `since` (the carrier's own
    /// filter may be coarser: callers check `created_at`), every page of them: how a send
    /// whose outcome is unknown is settled.
    async fn sent_messages(
        &self,
        from: &E164,
        to: &E164,
        since: DateTime<Utc>,
    ) -> CarrierResult<Vec<SentMessage>>;
    async fn search_numbers(&self, search: &NumberSearch) -> CarrierResult<Vec<AvailableNumber>>;
    async fn buy_number(&self, purchase: &Purchase) -> CarrierResult<IncomingNumber>;
    /// Every number the account rents, all pages.
    async fn incoming_numbers(&self) -> CarrierResult<Vec<IncomingNumber>>;
    /// The numbers the account rents that the carrier itself classes as `number_type` (Twilio's
    /// typed lists, `IncomingPhoneNumbers/Mobile.json` and `Local.json`), all pages, each with
    /// `number_type` set: how a sync learns a number's type without guessing it.
    async fn incoming_numbers_of_type(
        &self,
        number_type: NumberType,
    ) -> CarrierResult<Vec<IncomingNumber>>;
    async fn update_number(
        &self,
        sid: &str,
        update: &WebhookUpdate,
    ) -> CarrierResult<IncomingNumber>;
    async fn release_number(&self, sid: &str) -> CarrierResult<()>;
    async fn account(&self) -> CarrierResult<Account>;
    /// The audio (MP3) of recording `sid`, fetched with the account's credentials: what a
    /// voicemail's listen link serves, so that no public address of the carrier is handed out.
    async fn recording_audio(&self, sid: &str) -> CarrierResult<Vec<u8>>;
    /// Deletes recording `sid` at the carrier; one already gone counts as deleted.
    async fn delete_recording(&self, sid: &str) -> CarrierResult<()>;
}

/// Whether `sid` has the shape of a recording's SID (`RE` + 32 hex digits): checked before it
/// is put in a path.
pub fn is_recording_sid(sid: &str) -> bool {
    sid.len() == 34 && sid.starts_with("RE") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}
