//! PostgreSQL back-end: what several ProxyCall processes behind a load balancer share.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Transaction};

use super::StoreResult;
use super::sql::{claim_sql, hourly_sql, impl_columns, impl_store, reserve_sql};

/// The sqlx database the shared SQL is instantiated for.
type DbEngine = Postgres;

/// Every file of `migrations/postgres/`, in version order (see `build.rs`).
pub const MIGRATIONS: &[(i64, &str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/migrations_postgres.rs"));

pub struct PgStore {
    pool: PgPool,
}

impl_columns!(PgRow);

impl PgStore {
    const CLAIM_SQL: &'static str = claim_sql!("for update skip locked");
    const RESERVE_SQL: &'static str = reserve_sql!("for update skip locked");
    /// Makes transactions that name the same key take turns.
    const LOCK_KEY_SQL: &'static str = "select pg_advisory_xact_lock(hashtext($1))";
    /// Appended to the job claim's inner select.
    const SKIP_LOCKED: &'static str = " for update skip locked";
    /// The hour as SQLite's text gives it, `YYYY-MM-DDTHH` in UTC.
    const HOURLY_SQL: &'static str =
        hourly_sql!("to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24')");

    pub async fn connect(url: &str, migrate: super::Migrations) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        // Migrations take an advisory lock, so two processes starting at once are safe.
        if let Some(migrator) = super::migrator(MIGRATIONS, migrate) {
            migrator.run(&pool).await?;
        }
        Ok(Self { pool })
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> sqlx::Result<Transaction<'static, Postgres>> {
        self.pool.begin().await
    }
}

impl_store!(PgStore);
