//! `GET /admin/outbox`: the outbox's failed texts and calls, newest first, 50 a page (keyset:
//! `?after=<id>`) — to whom (masked), when, tries, last error, never a body — and for operators
//! the form that queues one again through the outbox's own requeue (`app::outbox::requeue`,
//! as `proxycall outbox requeue` does), which refuses a send that may have left.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::page::{self, AdminFrame, Section, when, words};
use super::session::{AnyRole, Operator, OperatorRole, RequireRole};
use crate::app::outbox;
use crate::domain::Role;
use crate::http::AppState;
use crate::http::pages::frame::html;

const PAGE: i64 = 50;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// The messages older than this id (the last of the previous page).
    after: Option<String>,
    /// fr or en.
    #[allow(dead_code)]
    lang: Option<String>,
}

pub struct Row {
    pub id: i64,
    pub kind: &'static str,
    pub purpose: String,
    /// Masked: the page shows whom it was for, not the whole number.
    pub to: String,
    pub created: String,
    pub failed: String,
    pub attempts: i64,
    pub error: String,
}

#[derive(Template)]
#[template(path = "admin/outbox.html")]
pub struct OutboxPage {
    pub frame: AdminFrame,
    /// What the last requeue did.
    pub notice: Option<String>,
    pub rows: Vec<Row>,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
    pub can_operate: bool,
    pub csrf_token: String,
}

/// The outbox's failed messages.
#[utoipa::path(get, path = "/admin/outbox", tag = "admin", params(OutboxQuery),
    responses((status = 200, content_type = "text/html", body = String, description = "the outbox's failed messages"),
        (status = 400, content_type = "text/html", body = String,
            description = "`after` is not a positive whole number")))]
pub async fn failed(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AnyRole>,
    Query(query): Query<OutboxQuery>,
) -> Response {
    let Ok(after) = page::keyset_id(&query.after) else {
        return page::bad_input(&operator, Section::Jobs, "after", "> 0");
    };
    render(&state, &operator, after, None).await
}

async fn render(
    state: &AppState,
    operator: &Operator,
    after: Option<i64>,
    notice: Option<String>,
) -> Response {
    let w = words(operator.language);
    let messages = match outbox::failed_page(&state.app, after, PAGE).await {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "the outbox could not be read");
            return page::error(operator.language);
        }
    };
    let next_href = (messages.len() as i64 == PAGE)
        .then(|| {
            messages
                .last()
                .map(|m| format!("/admin/outbox?after={}", m.id))
        })
        .flatten();
    let rows = messages
        .into_iter()
        .map(|m| Row {
            id: m.id,
            kind: m.kind.as_str(),
            purpose: m.purpose,
            to: m.to.masked().to_string(),
            created: when(m.created_at),
            failed: when(m.failed_at),
            attempts: m.attempts,
            error: m.last_error.unwrap_or_default(),
        })
        .collect();
    let can_operate = operator.role().allows(Role::Operator);
    let csrf_token = operator.current.session.csrf_token.clone();
    let frame = operator
        .frame(&w.outbox_title, Some(Section::Jobs))
        .switch_to("/admin/outbox");
    html(
        StatusCode::OK,
        &OutboxPage {
            frame,
            notice,
            rows,
            next_href,
            first_href: after.map(|_| "/admin/outbox".to_owned()),
            can_operate,
            csrf_token,
        },
    )
}

/// Queues a failed message again (operators and admins): the outbox's requeue, which says why
/// when it refuses; then the outbox's page, saying what it did.
#[utoipa::path(post, path = "/admin/outbox/{id}/requeue", tag = "admin",
    params(("id" = i64, Path, description = "the message's id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "csrf_token",
        example = json!({"csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 200, content_type = "text/html", body = String,
            description = "the outbox's page, saying whether it was queued again and why not"),
        (status = 403, content_type = "text/html", body = String,
            description = "a viewer: nothing changes"),
        (status = 404, content_type = "text/html", body = String, description = "no message of the outbox has this id")))]
pub async fn requeue(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<OperatorRole>,
    Path(id): Path<String>,
) -> Response {
    let w = words(operator.language);
    let Some(id) = id.parse::<i64>().ok().filter(|id| *id > 0) else {
        return super::jobs::refused(
            &operator,
            StatusCode::NOT_FOUND,
            Section::Jobs,
            &w.bad_page_title,
            w.bad_page_text.clone(),
            ("/admin/outbox", &w.outbox_title),
        );
    };
    let done = match outbox::requeue(&state.app, &[id], Utc::now()).await {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, id, "a message could not be requeued");
            return page::error(operator.language);
        }
    };
    let notice = if let Some(m) = done.requeued.first() {
        // Whom it goes to stays out of the log: the message's id finds it.
        let details = json!({ "kind": m.kind.as_str(), "purpose": m.purpose });
        operator
            .record(
                &state.app,
                "outbox.requeue",
                Some(&format!("outbound:{id}")),
                details,
            )
            .await;
        w.outbox_requeued.replace("{id}", &id.to_string())
    } else {
        let reason = done
            .refused
            .first()
            .map(|(_, why)| why.as_str())
            .unwrap_or_default();
        w.outbox_refused
            .replace("{id}", &id.to_string())
            .replace("{reason}", reason)
    };
    render(&state, &operator, None, Some(notice)).await
}
