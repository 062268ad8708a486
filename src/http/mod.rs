//! The HTTP edge: routes, extractors, the error mapping and the layers every request crosses.
//!
//! A connection is accepted by `connections` (header and idle time-outs, a cap). A request
//! goes: `request_id::vet` (a caller's id only if UUID-shaped) → request id → gzip →
//! `observe` (span with the request id and, once known, the key id; metrics with bounded
//! labels; one debug line) → time-out → router → `access::only_declared` (the route stated who
//! may call it) → for business routes `auth::require_key` (the key, then the per-key limit, or
//! for a refusal the per-address limit of `limits`; the scope the route's module stated), for
//! webhooks `twilio::SignedForm` (signature; a refusal spends the per-address limit) → handler
//! (parses input into domain types) → `app` use case → store.

mod access;
mod address;
mod admin;
mod auth;
#[cfg(feature = "bench")]
mod bench;
mod blocks;
pub mod chart;
mod clients;
mod confirmations;
mod connections;
mod contact_text;
mod docs;
pub mod error;
mod extract;
mod jobs;
mod legacy;
mod limits;
mod observe;
mod openapi;
mod ops;
mod orders;
mod pages;
mod pool;
mod quiet_hours;
mod reports;
mod request_id;
mod twilio;
mod voicemail;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::{Extension, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::app::App;
use crate::carrier::signature;
use crate::config::Settings;
use crate::messages::Catalogue;
pub use connections::listen;
use error::ErrorCode;
pub use limits::{DEFAULT_STARTS_PER_ADDRESS_HOUR, RateLimits};

#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub settings: Arc<Settings>,
    pub limits: Arc<RateLimits>,
    /// SHA-256 of `PROXYCALL_API_TOKEN`, compared in constant time.
    pub env_token_hash: Option<Arc<[u8; 32]>>,
    pub metrics: PrometheusHandle,
    /// What webhooks are signed with: Twilio's auth token.
    pub webhook_token: Arc<SecretString>,
    /// During a rotation, the auth token being replaced: webhooks signed with it pass too.
    pub webhook_token_previous: Option<Arc<SecretString>>,
    /// The public base URL in each form Twilio may have signed (`signature::base_variants`).
    pub signed_bases: Arc<[String]>,
    pub catalogue: &'static Catalogue,
}

impl AppState {
    pub fn new(app: App, settings: Settings, webhook_token: SecretString) -> Self {
        use secrecy::ExposeSecret;
        let env_token_hash = settings
            .api_token
            .as_ref()
            .map(|t| Arc::new(Sha256::digest(t.expose_secret().as_bytes()).into()));
        let signed_bases = signature::base_variants(&app.routing.public_base_url).into();
        Self {
            catalogue: Catalogue::get(settings.language),
            webhook_token: Arc::new(webhook_token),
            webhook_token_previous: settings
                .webhook_auth_token_previous
                .as_ref()
                .map(|t| Arc::new(SecretString::from(t.expose_secret().to_owned()))),
            signed_bases,
            app,
            limits: Arc::new(
                RateLimits::per_minute(settings.rate_limit_per_minute)
                    .with_starts_per_hour(settings.activate_per_address_hour),
            ),
            settings: Arc::new(settings),
            env_token_hash,
            metrics: observe::metrics_handle(),
        }
    }
}

pub fn router(state: AppState) -> Router {
    // Each area's router states who may call its routes (`access.rs`); nothing is decided here.
    let routes = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(orders::router(&state))
        .merge(clients::router(&state))
        .merge(blocks::router(&state))
        .merge(confirmations::router(&state))
        .merge(pool::router(&state))
        .merge(ops::router(&state))
        .merge(docs::router())
        .merge(jobs::router(&state))
        .merge(reports::router(&state))
        .merge(twilio::router())
        .merge(voicemail::router())
        .merge(quiet_hours::router(&state))
        .merge(pages::router())
        .merge(admin::router(&state));
    #[cfg(feature = "bench")]
    let routes = if state.settings.bench_reference {
        routes.merge(bench::router())
    } else {
        routes
    };
    let (routes, api) = routes.split_for_parts();
    access::assert_declared(&api);
    let api = Arc::new(api);

    let body_limit = state.settings.body_limit_bytes;
    let timeout = state.settings.request_timeout;
    routes
        .route_layer(middleware::from_fn_with_state(
            api.clone(),
            access::only_declared,
        ))
        .route_layer(middleware::from_fn(observe::tag_route))
        .fallback(|| async { error::ApiError::new(ErrorCode::NotFound, "no such route") })
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    request_id::vet,
                ))
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(
                    CompressionLayer::new()
                        .gzip(true)
                        .no_br()
                        .no_deflate()
                        .no_zstd(),
                )
                .layer(middleware::from_fn(observe::observe))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    timeout,
                ))
                .layer(DefaultBodyLimit::max(body_limit)),
        )
        .layer(Extension(api))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then lets requests in flight finish. Connections get
/// the time-outs and the cap of `connections.rs`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits.clone();
    let metrics = state.metrics.clone();
    let sweeper = tokio::spawn(async move {
        // Histogram samples pile up in the recorder until folded in: every few seconds, so
        // memory stays flat whether or not anyone scrapes `/metrics`.
        let mut upkeep = tokio::time::interval(Duration::from_secs(5));
        let mut forget = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = upkeep.tick() => metrics.run_upkeep(),
                _ = forget.tick() => limits.forget_idle(),
            }
        }
    });
    let limits = connections::Limits::from_settings(&state.settings);
    let result = connections::serve(listener, router(state), limits, shutdown).await;
    sweeper.abort();
    result
}
