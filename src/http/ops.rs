//! Liveness, readiness, metrics and the API description.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{public, scoped};
use super::error::ApiError;
use crate::domain::Scope;

/// Probes and the API description are public: load balancers and integrators call them
/// without a key, and they reveal nothing about clients. Metrics do (pool sizes, traffic):
/// `read`.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    public(
        OpenApiRouter::new()
            .routes(routes!(health))
            .routes(routes!(ready))
            .routes(routes!(openapi)),
    )
    .merge(scoped(
        state,
        Scope::Read,
        OpenApiRouter::new().routes(routes!(metrics)),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: &'static str,
}

/// Alive: the process answers. Checks nothing else.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, body = Health, description = "the process answers")))]
pub async fn health() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    #[schema(example = "ready")]
    status: &'static str,
    /// `ok` or `unreachable`.
    #[schema(example = "ok")]
    database: &'static str,
    /// Always `ok`: the server does not start with an incomplete configuration.
    #[schema(example = "ok")]
    configuration: &'static str,
    /// `twilio` or `simulated`.
    #[schema(example = "twilio")]
    carrier: &'static str,
    /// `ok`, or `restarting` while the routing engine pauses after panics in a row (webhooks
    /// wait for it meanwhile).
    #[schema(example = "ok")]
    routing_engine: &'static str,
}

/// Ready to serve: the database answers, the configuration is complete and the routing
/// engine runs.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, body = Readiness, description = "ready: the database and the routing engine answer"), (status = 503, body = Readiness, description = "not ready: `database` or `routing_engine` names the check that fails")))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, axum::Json<Readiness>) {
    let database_ok = crate::app::gauges::database_answers(&state.app).await;
    let engine_ok = state.app.routing_engine.is_up();
    let carrier = match state.settings.carrier {
        crate::config::CarrierKind::Twilio => "twilio",
        crate::config::CarrierKind::Simulated => "simulated",
    };
    let ready = database_ok && engine_ok;
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        database: if database_ok { "ok" } else { "unreachable" },
        configuration: "ok",
        carrier,
        routing_engine: if engine_ok { "ok" } else { "restarting" },
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body))
}

/// Prometheus metrics: requests and latency per route and status, the pool's size per
/// country, type and status, webhook outcomes, the outbox's depth and age, send attempts,
/// carrier latency and errors. Needs a key with the `read` scope.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain", body = String, description = "Prometheus text exposition format")))]
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    crate::app::gauges::record(&state.app).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    ))
}

/// This document: every route, and in each operation's `security` what it needs (an API key
/// with one scope, Twilio's signature, or nothing).
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, body = Object, description = "the OpenAPI 3.1 document",
            example = json!({"openapi": "3.1.0", "info": {"title": "ProxyCall", "version": "0.1.0"}, "paths": {"/health": {"get": {"tags": ["operations"]}}}}))))]
pub async fn openapi(Extension(doc): Extension<Arc<OpenApi>>) -> Response {
    axum::Json(doc.as_ref()).into_response()
}
