//! `/confirmations`: activation with a one-time code (SPEC §7), with the earlier version's
//! paths, keys and statuses. The JSON routes need a key with the `activations` scope; the
//! verification link's page is public (`pages.rs`).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::scoped;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Query, blank_as_none, parse_json};
use crate::app::activation::{self, NewActivation, ResendChannel};
use crate::domain::{ClientName, CountryIso, E164, Email, NumberType, PendingId, Scope};

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    scoped(
        state,
        Scope::Activations,
        OpenApiRouter::new()
            .routes(routes!(create))
            .routes(routes!(resend))
            .routes(routes!(status))
            .routes(routes!(expire)),
    )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// The activation's id (letters, digits, `-`, `_`); generated when absent.
    #[serde(default, deserialize_with = "blank_as_none")]
    #[schema(value_type = Option<String>, example = "P-0b7c9a2e")]
    pending_id: Option<PendingId>,
    #[schema(value_type = String, example = "Jeanne Martin")]
    client_name: ClientName,
    #[schema(value_type = String, example = "jeanne@example.com")]
    client_mail: Email,
    #[schema(value_type = String, example = "+33612345678")]
    client_real_phone: E164,
    /// The proxy's country; `TWILIO_PHONE_COUNTRY` when absent.
    #[serde(default, deserialize_with = "blank_as_none")]
    #[schema(value_type = Option<String>, example = "FR")]
    country_iso: Option<CountryIso>,
    /// `mobile` or `local` (`national`); `TWILIO_NUMBER_TYPE` when absent. The other type is
    /// taken when the pool has none of this one.
    #[serde(default, deserialize_with = "blank_as_none")]
    #[schema(value_type = Option<String>, example = "mobile")]
    number_type: Option<NumberType>,
}

#[derive(Serialize, ToSchema)]
pub struct CreateResponse {
    #[schema(example = "P-0b7c9a2e")]
    pending_id: String,
    #[schema(example = "+33780000001")]
    proxy_number: String,
    /// `PENDING` for a new activation; an activation already under way for this phone or
    /// e-mail answers with its own.
    #[schema(example = "PENDING")]
    status: String,
    /// `mobile`, `local`, or `existant` when an existing client's proxy is reused.
    #[schema(example = "mobile")]
    number_type: String,
    /// Whether an activation of this phone or e-mail was under way (nothing new was sent).
    #[schema(example = false)]
    already_under_way: bool,
}

/// Starts an activation: a number is reserved (or an existing client's proxy reused) and a
/// code is texted from it; a call, then a link, follow while no answer comes.
#[utoipa::path(post, path = "/confirmations/create", tag = "confirmations",
    request_body = CreateRequest,
    responses((status = 200, body = CreateResponse, description = "the activation: a new one, its code texted, or the one already under way for this phone or e-mail"),
              (status = 409, body = ErrorBody, description = "no number to reserve (`pool_exhausted`, with the pool's breakdown), or a `pending_id` of an activation that ended"),
              (status = 422, body = ErrorBody, description = "`invalid_input`: a field is not valid; `field` names it"),
              (status = 429, body = ErrorBody, description = "`COOLDOWN`, `DAILY_LIMIT_PHONE` or `DAILY_LIMIT_EMAIL`, with Retry-After",
            example = json!({"code": "COOLDOWN", "message": "too many requests for a code (COOLDOWN): retry in 42 s", "detail": "too many requests for a code (COOLDOWN): retry in 42 s"}))))]
pub async fn create(
    State(state): State<AppState>,
    Json(req): Json<CreateRequest>,
) -> Result<axum::Json<CreateResponse>, ApiError> {
    let started = activation::start(
        &state.app,
        NewActivation {
            pending_id: req.pending_id,
            name: req.client_name,
            mail: req.client_mail,
            phone: req.client_real_phone,
            country: req.country_iso,
            number_type: req.number_type,
        },
    )
    .await?;
    Ok(axum::Json(CreateResponse {
        pending_id: started.pending_id.to_string(),
        proxy_number: started.proxy_number.to_string(),
        status: started.status.to_string(),
        number_type: started.number_type,
        already_under_way: started.already_under_way,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendRequest {
    #[schema(value_type = String, example = "P-0b7c9a2e")]
    pending_id: PendingId,
    /// `sms` (a new code), `voice` (a call that reads a new code) or `email` (a new
    /// single-use link, by SMS and e-mail).
    #[schema(example = "sms")]
    channel: String,
}

#[derive(Serialize, ToSchema)]
pub struct ResendResponse {
    #[schema(example = "P-0b7c9a2e")]
    pending_id: String,
    #[schema(example = "sms")]
    channel: String,
    /// `sent`: queued for sending.
    #[schema(example = "sent")]
    status: &'static str,
}

/// Sends the code again, on a channel of the caller's choice, within the limits.
#[utoipa::path(post, path = "/confirmations/resend", tag = "confirmations",
    request_body = ResendRequest,
    responses((status = 200, body = ResendResponse, description = "queued for sending on the channel"),
              (status = 404, body = ErrorBody, description = "`not_found`: no activation has this id",
            example = json!({"code": "not_found", "message": "pending_id not found", "detail": "pending_id not found"})),
              (status = 409, body = ErrorBody, description = "the activation no longer waits (`not_pending`)"),
              (status = 422, body = ErrorBody, description = "`invalid_input`: a field is not valid; `field` names it"),
              (status = 429, body = ErrorBody, description = "`COOLDOWN`, `DAILY_LIMIT_PHONE` or `DAILY_LIMIT_EMAIL`; `Retry-After` gives the seconds to wait",
            example = json!({"code": "COOLDOWN", "message": "too many requests for a code (COOLDOWN): retry in 42 s", "detail": "too many requests for a code (COOLDOWN): retry in 42 s"}))))]
pub async fn resend(
    State(state): State<AppState>,
    Json(req): Json<ResendRequest>,
) -> Result<axum::Json<ResendResponse>, ApiError> {
    let channel = ResendChannel::parse(&req.channel).ok_or_else(|| {
        ApiError::invalid(
            "channel",
            format!("'{}' is not a channel (email, sms, voice)", req.channel),
        )
    })?;
    activation::resend(&state.app, &req.pending_id, channel).await?;
    Ok(axum::Json(ResendResponse {
        pending_id: req.pending_id.to_string(),
        channel: channel.as_str().to_owned(),
        status: "sent",
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct StatusQuery {
    pending_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StatusResponse {
    #[schema(example = "P-0b7c9a2e")]
    pending_id: String,
    /// `PENDING`, `PENDING_CALL`, `PENDING_MAIL`, `PROMOTED`, `UPDATED (…)`, `EXPIRED`, or
    /// `LOCKED` (too many wrong codes).
    #[schema(example = "PROMOTED")]
    status: String,
    #[schema(example = "+33780000001")]
    proxy_number: String,
    #[schema(example = "2026-11-30T09:15:02+00:00")]
    created_at: String,
    #[schema(example = "2026-11-30T09:17:40+00:00")]
    verified_at: Option<String>,
    /// Wrong codes so far, across channels, and how many lock it.
    #[schema(example = 1)]
    wrong_answers: i64,
    #[schema(example = 5)]
    max_wrong_answers: i64,
}

/// Where an activation stands.
#[utoipa::path(get, path = "/confirmations/status", tag = "confirmations", params(StatusQuery),
    responses((status = 200, body = StatusResponse, description = "the activation's state"), (status = 404, body = ErrorBody, description = "`not_found`: no activation has this id",
            example = json!({"code": "not_found", "message": "pending_id not found", "detail": "pending_id not found"})),
              (status = 422, body = ErrorBody, description = "`invalid_input`: `pending_id` is missing or not valid")))]
pub async fn status(
    State(state): State<AppState>,
    Query(q): Query<StatusQuery>,
) -> Result<axum::Json<StatusResponse>, ApiError> {
    let raw = q.pending_id.as_deref().map(str::trim).unwrap_or("");
    if raw.is_empty() {
        return Err(ApiError::invalid("pending_id", "is required"));
    }
    let id = PendingId::parse(raw).map_err(|e| ApiError::invalid("pending_id", e))?;
    let view = activation::status(&state.app, &id).await?;
    Ok(axum::Json(StatusResponse {
        pending_id: view.pending_id.to_string(),
        status: view.status.to_string(),
        proxy_number: view.proxy_number.to_string(),
        created_at: view.created_at.to_rfc3339(),
        verified_at: view.verified_at.map(|t| t.to_rfc3339()),
        wrong_answers: view.wrong_answers,
        max_wrong_answers: view.max_wrong,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ExpiredEntry {
    #[schema(example = "P-0b7c9a2e")]
    pending_id: String,
    #[schema(example = "+33780000001")]
    proxy_number: String,
}

#[derive(Serialize, ToSchema)]
pub struct ExpireResponse {
    expired: Vec<ExpiredEntry>,
    /// Numbers given back to the pool (those of activations that ended, this call's included).
    #[schema(example = 1)]
    released_total: u64,
}

/// The body of `expire`: a bare number of hours (the earlier form) or `{"hours": N}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum ExpireBody {
    Hours(i64),
    Object { hours: i64 },
}

/// Expires the waiting activations older than the hours given (`PROXYCALL_ACTIVATION_EXPIRE_HOURS`
/// without a body) and gives their numbers back to the pool. The same runs by itself every
/// few minutes.
#[utoipa::path(post, path = "/confirmations/expire", tag = "confirmations",
    request_body(content = Object, description = "a bare JSON integer of hours, or `{\"hours\": N}`; no body: the setting", content_type = "application/json",
        example = json!({"hours": 48})),
    responses((status = 200, body = ExpireResponse, description = "the activations expired, and how many numbers went back to the pool"), (status = 422, body = ErrorBody, description = "`invalid_input`: `hours` is not a number of hours from 0 to 8760")))]
pub async fn expire(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<axum::Json<ExpireResponse>, ApiError> {
    let hours = if body.iter().all(u8::is_ascii_whitespace) {
        state.app.activation.expire_after.num_hours()
    } else {
        match parse_json::<ExpireBody>(&body) {
            Ok(ExpireBody::Hours(h) | ExpireBody::Object { hours: h }) => h,
            Err(_) => {
                return Err(ApiError::invalid(
                    "hours",
                    "expected a number of hours, as a bare integer or {\"hours\": N}",
                ));
            }
        }
    };
    if !(0..=24 * 365).contains(&hours) {
        return Err(ApiError::invalid("hours", "must be from 0 to 8760"));
    }
    let report = activation::expire(&state.app, hours).await?;
    Ok(axum::Json(ExpireResponse {
        expired: report
            .expired
            .into_iter()
            .map(|e| ExpiredEntry {
                pending_id: e.pending_id.to_string(),
                proxy_number: e.proxy.to_string(),
            })
            .collect(),
        released_total: report.released_total,
    }))
}
