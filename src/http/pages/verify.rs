//! `GET /confirmations/verify?token=…`: the verification link sent by SMS and e-mail. The
//! earlier version's page (API-COMPAT §3): its titles, texts and statuses, plus an expired and
//! a locked activation of our own.

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::frame::{self, Frame, Notice, html, language, words};
use crate::app::activation::{self, LinkOutcome};
use crate::http::AppState;
use crate::http::address::client_address;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::limits::Refusal;

const ROUTE: &str = "/confirmations/verify";
/// Longer than any token we send: not worth a look in the database.
const MAX_TOKEN_LEN: usize = 256;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// The link's single-use token.
    token: Option<String>,
    /// `fr` or `en`.
    lang: Option<String>,
}

/// The verification link: confirms the activation once. The title is both `<title>` and
/// `<h1>`: `Confirmation réussie` (200), `Lien invalide` (400, no token), `Confirmation
/// introuvable` (404), `Déjà traité` (400, used before), `Lien expiré` / `Demande bloquée`
/// (400), `Erreur` (500).
#[utoipa::path(get, path = "/confirmations/verify", tag = "pages", params(VerifyQuery),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "confirmed"),
        (status = 400, content_type = "text/html", body = String,
            description = "no token, a link used before, an expired or locked activation"),
        (status = 404, content_type = "text/html", body = String, description = "unknown token"),
        (status = 429, content_type = "text/html", body = String,
            description = "an address that keeps opening bad links"),
        (status = 500, content_type = "text/html", body = String, description = "an internal error: the page says to retry later")))]
pub async fn verify(
    State(state): State<AppState>,
    Query(query): Query<VerifyQuery>,
    req: Request,
) -> Response {
    let address = client_address(&state, &req);
    let language = language(&state, query.lang.as_deref(), req.headers());
    let w = words(language);
    let token = query.token.as_deref().map(str::trim).unwrap_or("");
    let outcome = if token.is_empty() {
        None
    } else if token.len() > MAX_TOKEN_LEN {
        Some(Ok(LinkOutcome::Unknown))
    } else {
        Some(activation::verify_link(&state.app, token).await)
    };
    let bad = matches!(outcome, None | Some(Ok(LinkOutcome::Unknown)));
    if bad && let Err(over) = state.limits.refused(address, Refusal::UnknownLink, ROUTE) {
        return frame::too_many(language, over);
    }
    // An activation that ended without a confirmation can be started again.
    let ended = matches!(
        outcome,
        Some(Ok(LinkOutcome::Expired | LinkOutcome::Locked))
    );
    let (status, title, text) = match outcome {
        None => (
            ErrorCode::BadRequest.status(),
            &w.verify_invalid_title,
            &w.verify_invalid_text,
        ),
        Some(Ok(LinkOutcome::Confirmed(_))) => (
            StatusCode::OK,
            &w.verify_success_title,
            &w.verify_success_text,
        ),
        Some(Ok(LinkOutcome::AlreadyUsed)) => (
            ErrorCode::BadRequest.status(),
            &w.verify_already_title,
            &w.verify_already_text,
        ),
        Some(Ok(LinkOutcome::Unknown)) => (
            ErrorCode::NotFound.status(),
            &w.verify_not_found_title,
            &w.verify_not_found_text,
        ),
        Some(Ok(LinkOutcome::Expired)) => (
            ErrorCode::BadRequest.status(),
            &w.verify_expired_title,
            &w.verify_expired_text,
        ),
        Some(Ok(LinkOutcome::ConfirmFromPhone)) => (
            ErrorCode::Forbidden.status(),
            &w.verify_confirm_from_phone_title,
            &w.verify_confirm_from_phone_text,
        ),
        Some(Ok(LinkOutcome::ConfirmFromEmail)) => (
            ErrorCode::Forbidden.status(),
            &w.verify_confirm_from_email_title,
            &w.verify_confirm_from_email_text,
        ),
        Some(Ok(LinkOutcome::Locked)) => (
            ErrorCode::BadRequest.status(),
            &w.verify_locked_title,
            &w.verify_locked_text,
        ),
        Some(Err(e)) => (
            ApiError::from(e).status,
            &w.verify_error_title,
            &w.verify_error_text,
        ),
    };
    // No link to the other language: opening the link again would use it again.
    let notice = Notice::new(Frame::new(language, title), text);
    html(
        status,
        &if ended {
            notice.with_form_link()
        } else {
            notice
        },
    )
}
