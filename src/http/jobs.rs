//! `GET /jobs/{job_id}`: how a background job is doing, and its report once done.

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::scoped;
use super::error::{ApiError, ErrorBody};
use crate::app::jobs;
use crate::domain::Scope;
use crate::store::Job;

/// Following a job is reading: `read`.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    scoped(
        state,
        Scope::Read,
        OpenApiRouter::new().routes(routes!(get_job)),
    )
}

/// A job as its caller follows it. Its payload is not shown: it is the job's input, which may
/// hold personal data.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "job_id": 7,
    "kind": "pool.release",
    "status": "running",
    "attempts": 1,
    "max_attempts": 5,
    "due_at": "2026-11-30T09:15:02Z",
    "created_at": "2026-11-30T09:15:02Z",
    "updated_at": "2026-11-30T09:15:04Z",
    "finished_at": null,
    "last_error": null,
    "progress": {"done": 2, "of": 5},
    "result": null
}))]
pub struct JobResponse {
    #[schema(example = 1)]
    job_id: i64,
    /// e.g. `outbound.send`, `interactions.purge`.
    #[schema(example = "pool.release")]
    kind: String,
    /// `queued`, `running`, `done` or `failed`.
    #[schema(example = "running")]
    status: String,
    /// Tries so far.
    #[schema(example = 1)]
    attempts: i64,
    #[schema(example = 5)]
    max_attempts: i64,
    /// When it is (or was) due to run.
    #[schema(example = "2026-11-30T09:15:02Z")]
    due_at: DateTime<Utc>,
    #[schema(example = "2026-11-30T09:15:02Z")]
    created_at: DateTime<Utc>,
    #[schema(example = "2026-11-30T09:15:04Z")]
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    /// What a long job has done so far.
    #[schema(value_type = Option<Object>, example = json!({"done": 2, "of": 5}))]
    progress: Option<serde_json::Value>,
    /// The job's report once done.
    #[schema(value_type = Option<Object>)]
    result: Option<serde_json::Value>,
}

fn json(raw: Option<String>) -> Option<serde_json::Value> {
    raw.and_then(|r| serde_json::from_str(&r).ok())
}

impl From<Job> for JobResponse {
    fn from(j: Job) -> Self {
        Self {
            job_id: j.id,
            kind: j.kind,
            status: j.status.as_str().to_owned(),
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            due_at: j.due_at,
            created_at: j.created_at,
            updated_at: j.updated_at,
            finished_at: j.finished_at,
            last_error: j.last_error,
            progress: json(j.progress),
            result: json(j.result),
        }
    }
}

/// A background job: its status, progress and, once done, its report.
#[utoipa::path(get, path = "/jobs/{job_id}", tag = "operations",
    params(("job_id" = i64, Path, example = 1)),
    responses((status = 200, body = JobResponse, description = "the job, with its report once finished"), (status = 404, body = ErrorBody, description = "`not_found`: no job has this id",
            example = json!({"code": "not_found", "message": "job not found", "detail": "job not found"})),
              (status = 422, body = ErrorBody, description = "`invalid_input`: `job_id` is not a positive integer")))]
pub async fn get_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<JobResponse>, ApiError> {
    let id: i64 = id
        .parse()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::invalid("job_id", "a positive integer"))?;
    Ok(axum::Json(jobs::get(&state.app, id).await?.into()))
}
