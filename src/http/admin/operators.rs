//! `GET /admin/operators` (admins): the operators — e-mail, role, two-step login, state, last
//! login — and the forms that add one, disable one, set a new password and change a role,
//! through `app::operators::accounts` as the `operators` command does (each audited there,
//! never with a password). An admin acts on the others only: disabling itself or changing
//! its own role could leave no admin.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::jobs::refused;
use super::page::{self, AdminFrame, Section, role_name, when, words};
use super::session::{AdminRole, Operator, RequireRole};
use crate::app::AppError;
use crate::app::operators::{Actor, accounts};
use crate::domain::{Email, Role};
use crate::http::AppState;
use crate::http::pages::frame::html;

pub struct Row {
    pub id: i64,
    pub email: String,
    pub role: &'static str,
    pub role_value: &'static str,
    pub totp: &'static str,
    pub state: &'static str,
    pub disabled: bool,
    pub last_login: String,
    /// The signed-in admin: no form acts on it.
    pub is_you: bool,
}

pub struct RoleChoice {
    pub value: &'static str,
    pub label: &'static str,
}

#[derive(Template)]
#[template(path = "admin/operators.html")]
pub struct OperatorsPage {
    pub frame: AdminFrame,
    pub notice: Option<String>,
    pub rows: Vec<Row>,
    pub roles: Vec<RoleChoice>,
    pub csrf_token: String,
}

/// The operators.
#[utoipa::path(get, path = "/admin/operators", tag = "admin",
    responses((status = 200, content_type = "text/html", body = String, description = "the operators page"),
        (status = 403, content_type = "text/html", body = String,
            description = "the operator is not an admin")))]
pub async fn list(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AdminRole>,
) -> Response {
    render(&state, &operator, None).await
}

async fn render(state: &AppState, operator: &Operator, notice: Option<String>) -> Response {
    let w = words(operator.language);
    let (found, logins) = match tokio::try_join!(
        accounts::list(&state.app),
        accounts::last_logins(&state.app)
    ) {
        Ok(both) => both,
        Err(e) => {
            tracing::error!(error = %e, "the operators could not be read");
            return page::error(operator.language);
        }
    };
    let you = operator.operator().id;
    let rows = found
        .into_iter()
        .map(|o| Row {
            id: o.id,
            role: role_name(w, o.role),
            role_value: o.role.as_str(),
            totp: if o.totp_enabled {
                &w.operators_on
            } else {
                &w.operators_off
            },
            state: if o.disabled_at.is_some() {
                &w.operators_disabled
            } else {
                &w.operators_enabled
            },
            disabled: o.disabled_at.is_some(),
            last_login: logins
                .get(&o.id)
                .map_or(w.operators_never.clone(), |t| when(*t)),
            is_you: o.id == you,
            email: o.email.as_str().to_owned(),
        })
        .collect();
    let roles = Role::ALL
        .iter()
        .map(|r| RoleChoice {
            value: r.as_str(),
            label: role_name(w, *r),
        })
        .collect();
    let csrf_token = operator.current.session.csrf_token.clone();
    let frame = operator
        .frame(&w.operators_title, Some(Section::Operators))
        .switch_to("/admin/operators");
    html(
        StatusCode::OK,
        &OperatorsPage {
            frame,
            notice,
            rows,
            roles,
            csrf_token,
        },
    )
}

/// What a use case refused, as a page naming the field; anything else is our failure.
fn failed(operator: &Operator, e: AppError) -> Response {
    match e {
        AppError::Invalid { field, message } => {
            page::bad_input(operator, Section::Operators, field, &message)
        }
        e => {
            tracing::error!(error = %e, "an operator could not be changed");
            page::error(operator.language)
        }
    }
}

/// The operator `id` names, when it is another than the one signed in; otherwise the page
/// saying why not.
async fn other(state: &AppState, operator: &Operator, id: &str) -> Result<Email, Response> {
    let w = words(operator.language);
    let back = ("/admin/operators", w.operators_title.as_str());
    let found = match id.parse::<i64>() {
        Ok(id) => accounts::get(&state.app, id).await,
        Err(_) => Ok(None),
    };
    match found {
        Ok(Some(o)) if o.id == operator.operator().id => Err(refused(
            operator,
            StatusCode::CONFLICT,
            Section::Operators,
            &w.operators_self_title,
            w.operators_self_text.clone(),
            back,
        )),
        Ok(Some(o)) => Ok(o.email),
        Ok(None) => Err(refused(
            operator,
            StatusCode::NOT_FOUND,
            Section::Operators,
            &w.bad_page_title,
            w.operators_not_found.clone(),
            back,
        )),
        Err(e) => Err(failed(operator, e)),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateForm {
    email: String,
    role: String,
    password: String,
}

/// Adds an operator (`proxycall operators create`).
#[utoipa::path(post, path = "/admin/operators", tag = "admin",
    request_body(content = CreateForm, content_type = "application/x-www-form-urlencoded",
        description = "email, role, password, csrf_token",
        example = json!({"email": "paul.durand@example.com", "role": "operator", "password": "une phrase de passe assez longue", "csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 200, content_type = "text/html", body = String,
            description = "the operators' page, saying it is added"),
        (status = 400, content_type = "text/html", body = String,
            description = "a field is not valid (or the e-mail is taken): the page names it"),
        (status = 403, content_type = "text/html", body = String, description = "the operator is not an admin")))]
pub async fn create(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AdminRole>,
    Form(form): Form<CreateForm>,
) -> Response {
    let w = words(operator.language);
    let email = match Email::parse(form.email.trim()) {
        Ok(e) => e,
        Err(e) => {
            return page::bad_input(&operator, Section::Operators, "email", &e.to_string());
        }
    };
    let role = match Role::parse(form.role.trim()) {
        Ok(r) => r,
        Err(e) => return page::bad_input(&operator, Section::Operators, "role", &e),
    };
    let actor = Actor::operator(operator.operator());
    if let Err(e) = accounts::create(&state.app, &actor, &email, role, &form.password).await {
        return failed(&operator, e);
    }
    let notice = w.operators_created.replace("{email}", email.as_str());
    render(&state, &operator, Some(notice)).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct EmptyForm {
    #[allow(dead_code)]
    csrf_token: Option<String>,
}

/// Disables an operator and ends its sessions.
#[utoipa::path(post, path = "/admin/operators/{id}/disable", tag = "admin",
    params(("id" = i64, Path, description = "the operator's id")),
    request_body(content = EmptyForm, content_type = "application/x-www-form-urlencoded",
        example = json!({"csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 200, content_type = "text/html", body = String, description = "the operators' page, saying it is disabled (or unchanged)"),
        (status = 403, content_type = "text/html", body = String, description = "the operator is not an admin"),
        (status = 404, content_type = "text/html", body = String, description = "no operator has this id"),
        (status = 409, content_type = "text/html", body = String,
            description = "the admin's own account: nothing changes")))]
pub async fn disable(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AdminRole>,
    Path(id): Path<String>,
) -> Response {
    let w = words(operator.language);
    let email = match other(&state, &operator, &id).await {
        Ok(e) => e,
        Err(page) => return page,
    };
    let actor = Actor::operator(operator.operator());
    let notice = match accounts::disable(&state.app, &actor, &email).await {
        Ok(true) => w.operators_disabled_text.replace("{email}", email.as_str()),
        Ok(false) => w.operators_unchanged.clone(),
        Err(e) => return failed(&operator, e),
    };
    render(&state, &operator, Some(notice)).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordForm {
    password: String,
}

/// Sets an operator's password and ends its sessions.
#[utoipa::path(post, path = "/admin/operators/{id}/password", tag = "admin",
    params(("id" = i64, Path, description = "the operator's id")),
    request_body(content = PasswordForm, content_type = "application/x-www-form-urlencoded",
        description = "password, csrf_token",
        example = json!({"password": "une autre phrase de passe longue", "csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 200, content_type = "text/html", body = String, description = "the operators' page, saying the password is changed"),
        (status = 400, content_type = "text/html", body = String,
            description = "the password is too short or too long"),
        (status = 403, content_type = "text/html", body = String, description = "the operator is not an admin"),
        (status = 404, content_type = "text/html", body = String, description = "no operator has this id")))]
pub async fn reset_password(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AdminRole>,
    Path(id): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Response {
    let w = words(operator.language);
    // Its own password an admin changes as anyone's: it then logs in again.
    let found = match id.parse::<i64>() {
        Ok(id) => accounts::get(&state.app, id).await,
        Err(_) => Ok(None),
    };
    let email = match found {
        Ok(Some(o)) => o.email,
        Ok(None) => {
            return refused(
                &operator,
                StatusCode::NOT_FOUND,
                Section::Operators,
                &w.bad_page_title,
                w.operators_not_found.clone(),
                ("/admin/operators", &w.operators_title),
            );
        }
        Err(e) => return failed(&operator, e),
    };
    let actor = Actor::operator(operator.operator());
    if let Err(e) = accounts::reset_password(&state.app, &actor, &email, &form.password).await {
        return failed(&operator, e);
    }
    let notice = w.operators_reset_text.replace("{email}", email.as_str());
    render(&state, &operator, Some(notice)).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RoleForm {
    role: String,
}

/// Gives an operator another role.
#[utoipa::path(post, path = "/admin/operators/{id}/role", tag = "admin",
    params(("id" = i64, Path, description = "the operator's id")),
    request_body(content = RoleForm, content_type = "application/x-www-form-urlencoded",
        description = "role, csrf_token",
        example = json!({"role": "viewer", "csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 200, content_type = "text/html", body = String, description = "the operators' page, saying the role is changed (or unchanged)"),
        (status = 400, content_type = "text/html", body = String, description = "the role is not viewer, operator or admin"),
        (status = 403, content_type = "text/html", body = String, description = "the operator is not an admin"),
        (status = 404, content_type = "text/html", body = String, description = "no operator has this id"),
        (status = 409, content_type = "text/html", body = String,
            description = "the admin's own account: nothing changes")))]
pub async fn set_role(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AdminRole>,
    Path(id): Path<String>,
    Form(form): Form<RoleForm>,
) -> Response {
    let w = words(operator.language);
    let role = match Role::parse(form.role.trim()) {
        Ok(r) => r,
        Err(e) => return page::bad_input(&operator, Section::Operators, "role", &e),
    };
    let email = match other(&state, &operator, &id).await {
        Ok(e) => e,
        Err(page) => return page,
    };
    let actor = Actor::operator(operator.operator());
    let notice = match accounts::set_role(&state.app, &actor, &email, role).await {
        Ok(true) => w
            .operators_role_text
            .replace("{email}", email.as_str())
            .replace("{role}", role_name(w, role)),
        Ok(false) => w.operators_unchanged.clone(),
        Err(e) => return failed(&operator, e),
    };
    render(&state, &operator, Some(notice)).await
}
