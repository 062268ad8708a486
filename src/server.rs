//! Assembling a running ProxyCall from its settings: the carrier, the webhook token, the
//! HTTP server, the job workers and the periodic jobs. Shared by `proxycall serve` and
//! the tests.

use std::net::SocketAddr;
use std::sync::Arc;

use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;

use crate::app::activation::{self, CodeKey};
use crate::app::routing::GuardSettings;
use crate::app::routing::{RelayLimits, RelaySettings};
use crate::app::{App, Routing};
use crate::carrier::Carrier;
use crate::carrier::simulated::SimulatedCarrier;
use crate::carrier::twilio::TwilioClient;
use crate::config::Settings;
use crate::http::{self, AppState};
use crate::jobs::{self, Registry, Worker};
use crate::mail::Mail;
use crate::store::{Store, StoreError, StoreResult};

/// The name under which the simulated carrier's signing token is kept.
pub const SIMULATED_TOKEN: &str = "simulated_auth_token";

pub fn carrier(settings: &Settings, store: &Arc<dyn Store>) -> Arc<dyn Carrier> {
    match &settings.twilio {
        Some(t) => Arc::new(TwilioClient::new(
            &t.api_base,
            &t.account_sid,
            SecretString::from(t.auth_token.expose_secret().to_owned()),
        )),
        None => Arc::new(SimulatedCarrier::new(store.clone())),
    }
}

/// Where the pictures of an MMS must be kept: Twilio's API, or `TWILIO_API_BASE` (a test
/// double's).
fn media_origin(settings: &Settings) -> crate::domain::MediaOrigin {
    settings
        .twilio
        .as_ref()
        .and_then(|t| crate::domain::MediaOrigin::parse(&t.api_base))
        .unwrap_or_default()
}

/// Twilio's auth token, or with the simulated carrier and no token given, one made on first
/// start and kept in the database, where `proxycall simulate` finds it.
pub async fn webhook_token(settings: &Settings, store: &dyn Store) -> StoreResult<SecretString> {
    if let Some(token) = &settings.webhook_auth_token {
        return Ok(SecretString::from(token.expose_secret().to_owned()));
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    let token = store.secret(SIMULATED_TOKEN, &hex::encode(bytes)).await?;
    Ok(SecretString::from(token))
}

/// The name under which the key of activation codes is kept when `PROXYCALL_OTP_SECRET` is
/// not set.
pub const OTP_KEY: &str = "otp_hmac_key";

/// `PROXYCALL_OTP_SECRET`, or a key made on first start and kept in the database, so that
/// every process hashes codes alike.
pub async fn otp_key(settings: &Settings, store: &dyn Store) -> StoreResult<CodeKey> {
    if let Some(secret) = &settings.otp.secret {
        return Ok(CodeKey::new(secret.expose_secret().as_bytes()));
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    let key = store.secret(OTP_KEY, &hex::encode(bytes)).await?;
    Ok(CodeKey::new(key.as_bytes()))
}

/// `PUBLIC_BASE_URL`, or where this server listens.
pub fn public_base_url(settings: &Settings, address: SocketAddr) -> String {
    settings.public_base_url.clone().unwrap_or_else(|| {
        let host = if address.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            address.ip().to_string()
        };
        format!("http://{host}:{}", address.port())
    })
}

/// Everything a running server is made of.
pub struct Parts {
    pub app: App,
    pub state: AppState,
    /// Job workers in this process.
    pub job_workers: usize,
    /// The kinds of job this process runs, periodic ones included.
    pub jobs: Arc<Registry>,
}

/// Why a server could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Mail(#[from] crate::mail::MailError),
}

pub async fn assemble(
    settings: Settings,
    store: Arc<dyn Store>,
    address: SocketAddr,
) -> Result<Parts, AssembleError> {
    let carrier = carrier(&settings, &store);
    let store_for_key = store.clone();
    let mail = settings.smtp.as_ref().map(Mail::smtp).transpose()?;
    let token = webhook_token(&settings, store.as_ref()).await?;
    let app = App::new(store, carrier)
        .with_routing(Routing {
            allow_list: settings.allow_list.clone(),
            public_base_url: public_base_url(&settings, address),
            relay_limits: Arc::new(RelayLimits::per_hour(
                settings.relay_limit_per_sender_hour,
                settings.relay_limit_per_proxy_hour,
            )),
            timezone: settings.timezone,
            contact_window: settings.contact_window,
            contact_choice: settings.contact_choice,
            guard: GuardSettings::new(
                settings.unmask_policy,
                settings.opt_out.clone(),
                settings.language,
            ),
            relay: RelaySettings {
                media_origin: media_origin(&settings),
                words: &crate::messages::Catalogue::get(settings.language).relay,
                bounce: settings.bounce_failed_texts,
                pictures: settings.relay_pictures,
            },
        })
        .with_outbox(crate::outbox::Policy {
            retry_horizon: settings.outbox_retry_horizon,
            settle_grace: settings.outbox_settle_grace,
            send_concurrency: settings.send_concurrency,
        })
        .with_activation(activation::Policy::from_settings(
            &settings.otp,
            settings.language,
            otp_key(&settings, store_for_key.as_ref()).await?,
            settings.default_country,
            settings.default_number_type,
        ))
        .with_mail(mail)
        .with_pool_cooloff(settings.pool_cooloff)
        .with_alert_email(settings.alert_email.clone())
        .with_low_water(settings.low_water.clone())
        .with_voicemail(settings.voicemail.clone());
    Ok(Parts {
        job_workers: settings.job_workers,
        jobs: Arc::new(jobs::registry(settings.retention.num_days())),
        state: AppState::new(app.clone(), settings, token),
        app,
    })
}

/// Serves until `shutdown` resolves; then stops taking requests and messages, and lets those
/// in flight finish.
pub async fn run(
    listener: tokio::net::TcpListener,
    parts: Parts,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let app = &parts.app;
    let mut workers = Vec::new();
    // One worker, cloned: its clones share the process's limit of jobs at once.
    let worker = Worker::new(app.clone(), parts.jobs.clone());
    for _ in 0..parts.job_workers {
        workers.push(tokio::spawn(worker.clone().run(stop_rx.clone())));
    }
    // Periodic jobs are enqueued by every process and stored once; a process without
    // workers still enqueues them, for the others.
    let scheduler = tokio::spawn(jobs::schedule::run(
        app.clone(),
        parts.jobs.clone(),
        stop_rx,
    ));
    let result = http::serve(listener, parts.state, shutdown).await;
    let _ = stop_tx.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    let _ = scheduler.await;
    result
}
