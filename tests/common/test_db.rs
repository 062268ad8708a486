//! A fresh database per test: a SQLite file, or with
//! `PROXYCALL_TEST_DATABASE_URL=postgres://…` a PostgreSQL database created on that server
//! and dropped afterwards, so that every test binary runs on both engines.
//!
//! Shared by several test binaries through `#[path]`; each uses part of it.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl TestDb {
    pub async fn new() -> Self {
        // Every test makes a database first: the HTTPS stack is set up here, once.
        proxycall::install_crypto_provider();
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        match std::env::var("PROXYCALL_TEST_DATABASE_URL") {
            Ok(admin_url) if admin_url.starts_with("postgres") => {
                let name = format!(
                    "pc_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    uuid::Uuid::new_v4().simple().to_string().get(..8).unwrap()
                );
                let mut admin = sqlx_connect(&admin_url).await;
                sqlx_exec(&mut admin, &format!("create database {name}")).await;
                let mut url = url::Url::parse(&admin_url).unwrap();
                url.set_path(&name);
                Self::Postgres {
                    admin_url,
                    name,
                    url: url.to_string(),
                }
            }
            _ => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                Self::Sqlite { _dir: dir, url }
            }
        }
    }

    /// Drops a table, to make the next request that needs it fail inside.
    pub async fn drop_table(&self, table: &str) {
        self.exec(&format!("drop table {table}")).await;
    }

    /// Runs one statement on the database, as a separate connection would.
    pub async fn exec(&self, sql: &str) {
        exec_on(self.url(), sql).await;
    }

    /// Every column of every row `sql` returns, by name, for the columns that hold text (a
    /// timestamp or a number is left out: it cannot hold a secret or a phone number).
    pub async fn text_columns(&self, sql: &str) -> Vec<Vec<(String, Option<String>)>> {
        use sqlx::{Column, Connection, Row};
        fn texts<R: Row>(row: &R) -> Vec<(String, Option<String>)>
        where
            for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            usize: sqlx::ColumnIndex<R>,
        {
            (0..row.len())
                .filter_map(|i| {
                    let value = row.try_get::<Option<String>, _>(i).ok()?;
                    Some((row.columns()[i].name().to_owned(), value))
                })
                .collect()
        }
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Self::Sqlite { url, .. } => {
                let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&mut conn).await.unwrap();
                rows.iter().map(texts).collect()
            }
            Self::Postgres { url, .. } => {
                let mut conn = sqlx_connect(url).await;
                let rows = sqlx::query(sql).fetch_all(&mut conn).await.unwrap();
                rows.iter().map(texts).collect()
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url,
        }
    }
}

/// Runs one statement on the database at `url`, on a connection of its own.
pub async fn exec_on(url: &str, sql: &str) {
    use sqlx::Connection;
    if url.starts_with("postgres") {
        let mut conn = sqlx_connect(url).await;
        sqlx_exec(&mut conn, sql).await;
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(sql.to_owned()))
            .await
            .unwrap();
    }
}

async fn sqlx_connect(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url)
        .await
        .expect("PostgreSQL for tests is reachable")
}

async fn sqlx_exec(conn: &mut sqlx::PgConnection, sql: &str) {
    use sqlx::Executor;
    conn.execute(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .unwrap();
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Self::Postgres {
            admin_url, name, ..
        } = self
        {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs outside any runtime we may block: use a thread with its own.
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async {
                        let mut admin = sqlx_connect(&admin_url).await;
                        sqlx_exec(
                            &mut admin,
                            &format!("drop database if exists {name} with (force)"),
                        )
                        .await;
                    });
            })
            .join();
        }
    }
}
