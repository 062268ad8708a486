//! `GET /reports/weekly`: the weekly report as JSON (SPEC §4, §9).

use axum::extract::State;
use chrono::Utc;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::scoped;
use super::error::{ApiError, ErrorBody};
use super::extract::Query;
use crate::app::report::{self, IsoWeek, WeeklyReport};
use crate::domain::Scope;

/// Reading figures: `read`.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    scoped(
        state,
        Scope::Read,
        OpenApiRouter::new().routes(routes!(weekly)),
    )
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WeekQuery {
    /// An ISO week, `YYYY-Www` (UTC, Monday 00:00 to the next Monday); without it, the last
    /// complete week.
    #[param(example = "2026-W48")]
    week: Option<String>,
}

/// What a week saw: clients, activations, calls and texts by outcome, the pool (now) by
/// country, type and status, numbers bought and released, and failed sends.
#[utoipa::path(get, path = "/reports/weekly", tag = "operations", params(WeekQuery),
    responses((status = 200, body = Object, description = "the week's report",
            example = json!({"week": "2026-W48", "from": "2026-11-23T00:00:00Z", "to": "2026-11-30T00:00:00Z", "clients": {"total": 1240, "new": 37}, "activations": {"started": 52, "promoted": 35, "updated": 2, "expired": 12, "locked": 3}, "calls": {"forwarded": 410, "unknown_proxy": 4}, "texts": {"forwarded": 980, "no_recent_caller": 6}, "pool": [{"country": "FR", "number_type": "mobile", "status": "available", "count": 18}], "numbers": {"bought": 10, "released": 2}, "outbox_failures": {"texts": 1, "calls": 0, "emails": 0}})), (status = 422, body = ErrorBody, description = "`invalid_input`: `week` is not an ISO week such as 2026-W48")))]
pub async fn weekly(
    State(state): State<AppState>,
    Query(query): Query<WeekQuery>,
) -> Result<axum::Json<WeeklyReport>, ApiError> {
    let week = match query.week.as_deref().map(str::trim) {
        None | Some("") => IsoWeek::last_complete(Utc::now()),
        Some(raw) => IsoWeek::parse(raw).map_err(|e| ApiError::invalid("week", e))?,
    };
    Ok(axum::Json(report::weekly(&state.app, week).await?))
}
