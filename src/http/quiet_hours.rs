//! `/clients/{client_id}/quiet-hours`: the hours during which texts to the client are held and
//! calls to them go to voicemail (`app::quiet_hours`). Reading needs `read`; setting or
//! clearing them needs `clients`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::scoped;
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::extract::Json;
use crate::app::quiet_hours;
use crate::domain::{ClientId, Scope};
use crate::store::QuietHours;

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    scoped(
        state,
        Scope::Read,
        OpenApiRouter::new().routes(routes!(get_quiet_hours)),
    )
    .merge(scoped(
        state,
        Scope::Clients,
        OpenApiRouter::new().routes(routes!(put_quiet_hours, delete_quiet_hours)),
    ))
}

/// Quiet hours, as local times of day (`HH:MM`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursRequest {
    /// When they begin.
    #[schema(example = "22:00")]
    start: String,
    /// When they end; earlier than `start` runs over midnight.
    #[schema(example = "07:00")]
    end: String,
}

#[derive(Serialize, ToSchema)]
pub struct QuietHoursResponse {
    #[schema(example = 42)]
    client_id: i64,
    #[schema(example = "22:00")]
    start: String,
    #[schema(example = "07:00")]
    end: String,
    /// The time zone the times are in (`PROXYCALL_TIMEZONE`).
    #[schema(example = "Europe/Paris")]
    timezone: String,
}

fn client_id(raw: &str) -> Result<ClientId, ApiError> {
    ClientId::parse(raw).map_err(|e| ApiError::invalid("client_id", e))
}

fn response(state: &AppState, client: ClientId, hours: QuietHours) -> QuietHoursResponse {
    QuietHoursResponse {
        client_id: client.get(),
        start: hours.start.format("%H:%M").to_string(),
        end: hours.end.format("%H:%M").to_string(),
        timezone: state.app.routing.timezone.name().to_owned(),
    }
}

/// The client's quiet hours.
#[utoipa::path(get, path = "/clients/{client_id}/quiet-hours", tag = "clients",
    params(("client_id" = i64, Path)),
    responses((status = 200, body = QuietHoursResponse, description = "the client's quiet hours"),
        (status = 404, body = ErrorBody, description = "`not_found`: no such client, or it has no quiet hours",
            example = json!({"code": "not_found", "message": "the client has no quiet hours", "detail": "the client has no quiet hours"}))))]
pub async fn get_quiet_hours(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<QuietHoursResponse>, ApiError> {
    let id = client_id(&id)?;
    match quiet_hours::get(&state.app, id).await? {
        Some(hours) => Ok(axum::Json(response(&state, id, hours))),
        None => Err(ApiError::new(
            ErrorCode::NotFound,
            "the client has no quiet hours",
        )),
    }
}

/// Sets the client's quiet hours: meanwhile, texts to the client wait for their end and calls
/// go to voicemail.
#[utoipa::path(put, path = "/clients/{client_id}/quiet-hours", tag = "clients",
    params(("client_id" = i64, Path)),
    request_body = QuietHoursRequest,
    responses((status = 200, body = QuietHoursResponse, description = "the quiet hours set"),
        (status = 404, body = ErrorBody, description = "`not_found`: no such client",
            example = json!({"code": "not_found", "message": "client not found", "detail": "client not found"})),
        (status = 422, body = ErrorBody, description = "`invalid_input`: a time is not `HH:MM`, or `end` equals `start`; `field` names it",
            example = json!({"code": "invalid_input", "message": "start: '25:00' is not a time of day (HH:MM, e.g. 22:00)", "detail": "start: '25:00' is not a time of day (HH:MM, e.g. 22:00)", "field": "start"}))))]
pub async fn put_quiet_hours(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<QuietHoursRequest>,
) -> Result<axum::Json<QuietHoursResponse>, ApiError> {
    let id = client_id(&id)?;
    let hours = QuietHours {
        start: quiet_hours::parse_time("start", &body.start)?,
        end: quiet_hours::parse_time("end", &body.end)?,
    };
    let hours = quiet_hours::set(&state.app, id, hours).await?;
    Ok(axum::Json(response(&state, id, hours)))
}

/// Clears the client's quiet hours.
#[utoipa::path(delete, path = "/clients/{client_id}/quiet-hours", tag = "clients",
    params(("client_id" = i64, Path)),
    responses((status = 204, description = "cleared (or there were none)"),
        (status = 404, body = ErrorBody, description = "`not_found`: no such client",
            example = json!({"code": "not_found", "message": "client not found", "detail": "client not found"}))))]
pub async fn delete_quiet_hours(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    quiet_hours::clear(&state.app, client_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
