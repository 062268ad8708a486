//! Authentication, scopes and rate limits for the business API, in one middleware.
//!
//! Order matters: the per-address limit comes first, so guessing keys is throttled too; then
//! the key; then the per-key limit; then the scope the route needs. A refusal is logged with
//! the reason and the key id when known, never the key.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AppState;
use super::error::{ApiError, ErrorCode};
use crate::app::keys;
use crate::domain::Scope;

pub struct RateLimits {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_key: DefaultKeyedRateLimiter<String>,
    /// Webhooks that fail the signature check, per address.
    bad_signatures: DefaultKeyedRateLimiter<IpAddr>,
}

impl RateLimits {
    pub fn per_minute(n: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least one"));
        Self {
            by_address: RateLimiter::keyed(quota),
            by_key: RateLimiter::keyed(quota),
            bad_signatures: RateLimiter::keyed(quota),
        }
    }

    pub fn check_bad_signature(&self, address: IpAddr) -> Result<(), ApiError> {
        Self::check(&self.bad_signatures, &address)
    }

    /// Forgets idle clients, so the tables do not grow without bound.
    pub fn forget_idle(&self) {
        self.by_address.retain_recent();
        self.by_key.retain_recent();
        self.bad_signatures.retain_recent();
    }

    fn check<K: std::hash::Hash + Eq + Clone>(
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
    ) -> Result<(), ApiError> {
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::too_many_requests(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
        })
    }
}

/// The address rate limits apply to: the peer, or with `PROXYCALL_TRUST_FORWARDED_FOR` the
/// address our reverse proxy appended last to `X-Forwarded-For`.
pub(super) fn client_address(state: &AppState, req: &Request) -> IpAddr {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if !state.settings.trust_forwarded_for {
        return peer;
    }
    req.headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer)
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
    RateLimits::check(&state.limits.by_address, &address).inspect_err(|_| {
        tracing::warn!(%address, %route, "rate limit reached for an address");
    })?;

    let refuse = |reason: &str, key_id: Option<&str>| {
        tracing::warn!(%address, %route, reason, key_id = key_id.unwrap_or("-"), "API request refused");
    };
    let Some(header_value) = req.headers().get(header::AUTHORIZATION) else {
        refuse("no Authorization header", None);
        return Err(ApiError::unauthorized(
            "an API key is required: Authorization: Bearer <key>",
        ));
    };
    let presented = header_value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let Some(presented) = presented else {
        refuse("not a Bearer authorization", None);
        return Err(ApiError::unauthorized(
            "the Authorization header must be: Bearer <key>",
        ));
    };
    let principal =
        keys::authenticate(&state.app, state.env_token_hash.as_deref(), presented).await?;
    let Some(principal) = principal else {
        refuse("unknown, expired or revoked key", None);
        return Err(ApiError::unauthorized("invalid API key"));
    };
    RateLimits::check(&state.limits.by_key, &principal.key_id).inspect_err(|_| {
        tracing::warn!(key_id = %principal.key_id, %route, "rate limit reached for a key");
    })?;
    if !principal.scopes.allows(scope) {
        refuse("missing scope", Some(&principal.key_id));
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("this API key lacks the '{}' scope", scope.as_str()),
        ));
    }
    tracing::debug!(key_id = %principal.key_id, "authenticated");
    req.extensions_mut().insert(Arc::new(principal));
    Ok(next.run(req).await)
}
