//! The SQL of `KeyStore`, shared by both engines.

/// Implements `KeyStore` for a back-end (see `impl_store!`).
macro_rules! impl_keys_store {
    ($store:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};

            use $crate::store::sql::*;
            use $crate::store::*;

            #[async_trait::async_trait]
            impl KeyStore for $store {
                async fn insert_api_key(&self, key: &NewApiKey) -> StoreResult<()> {
                    sqlx::query(
                        "insert into api_keys (id, name, key_hash, scopes, created_at, expires_at) \
                     values ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&key.id)
                    .bind(&key.name)
                    .bind(&key.hash)
                    .bind(key.scopes.to_string())
                    .bind(key.created_at)
                    .bind(key.expires_at)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
                    sqlx::query(concat!(
                        "select ",
                        key_cols!(),
                        " from api_keys where key_hash = $1"
                    ))
                    .bind(hash)
                    .fetch_optional(self.reader())
                    .await?
                    .map(|r| key_from(&r))
                    .transpose()
                }

                async fn api_keys(&self) -> StoreResult<Vec<ApiKey>> {
                    sqlx::query(concat!(
                        "select ",
                        key_cols!(),
                        " from api_keys order by created_at, id"
                    ))
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(key_from)
                    .collect()
                }

                async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "update api_keys set revoked_at = $1 where id = $2 and revoked_at is null",
                    )
                    .bind(at)
                    .bind(id)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn touch_api_key(
                    &self,
                    id: &str,
                    at: DateTime<Utc>,
                    not_since: DateTime<Utc>,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "update api_keys set last_used_at = $1 where id = $2 \
                         and (last_used_at is null or last_used_at < $3)",
                    )
                    .bind(at)
                    .bind(id)
                    .bind(not_since)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn count_usable_api_keys(&self, now: DateTime<Utc>) -> StoreResult<i64> {
                    // Few keys: filtering in Rust avoids comparing timestamps in SQL, which
                    // SQLite stores as text.
                    let keys = self.api_keys().await?;
                    Ok(keys.iter().filter(|k| k.is_usable(now)).count() as i64)
                }
            }
        };
    };
}
pub(crate) use impl_keys_store;
