//! `GET /admin/jobs`: the jobs, newest first, by status and kind, 50 a page (keyset:
//! `?after=<id>`), failed ones with their error, and for operators the form that queues a
//! failed one again (`POST /admin/jobs/{id}/requeue`, `app::jobs::requeue_failed`).
//!
//! `GET /admin/jobs/{id}`: an operation's status, progress and report, as lists and tables
//! (the API's `GET /jobs/{id}` gives the same as JSON). While it runs, a link reloads it: no
//! script, and no reload on a timer, which would take the page away from someone reading it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::page::{self, AdminFrame, Notice, Section, blank, see_other, when, words};
use super::session::{AnyRole, Operator, OperatorRole, RequireRole};
use crate::app::jobs::{self as jobs_app, RequeueRefusal};
use crate::app::{dashboard, operations};
use crate::domain::Role;
use crate::http::AppState;
use crate::http::pages::frame::html;
use crate::store::JobStatus;

const PAGE: i64 = 50;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// queued, running, done, failed; blank for all.
    status: Option<String>,
    /// A job kind (`outbound.send`…), blank for all.
    kind: Option<String>,
    /// The jobs older than this id (the last of the previous page).
    after: Option<String>,
    /// fr or en.
    #[allow(dead_code)]
    lang: Option<String>,
}

pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub status: &'static str,
    pub attempts: String,
    pub due: String,
    pub updated: String,
    pub error: String,
    /// Failed, and of a kind that may go back in the queue.
    pub requeue: bool,
}

pub struct Choice {
    pub value: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "admin/jobs.html")]
pub struct JobsPage {
    pub frame: AdminFrame,
    pub kind: String,
    pub statuses: Vec<Choice>,
    pub rows: Vec<JobRow>,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
    pub can_operate: bool,
    pub csrf_token: String,
}

/// A kind as jobs are named: lowercase letters, digits, `.` and `_`.
fn kind_filter(raw: Option<&str>) -> Result<Option<&str>, String> {
    match raw {
        None => Ok(None),
        Some(k)
            if k.len() <= 64
                && k.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_'
                }) =>
        {
            Ok(Some(k))
        }
        Some(_) => Err("a-z, 0-9, “.”, “_”".into()),
    }
}

/// The jobs, newest first; failed ones with their error.
#[utoipa::path(get, path = "/admin/jobs", tag = "admin", params(JobsQuery),
    responses((status = 200, content_type = "text/html", body = String, description = "the jobs, newest first; failed ones with their error"),
        (status = 400, content_type = "text/html", body = String,
            description = "a filter or the page is not valid: the page names it")))]
pub async fn jobs(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AnyRole>,
    Query(query): Query<JobsQuery>,
) -> Response {
    let w = words(operator.language);
    let status = match blank(&query.status).map(|s| JobStatus::parse(s).ok_or(s)) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(_)) => {
            let all = JobStatus::ALL.map(JobStatus::as_str).join(", ");
            return page::bad_input(&operator, Section::Jobs, "status", &all);
        }
    };
    let kind = match kind_filter(blank(&query.kind)) {
        Ok(k) => k,
        Err(reason) => return page::bad_input(&operator, Section::Jobs, "kind", &reason),
    };
    let Ok(after) = page::keyset_id(&query.after) else {
        return page::bad_input(&operator, Section::Jobs, "after", "> 0");
    };
    let found = match jobs_app::page(&state.app, kind, status, after, PAGE).await {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "the jobs could not be read");
            return page::error(operator.language);
        }
    };
    let query_of = |after: Option<i64>| {
        let mut q = format!(
            "/admin/jobs?status={}&kind={}",
            status.map(JobStatus::as_str).unwrap_or_default(),
            kind.unwrap_or_default()
        );
        if let Some(after) = after {
            q.push_str(&format!("&after={after}"));
        }
        q
    };
    let next_href = (found.len() as i64 == PAGE)
        .then(|| found.last().map(|j| query_of(Some(j.id))))
        .flatten();
    let rows = found
        .iter()
        .map(|j| JobRow {
            id: j.id,
            kind: j.kind.clone(),
            status: j.status.as_str(),
            attempts: format!("{} / {}", j.attempts, j.max_attempts),
            due: when(j.due_at),
            updated: when(j.updated_at),
            error: if j.status == JobStatus::Failed {
                j.last_error.clone().unwrap_or_default()
            } else {
                String::new()
            },
            requeue: jobs_app::requeue_refusal(j).is_none(),
        })
        .collect();
    let statuses = std::iter::once(Choice {
        value: "",
        selected: status.is_none(),
    })
    .chain(JobStatus::ALL.iter().map(|s| Choice {
        value: s.as_str(),
        selected: status == Some(*s),
    }))
    .collect();
    let can_operate = operator.role().allows(Role::Operator);
    let csrf_token = operator.current.session.csrf_token.clone();
    let frame = operator
        .frame(&w.jobs_title, Some(Section::Jobs))
        .switch_to("/admin/jobs");
    html(
        StatusCode::OK,
        &JobsPage {
            frame,
            kind: kind.unwrap_or_default().to_owned(),
            statuses,
            rows,
            next_href,
            first_href: after.map(|_| query_of(None)),
            can_operate,
            csrf_token,
        },
    )
}

/// A page saying why nothing was done, with the way back to `back`.
pub(super) fn refused(
    operator: &Operator,
    status: StatusCode,
    section: Section,
    title: &str,
    text: String,
    back: (&str, &str),
) -> Response {
    html(
        status,
        &Notice {
            frame: AdminFrame {
                title: title.to_owned(),
                ..operator.frame("", Some(section))
            },
            text,
            link: Some((back.0.to_owned(), back.1.to_owned())),
        },
    )
}

/// Queues a failed job again (operators and admins), then to its page.
#[utoipa::path(post, path = "/admin/jobs/{id}/requeue", tag = "admin",
    params(("id" = i64, Path, description = "the job's id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "csrf_token",
        example = json!({"csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 303, description = "to the job's page"),
        (status = 403, content_type = "text/html", body = String,
            description = "a viewer: nothing changes"),
        (status = 404, content_type = "text/html", body = String, description = "no job has this id"),
        (status = 409, content_type = "text/html", body = String,
            description = "the job is not failed, or goes back another way: the page says which")))]
pub async fn requeue(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<OperatorRole>,
    Path(id): Path<String>,
) -> Response {
    let w = words(operator.language);
    let back = ("/admin/jobs", w.jobs_back.as_str());
    let Some(id) = id.parse::<i64>().ok().filter(|id| *id > 0) else {
        return refused(
            &operator,
            StatusCode::NOT_FOUND,
            Section::Jobs,
            &w.bad_page_title,
            w.job_not_found.clone(),
            back,
        );
    };
    let job = match jobs_app::requeue_failed(&state.app, id, Utc::now()).await {
        Ok(Ok(job)) => job,
        Ok(Err(refusal)) => {
            let (status, text) = match refusal {
                RequeueRefusal::Unknown => (StatusCode::NOT_FOUND, &w.job_not_found),
                RequeueRefusal::NotFailed => (StatusCode::CONFLICT, &w.requeue_not_failed),
                RequeueRefusal::Outbox => (StatusCode::CONFLICT, &w.requeue_outbox),
                RequeueRefusal::Email => (StatusCode::CONFLICT, &w.requeue_email),
                RequeueRefusal::Operation => (StatusCode::CONFLICT, &w.requeue_operation),
            };
            return refused(
                &operator,
                status,
                Section::Jobs,
                &w.requeue_refused_title,
                text.clone(),
                back,
            );
        }
        Err(e) => {
            tracing::error!(error = %e, job_id = id, "a job could not be requeued");
            return page::error(operator.language);
        }
    };
    operator
        .record(
            &state.app,
            "job.requeue",
            Some(&format!("job:{id}")),
            json!({ "kind": job.kind, "attempts_before": job.attempts }),
        )
        .await;
    see_other(&format!("/admin/jobs/{id}"))
}

/// A report's entry: its name, and either a value or a table (a list of objects).
pub struct Entry {
    pub name: String,
    pub value: String,
    pub table: Option<Table>,
}

pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

#[derive(Template)]
#[template(path = "admin/job.html")]
pub struct JobPage {
    pub frame: AdminFrame,
    pub kind: String,
    pub status: String,
    pub running: bool,
    /// This page again: while the job runs, the operator reloads it with a link (a page that
    /// reloads itself on a timer fails WCAG 2.2.1).
    pub self_href: String,
    pub progress: Vec<Entry>,
    pub report: Vec<Entry>,
    pub error: Option<String>,
}

/// An operation's page.
#[utoipa::path(get, path = "/admin/jobs/{id}", tag = "admin",
    params(("id" = i64, Path, description = "the job's id")),
    responses((status = 200, content_type = "text/html", body = String, description = "the operation's page"),
        (status = 404, content_type = "text/html", body = String, description = "no job has this id")))]
pub async fn job(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AnyRole>,
    Path(id): Path<String>,
) -> Response {
    let w = words(operator.language);
    let not_found = |operator: &super::session::Operator| {
        page::notice(
            StatusCode::NOT_FOUND,
            AdminFrame {
                title: w.bad_page_title.clone(),
                ..operator.frame("", Some(Section::Jobs))
            },
            &w.job_not_found,
        )
    };
    let Ok(id) = id.parse::<i64>() else {
        return not_found(&operator);
    };
    let job = match dashboard::job(&state.app, id).await {
        Ok(Some(job)) => job,
        Ok(None) => return not_found(&operator),
        Err(e) => {
            tracing::error!(error = %e, "a job could not be read");
            return page::error(operator.language);
        }
    };
    let running = matches!(job.status, JobStatus::Queued | JobStatus::Running);
    let error = (job.status == JobStatus::Failed).then(|| operations::failure(&job).to_string());
    let frame = operator
        .frame(
            w.job_title.replace("{id}", &id.to_string()),
            Some(Section::Jobs),
        )
        .switch_to(&format!("/admin/jobs/{id}"));
    html(
        StatusCode::OK,
        &JobPage {
            frame,
            kind: job.kind.clone(),
            status: job.status.as_str().to_owned(),
            running,
            self_href: format!("/admin/jobs/{id}"),
            progress: entries(operations::parse(job.progress.as_deref())),
            report: entries(operations::parse(job.result.as_deref())),
            error,
        },
    )
}

/// The page of an operation done at once (a drain): its report, as a finished job's.
pub(super) fn report_page(
    operator: &super::session::Operator,
    kind: &str,
    report: Value,
) -> Response {
    let w = words(operator.language);
    let frame = operator.frame(&w.job_report, Some(Section::Pool));
    html(
        StatusCode::OK,
        &JobPage {
            frame,
            kind: kind.to_owned(),
            status: JobStatus::Done.as_str().to_owned(),
            running: false,
            self_href: String::new(),
            progress: Vec::new(),
            report: entries(Some(report)),
            error: None,
        },
    )
}

/// An object's fields, in order: scalars as text, lists of objects as tables.
fn entries(value: Option<Value>) -> Vec<Entry> {
    let Some(Value::Object(map)) = value else {
        return Vec::new();
    };
    map.into_iter()
        .map(|(name, v)| match v {
            Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
                let mut columns: Vec<String> = Vec::new();
                for item in &items {
                    for k in item.as_object().into_iter().flat_map(|o| o.keys()) {
                        if !columns.contains(k) {
                            columns.push(k.clone());
                        }
                    }
                }
                let rows = items
                    .iter()
                    .map(|item| columns.iter().map(|c| text(item.get(c))).collect())
                    .collect();
                Entry {
                    name,
                    value: String::new(),
                    table: Some(Table { columns, rows }),
                }
            }
            other => Entry {
                name,
                value: text(Some(&other)),
                table: None,
            },
        })
        .collect()
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| text(Some(i)))
            .collect::<Vec<_>>()
            .join(", "),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", text(Some(v))))
            .collect::<Vec<_>>()
            .join("; "),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_report_becomes_values_and_tables() {
        let e = entries(Some(json!({
            "bought": [{"phone_number": "+33700000001", "sid": "PN1"}, {"phone_number": "+33700000002"}],
            "skipped": [],
            "requested": 2,
        })));
        let names: Vec<_> = e.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names.len(), 3);
        let bought = e.iter().find(|e| e.name == "bought").unwrap();
        let table = bought.table.as_ref().unwrap();
        assert_eq!(table.columns, ["phone_number", "sid"]);
        assert_eq!(table.rows[1], ["+33700000002", ""]);
        assert_eq!(e.iter().find(|e| e.name == "requested").unwrap().value, "2");
    }
}
