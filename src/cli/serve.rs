//! `proxycall serve` and `proxycall demo`: the server, and the server with a demo set-up.

use super::{Failure, usage};
use crate::app::{App, keys};
use crate::config::Settings;
use crate::domain::E164;
use crate::{demo, server, store};

pub async fn run(settings: Settings, demo_mode: bool) -> Result<(), Failure> {
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    // The demo refuses before touching anything: no migration of a database it will not use.
    if demo_mode {
        if settings.twilio.is_some() {
            return Err(usage(
                "the demo runs on the simulated carrier only: unset TWILIO_ACCOUNT_SID and \
                 TWILIO_AUTH_TOKEN (or use another shell), so that it never rents real numbers",
            ));
        }
        demo::accept_database(&settings.database_url).await?;
    }
    let store = store::connect(&settings.database_url).await?;
    let carrier = server::carrier(&settings, &store);
    let app = App::new(store, carrier);
    let demo_key = if demo_mode {
        Some(demo::prepare(&app).await?)
    } else {
        None
    };
    if settings.api_token.is_none() && !keys::any_usable(&app, chrono::Utc::now()).await? {
        return Err(usage(
            "no way to authenticate API requests: set PROXYCALL_API_TOKEN or create a key with \
             `proxycall keys create --name NAME --scopes admin`",
        ));
    }
    // The phone-number metadata loads on first use; load it now, not on a caller's request.
    let _ = E164::parse("+33612345678");
    let listener = crate::http::listen(settings.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    let address = listener.local_addr()?;
    let parts = server::assemble(settings, app.store.clone(), address).await?;
    tracing::info!(%address, carrier = parts.app.carrier.name(), public_url = %parts.app.routing.public_base_url, "ProxyCall listening");
    let base = parts.app.routing.public_base_url.clone();
    let token = parts.state.webhook_token.clone();
    let store = parts.app.store.clone();
    let running = tokio::spawn(server::run(listener, parts, shutdown_signal()));
    if let Some(key) = demo_key {
        demo::show(&base, &key, &token, store.as_ref()).await?;
    }
    running.await??;
    tracing::info!("ProxyCall stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM (what a platform sends before stopping the process).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
