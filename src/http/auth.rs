//! Authentication and scopes for the business API, in one middleware, with the limits of
//! `limits.rs`: the key is looked at first, so that a valid key is limited by its own budget
//! only, and what is refused (no key, a malformed header, an unknown key) by its caller's
//! address. A refusal is counted and logged with the reason and the key id when known,
//! never the key.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::address::client_address;
use super::error::{ApiError, ErrorCode};
use super::limits::Refusal;
use crate::app::keys;
use crate::domain::Scope;

/// The key in `Authorization: Bearer <key>`, or why there is none.
fn bearer(headers: &HeaderMap) -> Result<&str, (Refusal, &'static str)> {
    let value = headers.get(header::AUTHORIZATION).ok_or((
        Refusal::NoKey,
        "an API key is required: Authorization: Bearer <key>",
    ))?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or((
            Refusal::Malformed,
            "the Authorization header must be: Bearer <key>",
        ))
}

/// The gate of `access::scoped` routes; `scope` is the one the route's module stated.
pub async fn require_key(
    State((state, scope)): State<(AppState, Scope)>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let address = client_address(&state, &req);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let limits = &state.limits;

    let presented = match bearer(req.headers()) {
        Ok(key) => key,
        Err((refusal, message)) => {
            limits.refused(address, refusal, &route)?;
            return Err(ApiError::unauthorized(message));
        }
    };
    // A key of the wrong shape costs no database lookup (`keys::authenticate`).
    let principal =
        keys::authenticate(&state.app, state.env_token_hash.as_deref(), presented).await?;
    let Some(principal) = principal else {
        limits.refused(address, Refusal::BadKey, &route)?;
        return Err(ApiError::unauthorized("invalid API key"));
    };
    limits.authenticated(address, &principal.key_id, &route)?;
    if !principal.scopes.allows(scope) {
        limits.note(
            address,
            Refusal::MissingScope,
            &route,
            Some(&principal.key_id),
        );
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("this API key lacks the '{}' scope", scope.as_str()),
        ));
    }
    // Every line logged from here on, the changes this request makes included, names the key.
    tracing::Span::current().record("key_id", principal.key_id.as_str());
    tracing::debug!("authenticated");
    req.extensions_mut().insert(Arc::new(principal));
    Ok(next.run(req).await)
}
