//! PostgreSQL back-end: what several ProxyCall processes behind a load balancer share.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Transaction};

use super::batch::Batcher;
use super::sql::{claim_outbound_sql, claim_sql, impl_columns, impl_routing_batch, impl_store};
use super::{BATCH, RoutingJob, StoreResult};

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "routing",
        include_str!("../../migrations/postgres/0002_routing.sql"),
    ),
];

/// The pool; cheap to clone, for the routing writer's task.
#[derive(Clone)]
pub struct PgDb {
    pool: PgPool,
}

pub struct PgStore {
    db: PgDb,
    routing: Batcher<RoutingJob>,
}

impl_columns!(PgRow);

impl PgStore {
    const CLAIM_SQL: &'static str = claim_sql!("for update skip locked");
    const CLAIM_OUTBOUND_SQL: &'static str = claim_outbound_sql!("for update skip locked");

    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        // Migrations take an advisory lock, so two processes starting at once are safe.
        super::migrator(MIGRATIONS).run(&pool).await?;
        let db = PgDb { pool };
        let handle = db.clone();
        let routing = Batcher::spawn(BATCH, move |jobs| {
            let db = handle.clone();
            async move { db.write_routing_batch(jobs).await }
        });
        Ok(Self { db, routing })
    }

    fn reader(&self) -> &PgPool {
        &self.db.pool
    }

    fn writer(&self) -> &PgPool {
        &self.db.pool
    }

    async fn begin_write(&self) -> sqlx::Result<Transaction<'static, Postgres>> {
        self.db.begin_write().await
    }

    fn routing_writer(&self) -> &Batcher<RoutingJob> {
        &self.routing
    }
}

impl PgDb {
    async fn begin_write(&self) -> sqlx::Result<Transaction<'static, Postgres>> {
        self.pool.begin().await
    }
}

impl_routing_batch!(PgDb, Postgres);
impl_store!(PgStore);
