//! `GET /admin/keys` (admins): the API keys — id, name, scopes, created, last use, state —
//! never the key nor its hash. `POST /admin/keys` creates one through `app::keys::create`, as
//! `proxycall keys create` does, and shows it once on the answer (pages are `no-store`; the key
//! is neither logged nor audited); `POST /admin/keys/{id}/revoke` revokes one.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::jobs::refused;
use super::page::{self, AdminFrame, Section, when, words};
use super::session::{AdminRole, Operator, RequireRole};
use crate::app::keys;
use crate::domain::{Scope, Scopes};
use crate::http::AppState;
use crate::http::pages::frame::html;

pub struct Row {
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub created: String,
    pub last_used: String,
    pub state: &'static str,
    pub usable: bool,
}

#[derive(Template)]
#[template(path = "admin/keys.html")]
pub struct KeysPage {
    pub frame: AdminFrame,
    pub notice: Option<String>,
    pub rows: Vec<Row>,
    /// Every scope the API knows, for the checkboxes.
    pub scopes: Vec<&'static str>,
    pub csrf_token: String,
}

#[derive(Template)]
#[template(path = "admin/key_created.html")]
pub struct KeyCreatedPage {
    pub frame: AdminFrame,
    pub id: String,
    pub name: String,
    pub scopes: String,
    /// The whole key: on this page only.
    pub secret: String,
}

/// The API keys.
#[utoipa::path(get, path = "/admin/keys", tag = "admin",
    responses((status = 200, content_type = "text/html", body = String, description = "the API keys"),
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
    let found = match keys::list(&state.app).await {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "the API keys could not be read");
            return page::error(operator.language);
        }
    };
    let now = Utc::now();
    // Newest first: the one just made or revoked is near the top.
    let rows = found
        .into_iter()
        .rev()
        .map(|k| Row {
            state: if k.revoked_at.is_some() {
                &w.keys_revoked
            } else if k.is_usable(now) {
                &w.keys_active
            } else {
                &w.keys_expired
            },
            usable: k.is_usable(now),
            id: k.id,
            name: k.name,
            scopes: k.scopes.to_string(),
            created: when(k.created_at),
            last_used: k.last_used_at.map_or(w.keys_never.clone(), when),
        })
        .collect();
    let csrf_token = operator.current.session.csrf_token.clone();
    let frame = operator
        .frame(&w.keys_title, Some(Section::Keys))
        .switch_to("/admin/keys");
    html(
        StatusCode::OK,
        &KeysPage {
            frame,
            notice,
            rows,
            scopes: Scope::ALL.iter().map(|s| s.as_str()).collect(),
            csrf_token,
        },
    )
}

/// The form: a name, and each scope ticked (`scope=orders&scope=read…`).
fn parse_form(body: &[u8]) -> (String, Vec<String>) {
    let mut name = String::new();
    let mut scopes = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "name" => name = v.trim().to_owned(),
            "scope" => scopes.push(v.into_owned()),
            _ => {}
        }
    }
    (name, scopes)
}

/// Creates a key and shows it, once.
#[utoipa::path(post, path = "/admin/keys", tag = "admin",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "name, scope (once per ticked scope), csrf_token",
        example = json!({"name": "boutique", "scope": "orders", "csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 200, content_type = "text/html", body = String,
            description = "the key, shown on this page only"),
        (status = 400, content_type = "text/html", body = String,
            description = "no name, or no or an unknown scope: the page names the field"),
        (status = 403, content_type = "text/html", body = String,
            description = "the operator is not an admin: nothing is created")))]
pub async fn create(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AdminRole>,
    body: axum::body::Bytes,
) -> Response {
    let w = words(operator.language);
    let (name, ticked) = parse_form(&body);
    if name.is_empty() || name.chars().count() > 100 {
        return page::bad_input(&operator, Section::Keys, "name", "1 – 100");
    }
    let scopes = match Scopes::parse(&ticked.join(",")) {
        Ok(s) => s,
        Err(e) => return page::bad_input(&operator, Section::Keys, "scope", &e.to_string()),
    };
    let issued = match keys::create(&state.app, &name, scopes, None).await {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "an API key could not be created");
            return page::error(operator.language);
        }
    };
    // The key's id and what it may do; never the key.
    let details = json!({ "name": issued.key.name, "scopes": issued.key.scopes.to_string() });
    operator
        .record(
            &state.app,
            "key.create",
            Some(&format!("key:{}", issued.key.id)),
            details,
        )
        .await;
    let frame = operator.frame(&w.key_created_title, Some(Section::Keys));
    html(
        StatusCode::OK,
        &KeyCreatedPage {
            frame,
            id: issued.key.id,
            name: issued.key.name,
            scopes: issued.key.scopes.to_string(),
            secret: issued.secret,
        },
    )
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RevokeForm {
    #[allow(dead_code)]
    csrf_token: Option<String>,
}

/// Revokes a key: the API refuses it from the next request.
#[utoipa::path(post, path = "/admin/keys/{id}/revoke", tag = "admin",
    params(("id" = String, Path, example = "0123abcd",
        description = "the key's id (8 hexadecimal digits)")),
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded",
        example = json!({"csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 200, content_type = "text/html", body = String,
            description = "the keys' page, saying it is revoked"),
        (status = 403, content_type = "text/html", body = String, description = "the operator is not an admin"),
        (status = 404, content_type = "text/html", body = String,
            description = "no usable key has this id")))]
pub async fn revoke(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AdminRole>,
    Path(id): Path<String>,
) -> Response {
    let w = words(operator.language);
    let not_found = |operator: &Operator| {
        refused(
            operator,
            StatusCode::NOT_FOUND,
            Section::Keys,
            &w.bad_page_title,
            w.keys_not_found.clone(),
            ("/admin/keys", &w.keys_back),
        )
    };
    // Ids are ours: 8 hexadecimal digits. Anything else names no key.
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return not_found(&operator);
    }
    match keys::revoke(&state.app, &id).await {
        Ok(true) => {}
        Ok(false) => return not_found(&operator),
        Err(e) => {
            tracing::error!(error = %e, "an API key could not be revoked");
            return page::error(operator.language);
        }
    }
    operator
        .record(
            &state.app,
            "key.revoke",
            Some(&format!("key:{id}")),
            json!({}),
        )
        .await;
    let notice = w.keys_revoked_text.replace("{id}", &id);
    render(&state, &operator, Some(notice)).await
}
