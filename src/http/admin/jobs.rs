//! `GET /admin/jobs/{id}`: an operation's status, progress and report, as lists and tables
//! (the API's `GET /jobs/{id}` gives the same as JSON). While it runs the page reloads itself
//! every 2 s with a `<meta>` refresh: no script.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::page::{self, AdminFrame, Section, words};
use super::session::{AnyRole, RequireRole};
use crate::app::{dashboard, operations};
use crate::http::AppState;
use crate::http::pages::frame::html;
use crate::store::JobStatus;

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
    pub progress: Vec<Entry>,
    pub report: Vec<Entry>,
    pub error: Option<String>,
}

/// An operation's page.
#[utoipa::path(get, path = "/admin/jobs/{id}", tag = "admin",
    params(("id" = i64, Path, description = "the job's id")),
    responses((status = 200, content_type = "text/html", body = String),
        (status = 404, content_type = "text/html", body = String)))]
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
