//! API keys: random, shown once, stored as a SHA-256, with scopes, expiry and revocation.
//!
//! A key is `pck_<id>_<secret>`: the id names it in listings and logs, the secret is 256
//! random bits. A plain SHA-256 is enough to store it (unlike a human password it cannot be
//! guessed from a dictionary), and it lets a request find its key with one indexed lookup.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rand::RngExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{App, AppResult};
use crate::domain::Scopes;
use crate::store::{ApiKey, NewApiKey};

/// How often a key's last use is written at most.
pub const USE_RECORDED_EVERY: Duration = Duration::minutes(1);

/// Who made a request, once authenticated.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The key's id; `env` for `PROXYCALL_API_TOKEN`.
    pub key_id: String,
    pub scopes: Scopes,
}

/// How long a key read from the store is trusted without reading it again. A revocation made
/// by another process (the `keys revoke` command, another server) takes effect within it;
/// one made by this process, at once.
pub const CACHED_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// Keys found by their SHA-256 in the last `CACHED_FOR`: a request with a known key costs no
/// database round trip. Only keys that exist are kept (an unknown key is read each time, and
/// charged to its caller's address), so strangers cannot fill it.
pub struct KeyCache(moka::sync::Cache<[u8; 32], Arc<ApiKey>>);

impl Default for KeyCache {
    fn default() -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(CACHED_FOR)
                .build(),
        )
    }
}

pub struct IssuedKey {
    pub key: ApiKey,
    /// The whole key, to show once and never again.
    pub secret: String,
}

pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    hex::encode(buf)
}

/// Whether `presented` has the shape of the keys [`create`] makes: `pck_`, 8 hexadecimal
/// digits, `_`, 64 hexadecimal digits.
pub fn well_formed(presented: &str) -> bool {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    presented
        .strip_prefix("pck_")
        .and_then(|rest| rest.split_once('_'))
        .is_some_and(|(id, secret)| hex(id, 8) && hex(secret, 64))
}

pub async fn create(
    app: &App,
    name: &str,
    scopes: Scopes,
    expires_in: Option<Duration>,
) -> AppResult<IssuedKey> {
    let id = random_hex(4);
    let secret = format!("pck_{id}_{}", random_hex(32));
    let now = Utc::now();
    let new = NewApiKey {
        id: id.clone(),
        name: name.to_owned(),
        hash: hash(&secret),
        scopes: scopes.clone(),
        created_at: now,
        expires_at: expires_in.map(|d| now + d),
    };
    app.store.insert_api_key(&new).await?;
    tracing::info!(key_id = %id, %scopes, "API key created");
    Ok(IssuedKey {
        key: ApiKey {
            id,
            name: new.name,
            scopes,
            created_at: now,
            expires_at: new.expires_at,
            revoked_at: None,
            last_used_at: None,
        },
        secret,
    })
}

pub async fn list(app: &App) -> AppResult<Vec<ApiKey>> {
    Ok(app.store.api_keys().await?)
}

/// Whether a usable key with that id existed.
pub async fn revoke(app: &App, id: &str) -> AppResult<bool> {
    let done = app.store.revoke_api_key(id, Utc::now()).await?;
    // Cached by its hash, which this id does not give: forget them all.
    app.key_cache.0.invalidate_all();
    if done {
        tracing::info!(key_id = %id, "API key revoked");
    }
    Ok(done)
}

/// Checks a presented key. `env_token_hash` is the SHA-256 of `PROXYCALL_API_TOKEN`, compared
/// in constant time. Stored keys are found by their hash.
pub async fn authenticate(
    app: &App,
    env_token_hash: Option<&[u8; 32]>,
    presented: &str,
) -> AppResult<Option<Principal>> {
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    if let Some(expected) = env_token_hash
        && bool::from(digest.ct_eq(expected))
    {
        return Ok(Some(Principal {
            key_id: "env".into(),
            scopes: Scopes::admin(),
        }));
    }
    // Only a key of the shape we issue can be in the store: anything else costs no lookup.
    if !well_formed(presented) {
        return Ok(None);
    }
    if let Some(key) = app.key_cache.0.get(&digest) {
        return Ok(key.is_usable(Utc::now()).then(|| principal(&key)));
    }
    let Some(key) = app.store.api_key_by_hash(&hex::encode(digest)).await? else {
        return Ok(None);
    };
    let key = Arc::new(key);
    app.key_cache.0.insert(digest, key.clone());
    let now = Utc::now();
    if !key.is_usable(now) {
        return Ok(None);
    }
    // Record use at most once a minute, off the request's path: the key as read says when a
    // write is due, and the write itself is conditional, so that processes sharing a key
    // do not each write it. Only a key read from the store is looked at (once a second at
    // least while in use), so a cached copy's older `last_used_at` asks for no write.
    let not_since = now - USE_RECORDED_EVERY;
    if key.last_used_at.is_none_or(|t| t < not_since) {
        let store = app.store.clone();
        let id = key.id.clone();
        tokio::spawn(async move {
            if let Err(e) = store.touch_api_key(&id, now, not_since).await {
                tracing::debug!(error = %e, "could not record key use");
            }
        });
    }
    Ok(Some(principal(&key)))
}

fn principal(key: &ApiKey) -> Principal {
    Principal {
        key_id: key.id.clone(),
        scopes: key.scopes.clone(),
    }
}

/// Whether any key could be used now; the server refuses to start when none can.
pub async fn any_usable(app: &App, now: DateTime<Utc>) -> AppResult<bool> {
    Ok(app.store.count_usable_api_keys(now).await? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_of_our_shape_are_looked_up() {
        let key = format!("pck_{}_{}", random_hex(4), random_hex(32));
        assert!(well_formed(&key));
        for bad in [
            "",
            "pck_",
            "pck_0123abcd",
            "pck_0123abcd_",
            "pck_0123abc_0000000000000000000000000000000000000000000000000000000000000000",
            "pck_0123abcdg_000000000000000000000000000000000000000000000000000000000000000",
            "pck_0123abcd_00000000000000000000000000000000000000000000000000000000000000000",
            "PCK_0123abcd_0000000000000000000000000000000000000000000000000000000000000000",
            "legacy-token-0123456789abcdef0123456789",
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
    }
}
