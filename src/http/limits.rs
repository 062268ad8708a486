//! Rate limits and refusals.
//!
//! Authenticated traffic is limited per key; refused attempts (no key, a malformed
//! `Authorization`, an unknown key, a bad webhook signature; on the self-service pages a form
//! without its CSRF token or with invalid fields, an unknown link or activation) per caller
//! address, keyed by `address::bucket`. So noise from an address — or from every caller behind
//! one reverse proxy — never spends a valid key's budget, and a valid key is always looked at
//! before its caller's refusals are: an address over its budget gets 429 for what it gets
//! wrong, never for what it gets right. Signed webhooks are never limited: a dropped webhook is
//! a lost call.
//!
//! Every refusal is counted in `http_refusals_total` by reason. The first one per address per
//! minute is logged; the rest are only counted, so a flood of garbage is not a flood of logs.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::address::bucket;
use super::error::ApiError;

/// Why a request, or a part of it, was refused: the `reason` label of `http_refusals_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization` header.
    NoKey,
    /// An `Authorization` header that is not `Bearer <key>`.
    Malformed,
    /// An unknown, expired or revoked key.
    BadKey,
    /// A valid key without the route's scope.
    MissingScope,
    /// A valid key over its budget.
    KeyOverLimit,
    /// A webhook without a valid `X-Twilio-Signature`.
    BadSignature,
    /// An `x-request-id` we did not accept (the request goes on under a new one).
    RequestId,
    /// The activation form without the token of its cookie (`http/pages`).
    Csrf,
    /// The activation form with an invalid field.
    InvalidForm,
    /// A verification link with no token, or an unknown one.
    UnknownLink,
    /// The status page of an unknown activation, or of one another browser started.
    UnknownActivation,
    /// An address over its hourly budget of activations started from the public page.
    TooManyStarts,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoKey => "no_key",
            Self::Malformed => "malformed_authorization",
            Self::BadKey => "bad_key",
            Self::MissingScope => "missing_scope",
            Self::KeyOverLimit => "key_over_limit",
            Self::BadSignature => "bad_signature",
            Self::RequestId => "request_id",
            Self::Csrf => "csrf",
            Self::InvalidForm => "invalid_form",
            Self::UnknownLink => "unknown_link",
            Self::UnknownActivation => "unknown_activation",
            Self::TooManyStarts => "too_many_starts",
        }
    }
}

/// `PROXYCALL_ACTIVATE_PER_ADDRESS_HOUR`'s default.
pub const DEFAULT_STARTS_PER_ADDRESS_HOUR: u32 = 10;

pub struct RateLimits {
    /// Refused attempts, per address.
    refused: DefaultKeyedRateLimiter<IpAddr>,
    /// Authenticated requests, per key id.
    by_key: DefaultKeyedRateLimiter<String>,
    /// One logged refusal per address per minute.
    logged: DefaultKeyedRateLimiter<IpAddr>,
    /// Activations started from the public page, per address: each reserves a number and
    /// sends texts and a call at the operator's expense.
    starts: DefaultKeyedRateLimiter<IpAddr>,
}

impl RateLimits {
    pub fn per_minute(n: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least one"));
        Self {
            refused: RateLimiter::keyed(quota),
            by_key: RateLimiter::keyed(quota),
            logged: RateLimiter::keyed(Quota::per_minute(NonZeroU32::MIN)),
            starts: RateLimiter::keyed(Self::hourly(DEFAULT_STARTS_PER_ADDRESS_HOUR)),
        }
    }

    /// At most `n` activations an hour started from the public page by one address.
    pub fn with_starts_per_hour(mut self, n: u32) -> Self {
        self.starts = RateLimiter::keyed(Self::hourly(n));
        self
    }

    fn hourly(n: u32) -> Quota {
        let n = NonZeroU32::new(n.max(1)).expect("at least one");
        Quota::with_period(std::time::Duration::from_secs(3600) / n.get())
            .expect("a period")
            .allow_burst(n)
    }

    /// An activation about to start from the public page: charged to the address; `Err`
    /// (429) over its hourly budget.
    pub fn activation_start(&self, address: IpAddr, route: &str) -> Result<(), ApiError> {
        Self::check(&self.starts, &bucket(address))
            .inspect_err(|_| self.note(address, Refusal::TooManyStarts, route, None))
    }

    /// A refused attempt from `address`: noted (counted, maybe logged) and charged to the
    /// address; `Err` (429) once the address has used its budget.
    pub fn refused(&self, address: IpAddr, refusal: Refusal, route: &str) -> Result<(), ApiError> {
        self.note(address, refusal, route, None);
        Self::check(&self.refused, &bucket(address))
    }

    /// An authenticated request, charged to its key; `Err` (429) over the key's budget.
    pub fn authenticated(
        &self,
        address: IpAddr,
        key_id: &str,
        route: &str,
    ) -> Result<(), ApiError> {
        Self::check(&self.by_key, &key_id.to_owned())
            .inspect_err(|_| self.note(address, Refusal::KeyOverLimit, route, Some(key_id)))
    }

    /// Counts a refusal, and logs it when it is the first from that address this minute.
    /// Never the key or the request's content: the reason, the route template, the key's id.
    pub fn note(&self, address: IpAddr, refusal: Refusal, route: &str, key_id: Option<&str>) {
        metrics::counter!("http_refusals_total", "reason" => refusal.as_str()).increment(1);
        if self.logged.check_key(&bucket(address)).is_ok() {
            tracing::warn!(
                %address,
                route,
                reason = refusal.as_str(),
                key_id = key_id.unwrap_or("-"),
                "request refused (further refusals from this address this minute are only \
                 counted, in http_refusals_total)"
            );
        }
    }

    /// Forgets idle callers and keys, so the tables do not grow without bound.
    pub fn forget_idle(&self) {
        self.refused.retain_recent();
        self.by_key.retain_recent();
        self.logged.retain_recent();
        self.starts.retain_recent();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_spend_the_address_and_never_the_key() {
        let limits = RateLimits::per_minute(3);
        let noisy: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.refused(noisy, Refusal::BadKey, "/orders").is_ok());
        }
        assert!(limits.refused(noisy, Refusal::NoKey, "/orders").is_err());
        // The same address with a valid key: its own budget, whole.
        for _ in 0..3 {
            assert!(limits.authenticated(noisy, "k1", "/orders").is_ok());
        }
        assert!(limits.authenticated(noisy, "k1", "/orders").is_err());
        assert!(limits.authenticated(noisy, "k2", "/orders").is_ok());
        // Another address is not affected; another address of the same IPv6 /64 is.
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        assert!(
            limits
                .refused(other, Refusal::BadSignature, "/twilio/voice")
                .is_ok()
        );
        let v6: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let v6_same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.refused(v6, Refusal::BadKey, "/orders").is_ok());
        }
        assert!(
            limits
                .refused(v6_same_64, Refusal::BadKey, "/orders")
                .is_err()
        );
    }
}
