//! Relay limits: per sender and proxy, and per proxy, per hour
//! (`PROXYCALL_RELAY_LIMIT_PER_SENDER_HOUR`, `PROXYCALL_RELAY_LIMIT_PER_PROXY_HOUR`). What is
//! over is recorded `rate_limited` and not relayed.
//!
//! Kept in this process's memory, like the API's rate limits: with N processes a sender gets up
//! to N times the limit. Counting in the database instead would cost every webhook: the
//! interactions hold no sender (and should not, for privacy), and an index to count them by
//! proxy and time is one more B-tree write per webhook on the hot path, where the single
//! writer is the limit (an index fewer was worth a fifth of the voice throughput). The limit
//! is a brake on abuse and cost, not an account: a per-process bound does that job.
//!
//! Memory is bounded: keys are 64-bit hashes (keyed per process, so a caller cannot aim at
//! collisions), idle ones are forgotten every minute, and beyond `MAX_PAIRS` pairs new ones
//! are not tracked until then (the per-proxy limit, whose keys the pool bounds, still holds).

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::domain::E164;

/// Most (sender, proxy) pairs tracked at once: a few megabytes.
const MAX_PAIRS: usize = 100_000;
/// How often idle keys are forgotten; sooner while the pairs are at their bound.
const UPKEEP_EVERY: Duration = Duration::from_secs(60);
const UPKEEP_WHEN_FULL: Duration = Duration::from_secs(5);

pub struct RelayLimits {
    per_sender_hour: u32,
    per_proxy_hour: u32,
    per_sender: DefaultKeyedRateLimiter<u64>,
    per_proxy: DefaultKeyedRateLimiter<u64>,
    keys: RandomState,
    start: Instant,
    /// Milliseconds from `start` to the last upkeep.
    last_upkeep: AtomicU64,
}

impl RelayLimits {
    pub const DEFAULT_PER_SENDER_HOUR: u32 = 30;
    pub const DEFAULT_PER_PROXY_HOUR: u32 = 300;

    /// Limits of `per_sender` relays an hour per (sender, proxy) and `per_proxy` per proxy
    /// (each at least 1).
    pub fn per_hour(per_sender: u32, per_proxy: u32) -> Self {
        let quota = |n: u32| Quota::per_hour(NonZeroU32::new(n.max(1)).expect("at least one"));
        Self {
            per_sender_hour: per_sender,
            per_proxy_hour: per_proxy,
            per_sender: RateLimiter::keyed(quota(per_sender)),
            per_proxy: RateLimiter::keyed(quota(per_proxy)),
            keys: RandomState::new(),
            start: Instant::now(),
            last_upkeep: AtomicU64::new(0),
        }
    }

    /// Whether one more relay from `sender` through `proxy` is within the limits; counts it
    /// when it is.
    pub fn allow(&self, sender: &E164, proxy: &E164) -> bool {
        self.upkeep_when_due();
        if self.per_sender.len() < MAX_PAIRS {
            let pair = self.keys.hash_one((sender.as_str(), proxy.as_str()));
            if self.per_sender.check_key(&pair).is_err() {
                return false;
            }
        } else {
            metrics::counter!("relay_limit_untracked_total").increment(1);
        }
        self.per_proxy
            .check_key(&self.keys.hash_one(proxy.as_str()))
            .is_ok()
    }

    fn upkeep_when_due(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_upkeep.load(Ordering::Relaxed);
        let every = if self.per_sender.len() < MAX_PAIRS {
            UPKEEP_EVERY
        } else {
            UPKEEP_WHEN_FULL
        };
        if now.saturating_sub(last) < every.as_millis() as u64
            || self
                .last_upkeep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        for limiter in [&self.per_sender, &self.per_proxy] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self::per_hour(Self::DEFAULT_PER_SENDER_HOUR, Self::DEFAULT_PER_PROXY_HOUR)
    }
}

impl fmt::Debug for RelayLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayLimits")
            .field("per_sender_hour", &self.per_sender_hour)
            .field("per_proxy_hour", &self.per_proxy_hour)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> E164 {
        E164::parse_shape(s).unwrap()
    }

    #[test]
    fn each_sender_and_each_proxy_has_its_own_budget() {
        let limits = RelayLimits::per_hour(2, 3);
        let (a, b, c) = (n("+33611111111"), n("+33622222222"), n("+33633333333"));
        let (p, q) = (n("+33780000001"), n("+33780000002"));
        assert!(limits.allow(&a, &p));
        assert!(limits.allow(&a, &p));
        assert!(!limits.allow(&a, &p), "a's third relay through p is over");
        assert!(limits.allow(&a, &q), "another proxy is another budget");
        assert!(limits.allow(&b, &p), "p's third relay");
        assert!(
            !limits.allow(&c, &p),
            "p's fourth relay is over, whoever sends it"
        );
        assert!(limits.allow(&c, &q));
    }
}
