//! The pool's other operations from `/admin/pool` (operators and admins): sync, fix the
//! webhooks, purge the numbers without SMS, release — each the API's own job, started by
//! `pool::start` — and drain, which is immediate and answers its report at once.

use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::jobs;
use super::page::{self, Section};
use super::pool::start;
use super::session::{Operator, OperatorRole, RequireRole};
use crate::app::AppError;
use crate::app::pool::{self, FixWebhooksJob, PurgeWithoutSmsJob, ReleaseJob};
use crate::app::sync::SyncJob;
use crate::domain::E164;
use crate::http::AppState;

/// A checkbox: sent (`on`) when ticked, absent otherwise.
fn ticked(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|v| !v.is_empty())
}

fn requested_by(operator: &Operator) -> Option<String> {
    Some(format!("operator:{}", operator.operator().id))
}

pub(super) fn refuse(operator: &Operator, field: &str, reason: &str) -> Response {
    page::bad_filter(operator, Section::Pool, field, reason)
}

/// Numbers typed one a line (or separated by spaces or commas), each a phone number.
fn numbers(raw: &str) -> Result<Vec<E164>, String> {
    raw.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(|s| E164::parse(s).map_err(|e| format!("{s}: {e}")))
        .collect()
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SyncForm {
    apply: Option<String>,
}

/// Compares the pool with the carrier's numbers (`POST /pool/sync`); `apply` ticked changes it.
#[utoipa::path(post, path = "/admin/pool/sync", tag = "admin",
    request_body(content = SyncForm, content_type = "application/x-www-form-urlencoded",
        example = json!({"apply": "on", "csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 303, description = "to the job's page"),
        (status = 403, content_type = "text/html", body = String, description = "a viewer: nothing runs")))]
pub async fn sync(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<OperatorRole>,
    Form(form): Form<SyncForm>,
) -> Response {
    let job = SyncJob {
        apply: ticked(&form.apply),
        requested_by: requested_by(&operator),
    };
    let details = json!({"apply": job.apply});
    start(&state, &operator, &job, details).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct FixWebhooksForm {
    apply: Option<String>,
    fix_sms: Option<String>,
}

/// Points the numbers' webhooks at this server (`POST /pool/fix-webhooks`); a dry run unless
/// `apply` is ticked.
#[utoipa::path(post, path = "/admin/pool/fix-webhooks", tag = "admin",
    request_body(content = FixWebhooksForm, content_type = "application/x-www-form-urlencoded",
        example = json!({"apply": "on", "fix_sms": "on", "csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 303, description = "to the job's page"),
        (status = 403, content_type = "text/html", body = String, description = "a viewer: nothing runs")))]
pub async fn fix_webhooks(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<OperatorRole>,
    Form(form): Form<FixWebhooksForm>,
) -> Response {
    let job = FixWebhooksJob {
        dry_run: !ticked(&form.apply),
        only_country: None,
        only_status: None,
        fix_sms: ticked(&form.fix_sms),
        requested_by: requested_by(&operator),
    };
    if let Err(AppError::Invalid { field, message }) = job.check() {
        return refuse(&operator, field, &message);
    }
    let details = json!({"dry_run": job.dry_run, "fix_sms": job.fix_sms});
    start(&state, &operator, &job, details).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PurgeForm {
    force: Option<String>,
}

/// Releases the numbers that cannot take texts (`POST /pool/purge-without-sms`).
#[utoipa::path(post, path = "/admin/pool/purge-without-sms", tag = "admin",
    request_body(content = PurgeForm, content_type = "application/x-www-form-urlencoded",
        example = json!({"csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 303, description = "to the job's page"),
        (status = 403, content_type = "text/html", body = String, description = "a viewer: nothing runs")))]
pub async fn purge_without_sms(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<OperatorRole>,
    Form(form): Form<PurgeForm>,
) -> Response {
    let job = PurgeWithoutSmsJob {
        force: ticked(&form.force),
        requested_by: requested_by(&operator),
    };
    let details = json!({"force": job.force});
    start(&state, &operator, &job, details).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NumbersForm {
    numbers: String,
    /// Release: even a held number. Drain: give draining numbers back.
    force: Option<String>,
    undo: Option<String>,
}

/// Gives numbers back to the carrier (`POST /pool/release`).
#[utoipa::path(post, path = "/admin/pool/release", tag = "admin",
    request_body(content = NumbersForm, content_type = "application/x-www-form-urlencoded",
        example = json!({"numbers": "+33780000001\n+33780000002", "csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 303, description = "to the job's page"),
        (status = 400, content_type = "text/html", body = String,
            description = "a number is not valid: the page names the field"),
        (status = 403, content_type = "text/html", body = String, description = "a viewer: nothing runs")))]
pub async fn release(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<OperatorRole>,
    Form(form): Form<NumbersForm>,
) -> Response {
    let numbers = match numbers(&form.numbers) {
        Ok(n) => n,
        Err(reason) => return refuse(&operator, "numbers", &reason),
    };
    let job = ReleaseJob {
        numbers,
        force: ticked(&form.force),
        requested_by: requested_by(&operator),
    };
    if let Err(AppError::Invalid { field, message }) = job.check() {
        return refuse(&operator, field, &message);
    }
    // Pool numbers are ours, not personal: written in full.
    let details = json!({
        "numbers": job.numbers.iter().map(E164::as_str).collect::<Vec<_>>(),
        "force": job.force,
    });
    start(&state, &operator, &job, details).await
}

/// Drains numbers (or gives them back with `undo`): immediate, `POST /pool/drain`'s report.
#[utoipa::path(post, path = "/admin/pool/drain", tag = "admin",
    request_body(content = NumbersForm, content_type = "application/x-www-form-urlencoded",
        example = json!({"numbers": "+33780000001", "csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 200, content_type = "text/html", body = String, description = "the report"),
        (status = 400, content_type = "text/html", body = String,
            description = "a number is not valid: the page names the field"),
        (status = 403, content_type = "text/html", body = String, description = "a viewer: nothing runs")))]
pub async fn drain(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<OperatorRole>,
    Form(form): Form<NumbersForm>,
) -> Response {
    let numbers = match numbers(&form.numbers) {
        Ok(n) => n,
        Err(reason) => return refuse(&operator, "numbers", &reason),
    };
    let undo = ticked(&form.undo);
    let report = match pool::drain(&state.app, &numbers, undo).await {
        Ok(r) => r,
        Err(AppError::Invalid { field, message }) => return refuse(&operator, field, &message),
        Err(e) => {
            tracing::error!(error = %e, "a drain failed");
            return page::error(operator.language);
        }
    };
    let details = json!({
        "numbers": numbers.iter().map(E164::as_str).collect::<Vec<_>>(),
        "undo": undo,
    });
    operator
        .record(&state.app, "pool.drain", None, details)
        .await;
    let report = json!({
        "changed": report.changed,
        "unchanged": report.unchanged,
        "not_found": report.not_found,
        "failed": report.failed,
        "undo": report.undo,
    });
    jobs::report_page(&operator, "pool.drain", report)
}
