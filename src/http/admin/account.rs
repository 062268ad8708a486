//! `/admin/account/totp`: the operator's own second factor — enrol (a QR code, a first code,
//! then the recovery codes, shown once) or turn it off (with a code).

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::page::{self, AdminFrame, Section, see_other, words};
use super::session::Operator;
use crate::app::operators::{accounts, totp};
use crate::http::AppState;
use crate::http::pages::frame::html;

#[derive(Template)]
#[template(path = "admin/totp.html")]
pub struct TotpPage {
    pub frame: AdminFrame,
    pub csrf_token: String,
    /// The settings require a second factor and this operator has none yet.
    pub required: bool,
    pub enabled: bool,
    pub codes_left: i64,
    /// While enrolling: the QR code (an `<svg>` we drew) and the key.
    pub qr_svg: Option<String>,
    pub secret: Option<String>,
    /// Just enrolled: the recovery codes, shown this once.
    pub recovery_codes: Vec<String>,
    pub error: Option<String>,
}

async fn render(
    state: &AppState,
    operator: &Operator,
    status: StatusCode,
    error: Option<String>,
    recovery_codes: Vec<String>,
) -> Response {
    let app = &state.app;
    let w = words(operator.language);
    // Read again: the session's copy predates what this request changed.
    let fresh = match accounts::get(app, operator.operator().id).await {
        Ok(Some(fresh)) => fresh,
        Ok(None) => return see_other("/admin/login"),
        Err(e) => {
            tracing::error!(error = %e, "an operator could not be read");
            return page::error(operator.language);
        }
    };
    let (mut qr_svg, mut secret, mut codes_left) = (None, None, 0);
    if fresh.totp_enabled {
        codes_left = totp::recovery_codes_left(app, &fresh).await.unwrap_or(0);
    } else {
        match totp::start_enrolment(app, &fresh).await {
            Ok(enrolment) => {
                qr_svg = Some(enrolment.qr_svg);
                secret = Some(enrolment.secret);
            }
            Err(e) => {
                tracing::error!(error = %e, "an enrolment could not start");
                return page::error(operator.language);
            }
        }
    }
    let frame = operator
        .frame(&w.totp_title, Some(Section::Account))
        .switch_to("/admin/account/totp");
    html(
        status,
        &TotpPage {
            frame,
            csrf_token: operator.current.session.csrf_token.clone(),
            required: state.settings.admin.require_totp && !fresh.totp_enabled,
            enabled: fresh.totp_enabled,
            codes_left,
            qr_svg,
            secret,
            recovery_codes,
            error,
        },
    )
}

/// The operator's second factor: on (recovery codes left, a form to turn it off) or off (a
/// QR code and a form to turn it on).
#[utoipa::path(get, path = "/admin/account/totp", tag = "admin",
    responses((status = 200, content_type = "text/html", body = String, description = "the second factor's page: enrol (QR code) or turn it off"),
        (status = 303, description = "no live session: to /admin/login")))]
pub async fn totp_page(State(state): State<AppState>, operator: Operator) -> Response {
    render(&state, &operator, StatusCode::OK, None, Vec::new()).await
}

/// `action=enable` with the first `code` from the app (then the recovery codes, once), or
/// `action=disable` with a code or a recovery code; with the session's `csrf_token`.
#[utoipa::path(post, path = "/admin/account/totp", tag = "admin",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "action (enable or disable), code, csrf_token",
        example = json!({"action": "enable", "code": "482913", "csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses(
        (status = 200, content_type = "text/html", body = String,
            description = "enabled: the recovery codes, shown once"),
        (status = 303, description = "disabled: back to the page"),
        (status = 403, content_type = "text/html", body = String,
            description = "the form's token is not the session's"),
        (status = 422, content_type = "text/html", body = String,
            description = "a wrong code, or an unknown action")))]
pub async fn totp_submit(
    State(state): State<AppState>,
    operator: Operator,
    body: Bytes,
) -> Response {
    let w = words(operator.language);
    let form: std::collections::HashMap<String, String> =
        form_urlencoded::parse(&body).into_owned().collect();
    let code = form.get("code").map(String::as_str).unwrap_or("");
    let fresh = match accounts::get(&state.app, operator.operator().id).await {
        Ok(Some(fresh)) => fresh,
        Ok(None) => return see_other("/admin/login"),
        Err(e) => {
            tracing::error!(error = %e, "an operator could not be read");
            return page::error(operator.language);
        }
    };
    let wrong = || Some(w.totp_code_wrong.clone());
    match form.get("action").map(String::as_str) {
        Some("enable") => match totp::confirm_enrolment(&state.app, &fresh, code).await {
            Ok(Some(codes)) => render(&state, &operator, StatusCode::OK, None, codes).await,
            Ok(None) => {
                render(
                    &state,
                    &operator,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    wrong(),
                    Vec::new(),
                )
                .await
            }
            Err(e) => {
                tracing::error!(error = %e, "an enrolment failed");
                page::error(operator.language)
            }
        },
        Some("disable") => match totp::disable(&state.app, &fresh, code).await {
            Ok(true) => see_other("/admin/account/totp"),
            Ok(false) => {
                render(
                    &state,
                    &operator,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    wrong(),
                    Vec::new(),
                )
                .await
            }
            Err(e) => {
                tracing::error!(error = %e, "turning a second factor off failed");
                page::error(operator.language)
            }
        },
        _ => page::notice(
            StatusCode::UNPROCESSABLE_ENTITY,
            AdminFrame {
                title: w.error_title.clone(),
                ..operator.frame("", Some(Section::Account))
            },
            "action: must be enable or disable",
        ),
    }
}
