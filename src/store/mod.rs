//! Storage: traits in domain terms, one per area (`clients.rs`, `pool.rs`, `keys.rs`…), and
//! two SQL back-ends (SQLite and PostgreSQL) picked once from the database URL. The SQL is
//! written once (`sql/`) and instantiated for each engine, which supplies only what differs:
//! its pools, its transaction start and its claim queries.

mod activations;
mod clients;
mod email;
mod import;
mod jobs;
mod keys;
mod low_water;
mod operators;
mod outbox;
mod pool;
mod postgres;
mod reports;
mod routing;
mod simulated;
mod sql;
mod sqlite;
mod voicemail;

use async_trait::async_trait;

pub use activations::*;
pub use clients::*;
pub use email::*;
pub use import::*;
pub use jobs::*;
pub use keys::*;
pub use low_water::*;
pub use operators::*;
pub use outbox::*;
pub use pool::*;
pub use reports::*;
pub use routing::*;
pub use simulated::*;
pub use voicemail::*;

use crate::domain::ClientId;

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
    /// A write grouped with others failed (the cause is logged where it happened).
    #[error("{0}")]
    Unavailable(String),
}

impl StoreError {
    /// The database cannot be reached now (pool exhausted or closed, connection lost): worth
    /// retrying later, unlike a failed statement.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed
            )
        )
    }
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
    /// The number is in the pool, flagged `missing`: the carrier no longer lists it.
    NumberMissing,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ClientExists => f.write_str("client exists"),
            Self::OrderExists => f.write_str("order exists"),
            Self::ProxyTaken { .. } => f.write_str("proxy belongs to another client"),
            Self::NumberExists => f.write_str("number already in the pool"),
            Self::NumberMissing => f.write_str("number missing at the carrier"),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything ProxyCall keeps, one trait per area.
#[async_trait]
pub trait Store:
    ActivationStore
    + ClientStore
    + PoolStore
    + KeyStore
    + RoutingStore
    + OutboxStore
    + JobStore
    + SimulatedStore
    + EmailStore
    + ReportStore
    + ImportStore
    + LowWaterStore
    + OperatorStore
    + VoicemailStore
    + Send
    + Sync
    + 'static
{
    /// Cheap round-trip for `/ready`.
    async fn ping(&self) -> StoreResult<()>;
    async fn migration_status(&self) -> StoreResult<MigrationStatus>;
    /// Whether the database holds any client, API key or pool number. Reads only tables of
    /// the first migration, so that it answers for a database of any version.
    async fn holds_data(&self) -> StoreResult<bool>;
}

/// Which migrations to apply when opening a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    /// None: for looking only (`proxycall check`, the demo's first look).
    Leave,
    /// Every pending one.
    All,
    /// Those up to this version: what an older release left, for upgrade tests.
    UpTo(i64),
}

/// Opens the database the URL names and applies pending migrations.
pub async fn connect(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    open(url, Migrations::All).await
}

/// Opens the database the URL names as it is, migrations left pending.
pub async fn connect_as_is(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    open(url, Migrations::Leave).await
}

pub async fn open(url: &str, migrate: Migrations) -> StoreResult<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(
            sqlite::SqliteStore::connect(url, migrate).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(
            postgres::PgStore::connect(url, migrate).await?,
        ))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}

/// Migrations of this binary's engine: how many it has, and how many the database applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationStatus {
    pub known: usize,
    pub applied: usize,
}

/// The migrations of one engine, embedded in the binary.
fn migrator(
    files: &[(i64, &'static str, &'static str)],
    which: Migrations,
) -> Option<sqlx::migrate::Migrator> {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    let up_to = match which {
        Migrations::Leave => return None,
        Migrations::All => i64::MAX,
        Migrations::UpTo(version) => version,
    };
    Some(Migrator::with_migrations(
        files
            .iter()
            .filter(|(version, ..)| *version <= up_to)
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
    ))
}
