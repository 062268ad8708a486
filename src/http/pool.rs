//! `/pool`: what is available, and handing a number to a client.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::scoped;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Query, blank_as_none};
use super::legacy::{text, timestamp};
use crate::app::keys::Principal;
use crate::app::operations::{self, Ran};
use crate::app::pool::{self, Assign};
use crate::app::pool::{FixWebhooksJob, PurgeWithoutSmsJob, ReleaseJob};
use crate::app::provision::ProvisionJob;
use crate::app::sync::SyncJob;
use crate::domain::{ClientId, ClientName, CountryIso, E164, NumberType, NumberTypeFilter, Scope};
use crate::store::PoolNumber;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Reading the pool needs `read`; changing it (assigning, buying) needs `pool`.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    scoped(
        state,
        Scope::Read,
        OpenApiRouter::new().routes(routes!(available)),
    )
    .merge(scoped(
        state,
        Scope::Pool,
        OpenApiRouter::new()
            .routes(routes!(assign))
            .routes(routes!(provision))
            .routes(routes!(release))
            .routes(routes!(fix_webhooks))
            .routes(routes!(purge_without_sms))
            .routes(routes!(sync))
            .routes(routes!(drain)),
    ))
}

/// A pool number with the earlier `TwilioPools` sheet's 11 columns (absent values `""`),
/// plus its capabilities.
#[derive(Serialize, ToSchema)]
pub struct PoolRow {
    #[schema(example = "FR")]
    country_iso: String,
    #[schema(example = "+33780000001")]
    phone_number: String,
    #[schema(example = "available")]
    status: String,
    #[schema(example = "FR mobile 1")]
    friendly_name: String,
    #[schema(example = "2026-11-02 10:00:00")]
    date_achat: String,
    #[schema(example = "")]
    date_attribution: String,
    #[schema(example = "")]
    attribution_to_client_name: String,
    #[schema(example = "mobile")]
    number_type: String,
    #[schema(example = "")]
    reserved_token: String,
    #[schema(example = "")]
    reserved_at: String,
    #[schema(example = "")]
    reserved_by_client_id: String,
    #[schema(example = true)]
    voice_capable: bool,
    #[schema(example = true)]
    sms_capable: bool,
}

impl From<PoolNumber> for PoolRow {
    fn from(n: PoolNumber) -> Self {
        let holder = n.holder();
        Self {
            country_iso: n.country_iso.to_string(),
            phone_number: n.phone_number.to_string(),
            status: n.status.as_str().to_owned(),
            friendly_name: text(n.friendly_name),
            date_achat: timestamp(n.purchased_at),
            date_attribution: timestamp(n.assigned_at),
            attribution_to_client_name: text(n.attribution_to_client_name),
            number_type: n.number_type.to_string(),
            reserved_token: text(n.reserved_token),
            reserved_at: timestamp(n.reserved_at),
            reserved_by_client_id: text(holder),
            voice_capable: n.voice_capable,
            sms_capable: n.sms_capable,
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct AvailableQuery {
    /// ISO-2 country (required).
    country_iso: Option<String>,
    /// `mobile`, `local` (or `national`); empty or `all` for every type.
    number_type: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AvailableResponse {
    #[schema(example = "FR")]
    country_iso: String,
    /// The type asked for, or `all`.
    #[schema(example = "mobile")]
    number_type: String,
    available: Vec<PoolRow>,
}

/// Available numbers of a country, of one type or all.
#[utoipa::path(get, path = "/pool/available", tag = "pool", params(AvailableQuery),
    responses((status = 200, body = AvailableResponse, description = "the available numbers by country and type"), (status = 422, body = ErrorBody, description = "`invalid_input`: a parameter is not valid; `field` names it")))]
pub async fn available(
    State(state): State<AppState>,
    Query(q): Query<AvailableQuery>,
) -> Result<axum::Json<AvailableResponse>, ApiError> {
    let raw_country = q.country_iso.as_deref().map(str::trim).unwrap_or("");
    if raw_country.is_empty() {
        return Err(ApiError::invalid("country_iso", "is required"));
    }
    let country =
        CountryIso::parse(raw_country).map_err(|e| ApiError::invalid("country_iso", e))?;
    let filter = NumberTypeFilter::parse(q.number_type.as_deref())
        .map_err(|e| ApiError::invalid("number_type", e))?;
    let numbers = pool::available(&state.app, country, filter).await?;
    let number_type = match q.number_type.as_deref().map(str::trim) {
        Some(t) if !t.is_empty() => t.to_owned(),
        _ => "all".to_owned(),
    };
    Ok(axum::Json(AvailableResponse {
        country_iso: country.to_string(),
        number_type,
        available: numbers.into_iter().map(PoolRow::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    #[schema(value_type = i64, example = 42)]
    client_id: ClientId,
    /// ISO-2 country of the pool to take from (required).
    #[serde(default, deserialize_with = "blank_as_none")]
    #[schema(value_type = String, example = "FR")]
    country_iso: Option<CountryIso>,
    #[schema(value_type = String, example = "Jeanne Martin")]
    client_name: ClientName,
    /// `mobile` (default), `local` or `national`.
    #[serde(default, deserialize_with = "blank_as_none")]
    #[schema(value_type = Option<String>, example = "mobile")]
    number_type: Option<NumberType>,
    /// The carrier-side label of the number; defaults to the client's name.
    #[serde(default, deserialize_with = "blank_as_none")]
    #[schema(example = "Jeanne Martin")]
    friendly_name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AssignResponse {
    #[schema(example = 42)]
    client_id: i64,
    #[schema(example = "+33780000001")]
    proxy: String,
}

/// Give a client an available number of that type, atomically: one number never goes to two
/// clients. The client record itself is not changed (set it with `PUT /clients/{id}`).
#[utoipa::path(post, path = "/pool/assign", tag = "pool", request_body = AssignRequest,
    responses(
        (status = 200, body = AssignResponse, description = "the proxy number given to the client"),
        (status = 409, body = ErrorBody, description = "no available number; `available` gives the pool by type",
            example = json!({"code": "pool_exhausted", "message": "no available number for FR (mobile)", "available": {"mobile": 0, "local": 0, "total": 0}, "detail": "no available number for FR (mobile)"})),
        (status = 422, body = ErrorBody, description = "`invalid_input`: a field is not valid; `field` names it"),
    ))]
pub async fn assign(
    State(state): State<AppState>,
    Json(req): Json<AssignRequest>,
) -> Result<axum::Json<AssignResponse>, ApiError> {
    let country = req.country_iso.ok_or_else(|| {
        ApiError::invalid("country_iso", "is required for an assignment from the pool")
    })?;
    let friendly_name = req
        .friendly_name
        .map(|f| {
            let f = f.trim().to_owned();
            // Twilio's limit for a number's FriendlyName.
            if f.chars().count() > 64 || f.chars().any(char::is_control) {
                Err(ApiError::invalid(
                    "friendly_name",
                    "must be at most 64 characters without control characters",
                ))
            } else {
                Ok(f)
            }
        })
        .transpose()?;
    let number = pool::assign(
        &state.app,
        Assign {
            client_id: req.client_id,
            country,
            client_name: req.client_name,
            number_type: req.number_type.unwrap_or(NumberType::Mobile),
            friendly_name,
        },
    )
    .await?;
    Ok(axum::Json(AssignResponse {
        client_id: req.client_id.get(),
        proxy: number.phone_number.to_string(),
    }))
}

fn default_batch() -> u32 {
    1
}

fn default_candidates() -> u32 {
    100
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisionRequest {
    #[schema(value_type = String, example = "FR")]
    country_iso: CountryIso,
    /// Numbers to buy, 1 to 50.
    #[serde(default = "default_batch")]
    #[schema(example = 5)]
    batch_size: u32,
    /// `mobile` (default; local numbers are the fall-back) or `local`/`national`.
    #[serde(default, deserialize_with = "blank_as_none")]
    #[schema(value_type = Option<String>, example = "mobile")]
    number_type: Option<NumberType>,
    #[serde(default)]
    #[schema(example = true)]
    require_sms_capability: bool,
    #[serde(default)]
    #[schema(example = true)]
    require_voice_capability: bool,
    /// Candidates to ask the carrier for (at most 100 are asked).
    #[serde(default = "default_candidates")]
    #[schema(example = 20)]
    candidates_limit: u32,
}

#[derive(Serialize, ToSchema)]
pub struct SkippedCandidate {
    #[schema(example = "+33780000009")]
    phone_number: String,
    #[schema(example = "bundle_mismatch (Twilio 21649)")]
    reason: String,
}

/// The report of `pool.provision` (built by the job, `app::provision::ProvisionJob`): this
/// type states its shape in `/openapi.json`.
#[derive(Serialize, ToSchema)]
pub struct ProvisionResponse {
    #[schema(example = "FR")]
    country_iso: String,
    /// The numbers bought, now available in the pool.
    #[schema(example = json!(["+33780000001", "+33780000002"]))]
    purchased_now: Vec<String>,
    #[schema(example = 5)]
    batch_size: u32,
    #[schema(example = "mobile")]
    number_type: String,
    #[schema(example = true)]
    require_sms_capability: bool,
    #[schema(example = true)]
    require_voice_capability: bool,
    #[schema(example = 20)]
    candidates_limit: u32,
    /// Candidates not bought, and why.
    skipped: Vec<SkippedCandidate>,
    /// Why buying stopped before the batch was complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "carrier rate limit reached")]
    stopped: Option<String>,
}

/// Buy numbers from the carrier, with this server's webhooks, into the pool.
#[utoipa::path(post, path = "/pool/provision", tag = "pool", request_body = ProvisionRequest,
    responses(
        (status = 200, body = ProvisionResponse, description = "what was bought and skipped"),
        (status = 202, body = OperationPending, description = "still buying after 10 s, or a provisioning already running: follow `GET /jobs/{job_id}`"),
        (status = 409, body = ErrorBody, description = "no candidate, bundle or address problem"),
        (status = 422, body = ErrorBody, description = "`invalid_input`: a field is not valid; `field` names it"),
        (status = 503, body = ErrorBody, description = "the carrier is unreachable or refuses our credentials",
            example = json!({"code": "carrier_unavailable", "message": "carrier unavailable (HTTP 503)", "detail": "carrier unavailable (HTTP 503)"})),
    ))]
pub async fn provision(
    State(state): State<AppState>,
    Extension(principal): Extension<Arc<Principal>>,
    Json(req): Json<ProvisionRequest>,
) -> Result<Response, ApiError> {
    let number_type = req.number_type.unwrap_or(NumberType::Mobile);
    let twilio = state.settings.twilio.as_ref();
    let job = ProvisionJob {
        country: req.country_iso,
        batch_size: req.batch_size,
        number_type,
        require_sms: req.require_sms_capability,
        require_voice: req.require_voice_capability,
        candidates_limit: req.candidates_limit,
        address_sid: twilio.and_then(|t| t.address_sid.clone()),
        bundle_sid: twilio.and_then(|t| t.bundle_sid.clone()),
        requested_by: Some(principal.key_id.clone()),
    };
    job.check()?;
    operation_answer(operations::run(&state.app, &job, operations::WAIT).await?)
}

/// A pool operation still running when its route stops waiting.
#[derive(Serialize, ToSchema)]
pub struct OperationPending {
    /// `GET /jobs/{job_id}` gives its progress, then its report.
    #[schema(example = 7)]
    job_id: i64,
    /// `true` when an earlier request started it: one of each operation runs at a time.
    #[schema(example = false)]
    already_running: bool,
}

/// 200 with the operation's report, or 202 with its job.
fn operation_answer(ran: Ran) -> Result<Response, ApiError> {
    Ok(match ran {
        Ran::Done(report) => axum::Json(report).into_response(),
        Ran::Pending { job_id, already } => (
            StatusCode::ACCEPTED,
            axum::Json(OperationPending {
                job_id,
                already_running: already,
            }),
        )
            .into_response(),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// The numbers to give back to the carrier (E.164).
    #[schema(value_type = Vec<String>, example = json!(["+33780000001"]))]
    numbers: Vec<E164>,
    /// Release numbers assigned to a client or reserved for an activation too (the client
    /// loses its proxy).
    #[serde(default)]
    #[schema(example = false)]
    force: bool,
}

/// The report of a release.
#[derive(Serialize, ToSchema)]
pub struct ReleaseResponse {
    #[schema(example = json!(["+33780000001"]))]
    released: Vec<String>,
    /// Not in the pool.
    #[schema(example = json!([]))]
    not_found: Vec<String>,
    /// `{number, error}`: held (without `force`), or refused by the carrier.
    #[schema(value_type = Vec<Object>, example = json!([{"number": "+33780000002", "error": "assigned to a client; use force"}]))]
    failed: Vec<serde_json::Value>,
    /// Naive UTC, as the earlier version wrote it.
    #[schema(example = "2026-11-30 09:15:02")]
    ts: String,
}

/// Gives numbers back to the carrier and marks them `released`; a number assigned or
/// reserved is refused unless `force`. Runs as a job, one at a time.
#[utoipa::path(post, path = "/pool/release", tag = "pool", request_body = ReleaseRequest,
    responses(
        (status = 200, body = ReleaseResponse, description = "what was released"),
        (status = 202, body = OperationPending, description = "still releasing after 10 s, or a release already running: follow `GET /jobs/{job_id}`"),
        (status = 422, body = ErrorBody, description = "no numbers, or one that is not a phone number (named)"),
    ))]
pub async fn release(
    State(state): State<AppState>,
    Extension(principal): Extension<Arc<Principal>>,
    Json(req): Json<ReleaseRequest>,
) -> Result<Response, ApiError> {
    let job = ReleaseJob {
        numbers: req.numbers,
        force: req.force,
        requested_by: Some(principal.key_id.clone()),
    };
    job.check()?;
    operation_answer(operations::run(&state.app, &job, operations::WAIT).await?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FixWebhooksRequest {
    /// Change nothing; list what would change [default: true].
    #[serde(default = "yes")]
    #[schema(example = true)]
    dry_run: bool,
    #[serde(default, deserialize_with = "blank_as_none")]
    #[schema(value_type = Option<String>, example = "FR")]
    only_country: Option<CountryIso>,
    /// `available`, `reserved`, `assigned`, `draining`, `released` or `missing`.
    #[serde(default, deserialize_with = "blank_as_none")]
    #[schema(example = "available")]
    only_status: Option<String>,
    /// Fix the SMS webhook too [default: true].
    #[serde(default = "yes")]
    #[schema(example = true)]
    fix_sms: bool,
}

fn yes() -> bool {
    true
}

/// Makes each pool number's voice and SMS webhooks (URLs and methods) point at this server,
/// `POST`; a dry run (the default) lists what would change. Runs as a job, one at a time.
#[utoipa::path(post, path = "/pool/fix-webhooks", tag = "pool", request_body = FixWebhooksRequest,
    responses(
        (status = 200, body = Object, description = "`target_voice_url, target_sms_url, checked, need_fix, fixed, need_fix_voice, need_fix_sms, fixed_voice, fixed_sms, not_found_on_twilio, errors, dry_run, only_status, only_country, ts`",
            example = json!({"target_voice_url": "https://proxycall.example.com/twilio/voice", "target_sms_url": "https://proxycall.example.com/twilio/sms", "checked": 40, "need_fix": 1, "fixed": 0, "need_fix_voice": 1, "need_fix_sms": 0, "fixed_voice": 0, "fixed_sms": 0, "not_found_on_twilio": [], "errors": [], "dry_run": true, "only_status": null, "only_country": "FR", "ts": "2026-11-30 09:15:02"})),
        (status = 202, body = OperationPending, description = "still running after 10 s, or one already running: follow `GET /jobs/{job_id}`"),
        (status = 422, body = ErrorBody, description = "`invalid_input`: a field is not valid; `field` names it"),
    ))]
pub async fn fix_webhooks(
    State(state): State<AppState>,
    Extension(principal): Extension<Arc<Principal>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // No body: every default, as the earlier version took it.
    let req: FixWebhooksRequest = if body.iter().all(u8::is_ascii_whitespace) {
        super::extract::parse_json(b"{}")?
    } else {
        super::extract::parse_json(&body)?
    };
    let job = FixWebhooksJob {
        dry_run: req.dry_run,
        only_country: req.only_country,
        only_status: req.only_status,
        fix_sms: req.fix_sms,
        requested_by: Some(principal.key_id.clone()),
    };
    job.check()?;
    operation_answer(operations::run(&state.app, &job, operations::WAIT).await?)
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PurgeRequest {
    /// Release numbers assigned to a client or reserved for an activation too.
    #[serde(default)]
    #[schema(example = false)]
    force: bool,
}

/// Releases the pool's numbers that cannot take texts; one assigned or reserved is kept
/// (`kept_held`) unless `force`. Runs as a job, one at a time.
#[utoipa::path(post, path = "/pool/purge-sans-sms", tag = "pool",
    request_body(content = PurgeRequest, description = "optional"),
    responses(
        (status = 200, body = Object, description = "`checked, kept_sms_capable, removed_from_pool, released_on_twilio, missing_on_twilio, kept_held, errors, ts`",
            example = json!({"checked": 40, "kept_sms_capable": 39, "removed_from_pool": 1, "released_on_twilio": 1, "missing_on_twilio": 0, "kept_held": 0, "errors": [], "ts": "2026-11-30 09:15:02"})),
        (status = 202, body = OperationPending, description = "still running after 10 s, or one already running: follow `GET /jobs/{job_id}`"),
        (status = 422, body = ErrorBody, description = "`invalid_input`: a field is not valid; `field` names it"),
    ))]
pub async fn purge_without_sms(
    State(state): State<AppState>,
    Extension(principal): Extension<Arc<Principal>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: PurgeRequest = if body.iter().all(u8::is_ascii_whitespace) {
        PurgeRequest::default()
    } else {
        super::extract::parse_json(&body)?
    };
    let job = PurgeWithoutSmsJob {
        force: req.force,
        requested_by: Some(principal.key_id.clone()),
    };
    operation_answer(operations::run(&state.app, &job, operations::WAIT).await?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// Add what the pool lacks, flag and restore [default: true]; `false` changes nothing and
    /// reports what it would do.
    #[serde(default = "yes")]
    #[schema(example = true)]
    apply: bool,
}

/// The report of a sync (built by the job, `app::sync::SyncJob`): this type states its shape
/// in `/openapi.json`.
#[derive(Serialize, ToSchema)]
pub struct SyncResponse {
    /// Listed by the carrier, absent from the pool (skipped ones included).
    #[schema(example = json!(["+33780000003"]))]
    missing_numbers: Vec<String>,
    /// Added to the pool by this run (none without `apply`).
    #[schema(example = json!(["+33780000003"]))]
    added_numbers: Vec<String>,
    #[schema(example = 41)]
    total_twilio: usize,
    /// Pool numbers not released.
    #[schema(example = 40)]
    total_sheet: usize,
    /// Naive UTC, as the earlier version wrote it.
    #[schema(example = "2026-11-30 09:15:02")]
    ts: String,
    #[schema(example = true)]
    apply: bool,
    /// What an applied run adds: `missing_numbers` less `skipped`.
    #[schema(example = json!(["+33780000003"]))]
    to_add: Vec<String>,
    /// Numbers the pool lacks and does not take: of a type the pool does not hold, of no
    /// country, or a client's phone.
    skipped: Vec<SkippedCandidate>,
    /// Pool numbers (not released) the carrier no longer lists, flagged `missing` earlier or
    /// not.
    #[schema(example = json!([]))]
    missing_on_twilio: Vec<String>,
    /// Those not flagged yet: an applied run flags them `missing` (never handed out; their
    /// client keeps them).
    #[schema(example = json!([]))]
    to_flag: Vec<String>,
    #[schema(example = json!([]))]
    flagged: Vec<String>,
    /// `missing` numbers the carrier lists again.
    #[schema(example = json!([]))]
    to_restore: Vec<String>,
    /// `{phone_number, status}`: restored by this run, `assigned` when a client still has it,
    /// else `available`.
    #[schema(value_type = Vec<Object>, example = json!([]))]
    restored: Vec<serde_json::Value>,
    /// Marked released here, still rented at the carrier: never added back (release them
    /// again with `POST /pool/release`).
    #[schema(example = json!([]))]
    released_still_on_twilio: Vec<String>,
}

/// Compares the carrier's numbers (every page) with the pool, both ways. With `apply` (the
/// default), adds the numbers the pool lacks as `available` with the carrier's type and
/// capabilities, flags `missing` the pool numbers the carrier no longer lists, and restores
/// flagged ones it lists again. The body is `{"apply": bool}`, a bare `true`/`false`, or
/// empty. Runs as a job, one at a time.
#[utoipa::path(post, path = "/pool/sync", tag = "pool",
    request_body(content = SyncRequest, description = "optional; a bare `true`/`false` too"),
    responses(
        (status = 200, body = SyncResponse, description = "the comparison, and what an applied run changed"),
        (status = 202, body = OperationPending, description = "still running after 10 s, or one already running: follow `GET /jobs/{job_id}`"),
        (status = 422, body = ErrorBody, description = "`invalid_input`: a field is not valid; `field` names it"),
        (status = 503, body = ErrorBody, description = "the carrier is unreachable or refuses our credentials",
            example = json!({"code": "carrier_unavailable", "message": "carrier unavailable (HTTP 503)", "detail": "carrier unavailable (HTTP 503)"})),
    ))]
pub async fn sync(
    State(state): State<AppState>,
    Extension(principal): Extension<Arc<Principal>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let apply = if body.iter().all(u8::is_ascii_whitespace) {
        true
    } else {
        match super::extract::parse_json::<serde_json::Value>(&body)? {
            serde_json::Value::Bool(apply) => apply,
            serde_json::Value::Null => true,
            serde_json::Value::Object(_) => super::extract::parse_json::<SyncRequest>(&body)?.apply,
            _ => {
                return Err(ApiError::invalid(
                    "apply",
                    "the body must be {\"apply\": true|false}, a bare true or false, or empty",
                ));
            }
        }
    };
    let job = SyncJob {
        apply,
        requested_by: Some(principal.key_id.clone()),
    };
    operation_answer(operations::run(&state.app, &job, operations::WAIT).await?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrainRequest {
    /// The numbers to drain (E.164), 1 to 500.
    #[schema(value_type = Vec<String>, example = json!(["+33780000001"]))]
    numbers: Vec<E164>,
    /// Give drained numbers back instead (to `assigned` when they have a client, else
    /// `available`).
    #[serde(default)]
    #[schema(example = false)]
    undo: bool,
}

/// The report of a drain.
#[derive(Serialize, ToSchema)]
pub struct DrainResponse {
    /// `{number, status}`: the status each changed number has now.
    #[schema(value_type = Vec<Object>, example = json!([{"number": "+33780000001", "status": "draining"}]))]
    changed: Vec<serde_json::Value>,
    /// `{number, status}`: already as asked.
    #[schema(value_type = Vec<Object>, example = json!([]))]
    unchanged: Vec<serde_json::Value>,
    /// Not in the pool.
    #[schema(example = json!([]))]
    not_found: Vec<String>,
    /// `{number, error}`: reserved for an activation, released, or another status that
    /// cannot be drained.
    #[schema(value_type = Vec<Object>, example = json!([]))]
    failed: Vec<serde_json::Value>,
    #[schema(example = false)]
    undo: bool,
    /// Naive UTC.
    #[schema(example = "2026-11-30 09:15:02")]
    ts: String,
}

/// Marks numbers `draining`: their client keeps them, no new client gets them, until they are
/// released (`POST /pool/release`). `undo` gives them back.
#[utoipa::path(post, path = "/pool/drain", tag = "pool", request_body = DrainRequest,
    responses(
        (status = 200, body = DrainResponse, description = "what was drained"),
        (status = 422, body = ErrorBody, description = "no numbers, too many, or one that is not a phone number (named)"),
    ))]
pub async fn drain(
    State(state): State<AppState>,
    Json(req): Json<DrainRequest>,
) -> Result<axum::Json<DrainResponse>, ApiError> {
    let r = pool::drain(&state.app, &req.numbers, req.undo).await?;
    Ok(axum::Json(DrainResponse {
        changed: r.changed,
        unchanged: r.unchanged,
        not_found: r.not_found,
        failed: r.failed,
        undo: r.undo,
        ts: r.ts,
    }))
}
