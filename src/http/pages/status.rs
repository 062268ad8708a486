//! `GET /activate/status?pending_id=…`: where the activation this browser started stands, and
//! what happens next. While it waits, a link updates it: a page that reloads by itself on a timer takes the
//! reader's place away from them (WCAG 2.2.1; axe's `meta-refresh`).

use askama::Template;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::cookies::{self, Cookie};
use super::frame::{self, Frame, Notice, html, language, words};
use crate::app::AppError;
use crate::app::activation::{self, ActivationView};
use crate::domain::{ActivationStatus, PendingId};
use crate::http::AppState;
use crate::http::address::client_address;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::limits::Refusal;
use crate::messages::Language;

const ROUTE: &str = "/activate/status";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// The activation, as `POST /activate` redirected to it.
    pending_id: Option<String>,
    /// `fr` or `en`.
    lang: Option<String>,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage {
    frame: Frame,
    /// `PENDING`, `PROMOTED`…, for machines (`data-status`).
    status_code: &'static str,
    /// `done` or `stopped`, for the stylesheet.
    tone: &'static str,
    status_text: String,
    wrong_text: Option<String>,
    waiting: bool,
    refresh_note: String,
    self_href: String,
    new_href: String,
}

/// The activation's status, shown only to the browser that started it (its cookie); what
/// happens next while it waits. Updates itself every few seconds, without script.
#[utoipa::path(get, path = "/activate/status", tag = "pages", params(StatusQuery),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the activation's state, for its owner"),
        (status = 404, content_type = "text/html", body = String,
            description = "no such activation, or not started from this browser"),
        (status = 429, content_type = "text/html", body = String,
            description = "an address that keeps asking for unknown activations")))]
pub async fn status(
    State(state): State<AppState>,
    Query(query): Query<StatusQuery>,
    req: Request,
) -> Response {
    let address = client_address(&state, &req);
    let headers = req.headers();
    let language = language(&state, query.lang.as_deref(), headers);
    // Not this browser's activation (ids given through the API may be guessable): the same
    // answer as an unknown one, and charged to the address like one.
    let cookie = Cookie::Activation.read(&state, headers);
    let id = query
        .pending_id
        .as_deref()
        .and_then(|raw| PendingId::parse(raw).ok())
        .filter(|id| cookies::same(cookie.as_deref(), id.as_str()));
    let found = match id {
        Some(id) => match activation::status(&state.app, &id).await {
            Ok(view) => Ok(view),
            Err(AppError::NotFound { .. }) => Err(None),
            Err(e) => Err(Some(ApiError::from(e))),
        },
        None => Err(None),
    };
    match found {
        Ok(view) => html(StatusCode::OK, &page(language, &view)),
        Err(Some(failure)) => {
            let w = words(language);
            html(
                failure.status,
                &Notice::new(Frame::new(language, &w.error_title), &w.error_unavailable),
            )
        }
        Err(None) => {
            if let Err(over) = state
                .limits
                .refused(address, Refusal::UnknownActivation, ROUTE)
            {
                return frame::too_many(language, over);
            }
            let w = words(language);
            html(
                ErrorCode::NotFound.status(),
                &Notice::new(
                    Frame::new(language, &w.status_unknown_title),
                    &w.status_unknown_text,
                )
                .with_form_link(),
            )
        }
    }
}

fn page(language: Language, view: &ActivationView) -> StatusPage {
    let w = words(language);
    let status = view.status;
    let (text, tone) = match status {
        ActivationStatus::Pending => (w.status_pending.clone(), ""),
        ActivationStatus::PendingCall => (w.status_pending_call.clone(), ""),
        ActivationStatus::PendingMail => (w.status_pending_mail.clone(), ""),
        ActivationStatus::Verified => (w.status_verified.clone(), "done"),
        // Only now is the number shown: the visitor has proved the phone is theirs.
        ActivationStatus::Promoted | ActivationStatus::Updated(_) => (
            w.status_done.replace("{proxy}", view.proxy_number.as_str()),
            "done",
        ),
        ActivationStatus::Expired => (w.status_expired.clone(), "stopped"),
        ActivationStatus::Locked => (w.status_locked.clone(), "stopped"),
    };
    let waiting = status.is_waiting() || status == ActivationStatus::Verified;
    let self_href = format!(
        "/activate/status?pending_id={}&lang={}",
        view.pending_id.as_str(),
        language.as_str()
    );
    let frame = Frame::new(language, &w.status_title).switch_to(&format!(
        "/activate/status?pending_id={}",
        view.pending_id.as_str()
    ));
    StatusPage {
        frame,
        status_code: status.as_str(),
        tone,
        status_text: text,
        wrong_text: (status.is_waiting() && view.wrong_answers > 0).then(|| {
            w.wrong_answers
                .replace("{wrong}", &view.wrong_answers.to_string())
                .replace("{max}", &view.max_wrong.to_string())
        }),
        waiting,
        refresh_note: w.refresh_note.clone(),
        self_href,
        new_href: format!("/activate?lang={}", language.as_str()),
    }
}
