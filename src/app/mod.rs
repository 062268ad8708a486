//! Use cases: what the HTTP handlers and the command line ask for, on domain types. This
//! layer decides; the store persists; neither knows about HTTP.

pub mod activation;
pub mod blocks;
pub mod clients;
pub mod dashboard;
pub mod gauges;
pub mod import;
pub mod jobs;
pub mod keys;
pub mod low_water;
pub mod operations;
pub mod operators;
pub mod orders;
pub mod outbox;
pub mod pool;
pub mod provision;
pub mod quiet_hours;
pub mod report;
pub mod routing;
pub mod sync;
pub mod voicemail;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::carrier::Carrier;
use crate::carrier::simulated::SimulatedCarrier;
use crate::domain::{AllowList, CountryIso, NumberType};
use crate::store::{OutboundKind, PoolStatus, Store, StoreError};

/// The application's shared handles.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub carrier: Arc<dyn Carrier>,
    pub routing: Arc<Routing>,
    /// Wakes the job workers when a job is enqueued (a relay to send).
    pub job_wake: Arc<Notify>,
    /// Decides and records webhooks in batches (`routing.rs`).
    pub routing_engine: Arc<routing::Engine>,
    /// How long sends keep trying, and when one in doubt is settled (`crate::outbox`).
    pub outbox: crate::outbox::Policy,
    /// Activation's codes, cascade and limits (`activation.rs`).
    pub activation: Arc<activation::Policy>,
    /// How long a number taken from a client is kept from the others
    /// (`PROXYCALL_POOL_COOLOFF_DAYS`).
    pub pool_cooloff: chrono::Duration,
    /// What e-mails are sent with (`crate::mail`); `None` without SMTP settings, and then no
    /// e-mail should be queued.
    pub mail: Option<Arc<crate::mail::Mail>>,
    /// `PROXYCALL_ALERT_EMAIL`: where the operator's e-mails go (the weekly report).
    pub alert_email: Option<crate::domain::Email>,
    /// The low pool's mark, alert and auto-buy (`low_water.rs`).
    pub low_water: Arc<low_water::LowWaterPolicy>,
    /// The overview chart's hours that are over, counted once (`dashboard.rs`).
    pub settled_hours: Arc<dashboard::SettledHours>,
    /// Missed calls, voicemail and the whisper (`voicemail.rs`).
    pub voicemail: Arc<voicemail::VoicemailPolicy>,
    /// API keys read in the last second (`keys.rs`).
    pub key_cache: Arc<keys::KeyCache>,
}

/// `PROXYCALL_POOL_COOLOFF_DAYS`'s default.
pub const DEFAULT_POOL_COOLOFF_DAYS: i64 = 30;

/// What routing needs to know about this deployment.
#[derive(Debug, Clone)]
pub struct Routing {
    /// The calling codes whose callers may use a proxy.
    pub allow_list: AllowList,
    /// Where Twilio reaches this server, without trailing `/`.
    pub public_base_url: String,
    /// Relays per sender and proxy, and per proxy, per hour (in this process).
    pub relay_limits: Arc<routing::RelayLimits>,
    /// Where the times callers hear and read are told.
    pub timezone: chrono_tz::Tz,
    /// How long a correspondent stays a recent contact of a client.
    pub contact_window: chrono::Duration,
    /// Clients choose whom to reach: `#?`, `#N`, `BLOQUER #N` and the call menu.
    pub contact_choice: bool,
    /// The unmasking guard and the opt-out keywords (`routing/guard.rs`, `keywords.rs`).
    pub guard: routing::GuardSettings,
    /// Pictures and bounces (`routing/relay.rs`).
    pub relay: routing::RelaySettings,
}

impl Default for Routing {
    fn default() -> Self {
        Self {
            allow_list: AllowList::default(),
            public_base_url: "http://127.0.0.1:8000".into(),
            relay_limits: Arc::default(),
            timezone: chrono_tz::Europe::Paris,
            contact_window: chrono::Duration::days(7),
            contact_choice: true,
            guard: routing::GuardSettings::default(),
            relay: routing::RelaySettings::default(),
        }
    }
}

impl Routing {
    /// Where the carrier reports on outbound message `id`: the id in the address (signed
    /// with it) is what settles a send whose outcome was unknown.
    pub fn status_callback(&self, kind: OutboundKind, id: i64) -> String {
        let path = match kind {
            OutboundKind::Sms => "/twilio/sms/status",
            OutboundKind::Call => "/twilio/voice/status",
        };
        format!("{}{path}?outbound_id={id}", self.public_base_url)
    }
}

impl App {
    /// An application on `store` and `carrier`, with default routing. The carrier is always
    /// chosen by the caller (`server::carrier` builds it from the settings): nothing falls back
    /// to the simulated carrier behind the operator's back.
    pub fn new(store: Arc<dyn Store>, carrier: Arc<dyn Carrier>) -> Self {
        let routing = Arc::new(Routing::default());
        let job_wake = Arc::new(Notify::new());
        Self {
            carrier,
            routing_engine: Arc::new(routing::engine(
                store.clone(),
                routing.clone(),
                job_wake.clone(),
            )),
            store,
            routing,
            job_wake,
            outbox: crate::outbox::Policy::default(),
            activation: Arc::new(activation::Policy::default()),
            pool_cooloff: chrono::Duration::days(DEFAULT_POOL_COOLOFF_DAYS),
            mail: None,
            alert_email: None,
            low_water: Arc::default(),
            settled_hours: Arc::default(),
            voicemail: Arc::default(),
            key_cache: Arc::default(),
        }
    }

    /// An application whose carrier is the simulated one, said so by name: tests and tools.
    pub fn simulated(store: Arc<dyn Store>) -> Self {
        Self::new(store.clone(), Arc::new(SimulatedCarrier::new(store)))
    }

    /// This application with another routing engine (tests: one whose batches panic).
    pub fn with_engine(mut self, engine: routing::Engine) -> Self {
        self.routing_engine = Arc::new(engine);
        self
    }

    pub fn with_outbox(mut self, policy: crate::outbox::Policy) -> Self {
        self.outbox = policy;
        self
    }

    pub fn with_activation(mut self, policy: activation::Policy) -> Self {
        self.activation = Arc::new(policy);
        self
    }

    pub fn with_pool_cooloff(mut self, cooloff: chrono::Duration) -> Self {
        self.pool_cooloff = cooloff;
        self
    }

    pub fn with_mail(mut self, mail: Option<crate::mail::Mail>) -> Self {
        self.mail = mail.map(Arc::new);
        self
    }

    pub fn with_alert_email(mut self, to: Option<crate::domain::Email>) -> Self {
        self.alert_email = to;
        self
    }

    pub fn with_low_water(mut self, policy: low_water::LowWaterPolicy) -> Self {
        self.low_water = Arc::new(policy);
        self
    }

    pub fn with_voicemail(mut self, policy: voicemail::VoicemailPolicy) -> Self {
        self.voicemail = Arc::new(policy);
        self
    }

    pub fn with_routing(mut self, routing: Routing) -> Self {
        self.routing = Arc::new(routing);
        self.routing_engine = Arc::new(routing::engine(
            self.store.clone(),
            self.routing.clone(),
            self.job_wake.clone(),
        ));
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// Input that parsed but cannot be used (e.g. no country can be derived).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{message}")]
    Conflict { kind: ConflictKind, message: String },
    /// The carrier has no number to sell: why, per number type.
    #[error("{message}")]
    NoNumbers {
        message: String,
        reasons: BTreeMap<&'static str, String>,
    },
    #[error("no available number for {country} ({wanted})")]
    PoolExhausted {
        country: CountryIso,
        wanted: String,
        available: PoolBreakdown,
    },
    /// Over a limit on requests (`code` names which, e.g. `COOLDOWN`).
    #[error("too many requests ({code})")]
    TooManyRequests {
        code: &'static str,
        retry_after: std::time::Duration,
    },
    /// The carrier refused or failed, in a way retrying now would not mend.
    #[error(transparent)]
    Carrier(#[from] crate::carrier::CarrierError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type AppResult<T> = Result<T, AppError>;

/// Which rule a conflicting request broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictKind {
    /// The order id is recorded for another client.
    OrderConflict,
    ClientExists,
    /// The proxy belongs to another client.
    ProxyTaken,
    /// The number is in the pool already.
    NumberExists,
    /// No offered number fits the regulatory bundle.
    BundleMismatch,
    /// The activation no longer waits for a code.
    NotPending,
    /// The `pending_id` names another activation.
    PendingIdTaken,
}

/// Available numbers of one country by type, with the total: what an operator needs to see
/// when the pool cannot serve a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PoolBreakdown {
    #[serde(flatten)]
    pub by_type: BTreeMap<&'static str, i64>,
    pub total: i64,
}

impl PoolBreakdown {
    pub async fn available(store: &dyn Store, country: CountryIso) -> AppResult<Self> {
        let mut by_type: BTreeMap<&'static str, i64> =
            NumberType::ALL.iter().map(|t| (t.as_str(), 0)).collect();
        for c in store.pool_counts().await? {
            if c.country_iso == country && c.status == PoolStatus::Available {
                *by_type.entry(c.number_type.as_str()).or_default() += c.count;
            }
        }
        let total = by_type.values().sum();
        Ok(Self { by_type, total })
    }
}

pub(crate) async fn pool_exhausted(
    store: &dyn Store,
    country: CountryIso,
    types: &[NumberType],
) -> AppError {
    let wanted: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    match PoolBreakdown::available(store, country).await {
        Ok(available) => AppError::PoolExhausted {
            country,
            wanted: wanted.join(" or "),
            available,
        },
        Err(e) => e,
    }
}
