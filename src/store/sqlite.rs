//! SQLite back-end: the embedded default, one file.
//!
//! SQLite allows one writer at a time, so writes go through a pool of one connection (no
//! `SQLITE_BUSY` between our own connections) and start with `BEGIN IMMEDIATE`, which takes
//! the write lock at once instead of failing on upgrade when another process writes too.
//! Reads use a separate pool and, thanks to WAL, never wait for the writer.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use super::StoreResult;
use super::sql::{claim_sql, hourly_sql, impl_columns, impl_store, reserve_sql};

/// The sqlx database the shared SQL is instantiated for.
type DbEngine = Sqlite;

/// Every file of `migrations/sqlite/`, in version order (see `build.rs`).
pub const MIGRATIONS: &[(i64, &str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/migrations_sqlite.rs"));

pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
}

impl_columns!(SqliteRow);

/// The one writer's page cache. Webhooks and orders change pages all over the B-trees (the
/// indexes of interactions, contacts and clients, keyed by random SIDs and numbers): with
/// SQLite's default of 2 MiB, most of them were read back from the OS before each change, and
/// each webhook grew dearer as the database grew. Readers keep the default: every commit
/// empties their caches anyway.
const WRITER_CACHE_KIB: u32 = 32 * 1024;

impl SqliteStore {
    const CLAIM_SQL: &'static str = claim_sql!("");
    const RESERVE_SQL: &'static str = reserve_sql!("");
    /// Makes transactions that name the same key take turns (SQLite: nothing to do, its one writer already does).
    const LOCK_KEY_SQL: &'static str = "select $1";
    /// Appended to the job claim's inner select.
    const SKIP_LOCKED: &'static str = "";
    /// Times are RFC 3339 text in UTC: the hour is their first 13 characters.
    const HOURLY_SQL: &'static str = hourly_sql!("substr(occurred_at, 1, 13)");

    pub async fn connect(url: &str, migrate: super::Migrations) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            // Looking only (`proxycall check`) must not create a database where there was none.
            .create_if_missing(migrate != super::Migrations::Leave)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // The temporary B-trees of sorts and unions stay in memory, never a file.
            .pragma("temp_store", "memory");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", format!("-{}", WRITER_CACHE_KIB)),
            )
            .await?;
        if let Some(migrator) = super::migrator(MIGRATIONS, migrate) {
            migrator.run(&writer).await?;
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { reader, writer })
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    async fn begin_write(&self) -> sqlx::Result<Transaction<'static, Sqlite>> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }
}

impl_store!(SqliteStore);
