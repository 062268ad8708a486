//! `GET /activate`, the form, and `POST /activate`, which starts the activation and sends the
//! browser to its status page.

use axum::body::to_bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::cookies::{self, Cookie};
use super::form::{self, COUNTRIES, FieldErrors, FormPage, RawForm};
use super::frame::{self, html, language, words};
use crate::app::AppError;
use crate::app::activation::{self, NewActivation};
use crate::http::AppState;
use crate::http::address::client_address;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::limits::Refusal;
use crate::messages::Language;

const ROUTE: &str = "/activate";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LangQuery {
    /// `fr` or `en`; without it, the browser's `Accept-Language`, else the server's language.
    lang: Option<String>,
}

/// The activation form: name, e-mail, phone and the country of the ProxyCall number.
#[utoipa::path(get, path = "/activate", tag = "pages", params(LangQuery),
    responses((status = 200, content_type = "text/html", body = String, description = "the activation form")))]
pub async fn form(
    State(state): State<AppState>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let language = language(&state, query.lang.as_deref(), &headers);
    let default_country = state.settings.default_country.as_str();
    let values = RawForm {
        country_iso: if COUNTRIES.contains(&default_country) {
            default_country
        } else {
            COUNTRIES[0]
        }
        .to_owned(),
        ..RawForm::default()
    };
    form_page(
        &state,
        &headers,
        StatusCode::OK,
        language,
        &values,
        FieldErrors::default(),
        None,
    )
}

/// Starts an activation from the form (the fields of `POST /confirmations/create`, with the
/// form's `csrf_token`), then redirects to its status page. A refusal shows the form again,
/// with the values typed and what is wrong next to each field.
#[utoipa::path(post, path = "/activate", tag = "pages", params(LangQuery),
    request_body(content = RawForm, content_type = "application/x-www-form-urlencoded",
        example = json!({"client_name": "Jeanne Martin", "client_mail": "jeanne.martin@example.com", "client_real_phone": "+33612345678", "country_iso": "FR", "csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses(
        (status = 303, description = "started: to `/activate/status?pending_id=…`"),
        (status = 403, content_type = "text/html", body = String,
            description = "the form's token is missing or is not the cookie's"),
        (status = 409, content_type = "text/html", body = String,
            description = "no number to reserve in that country"),
        (status = 422, content_type = "text/html", body = String,
            description = "a field is invalid: the form again, each error next to its field"),
        (status = 429, content_type = "text/html", body = String,
            description = "COOLDOWN, DAILY_LIMIT_PHONE, DAILY_LIMIT_EMAIL, or an address that \
                keeps failing (`Retry-After`)")))]
pub async fn submit(
    State(state): State<AppState>,
    Query(query): Query<LangQuery>,
    req: Request,
) -> Response {
    let address = client_address(&state, &req);
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let language = language(&state, query.lang.as_deref(), &headers);
    let w = words(language);
    let body = match to_bytes(body, state.settings.body_limit_bytes).await {
        Ok(body) => body,
        Err(_) => {
            return frame::html(
                ErrorCode::PayloadTooLarge.status(),
                &frame::Notice::new(
                    frame::Frame::new(language, &w.error_title),
                    &w.error_unavailable,
                )
                .with_form_link(),
            );
        }
    };
    let posted = RawForm::from_body(&body);

    let refuse = |refusal: Refusal| state.limits.refused(address, refusal, ROUTE);
    let cookie = cookies::csrf_token(&state, &headers);
    if !cookies::same(cookie.as_deref(), &posted.csrf_token) {
        if let Err(over) = refuse(Refusal::Csrf) {
            return frame::too_many(language, over);
        }
        return form_page(
            &state,
            &headers,
            ErrorCode::Forbidden.status(),
            language,
            &posted,
            FieldErrors::default(),
            Some(w.error_csrf.clone()),
        );
    }
    let valid = match form::parse(&posted, w) {
        Ok(valid) => valid,
        Err(errors) => {
            if let Err(over) = refuse(Refusal::InvalidForm) {
                return frame::too_many(language, over);
            }
            return form_page(
                &state,
                &headers,
                ErrorCode::InvalidInput.status(),
                language,
                &posted,
                errors,
                None,
            );
        }
    };

    if let Err(over) = state.limits.activation_start(address, "/activate") {
        return frame::too_many(language, over);
    }
    let started = activation::start(
        &state.app,
        NewActivation {
            pending_id: None,
            name: valid.name,
            mail: valid.mail,
            phone: valid.phone,
            country: Some(valid.country),
            number_type: None,
        },
    )
    .await;
    let e = match started {
        Ok(started) => {
            let id = started.pending_id.as_str();
            // Someone else's activation under way for this phone or e-mail: this browser gets
            // no view of it. Its own, sent again (a reload), goes to its status page.
            let own = Cookie::Activation.read(&state, &headers);
            if started.already_under_way && !cookies::same(own.as_deref(), id) {
                return html(
                    StatusCode::OK,
                    &frame::Notice::new(
                        frame::Frame::new(language, &w.under_way_title),
                        &w.under_way_text,
                    ),
                );
            }
            let mut response = (
                StatusCode::SEE_OTHER,
                [(
                    header::LOCATION,
                    format!(
                        "/activate/status?pending_id={id}&lang={}",
                        language.as_str()
                    ),
                )],
            )
                .into_response();
            response
                .headers_mut()
                .append(header::SET_COOKIE, Cookie::Activation.set(&state, id));
            return response;
        }
        Err(e) => e,
    };
    let (errors, general) = match &e {
        AppError::TooManyRequests { code, retry_after } => {
            let text = match *code {
                "DAILY_LIMIT_PHONE" => w.error_daily_limit_phone.clone(),
                "DAILY_LIMIT_EMAIL" => w.error_daily_limit_email.clone(),
                _ => w.error_cooldown.replace(
                    "{minutes}",
                    &frame::minutes(retry_after.as_secs()).to_string(),
                ),
            };
            (FieldErrors::default(), Some(text))
        }
        AppError::Invalid { field, .. } => (FieldErrors::for_field(field, w), None),
        AppError::PoolExhausted { .. } => (
            FieldErrors {
                country: Some(w.error_pool_exhausted.clone()),
                ..FieldErrors::default()
            },
            None,
        ),
        _ => (FieldErrors::default(), Some(w.error_unavailable.clone())),
    };
    // The status (and `Retry-After`) are the API's for the same error.
    let api = ApiError::from(e);
    let mut response = form_page(
        &state, &headers, api.status, language, &posted, errors, general,
    );
    if let Some(secs) = api.retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The form, with the browser's CSRF token — or a new one, set as the cookie.
fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    language: Language,
    values: &RawForm,
    errors: FieldErrors,
    general: Option<String>,
) -> Response {
    let existing = cookies::csrf_token(state, headers);
    let token = existing.clone().unwrap_or_else(cookies::new_token);
    let page = FormPage::new(language, token.clone(), values, errors, general);
    let mut response = html(status, &page);
    if existing.is_none() {
        response
            .headers_mut()
            .append(header::SET_COOKIE, Cookie::Csrf.set(state, &token));
    }
    response
}
