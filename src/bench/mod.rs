//! `proxycall bench`: the load benchmark. It seeds a database with clients and one order each,
//! starts a Twilio double (`double`) and this very binary as a `serve` process on that
//! database with the real `twilio` carrier pointed at the double, and loads it (`load`):
//! at saturation from many connections (a reference route of the same server that answers a
//! constant TwiML, signed voice webhooks from distinct callers, repeated and new
//! `POST /orders`, signed SMS relays while the outbox sends them to the double), then in an
//! open loop at a steady mixed rate, then for a soak; every answer is checked against what it
//! must be for that very request. Each figure is measured `--runs` times and reported with its
//! spread (`report`), against the targets, with a one-line summary at the end.
//! Figures are ratios measured in one run on one machine, not absolute promises.

mod dashboard;
mod double;
mod load;
mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::Connection;

use crate::app::{App, keys};
use crate::domain::Scopes;
use crate::store;

use double::Double;
use load::{Load, MIX, Target, proxy_of, real_of};
use report::{Figure, Goal, Table};

pub(crate) const TOKEN: &str = "bench-webhook-token";

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Clients in the database for the main loads (10 000), or for `--dashboard` (100 000).
    #[arg(long)]
    pub clients: Option<u32>,
    /// Seconds each load is measured (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent connections of the saturated loads.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Run on PostgreSQL: a server URL whose user may create databases (a fresh database is
    /// made and dropped). SQLite in a temporary folder otherwise.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Times each figure is measured; the report gives the median and the spread.
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// Requests per second of the open-loop mixed load (40 % voice, 30 % SMS, 30 % repeated
    /// orders).
    #[arg(long, default_value_t = 2000)]
    pub mixed_rate: u32,
    /// Requests per second of the voice load that compares 1 000 and 1 000 000 clients.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// Seconds of the soak (the mixed load, the server's memory sampled every 5 s); 0 skips it.
    #[arg(long, default_value_t = 600)]
    pub soak_seconds: u64,
    /// How long the Twilio double takes to answer a text, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub carrier_delay_ms: u64,
    /// Longest wait for the outbox to drain after a load; what is left is then withdrawn
    /// (marked failed) so that the next load starts clean.
    #[arg(long, default_value_t = 60)]
    pub drain_seconds: u64,
    /// Skip the 1 000 vs 1 000 000 clients comparison (it seeds a million rows).
    #[arg(long)]
    pub skip_scale: bool,
    /// A smoke run: one run, 3 s loads, a 15 s drain at most, no soak.
    #[arg(long)]
    pub quick: bool,
    /// Measure the dashboard's pages instead of the webhooks and the API.
    #[arg(long)]
    pub dashboard: bool,
}

/// Clients seeded for the webhook and API loads when `--clients` is not given.
const DEFAULT_CLIENTS: u32 = 10_000;

/// A database made for one measurement, removed afterwards.
enum BenchDb {
    Sqlite {
        dir: PathBuf,
        url: String,
    },
    Postgres {
        admin: String,
        name: String,
        url: String,
    },
}

impl BenchDb {
    async fn create(args: &BenchArgs, label: &str) -> anyhow::Result<Self> {
        let tag = format!("{}_{}", std::process::id(), label);
        match &args.postgres {
            Some(admin) => {
                let name = format!("proxycall_bench_{tag}");
                let mut conn = sqlx::PgConnection::connect(admin)
                    .await
                    .context("PostgreSQL")?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {name}")))
                    .execute(&mut conn)
                    .await?;
                let mut url = url::Url::parse(admin)?;
                url.set_path(&name);
                Ok(Self::Postgres {
                    admin: admin.clone(),
                    name,
                    url: url.to_string(),
                })
            }
            None => {
                let dir = std::env::temp_dir().join(format!("proxycall-bench-{tag}"));
                std::fs::create_dir_all(&dir)?;
                let url = format!("sqlite://{}", dir.join("bench.db").display());
                Ok(Self::Sqlite { dir, url })
            }
        }
    }

    fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url,
        }
    }

    async fn remove(self) {
        match self {
            Self::Sqlite { dir, .. } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Self::Postgres { admin, name, .. } => {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let sql = format!("drop database if exists {name} with (force)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                }
            }
        }
    }
}

/// Migrates, inserts `n` clients in one statement, and makes an admin key.
async fn seed(db: &BenchDb, n: u32) -> anyhow::Result<String> {
    let store = store::connect(db.url()).await?;
    let now = chrono::Utc::now();
    let started = Instant::now();
    match db {
        BenchDb::Sqlite { url, .. } => {
            let mut conn = sqlx::SqliteConnection::connect(url).await?;
            sqlx::query(
                "with recursive seq(n) as (select 1 union all select n + 1 from seq where n < $1) \
                 insert into clients (client_id, client_name, client_mail, client_real_phone, \
                 client_proxy_number, client_iso_residency, client_country_code, created_at, \
                 updated_at) select n, 'Client ' || n, 'c' || n || '@example.com', \
                 '+336' || printf('%08d', n), '+3378' || printf('%07d', n), 'FR', '+33', $2, $2 \
                 from seq",
            )
            .bind(i64::from(n))
            .bind(now)
            .execute(&mut conn)
            .await?;
        }
        BenchDb::Postgres { url, .. } => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            sqlx::query(
                "insert into clients (client_id, client_name, client_mail, client_real_phone, \
                 client_proxy_number, client_iso_residency, client_country_code, created_at, \
                 updated_at) select n, 'Client ' || n, 'c' || n || '@example.com', \
                 '+336' || lpad(n::text, 8, '0'), '+3378' || lpad(n::text, 7, '0'), 'FR', '+33', \
                 $2, $2 from generate_series(1, $1::bigint) as n",
            )
            .bind(i64::from(n))
            .bind(now)
            .execute(&mut conn)
            .await?;
            sqlx::raw_sql("analyze").execute(&mut conn).await?;
        }
    }
    eprintln!(
        "  seeded {n} clients in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let app = App::simulated(store);
    Ok(keys::create(&app, "bench", Scopes::admin(), None)
        .await?
        .secret)
}

/// One order per client, `BENCH-<i>`: what the repeated orders place again.
async fn seed_orders(db: &BenchDb) -> anyhow::Result<()> {
    let sql = "insert into orders (order_id, client_id, created_at) \
               select 'BENCH-' || client_id, client_id, created_at from clients";
    match db {
        BenchDb::Sqlite { url, .. } => {
            let mut conn = sqlx::SqliteConnection::connect(url).await?;
            sqlx::query(sql).execute(&mut conn).await?;
        }
        BenchDb::Postgres { url, .. } => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            sqlx::query(sql).execute(&mut conn).await?;
            sqlx::raw_sql("analyze orders").execute(&mut conn).await?;
        }
    }
    Ok(())
}

/// Withdraws the texts still waiting (marked failed, their jobs removed), so that a backlog
/// left by one load does not weigh on the next; returns how many.
async fn withdraw_outbox(db: &BenchDb) -> anyhow::Result<u64> {
    let jobs = format!(
        "delete from jobs where kind = '{}' and status = 'queued'",
        store::SEND_JOB_KIND
    );
    let messages = "update outbound_messages set status = 'failed', body = null \
                    where status = 'pending'";
    // The same two statements on either engine's connection type.
    macro_rules! withdraw {
        ($conn:ty, $url:expr) => {{
            let mut conn = <$conn>::connect($url).await?;
            sqlx::query(sqlx::AssertSqlSafe(jobs))
                .execute(&mut conn)
                .await?;
            sqlx::query(messages)
                .execute(&mut conn)
                .await?
                .rows_affected()
        }};
    }
    let n = match db {
        BenchDb::Sqlite { url, .. } => withdraw!(sqlx::SqliteConnection, url),
        BenchDb::Postgres { url, .. } => withdraw!(sqlx::PgConnection, url),
    };
    Ok(n)
}

struct Server {
    child: tokio::process::Child,
    base: String,
    log: PathBuf,
}

/// Clock ticks per second of /proc's CPU times: `getconf CLK_TCK`, else Linux's usual 100.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

impl Server {
    /// With the simulated carrier (the dashboard's measure).
    async fn start(db: &BenchDb) -> anyhow::Result<Self> {
        Self::start_with(db, None).await
    }

    /// With the `twilio` carrier, sending to the double at `twilio_base`.
    async fn start_twilio(db: &BenchDb, twilio_base: &str) -> anyhow::Result<Self> {
        Self::start_with(db, Some(twilio_base)).await
    }

    async fn start_with(db: &BenchDb, twilio_base: Option<&str>) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let base = format!("http://127.0.0.1:{port}");
        // Kept for when the server does not start or dies; removed with its process.
        let log = std::env::temp_dir().join(format!("proxycall-bench-{port}.log"));
        let mut command = tokio::process::Command::new(std::env::current_exe()?);
        command
            .arg("serve")
            .env("PROXYCALL_DATABASE_URL", db.url())
            .env("PROXYCALL_LISTEN", format!("127.0.0.1:{port}"))
            .env("PUBLIC_BASE_URL", &base)
            .env("TWILIO_AUTH_TOKEN", TOKEN)
            .env("PROXYCALL_RATE_LIMIT_PER_MINUTE", "1000000000")
            // The load sends far more through a proxy than any real traffic: the relay limits
            // are checked (and cost what they cost) but never refuse.
            .env("PROXYCALL_RELAY_LIMIT_PER_SENDER_HOUR", "1000000000")
            .env("PROXYCALL_RELAY_LIMIT_PER_PROXY_HOUR", "1000000000")
            .env("PROXYCALL_BENCH_REFERENCE", "true")
            .env("LOG_LEVEL", "info")
            .env_remove("PROXYCALL_API_TOKEN")
            .env_remove("TWILIO_AUTH_TOKEN_PREVIOUS")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true);
        match twilio_base {
            Some(api) => {
                command
                    .env("PROXYCALL_CARRIER", "twilio")
                    .env("TWILIO_API_BASE", api)
                    .env("TWILIO_ACCOUNT_SID", double::ACCOUNT_SID)
                    .env(
                        "PROXYCALL_OTP_SECRET",
                        "bench-otp-secret-bench-otp-secret-0123456789",
                    );
            }
            None => {
                command
                    .env("PROXYCALL_CARRIER", "simulated")
                    .env_remove("TWILIO_API_BASE")
                    .env_remove("TWILIO_ACCOUNT_SID");
            }
        }
        let child = command.spawn()?;
        let http = reqwest::Client::new();
        for _ in 0..400 {
            if let Ok(r) = http.get(format!("{base}/health")).send().await
                && r.status().is_success()
            {
                return Ok(Self { child, base, log });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        bail!("the server did not start on {base}: {}", said.trim())
    }

    /// (resident now, peak resident) in MiB, from /proc.
    fn memory_mib(&self) -> Option<(f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map(|kb| kb / 1024.0)
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// CPU time (user + system, every thread, live or gone) the server used so far, in
    /// seconds: /proc/<pid>/stat's utime and stime. Finer per-thread counters
    /// (`schedstat`) forget the threads that ended, such as the runtime's blocking threads.
    fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()?)).ok()?;
        // Fields after the command name, which may hold spaces, closed by the last ')'.
        let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) / clock_ticks())
    }

    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Texts not sent yet: waiting, or being sent.
async fn queued(store: &dyn store::Store) -> i64 {
    store
        .outbox_stats()
        .await
        .map_or(-1, |s| s.pending + s.sending)
}

/// Waits up to `limit` for the outbox to send everything; then withdraws what is left.
/// Prints and returns the sending rate seen (texts/s), NaN when nothing was waiting.
async fn drain(
    store: &dyn store::Store,
    db: &BenchDb,
    double: &Double,
    limit: Duration,
) -> anyhow::Result<(f64, bool)> {
    let started = Instant::now();
    let posts = double.posts();
    let waiting = queued(store).await;
    if waiting <= 0 {
        println!("    outbox: empty");
        return Ok((f64::NAN, true));
    }
    let mut drained = false;
    while !drained && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(200)).await;
        drained = queued(store).await == 0;
    }
    let secs = started.elapsed().as_secs_f64();
    let sent = double.posts() - posts;
    let rate = sent as f64 / secs;
    if drained {
        println!("    outbox: {waiting} waiting, drained in {secs:.1} s ({rate:.0} texts/s)");
    } else {
        let withdrawn = withdraw_outbox(db).await?;
        // Sends in flight finish, so that the next load starts from an empty queue.
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!(
            "    outbox: {waiting} waiting, {sent} sent in {secs:.1} s ({rate:.0} texts/s), \
             NOT drained: {withdrawn} withdrawn"
        );
    }
    Ok((rate, drained))
}

/// Checks the sampled relays at the double: to the client's real phone, from its proxy, with
/// the words sent. Adds to (right, wrong, never arrived); wrong ones are counted by `target`.
fn check_relays(target: &Target, double: &Double, drained: bool, counts: &mut [u64; 3]) {
    for (tag, client) in target.take_sampled() {
        match double.sampled(tag) {
            Some(r) => {
                let words = format!("[bench {tag}]");
                if r.to == real_of(client) && r.from == proxy_of(client) && r.body.contains(&words)
                {
                    counts[0] += 1;
                } else {
                    counts[1] += 1;
                    target.wrong(format!(
                        "sms relay {tag} to client {client}: reached the double with another \
                         recipient, sender or body"
                    ));
                }
            }
            // Withdrawn before it was sent: nothing to check.
            None if !drained => {}
            None => {
                counts[2] += 1;
                target.wrong(format!(
                    "sms relay {tag} to client {client}: never reached the double"
                ));
            }
        }
    }
    double.forget_samples();
}

/// Figures by name, one value per run.
#[derive(Default)]
struct Figures(BTreeMap<String, Figure>);

impl Figures {
    fn push(&mut self, name: impl Into<String>, v: f64) {
        self.0.entry(name.into()).or_default().push(v);
    }
    fn get(&self, name: &str) -> Figure {
        self.0.get(name).cloned().unwrap_or_default()
    }
}

const SATURATED: [Load; 5] = [
    Load::Reference,
    Load::Voice,
    Load::OrderRepeat,
    Load::OrderNew,
    Load::Sms,
];

const MIXED: [Load; 3] = [Load::Voice, Load::Sms, Load::OrderRepeat];

pub async fn run(mut args: BenchArgs) -> anyhow::Result<()> {
    let engine = if args.postgres.is_some() {
        "postgresql"
    } else {
        "sqlite"
    };
    if args.dashboard {
        return dashboard::run(&args, engine).await;
    }
    if args.quick {
        args.runs = 1;
        args.seconds = args.seconds.min(3);
        args.soak_seconds = 0;
        args.drain_seconds = args.drain_seconds.min(15);
    }
    let runs = args.runs.max(1);
    let clients = args.clients.unwrap_or(DEFAULT_CLIENTS);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let p99_target = if args.postgres.is_some() { 5.0 } else { 2.0 };
    println!(
        "ProxyCall benchmark: {engine}, {clients} clients (one order each), {} connections, \
         {} s per load, {runs} run(s), mixed {} req/s, twilio carrier against a double \
         answering in {} ms, {cores} cores{}",
        args.connections,
        args.seconds,
        args.mixed_rate,
        args.carrier_delay_ms,
        if cfg!(debug_assertions) {
            " (DEBUG BUILD: use --release for figures)"
        } else {
            ""
        }
    );
    let double = Double::start(Duration::from_millis(args.carrier_delay_ms)).await?;
    let db = BenchDb::create(&args, "main").await?;
    let key = seed(&db, clients).await?;
    seed_orders(&db).await?;
    // Every load runs against the twilio carrier and the double: voice and orders send no
    // text, so one server serves them all.
    let server = Server::start_twilio(&db, &double.base).await?;
    let store = store::connect(db.url()).await?;
    let target = Target::new(&server.base, &key, clients)?;
    let warm_up = Duration::from_secs(1);
    let seconds = args.seconds as f64;
    let drain_limit = Duration::from_secs(args.drain_seconds);
    let mut f = Figures::default();
    let mut sampled = [0u64; 3];

    for run in 1..=runs {
        println!(
            "\nrun {run}/{runs}: saturation, {} connections",
            args.connections
        );
        println!(
            "  {:<34} {:>9} {:>8} {:>8} {:>7} {:>9} {:>8} {:>9}",
            "load", "req/s", "p50 ms", "p99 ms", "wrong", "us CPU/req", "vs ref", "peak MiB"
        );
        let mut reference = f64::NAN;
        for load in SATURATED {
            let edges = Arc::new(Mutex::new(Vec::new()));
            let m = load::saturate(&target, load, args.connections, warm_up, seconds, || {
                let (edges, store) = (edges.clone(), store.clone());
                let cpu = server.cpu_seconds();
                async move {
                    let q = if load == Load::Sms {
                        queued(store.as_ref()).await
                    } else {
                        0
                    };
                    edges.lock().expect("lock").push((cpu, q));
                }
            })
            .await?;
            let edges = edges.lock().expect("lock").clone();
            let cpu_us = match (edges.first(), edges.get(1)) {
                (Some((Some(a), _)), Some((Some(b), _))) if m.requests > 0 => {
                    (b - a) * 1e6 / m.requests as f64
                }
                _ => f64::NAN,
            };
            if load == Load::Reference {
                reference = m.rps();
            }
            let ratio = 100.0 * m.rps() / reference;
            // The peak so far, after each load: which load raised it.
            let (_, peak) = server.memory_mib().unwrap_or((f64::NAN, f64::NAN));
            println!(
                "  {:<34} {:>9.0} {:>8.2} {:>8.2} {:>7} {:>9.1} {:>7.0}% {:>9.1}",
                load.name(),
                m.rps(),
                m.ms(0.5),
                m.ms(0.99),
                m.errors,
                cpu_us,
                ratio,
                peak
            );
            let s = load.short();
            f.push(format!("{s} req/s"), m.rps());
            f.push(format!("{s} %ref"), ratio);
            f.push(format!("{s} cpu"), cpu_us);
            f.push(format!("{s} sat p99"), m.ms(0.99));
            if load == Load::Sms {
                let growth = edges.get(1).map_or(0, |e| e.1) - edges.first().map_or(0, |e| e.1);
                let pct = 100.0 * growth as f64 / m.requests.max(1) as f64;
                println!(
                    "    outbox queue: {} at the start of the measure, {} at its end: {growth:+} \
                     ({pct:.1} % of the {} relays; keeps pace below 1 %)",
                    edges.first().map_or(0, |e| e.1),
                    edges.get(1).map_or(0, |e| e.1),
                    m.requests
                );
                f.push("outbox growth %", pct);
                f.push(
                    "outbox keeps pace",
                    f64::from(u8::from(report::keeps_pace(growth, m.requests))),
                );
                let (rate, drained) = drain(store.as_ref(), &db, &double, drain_limit).await?;
                f.push("outbox texts/s", rate);
                check_relays(&target, &double, drained, &mut sampled);
            }
        }
        f.push(
            "cpu voice/ref",
            f.get("voice cpu")
                .values
                .last()
                .copied()
                .unwrap_or(f64::NAN)
                / f.get("reference cpu")
                    .values
                    .last()
                    .copied()
                    .unwrap_or(f64::NAN),
        );

        println!(
            "\nrun {run}/{runs}: open loop, {} req/s mixed (40 % voice, 30 % SMS, 30 % repeated \
             orders), latency from each request's scheduled time",
            args.mixed_rate
        );
        let before = queued(store.as_ref()).await;
        let mixed =
            load::open_loop(&target, &MIX, f64::from(args.mixed_rate), warm_up, seconds).await?;
        print_open_loop(&mixed);
        let (now, peak) = server.memory_mib().unwrap_or((f64::NAN, f64::NAN));
        println!(
            "    outbox queue: {before} before the mixed load, {} after it; server resident \
             memory {now:.1} MiB, peak so far {peak:.1} MiB",
            queued(store.as_ref()).await
        );
        for l in MIXED {
            if let Some(m) = mixed.by_load.get(&l) {
                f.push(format!("mixed {} p99", l.short()), m.ms(0.99));
                f.push(format!("mixed {} p50", l.short()), m.ms(0.5));
            }
        }
        f.push(
            "mixed lag p99",
            mixed.lag.value_at_quantile(0.99) as f64 / 1000.0,
        );
        let (_, drained) = drain(store.as_ref(), &db, &double, drain_limit).await?;
        check_relays(&target, &double, drained, &mut sampled);
    }

    let soak = if args.soak_seconds > 0 {
        Some(soak(&args, &server, &target, store.as_ref()).await?)
    } else {
        None
    };
    let (_, peak) = server.memory_mib().unwrap_or((f64::NAN, f64::NAN));
    let (lists, other) = double.lists_and_other();
    println!(
        "\nserver peak resident memory over the whole bench: {peak:.1} MiB; the double took {} \
         texts ({lists} listings, {other} other requests); 1 relay in {} checked at the double: \
         {} right, {} wrong, {} never arrived",
        double.posts(),
        load::SMS_SAMPLE,
        sampled[0],
        sampled[1],
        sampled[2]
    );
    server.stop().await;
    drop(store);
    db.remove().await;

    let scale = if args.skip_scale {
        None
    } else {
        Some(scale(&args, &double, runs).await?)
    };

    let mut table = Table::default();
    let ratio = |name: &str| f.get(&format!("{name} %ref"));
    let delay = format!("double answers in {} ms", args.carrier_delay_ms);
    table.add(
        "ref",
        "reference, saturated",
        f.get("reference req/s"),
        0,
        "req/s",
        Goal::Report,
        "",
    );
    table.add(
        "voice",
        "voice webhook vs reference",
        ratio("voice"),
        0,
        "%",
        Goal::AtLeast(50.0),
        "distinct callers",
    );
    table.add(
        "order",
        "repeated POST /orders vs reference",
        ratio("order"),
        0,
        "%",
        Goal::AtLeast(50.0),
        "existing order ids",
    );
    table.add(
        "new-order",
        "new order, existing client vs reference",
        ratio("new order"),
        0,
        "%",
        Goal::Report,
        "",
    );
    table.add(
        "sms",
        "sms relay vs reference",
        ratio("sms"),
        0,
        "%",
        Goal::AtLeast(40.0),
        "",
    );
    table.add(
        "outbox-growth",
        "outbox queue growth during the SMS load",
        f.get("outbox growth %"),
        1,
        "%",
        Goal::Below(1.0),
        format!("of the relays; keeps pace below 1 %; {delay}"),
    );
    table.add(
        "outbox-rate",
        "outbox sending rate, draining",
        f.get("outbox texts/s"),
        0,
        "texts/s",
        Goal::Report,
        delay,
    );
    for l in MIXED {
        table.add(
            format!("p99-{}", l.short()),
            format!(
                "mixed {} req/s open loop: {} p99",
                args.mixed_rate,
                l.short()
            ),
            f.get(&format!("mixed {} p99", l.short())),
            2,
            "ms",
            Goal::Below(p99_target),
            "",
        );
    }
    table.add(
        "lag",
        "mixed: generator's own lag p99",
        f.get("mixed lag p99"),
        2,
        "ms",
        Goal::Report,
        "included above",
    );
    for l in [Load::Reference, Load::Voice, Load::Sms, Load::OrderRepeat] {
        table.add(
            format!("cpu-{}", l.short()),
            format!("server CPU per request: {}", l.short()),
            f.get(&format!("{} cpu", l.short())),
            0,
            "us",
            Goal::Report,
            if l == Load::Sms {
                "the outbox's sending meanwhile included"
            } else {
                ""
            },
        );
    }
    table.add(
        "cpu-voice/ref",
        "server CPU per request: voice / reference",
        f.get("cpu voice/ref"),
        2,
        "x",
        Goal::Report,
        "the ratio to drive down",
    );
    table.add(
        "rss-peak",
        "server peak resident memory",
        one(peak),
        1,
        "MiB",
        Goal::Below(64.0),
        "10 000 clients' server, whole bench",
    );
    if let Some(s) = &soak {
        table.add(
            "rss-slope",
            "soak: resident memory slope after minute 1",
            one(s.slope),
            2,
            "MiB/min",
            Goal::Report,
            format!("{} s", args.soak_seconds),
        );
        table.add(
            "rss-flat",
            "soak: resident memory flat",
            one(f64::from(u8::from(s.flat))),
            0,
            "",
            Goal::Holds,
            format!(
                "last minute {:.1} vs second {:.1} MiB, within 5 % or 2 MiB, at a rate \
                 sustained: {} requests failed",
                s.last_minute, s.second_minute, s.failed
            ),
        );
    }
    if let Some(s) = &scale {
        table.add(
            "scale",
            "voice p50, 1 000 000 vs 1 000 clients",
            s.clone(),
            2,
            "x",
            Goal::AtMost(1.2),
            format!("{} req/s open loop", args.rate),
        );
    }
    let wrong = target.wrong_count();
    println!("\nTargets ({engine}; median of {runs} run(s) [min–max] ±half-range):");
    print!("{}", table.render());
    println!("{}", table.summary(engine, wrong));
    Ok(())
}

fn one(v: f64) -> Figure {
    let mut f = Figure::default();
    f.push(v);
    f
}

fn print_open_loop(m: &load::OpenLoop) {
    println!(
        "  {:<34} {:>9} {:>8} {:>8} {:>9} {:>7}",
        "load", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "wrong"
    );
    for l in MIXED {
        if let Some(x) = m.by_load.get(&l) {
            println!(
                "  {:<34} {:>9.0} {:>8.2} {:>8.2} {:>9.2} {:>7}",
                l.name(),
                x.rps(),
                x.ms(0.5),
                x.ms(0.99),
                x.ms(0.999),
                x.errors
            );
        }
    }
    println!(
        "  (asked {:.0} req/s; the generator's own lag, included: p50 {:.2} ms, p99 {:.2} ms; \
         {} unanswered)",
        m.rate,
        m.lag.value_at_quantile(0.5) as f64 / 1000.0,
        m.lag.value_at_quantile(0.99) as f64 / 1000.0,
        m.abandoned
    );
}

struct Soak {
    slope: f64,
    flat: bool,
    second_minute: f64,
    last_minute: f64,
    /// Requests that failed during the soak (the unanswered ones included).
    failed: u64,
}

/// The mixed load for `--soak-seconds`, the server's resident memory sampled every 5 s.
async fn soak(
    args: &BenchArgs,
    server: &Server,
    target: &Arc<Target>,
    store: &dyn store::Store,
) -> anyhow::Result<Soak> {
    println!(
        "\nsoak: {} s of the mixed load at {} req/s, resident memory every 5 s",
        args.soak_seconds, args.mixed_rate
    );
    let pid = server.child.id().context("the server has no pid")?;
    let stop: load::Stop = Default::default();
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Some(rss) = rss_mib(pid) {
                    samples.push((started.elapsed().as_secs_f64() / 60.0, rss));
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            samples
        })
    };
    let before = queued(store).await;
    let m = load::open_loop(
        target,
        &MIX,
        f64::from(args.mixed_rate),
        Duration::ZERO,
        args.soak_seconds as f64,
    )
    .await?;
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.await?;
    print_open_loop(&m);
    println!(
        "    outbox queue: {before} before the soak, {} after it",
        queued(store).await
    );
    let avg = |from: f64, to: f64| {
        let v: Vec<f64> = samples
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|s| s.1)
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let end = samples.last().map_or(0.0, |s| s.0);
    let first = avg(0.0, 1.0);
    let second_minute = avg(1.0, 2.0);
    let last_minute = avg((end - 1.0).max(0.0), end + 1.0);
    let after_first: Vec<(f64, f64)> = samples.iter().copied().filter(|s| s.0 >= 1.0).collect();
    let slope = report::slope(&after_first);
    let failed: u64 = m.by_load.values().map(|l| l.errors).sum();
    let flat = report::soak_flat(second_minute, last_minute, failed);
    println!(
        "  resident memory: first minute {first:.1} MiB, second {second_minute:.1} MiB, last \
         {last_minute:.1} MiB, slope {slope:.2} MiB/min after the first minute: {}",
        if flat {
            "flat".to_owned()
        } else if failed > 0 {
            format!("NOT judged flat: the server fell behind ({failed} requests failed)")
        } else {
            "NOT flat".to_owned()
        }
    );
    Ok(Soak {
        slope,
        flat,
        second_minute,
        last_minute,
        failed,
    })
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// The voice webhook's median at a steady rate, 1 000 clients then 1 000 000, `runs` times
/// each; the ratio per run pairs the n-th runs.
async fn scale(args: &BenchArgs, double: &Double, runs: u32) -> anyhow::Result<Figure> {
    println!("\nscale: voice webhook at {} req/s, open loop", args.rate);
    let mut p50 = Vec::new();
    for n in [1_000u32, 1_000_000] {
        let db = BenchDb::create(args, &format!("scale{n}")).await?;
        let key = seed(&db, n).await?;
        let server = Server::start_twilio(&db, &double.base).await?;
        let target = Target::new(&server.base, &key, n)?;
        let mut medians = Vec::new();
        for _ in 0..runs {
            let m = load::open_loop(
                &target,
                &[Load::Voice],
                f64::from(args.rate),
                Duration::from_secs(1),
                args.seconds as f64,
            )
            .await?;
            let v = &m.by_load[&Load::Voice];
            println!(
                "  {n:>9} clients: p50 {:.3} ms, p99 {:.3} ms, {} wrong",
                v.ms(0.5),
                v.ms(0.99),
                v.errors
            );
            medians.push(v.ms(0.5));
        }
        if let Some((_, peak)) = server.memory_mib() {
            println!("  {n:>9} clients: server peak resident memory {peak:.1} MiB");
        }
        server.stop().await;
        db.remove().await;
        p50.push(medians);
    }
    let mut ratio = Figure::default();
    for (big, small) in p50[1].iter().zip(&p50[0]) {
        ratio.push(big / small);
    }
    Ok(ratio)
}
