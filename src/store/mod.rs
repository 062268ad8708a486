//! Storage: one trait in domain terms, two SQL back-ends (SQLite and PostgreSQL) picked once
//! from the database URL. The SQL is written once (`sql.rs`) and instantiated for each engine,
//! which supplies only what differs: its pools, its transaction start and its claim query.

mod postgres;
mod records;
mod sql;
mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{ClientId, CountryIso, E164, NumberType, NumberTypeFilter, OrderId};
pub use records::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// A stored value no longer parses as its domain type: a bug or a hand-edited row.
    #[error("stored {column} is not valid")]
    Corrupt { column: &'static str },
    #[error("unsupported database URL (expected sqlite://… or postgres://…)")]
    UnsupportedUrl,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    ClientExists,
    OrderExists,
    /// The proxy number is held by another client (or another client's reservation).
    ProxyTaken {
        owner: Option<ClientId>,
    },
    NumberExists,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ClientExists => f.write_str("client exists"),
            Self::OrderExists => f.write_str("order exists"),
            Self::ProxyTaken { .. } => f.write_str("proxy belongs to another client"),
            Self::NumberExists => f.write_str("number already in the pool"),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What to take from the pool: the first available number of the country, trying the types
/// in order (mobile first, local as fall-back, for instance).
#[derive(Debug, Clone)]
pub struct ProxyPick {
    pub country: CountryIso,
    pub types: Vec<NumberType>,
    pub attribution_name: String,
    pub friendly_name: Option<String>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round-trip for `/ready`.
    async fn ping(&self) -> StoreResult<()>;

    async fn next_client_id(&self) -> StoreResult<i64>;
    async fn client(&self, id: ClientId) -> StoreResult<Option<Client>>;
    async fn client_by_proxy(&self, proxy: &E164) -> StoreResult<Option<Client>>;
    /// Inserts the client and, when `pick` is given, hands it a pool number, in one
    /// transaction: either both happen or neither. `Ok(None)` when the pool has no number.
    async fn insert_client(
        &self,
        client: &NewClient,
        pick: Option<&ProxyPick>,
    ) -> StoreResult<Option<Client>>;
    /// Gives an existing client without a proxy a pool number. Returns the client as it is
    /// afterwards (with the proxy it already had if another request was first), or `Ok(None)`
    /// when the pool has no number.
    async fn attach_proxy(&self, id: ClientId, pick: &ProxyPick) -> StoreResult<Option<Client>>;
    async fn update_client(&self, id: ClientId, patch: &ClientPatch) -> StoreResult<Client>;

    async fn order(&self, id: &OrderId) -> StoreResult<Option<Order>>;
    async fn insert_order(&self, id: &OrderId, client: ClientId) -> StoreResult<Order>;

    async fn add_pool_number(&self, number: &NewPoolNumber) -> StoreResult<PoolNumber>;
    async fn pool_number(&self, number: &E164) -> StoreResult<Option<PoolNumber>>;
    async fn pool_numbers(
        &self,
        country: Option<CountryIso>,
        filter: NumberTypeFilter,
        status: Option<PoolStatus>,
    ) -> StoreResult<Vec<PoolNumber>>;
    /// Counts per country, type and status, for metrics and the "pool is empty" answers.
    async fn pool_counts(&self) -> StoreResult<Vec<PoolCount>>;
    /// Atomically marks the first fitting available number as assigned to `client`.
    async fn assign_from_pool(
        &self,
        client: ClientId,
        pick: &ProxyPick,
    ) -> StoreResult<Option<PoolNumber>>;

    async fn insert_api_key(&self, key: &NewApiKey) -> StoreResult<()>;
    async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>>;
    async fn api_keys(&self) -> StoreResult<Vec<ApiKey>>;
    /// Whether a key with that id existed and was not yet revoked.
    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool>;
    async fn touch_api_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()>;
    async fn count_usable_api_keys(&self, now: DateTime<Utc>) -> StoreResult<i64>;
}

/// Opens the database the URL names and applies pending migrations.
pub async fn connect(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(
            sqlite::SqliteStore::connect(url).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(postgres::PgStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}

/// The migrations of one engine, embedded in the binary.
fn migrator(files: &[(i64, &'static str, &'static str)]) -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    Migrator::with_migrations(
        files
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    (*name).into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}
