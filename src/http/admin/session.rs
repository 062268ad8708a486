//! The dashboard's session: its cookie, the layer every signed-in page sits behind
//! (`require_session`, put there by `access::operator_session`) and the extractors handlers
//! take — `Operator` (any role) and `RequireRole<…>`.
//!
//! The cookie holds a random 256-bit token (the database keeps its SHA-256). It is
//! `HttpOnly`, `SameSite=Strict`, `Path=/admin`, and `Secure` with the `__Secure-` prefix when
//! `PUBLIC_BASE_URL` is https. Every POST behind the layer must carry the session's own CSRF
//! token as `csrf_token`; SameSite already keeps other sites' forms out, the token keeps out
//! anything that slips past it (a sibling sub-domain, an old browser).

use std::marker::PhantomData;

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::page::{self, AdminFrame, Section, role_name, see_other, words};
use crate::app::operators::sessions::{self, Current};
use crate::app::operators::{Actor, audit};
use crate::domain::Role;
use crate::http::AppState;
use crate::http::pages::{cookies, frame};
use crate::messages::Language;

const TOKEN_HEX: usize = 64;

fn secure(state: &AppState) -> bool {
    state
        .settings
        .public_base_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"))
}

fn cookie_name(state: &AppState) -> &'static str {
    if secure(state) {
        "__Secure-pc_admin"
    } else {
        "pc_admin"
    }
}

/// The session token the browser sent, when it has our shape.
pub fn token(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let name = cookie_name(state);
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|line| line.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
        .filter(|t| t.len() == TOKEN_HEX && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `Set-Cookie` for a new session; without `Max-Age` it ends with the browser, and the server
/// ends it sooner (idle and absolute expiry).
pub fn set_cookie(state: &AppState, token: &str) -> HeaderValue {
    let mut cookie = format!(
        "{}={token}; Path=/admin; HttpOnly; SameSite=Strict",
        cookie_name(state)
    );
    if secure(state) {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).expect("a hexadecimal cookie is a valid header")
}

/// `Set-Cookie` that makes the browser forget the session.
pub fn clear_cookie(state: &AppState) -> HeaderValue {
    let mut cookie = format!(
        "{}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0",
        cookie_name(state)
    );
    if secure(state) {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).expect("a cookie of ours is a valid header")
}

/// The dashboard's language: `?lang=`, else the browser's, else the server's.
pub fn language(state: &AppState, uri: &axum::http::Uri, headers: &HeaderMap) -> Language {
    let lang = uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "lang")
            .map(|(_, v)| v.into_owned())
    });
    frame::language(state, lang.as_deref(), headers)
}

/// Pages an operator without a second factor may still open when the settings require one:
/// the enrolment itself, and the way out.
const ENROLMENT_OPEN: [&str; 3] = [
    "/admin/account/totp",
    "/admin/logout",
    "/admin/logout-everywhere",
];

/// The signed-in operator of a request behind `require_session`.
#[derive(Clone)]
pub struct Operator {
    pub current: Current,
    pub language: Language,
}

impl Operator {
    pub fn operator(&self) -> &crate::store::Operator {
        &self.current.operator
    }

    pub fn role(&self) -> Role {
        self.current.operator.role
    }

    /// Writes a change this operator made to the audit log. The change is done by then: a
    /// failure to record it is logged, not shown to the operator.
    pub async fn record(
        &self,
        app: &crate::app::App,
        action: &str,
        target: Option<&str>,
        details: serde_json::Value,
    ) {
        let actor = Actor::operator(self.operator());
        if let Err(e) = audit::record(app, &actor, action, target, details).await {
            tracing::error!(error = %e, action, "the audit log could not be written");
        }
    }

    /// The frame of a page for this operator, with `section` highlighted.
    pub fn frame(&self, title: impl Into<String>, section: Option<Section>) -> AdminFrame {
        AdminFrame::new(self.language, title).signed_in(
            self.current.operator.email.as_str(),
            self.current.operator.role,
            &self.current.session.csrf_token,
            section,
        )
    }
}

/// Redirects to the login page (and makes the browser forget a dead session).
fn to_login(state: &AppState, had_cookie: bool) -> Response {
    let mut response = see_other(if had_cookie {
        "/admin/login?expired=1"
    } else {
        "/admin/login"
    });
    if had_cookie {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, clear_cookie(state));
    }
    response
}

/// The form was not this session's: 403, nothing done.
pub fn csrf_refused(language: Language, frame: Option<AdminFrame>) -> Response {
    let w = words(language);
    let frame = frame.unwrap_or_else(|| AdminFrame::new(language, &w.csrf_title));
    let frame = AdminFrame {
        title: w.csrf_title.clone(),
        ..frame
    };
    page::notice(StatusCode::FORBIDDEN, frame, &w.csrf_text)
}

/// The layer of every signed-in page: a live session whose second factor (if any) passed,
/// the enrolment the settings may require, and on a POST the session's CSRF token.
pub async fn require_session(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let language = language(&state, req.uri(), req.headers());
    let Some(token) = token(&state, req.headers()) else {
        return to_login(&state, false);
    };
    let current = match sessions::current(&state.app, &state.settings.admin, &token).await {
        Ok(Some(current)) => current,
        Ok(None) => return to_login(&state, true),
        Err(e) => {
            tracing::error!(error = %e, "an operator's session could not be read");
            return page::error(language);
        }
    };
    if current.session.second_factor_pending {
        return see_other("/admin/login/totp");
    }
    if state.settings.admin.require_totp
        && !current.operator.totp_enabled
        && !ENROLMENT_OPEN.contains(&req.uri().path())
    {
        return see_other("/admin/account/totp");
    }
    let operator = Operator { current, language };
    let mut req = if req.method() == Method::POST {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = to_bytes(body, state.settings.body_limit_bytes).await else {
            return csrf_refused(language, Some(operator.frame("", None)));
        };
        let posted = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf_token")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if !cookies::same(Some(&operator.current.session.csrf_token), &posted) {
            tracing::info!(
                operator = %operator.operator().email.masked(),
                route = parts.uri.path(),
                "form refused: its CSRF token is not the session's"
            );
            return csrf_refused(language, Some(operator.frame("", None)));
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        req
    };
    req.extensions_mut().insert(operator);
    next.run(req).await
}

impl<S: Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Operator>().cloned().ok_or_else(|| {
            // Only a route registered outside `access::operator_session` gets here.
            tracing::error!(
                route = parts.uri.path(),
                "a dashboard page without its session layer"
            );
            page::error(Language::Fr)
        })
    }
}

/// The least role a page needs.
pub trait Needs: Send + Sync {
    const ROLE: Role;
}
pub struct AnyRole;
// The operator's pages (pool, activations, clients) are the next ones to come.
#[allow(dead_code)]
pub struct OperatorRole;
pub struct AdminRole;
impl Needs for AnyRole {
    const ROLE: Role = Role::Viewer;
}
impl Needs for OperatorRole {
    const ROLE: Role = Role::Operator;
}
impl Needs for AdminRole {
    const ROLE: Role = Role::Admin;
}

/// The signed-in operator, when its role is at least `R::ROLE`; otherwise a 403 page that
/// names both roles, before the handler runs (so nothing changes).
pub struct RequireRole<R: Needs>(pub Operator, pub PhantomData<R>);

impl<R: Needs, S: Send + Sync> FromRequestParts<S> for RequireRole<R> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let operator = Operator::from_request_parts(parts, state).await?;
        if operator.role().allows(R::ROLE) {
            return Ok(Self(operator, PhantomData));
        }
        tracing::info!(
            operator = %operator.operator().email.masked(),
            role = %operator.role(),
            needed = %R::ROLE,
            route = parts.uri.path(),
            "refused: role too low"
        );
        let w = words(operator.language);
        let text = w
            .forbidden_text
            .replace("{role}", role_name(w, operator.role()))
            .replace("{needed}", role_name(w, R::ROLE));
        Err(page::notice(
            StatusCode::FORBIDDEN,
            operator.frame(&w.forbidden_title, None),
            text,
        ))
    }
}
