//! API keys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::Scopes;

/// An API key as stored: never the key itself, only its SHA-256.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub scopes: Scopes,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: String,
    pub name: String,
    pub hash: String,
    pub scopes: Scopes,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait KeyStore {
    async fn insert_api_key(&self, key: &NewApiKey) -> StoreResult<()>;
    async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>>;
    async fn api_keys(&self) -> StoreResult<Vec<ApiKey>>;
    /// Whether a key with that id existed and was not yet revoked.
    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Records a use at `at`, unless one at or after `not_since` is recorded: one conditional
    /// write, so that processes using a key at once write it about once a minute, not per
    /// request.
    async fn touch_api_key(
        &self,
        id: &str,
        at: DateTime<Utc>,
        not_since: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn count_usable_api_keys(&self, now: DateTime<Utc>) -> StoreResult<i64>;
}
