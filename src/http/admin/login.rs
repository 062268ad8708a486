//! `/admin/login` (e-mail and password), `/admin/login/totp` (the second factor, when the
//! operator has one), `/admin/logout` and `/admin/logout-everywhere`.

use askama::Template;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::page::{self, AdminFrame, see_other, words};
use super::session::{self, Operator, csrf_refused};
use crate::app::operators::sessions::{self, Login, SecondFactor};
use crate::http::AppState;
use crate::http::address::{bucket, client_address};
use crate::http::pages::cookies::{self, Cookie};
use crate::http::pages::frame::{html, minutes};
use crate::messages::Language;

#[derive(Template)]
#[template(path = "admin/login.html")]
pub struct LoginPage {
    pub frame: AdminFrame,
    pub csrf_token: String,
    pub email: String,
    pub error: Option<String>,
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/second_factor.html")]
pub struct SecondFactorPage {
    pub frame: AdminFrame,
    pub csrf_token: String,
    pub error: Option<String>,
}

/// The form's fields, as posted.
fn fields(body: &[u8]) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The login form, with the browser's CSRF token — or a new one, set as the cookie.
fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    language: Language,
    email: &str,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let w = words(language);
    let existing = cookies::csrf_token(state, headers);
    let token = existing.clone().unwrap_or_else(cookies::new_token);
    let mut response = html(
        status,
        &LoginPage {
            frame: AdminFrame::new(language, &w.login_title).switch_to("/admin/login"),
            csrf_token: token.clone(),
            email: email.to_owned(),
            error,
            notice,
        },
    );
    if existing.is_none() {
        response
            .headers_mut()
            .append(header::SET_COOKIE, Cookie::Csrf.set(state, &token));
    }
    response
}

/// The login form.
#[utoipa::path(get, path = "/admin/login", tag = "admin",
    params(("lang" = Option<String>, Query, description = "fr or en"),
        ("expired" = Option<String>, Query, description = "set when a session just ended")),
    responses((status = 200, content_type = "text/html", body = String, description = "the sign-in page")))]
pub async fn form(State(state): State<AppState>, req: Request) -> Response {
    let language = session::language(&state, req.uri(), req.headers());
    let w = words(language);
    let expired = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("expired=")));
    let notice = expired.then(|| w.login_expired.clone());
    login_page(
        &state,
        req.headers(),
        StatusCode::OK,
        language,
        "",
        None,
        notice,
    )
}

/// Checks `email` and `password` (with the form's `csrf_token`): a session, then the
/// dashboard — or the second factor's page when the operator has one.
#[utoipa::path(post, path = "/admin/login", tag = "admin",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "email, password, csrf_token",
        example = json!({"email": "claire.dupont@example.com", "password": "correct horse battery staple", "csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses(
        (status = 303, description = "logged in: to /admin, or /admin/login/totp"),
        (status = 403, content_type = "text/html", body = String,
            description = "the form's token is missing or is not the cookie's"),
        (status = 422, content_type = "text/html", body = String,
            description = "wrong e-mail or password (one answer for both)"),
        (status = 429, content_type = "text/html", body = String,
            description = "too many failed logins for this account or from this address")))]
pub async fn submit(State(state): State<AppState>, req: Request) -> Response {
    let address = bucket(client_address(&state, &req)).to_string();
    let language = session::language(&state, req.uri(), req.headers());
    let w = words(language);
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let Ok(body) = to_bytes(body, state.settings.body_limit_bytes).await else {
        return csrf_refused(language, None);
    };
    let form = fields(&body);
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if !cookies::same(
        cookies::csrf_token(&state, &headers).as_deref(),
        get("csrf_token"),
    ) {
        return csrf_refused(language, None);
    }
    let email = get("email").trim();
    let outcome = sessions::login(
        &state.app,
        &state.settings.admin,
        email,
        get("password"),
        &address,
    )
    .await;
    match outcome {
        Ok(Login::Opened {
            token,
            second_factor_due,
        }) => {
            let mut response = see_other(if second_factor_due {
                "/admin/login/totp"
            } else {
                "/admin"
            });
            response
                .headers_mut()
                .append(header::SET_COOKIE, session::set_cookie(&state, &token));
            response
        }
        Ok(Login::Refused) => login_page(
            &state,
            &headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            language,
            email,
            Some(w.login_refused.clone()),
            None,
        ),
        Ok(Login::Limited) => limited(&state, &headers, language, email),
        Err(e) => {
            tracing::error!(error = %e, "a login failed");
            page::error(language)
        }
    }
}

fn limited(state: &AppState, headers: &HeaderMap, language: Language, email: &str) -> Response {
    let w = words(language);
    let window = state.settings.admin.failure_window.num_seconds().max(0) as u64;
    let mut response = login_page(
        state,
        headers,
        StatusCode::TOO_MANY_REQUESTS,
        language,
        email,
        Some(
            w.login_limited
                .replace("{minutes}", &minutes(window).to_string()),
        ),
        None,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, window.into());
    response
}

/// The session whose password was right and whose second factor is due, if the browser has
/// one; otherwise where to go instead.
async fn pending(state: &AppState, headers: &HeaderMap) -> Result<sessions::Current, Response> {
    let Some(token) = session::token(state, headers) else {
        return Err(see_other("/admin/login"));
    };
    match sessions::current(&state.app, &state.settings.admin, &token).await {
        Ok(Some(current)) if current.session.second_factor_pending => Ok(current),
        Ok(Some(_)) => Err(see_other("/admin")),
        Ok(None) => Err(see_other("/admin/login?expired=1")),
        Err(e) => {
            tracing::error!(error = %e, "an operator's session could not be read");
            Err(page::error(Language::Fr))
        }
    }
}

fn second_factor_page(
    language: Language,
    csrf_token: &str,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let w = words(language);
    html(
        status,
        &SecondFactorPage {
            frame: AdminFrame::new(language, &w.second_factor_title).switch_to("/admin/login/totp"),
            csrf_token: csrf_token.to_owned(),
            error,
        },
    )
}

/// The second factor's form: a code from the authenticator app, or a recovery code.
#[utoipa::path(get, path = "/admin/login/totp", tag = "admin",
    params(("lang" = Option<String>, Query, description = "fr or en")),
    responses((status = 200, content_type = "text/html", body = String, description = "the second-factor page of a sign-in"),
        (status = 303, description = "no login waiting for its second factor: to /admin/login")))]
pub async fn second_factor_form(State(state): State<AppState>, req: Request) -> Response {
    let language = session::language(&state, req.uri(), req.headers());
    match pending(&state, req.headers()).await {
        Ok(current) => {
            second_factor_page(language, &current.session.csrf_token, StatusCode::OK, None)
        }
        Err(response) => response,
    }
}

/// Checks `code` (with the session's `csrf_token`): the dashboard, or the form again.
#[utoipa::path(post, path = "/admin/login/totp", tag = "admin",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "code, csrf_token",
        example = json!({"code": "482913", "csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses(
        (status = 303, description = "passed: to /admin"),
        (status = 403, content_type = "text/html", body = String,
            description = "the form's token is not the session's"),
        (status = 422, content_type = "text/html", body = String,
            description = "a wrong code, or one used already"),
        (status = 429, content_type = "text/html", body = String,
            description = "too many failures for this account or from this address")))]
pub async fn second_factor_submit(State(state): State<AppState>, req: Request) -> Response {
    let address = bucket(client_address(&state, &req)).to_string();
    let language = session::language(&state, req.uri(), req.headers());
    let w = words(language);
    let current = match pending(&state, req.headers()).await {
        Ok(current) => current,
        Err(response) => return response,
    };
    let Ok(body) = to_bytes(req.into_body(), state.settings.body_limit_bytes).await else {
        return csrf_refused(language, None);
    };
    let form = fields(&body);
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if !cookies::same(Some(&current.session.csrf_token), get("csrf_token")) {
        return csrf_refused(language, None);
    }
    let csrf = &current.session.csrf_token;
    match sessions::second_factor(
        &state.app,
        &state.settings.admin,
        &current,
        get("code"),
        &address,
    )
    .await
    {
        Ok(SecondFactor::Passed(_)) => see_other("/admin"),
        Ok(SecondFactor::Wrong) => second_factor_page(
            language,
            csrf,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(w.second_factor_wrong.clone()),
        ),
        Ok(SecondFactor::Limited) => {
            let window = state.settings.admin.failure_window.num_seconds().max(0) as u64;
            let mut response = second_factor_page(
                language,
                csrf,
                StatusCode::TOO_MANY_REQUESTS,
                Some(
                    w.login_limited
                        .replace("{minutes}", &minutes(window).to_string()),
                ),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, window.into());
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "a second-factor check failed");
            page::error(language)
        }
    }
}

fn logged_out(state: &AppState) -> Response {
    let mut response = see_other("/admin/login");
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::clear_cookie(state));
    response
}

/// Ends this session.
#[utoipa::path(post, path = "/admin/logout", tag = "admin",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "csrf_token",
        example = json!({"csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 303, description = "to /admin/login")))]
pub async fn logout(State(state): State<AppState>, operator: Operator) -> Response {
    match sessions::logout(&state.app, &operator.current).await {
        Ok(()) => logged_out(&state),
        Err(e) => {
            tracing::error!(error = %e, "a logout failed");
            page::error(operator.language)
        }
    }
}

/// Ends every session of the operator, in every browser.
#[utoipa::path(post, path = "/admin/logout-everywhere", tag = "admin",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "csrf_token",
        example = json!({"csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 303, description = "to /admin/login")))]
pub async fn logout_everywhere(State(state): State<AppState>, operator: Operator) -> Response {
    match sessions::logout_everywhere(&state.app, &operator.current).await {
        Ok(_) => logged_out(&state),
        Err(e) => {
            tracing::error!(error = %e, "a logout everywhere failed");
            page::error(operator.language)
        }
    }
}
