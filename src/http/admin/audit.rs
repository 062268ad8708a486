//! `GET /admin/audit`: the audit log, newest first, 50 a page (keyset: `?before=<id>`).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::page::{self, AdminFrame, Section, words};
use super::session::{AdminRole, RequireRole};
use crate::app::operators::audit;
use crate::http::AppState;
use crate::http::pages::frame::html;

const PAGE: i64 = 50;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The entries older than this id (the last of the previous page).
    before: Option<String>,
    /// fr or en.
    #[allow(dead_code)]
    lang: Option<String>,
}

pub struct Row {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
pub struct AuditPage {
    pub frame: AdminFrame,
    pub rows: Vec<Row>,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
}

/// The audit log (admins only).
#[utoipa::path(get, path = "/admin/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, content_type = "text/html", body = String, description = "the audit log"),
        (status = 400, content_type = "text/html", body = String,
            description = "`before` is not a positive whole number"),
        (status = 403, content_type = "text/html", body = String,
            description = "the operator is not an admin")))]
pub async fn audit(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AdminRole>,
    Query(query): Query<AuditQuery>,
) -> Response {
    let w = words(operator.language);
    let before = match page::keyset_id(&query.before) {
        Ok(before) => before,
        Err(()) => {
            return page::notice(
                StatusCode::BAD_REQUEST,
                AdminFrame {
                    title: w.bad_page_title.clone(),
                    ..operator.frame("", Some(Section::Audit))
                },
                &w.bad_page_text,
            );
        }
    };
    let entries = match audit::page(&state.app, before, PAGE).await {
        Ok(entries) => entries,
        Err(e) => {
            tracing::error!(error = %e, "the audit log could not be read");
            return page::error(operator.language);
        }
    };
    let next_href = (entries.len() as i64 == PAGE)
        .then(|| {
            entries
                .last()
                .map(|e| format!("/admin/audit?before={}", e.id))
        })
        .flatten();
    let rows = entries
        .into_iter()
        .map(|e| Row {
            at: e.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            actor: e.actor,
            action: e.action,
            target: e.target.unwrap_or_default(),
            details: e.details,
        })
        .collect();
    let frame = operator
        .frame(&w.audit_title, Some(Section::Audit))
        .switch_to("/admin/audit");
    html(
        StatusCode::OK,
        &AuditPage {
            frame,
            rows,
            next_href,
            first_href: before.map(|_| "/admin/audit".to_owned()),
        },
    )
}
