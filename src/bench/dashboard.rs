//! `proxycall bench --dashboard`: how fast each dashboard page answers with a realistic
//! database behind it (100 000 clients by default, each with its proxy in the pool and an
//! order, three calls or texts each over the last 7 days with as many texts sent and jobs
//! done, and activations in every status).
//! One connection asks for each page in turn, as an operator's browser does; every answer is
//! checked (status and a marker of the right content) so that a fast error page does not
//! count. The target is a p99 under 50 ms per page; `/health` on the same server is the
//! reference, so the figures can be read against the machine's own floor.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use sqlx::Connection;

use super::{BenchArgs, BenchDb, Server, seed};
use crate::app::App;
use crate::app::operators::sessions::{self, Login};
use crate::app::operators::{Actor, accounts};
use crate::config::AdminSettings;
use crate::domain::{Email, Role};
use crate::store;

/// Clients seeded when `--clients` is not given.
pub const DEFAULT_CLIENTS: u32 = 100_000;
/// Calls and texts per client over the last 7 days.
const INTERACTIONS_PER_CLIENT: u32 = 3;
const ACTIVATIONS: u32 = 10_000;
const SPARE_NUMBERS: u32 = 500;
const TARGET_MS: f64 = 50.0;
const WEEK_SECONDS: i64 = 7 * 24 * 3600;

/// What the dashboard's pages read, beyond the clients `seed` inserts: one statement per
/// table, the rows made by the database itself.
async fn seed_dashboard(db: &BenchDb, clients: u32) -> anyhow::Result<()> {
    let started = Instant::now();
    let now = chrono::Utc::now();
    let (n, spare) = (i64::from(clients), i64::from(SPARE_NUMBERS));
    let interactions = n * i64::from(INTERACTIONS_PER_CLIENT);
    let activations = i64::from(ACTIVATIONS);
    // `seq(n)` counts from 1 to its bound; the two engines write times differently.
    let (seq, digits, at) = match db {
        BenchDb::Sqlite { .. } => (
            "with recursive seq(n) as (select 1 union all select n + 1 from seq where n < $1)",
            "printf('%07d', {})",
            "strftime('%Y-%m-%dT%H:%M:%S+00:00', $2 - ({}), 'unixepoch')",
        ),
        BenchDb::Postgres { .. } => (
            "with seq(n) as (select generate_series(1, $1::bigint))",
            "lpad(({})::text, 7, '0')",
            "to_timestamp($2 - ({}))",
        ),
    };
    let digits = |e: &str| digits.replace("{}", e);
    let at = |e: &str| at.replace("{}", e);
    let statements = [
        (
            n,
            format!(
                "{seq} insert into pool_numbers (phone_number, twilio_sid, country_iso, \
                 number_type, voice_capable, sms_capable, status, friendly_name, purchased_at, \
                 assigned_at, attribution_to_client_name, reserved_by_client_id, owner_client_id) \
                 select '+3378' || {}, 'PN' || n, 'FR', 'mobile', true, true, 'assigned', \
                 'Proxy ' || n, {}, {}, 'Client ' || n, n, n from seq",
                digits("n"),
                at("n % 86400"),
                at("n % 86400"),
            ),
        ),
        (
            spare,
            format!(
                "{seq} insert into pool_numbers (phone_number, twilio_sid, country_iso, \
                 number_type, voice_capable, sms_capable, status, friendly_name, purchased_at) \
                 select '+3379' || {}, 'PS' || n, 'FR', 'mobile', true, true, 'available', \
                 'Spare ' || n, {} from seq",
                digits("n"),
                at("n"),
            ),
        ),
        (
            n,
            format!(
                "{seq} insert into orders (order_id, client_id, created_at) \
                 select 'CMD' || n, n, {} from seq",
                at("n % 86400"),
            ),
        ),
        (
            interactions,
            format!(
                "{seq} insert into interactions (occurred_at, proxy_number, client_id, \
                 direction, channel, outcome, twilio_sid) \
                 select {}, '+3378' || {}, 1 + n % {n}, \
                 case n % 2 when 0 then 'to_client' else 'from_client' end, \
                 case n % 3 when 0 then 'sms' else 'voice' end, \
                 case n % 10 when 0 then 'no_recent_caller' else 'forwarded' end, \
                 'S' || n from seq",
                at(&format!("(n * 7919) % {WEEK_SECONDS}")),
                digits(&format!("1 + n % {n}")),
            ),
        ),
        (
            activations,
            format!(
                "{seq} insert into activations (pending_id, client_name, client_mail, \
                 client_real_phone, country_iso, number_type, proxy_number, reserved, status, \
                 created_at, updated_at) \
                 select 'P-' || n, 'Newcomer ' || n, 'a' || n || '@example.com', \
                 '+337' || {}, 'FR', 'mobile', '+3379' || {}, false, \
                 case n % 5 when 0 then 'PENDING' when 1 then 'PENDING_CALL' \
                 when 2 then 'PROMOTED' when 3 then 'EXPIRED' else 'PENDING_MAIL' end, \
                 {}, {} from seq",
                digits("n"),
                digits(&format!("1 + n % {spare}")),
                at(&format!("(n * 7919) % {WEEK_SECONDS}")),
                at(&format!("(n * 7919) % {WEEK_SECONDS}")),
            ),
        ),
        (
            interactions,
            format!(
                "{seq} insert into outbound_messages (kind, purpose, from_number, to_number, \
                 status, attempts, last_error, created_at, updated_at) \
                 select 'sms', 'relay', '+3378' || {}, '+336' || {}, \
                 case when n % 1000 = 0 then 'failed' else 'sent' end, 1, \
                 case when n % 1000 = 0 then 'Twilio error 21610' end, {}, {} from seq",
                digits(&format!("1 + n % {n}")),
                digits("n % 1000000"),
                at(&format!("(n * 7919) % {WEEK_SECONDS}")),
                at(&format!("(n * 7919) % {WEEK_SECONDS}")),
            ),
        ),
        (
            interactions,
            format!(
                "{seq} insert into jobs (kind, payload, status, due_at, attempts, max_attempts, \
                 last_error, created_at, updated_at, finished_at) \
                 select 'outbox.send', '{{}}', \
                 case when n % 1000 = 0 then 'failed' else 'done' end, {}, 1, 5, \
                 case when n % 1000 = 0 then 'gave up' end, {}, {}, {} from seq",
                at(&format!("(n * 7919) % {WEEK_SECONDS}")),
                at(&format!("(n * 7919) % {WEEK_SECONDS}")),
                at(&format!("(n * 7919) % {WEEK_SECONDS}")),
                at(&format!("(n * 7919) % {WEEK_SECONDS}")),
            ),
        ),
    ];
    let now_secs = now.timestamp();
    match db {
        BenchDb::Sqlite { url, .. } => {
            let mut conn = sqlx::SqliteConnection::connect(url).await?;
            for (rows, sql) in &statements {
                sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(rows)
                    .bind(now_secs)
                    .execute(&mut conn)
                    .await
                    .with_context(|| sql.clone())?;
            }
            sqlx::raw_sql("analyze").execute(&mut conn).await?;
        }
        BenchDb::Postgres { url, .. } => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            for (rows, sql) in &statements {
                sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(rows)
                    .bind(now_secs as f64)
                    .execute(&mut conn)
                    .await
                    .with_context(|| sql.clone())?;
            }
            sqlx::raw_sql("analyze").execute(&mut conn).await?;
        }
    }
    eprintln!(
        "  seeded the pool, {n} orders, {interactions} interactions, as many sent texts and \
         done jobs, and {activations} activations in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// An admin and its session: the cookie a browser would send.
async fn admin_cookie(db: &BenchDb) -> anyhow::Result<String> {
    let app = App::simulated(store::connect(db.url()).await?);
    let email = Email::parse("bench-admin@example.com").map_err(anyhow::Error::msg)?;
    let password = "bench-admin-password-long-enough";
    accounts::create(&app, &Actor::command_line(), &email, Role::Admin, password).await?;
    let login = sessions::login(
        &app,
        &AdminSettings::default(),
        email.as_str(),
        password,
        "127.0.0.1",
    )
    .await?;
    match login {
        Login::Opened {
            token,
            second_factor_due: false,
        } => Ok(format!("pc_admin={token}")),
        _ => bail!("the bench's admin could not log in"),
    }
}

/// A page to measure, and a piece of text its right answer holds.
struct Page {
    path: String,
    expect: &'static str,
}

fn pages(clients: u32) -> Vec<Page> {
    let middle = clients / 2;
    let page = |path: String, expect| Page { path, expect };
    vec![
        page("/health".into(), "ok"),
        page("/admin".into(), "<svg"),
        page("/admin/pool".into(), "+3378"),
        page("/admin/pool?status=available".into(), "+3379"),
        page(format!("/admin/pool?after={middle}"), "+3378"),
        page("/admin/clients".into(), "Client "),
        page(format!("/admin/clients?after={middle}"), "Client "),
        page("/admin/clients?q=client%205".into(), "Client 5"),
        page(format!("/admin/clients?q=%2B3378{middle:07}"), "Client "),
        page("/admin/clients?q=c77%40example.com".into(), "Client 77"),
        page(format!("/admin/clients/{middle}"), "CMD"),
        page("/admin/activations".into(), "P-"),
        page("/admin/activations?status=PENDING_CALL".into(), "P-"),
        page("/admin/interactions".into(), "+3378"),
        page("/admin/interactions?channel=sms".into(), "+3378"),
        page(
            format!("/admin/interactions?proxy=%2B3378{middle:07}"),
            "+3378",
        ),
        page("/admin/jobs".into(), "outbox.send"),
        page("/admin/jobs?status=failed".into(), "gave up"),
        page("/admin/outbox".into(), "21610"),
        page("/admin/keys".into(), "bench"),
        page("/admin/operators".into(), "bench-admin"),
        page("/admin/settings".into(), "PROXYCALL_"),
        page("/admin/audit".into(), "login"),
    ]
}

struct Timing {
    page: Page,
    /// The first answer after the server started (caches cold), in ms.
    first_ms: f64,
    latency: Histogram<u64>,
    errors: u64,
}

/// Each page `rounds` times in turn after two warm-up rounds (the first answers are kept
/// apart: a page's cost just after a restart), one request at a time.
async fn measure(base: &str, cookie: &str, pages: Vec<Page>, rounds: u32) -> Vec<Timing> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    let mut timings: Vec<Timing> = pages
        .into_iter()
        .map(|page| Timing {
            page,
            first_ms: 0.0,
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds"),
            errors: 0,
        })
        .collect();
    for round in 0..rounds + 2 {
        for t in &mut timings {
            let started = Instant::now();
            let ok = match http
                .get(format!("{base}{}", t.page.path))
                .header("cookie", cookie)
                .timeout(Duration::from_secs(30))
                .send()
                .await
            {
                Ok(r) => {
                    r.status().is_success()
                        && r.text()
                            .await
                            .is_ok_and(|body| body.contains(t.page.expect))
                }
                Err(_) => false,
            };
            if round == 0 {
                t.first_ms = started.elapsed().as_secs_f64() * 1000.0;
            }
            if round >= 2 {
                let _ = t.latency.record(started.elapsed().as_micros() as u64);
                t.errors += u64::from(!ok);
            }
        }
    }
    timings
}

pub async fn run(args: &BenchArgs, engine: &str) -> anyhow::Result<()> {
    let clients = args.clients.unwrap_or(DEFAULT_CLIENTS);
    let rounds = (args.seconds as u32 * 5).max(10);
    println!(
        "ProxyCall dashboard benchmark: {engine}, {clients} clients, each page {rounds} times{}",
        if cfg!(debug_assertions) {
            " (DEBUG BUILD: use --release for figures)"
        } else {
            ""
        }
    );
    let db = BenchDb::create(args, "dashboard").await?;
    seed(&db, clients).await?;
    seed_dashboard(&db, clients).await?;
    let cookie = admin_cookie(&db).await?;
    let server = Server::start(&db).await?;
    let timings = measure(&server.base, &cookie, pages(clients), rounds).await;
    server.stop().await;
    db.remove().await;

    println!(
        "\n{:<40} {:>9} {:>9} {:>9} {:>9} {:>7} {:>11}",
        "page", "first ms", "p50 ms", "p99 ms", "max ms", "errors", "p50 vs ref"
    );
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let reference = ms(&timings[0].latency, 0.5);
    let mut worst: (f64, &str) = (0.0, "");
    let mut errors = 0;
    for t in &timings {
        let p99 = ms(&t.latency, 0.99);
        println!(
            "{:<40} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>10.1}x",
            t.page.path,
            t.first_ms,
            ms(&t.latency, 0.5),
            p99,
            t.latency.max() as f64 / 1000.0,
            t.errors,
            ms(&t.latency, 0.5) / reference.max(0.001)
        );
        errors += t.errors;
        if t.page.path != "/health" && p99 > worst.0 {
            worst = (p99, &t.page.path);
        }
    }
    let met = worst.0 < TARGET_MS && errors == 0;
    println!(
        "\n  [{}] every page's p99 < {TARGET_MS} ms with {clients} clients, no error: worst {} at {:.2} ms, {errors} errors",
        if met { "met" } else { "MISSED" },
        worst.1,
        worst.0
    );
    println!(
        "SUMMARY dashboard {engine}: {clients} clients; worst page p99 {:.2} ms ({}); reference p50 {reference:.2} ms; {errors} errors; {}",
        worst.0,
        worst.1,
        if met { "target met" } else { "target MISSED" }
    );
    Ok(())
}
