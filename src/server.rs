//! Assembling a running ProxyCall from its settings: the carrier, the webhook token, the
//! HTTP server, the outbox workers and the retention purge. Shared by `proxycall serve` and
//! the tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;

use crate::app::{App, Routing};
use crate::carrier::Carrier;
use crate::carrier::simulated::SimulatedCarrier;
use crate::carrier::twilio::TwilioClient;
use crate::config::Settings;
use crate::http::{self, AppState};
use crate::outbox::Worker;
use crate::store::{Store, StoreResult};

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
    pub outbox_workers: usize,
    pub retention: chrono::Duration,
}

pub async fn assemble(
    settings: Settings,
    store: Arc<dyn Store>,
    address: SocketAddr,
) -> StoreResult<Parts> {
    let carrier = carrier(&settings, &store);
    let token = webhook_token(&settings, store.as_ref()).await?;
    let app = App::new(store).with_carrier(carrier).with_routing(Routing {
        allow_list: settings.allow_list.clone(),
        public_base_url: public_base_url(&settings, address),
    });
    Ok(Parts {
        outbox_workers: settings.outbox_workers,
        retention: settings.retention,
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
    for _ in 0..parts.outbox_workers {
        let worker = Worker::new(
            app.store.clone(),
            app.carrier.clone(),
            app.outbox_wake.clone(),
            Some(app.routing.sms_status_callback()),
        );
        workers.push(tokio::spawn(worker.run(stop_rx.clone())));
    }
    let purge = tokio::spawn(purge_old_interactions(
        app.clone(),
        parts.retention,
        stop_rx,
    ));
    let result = http::serve(listener, parts.state, shutdown).await;
    let _ = stop_tx.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    purge.abort();
    result
}

/// Deletes interactions past the retention period, hourly.
async fn purge_old_interactions(
    app: App,
    retention: chrono::Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        match app.store.purge_interactions(Utc::now() - retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "old interactions purged"),
            Err(e) => tracing::warn!(error = %e, "could not purge old interactions"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.changed() => return,
        }
    }
}
