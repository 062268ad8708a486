//! `proxycall bench`: the load benchmark. It seeds a database with clients, starts this very
//! binary as a `serve` process on it, and loads it from many connections: signed voice
//! webhooks from distinct callers, signed SMS relays, `POST /orders` for existing clients,
//! and, in the same run, a reference route of the same server and HTTP stack that answers a
//! constant TwiML. It prints each load's throughput and latency, the ratios to the reference,
//! the server's memory, and how the voice webhook's median changes from 1 000 to 1 000 000
//! clients. Figures are ratios measured in one run on one machine, not absolute promises.

mod dashboard;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use rand::RngExt;
use sqlx::Connection;

use crate::app::{App, keys};
use crate::carrier::signature;
use crate::domain::Scopes;
use crate::simulate;
use crate::store;

const TOKEN: &str = "bench-webhook-token";

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Clients in the database for the main loads (10 000), or for `--dashboard` (100 000).
    #[arg(long)]
    pub clients: Option<u32>,
    /// Seconds each load is measured (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Run on PostgreSQL: a server URL whose user may create databases (a fresh database is
    /// made and dropped). SQLite in a temporary folder otherwise.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Requests per second of the latency runs (spread over all connections).
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// Skip the 1 000 vs 1 000 000 clients comparison (it seeds a million rows).
    #[arg(long)]
    pub skip_scale: bool,
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

/// Client `i` has the real phone +336 and the proxy +3378 followed by `i`'s digits.
fn proxy_of(i: u32) -> String {
    format!("+3378{i:07}")
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

struct Server {
    child: tokio::process::Child,
    base: String,
}

impl Server {
    async fn start(db: &BenchDb) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("serve")
            .env("PROXYCALL_DATABASE_URL", db.url())
            .env("PROXYCALL_LISTEN", format!("127.0.0.1:{port}"))
            .env("PUBLIC_BASE_URL", &base)
            .env("PROXYCALL_CARRIER", "simulated")
            .env("TWILIO_AUTH_TOKEN", TOKEN)
            .env("PROXYCALL_RATE_LIMIT_PER_MINUTE", "1000000000")
            // The load sends far more through a proxy than any real traffic: the relay limits
            // are checked (and cost what they cost) but never refuse.
            .env("PROXYCALL_RELAY_LIMIT_PER_SENDER_HOUR", "1000000000")
            .env("PROXYCALL_RELAY_LIMIT_PER_PROXY_HOUR", "1000000000")
            .env("PROXYCALL_BENCH_REFERENCE", "true")
            .env("LOG_LEVEL", "info")
            .env_remove("PROXYCALL_API_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let http = reqwest::Client::new();
        for _ in 0..400 {
            if let Ok(r) = http.get(format!("{base}/health")).send().await
                && r.status().is_success()
            {
                return Ok(Self { child, base });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the server did not start on {base}")
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

    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// One kind of request the load sends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Load {
    Reference,
    Voice,
    Sms,
    Order,
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Self::Reference => "reference (constant TwiML)",
            Self::Voice => "voice webhook",
            Self::Sms => "sms relay webhook",
            Self::Order => "order, existing client",
        }
    }
}

fn random_caller(rng: &mut impl RngExt) -> String {
    format!("+3369{:07}", rng.random_range(0..10_000_000u32))
}

/// Builds one request of `load`, and what its answer must contain.
fn request(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    clients: u32,
    load: Load,
) -> (reqwest::RequestBuilder, &'static str) {
    let mut rng = rand::rng();
    let i = rng.random_range(1..=clients);
    let proxy = proxy_of(i);
    let caller = random_caller(&mut rng);
    let signed = |path: &str, params: Vec<(&str, &str)>| {
        let url = format!("{base}{path}");
        let owned: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        http.post(&url)
            .header(
                "x-twilio-signature",
                signature::sign(TOKEN.as_bytes(), &url, &owned),
            )
            .form(&params)
    };
    match load {
        Load::Reference => {
            let sid = crate::carrier::sid("CA");
            let params = simulate::call_params(&caller, &proxy, &sid);
            (
                http.post(format!("{base}/bench/twiml")).form(&params),
                "<Response",
            )
        }
        Load::Voice => {
            let sid = crate::carrier::sid("CA");
            (
                signed(
                    "/twilio/voice",
                    simulate::call_params(&caller, &proxy, &sid),
                ),
                "<Dial",
            )
        }
        Load::Sms => {
            let sid = crate::carrier::sid("SM");
            let params = simulate::sms_params(&caller, &proxy, "Je suis devant la porte", &sid);
            (signed("/twilio/sms", params), "<Response />")
        }
        Load::Order => {
            let body = serde_json::json!({
                "order_id": crate::carrier::sid("ORD"),
                "client_id": i,
                "client_name": format!("Client {i}"),
                "client_mail": format!("c{i}@example.com"),
                "client_real_phone": format!("+336{i:08}"),
            });
            (
                http.post(format!("{base}/orders"))
                    .bearer_auth(key)
                    .json(&body),
                "client_proxy_number",
            )
        }
    }
}

struct Measure {
    requests: u64,
    errors: u64,
    seconds: f64,
    latency: Histogram<u64>,
}

impl Measure {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
    fn ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// Waits until the outbox has nothing left to send; returns how many it sent meanwhile and
/// how long it took.
async fn drain(store: &dyn store::Store) -> anyhow::Result<(i64, f64)> {
    let started = Instant::now();
    let before = store.outbox_stats().await?;
    loop {
        let now = store.outbox_stats().await?;
        if now.pending == 0 || started.elapsed() > Duration::from_secs(300) {
            return Ok((now.sent - before.sent, started.elapsed().as_secs_f64()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `connections` loops, for one second of warm-up then `seconds` measured. Without `rate`,
/// each sends its next request as soon as the last is answered (saturation: throughput).
/// With `rate`, requests leave on a fixed schedule and latency counts from the time each
/// should have left, so that a slow answer is not hidden by the requests it delayed.
async fn measure(
    args: &BenchArgs,
    base: &str,
    key: &str,
    clients: u32,
    load: Load,
    seconds: u64,
    rate: Option<u32>,
) -> anyhow::Result<Measure> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .build()?;
    let start = Instant::now();
    let warm_up = Duration::from_secs(1);
    let end = warm_up + Duration::from_secs(seconds);
    let interval =
        rate.map(|r| Duration::from_secs_f64(args.connections as f64 / f64::from(r.max(1))));
    let connections = args.connections as u32;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let (http, base, key) = (http.clone(), base.to_owned(), key.to_owned());
        tasks.spawn(async move {
            let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            let (mut requests, mut errors) = (0u64, 0u64);
            // Connections start spread over one interval, not all at once.
            let mut due = start + interval.map_or(Duration::ZERO, |i| i * c / connections);
            while start.elapsed() < end {
                let (req, expect) = request(&http, &base, &key, clients, load);
                if let Some(interval) = interval {
                    tokio::time::sleep_until(due.into()).await;
                    due += interval;
                }
                let sent = match interval {
                    Some(interval) => due - interval,
                    None => Instant::now(),
                };
                let ok = match req.send().await {
                    Ok(r) => {
                        r.status().is_success() && r.text().await.is_ok_and(|t| t.contains(expect))
                    }
                    Err(_) => false,
                };
                if start.elapsed() > warm_up {
                    requests += 1;
                    errors += u64::from(!ok);
                    let _ = latency.record(sent.elapsed().as_micros() as u64);
                }
            }
            (requests, errors, latency)
        });
    }
    let mut total = Measure {
        requests: 0,
        errors: 0,
        seconds: seconds as f64,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds"),
    };
    while let Some(done) = tasks.join_next().await {
        let (requests, errors, latency) = done?;
        total.requests += requests;
        total.errors += errors;
        total.latency.add(latency)?;
    }
    Ok(total)
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let engine = if args.postgres.is_some() {
        "postgresql"
    } else {
        "sqlite"
    };
    if args.dashboard {
        return dashboard::run(&args, engine).await;
    }
    let clients = args.clients.unwrap_or(DEFAULT_CLIENTS);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "ProxyCall benchmark: {engine}, {} clients, {} connections, {} s per load, {cores} cores{}",
        clients,
        args.connections,
        args.seconds,
        if cfg!(debug_assertions) {
            " (DEBUG BUILD: use --release for figures)"
        } else {
            ""
        }
    );
    let db = BenchDb::create(&args, "main").await?;
    let key = seed(&db, clients).await?;
    let server = Server::start(&db).await?;
    let mut results = Vec::new();
    let outbox = store::connect(db.url()).await?;
    // The text relays leave work in the outbox: they go last, and the outbox is drained
    // before anything else is measured.
    let mut drains = Vec::new();
    for load in [Load::Reference, Load::Voice, Load::Order, Load::Sms] {
        let m = measure(&args, &server.base, &key, clients, load, args.seconds, None).await?;
        results.push((load, m));
    }
    drains.push(drain(outbox.as_ref()).await?);
    // Latency where it means something: at a steady rate, below saturation.
    let mut steady = Vec::new();
    for load in [Load::Reference, Load::Voice, Load::Order, Load::Sms] {
        let m = measure(
            &args,
            &server.base,
            &key,
            clients,
            load,
            args.seconds,
            Some(args.rate),
        )
        .await?;
        steady.push((load, m));
    }
    drains.push(drain(outbox.as_ref()).await?);
    let memory = server.memory_mib();
    server.stop().await;
    db.remove().await;

    println!(
        "\nSaturation: {} connections, each sending as fast as answered",
        args.connections
    );
    println!(
        "{:<28} {:>10} {:>9} {:>9} {:>8} {:>12}",
        "load", "req/s", "p50 ms", "p99 ms", "errors", "vs reference"
    );
    let reference = results[0].1.rps();
    for (load, m) in &results {
        println!(
            "{:<28} {:>10.0} {:>9.2} {:>9.2} {:>8} {:>11.0}%",
            load.name(),
            m.rps(),
            m.ms(0.5),
            m.ms(0.99),
            m.errors,
            100.0 * m.rps() / reference
        );
    }
    println!(
        "\nSteady rate: {} req/s over {} connections (latency from each request's scheduled time)",
        args.rate, args.connections
    );
    println!(
        "{:<28} {:>10} {:>9} {:>9} {:>8}",
        "load", "req/s", "p50 ms", "p99 ms", "errors"
    );
    for (load, m) in &steady {
        println!(
            "{:<28} {:>10.0} {:>9.2} {:>9.2} {:>8}",
            load.name(),
            m.rps(),
            m.ms(0.5),
            m.ms(0.99),
            m.errors
        );
    }
    for (sent, seconds) in &drains {
        println!(
            "outbox: {sent} relays sent by the simulated carrier in {seconds:.1} s after the load ({:.0}/s)",
            *sent as f64 / seconds.max(0.001)
        );
    }
    let voice = &results[1].1;
    let steady_voice = &steady[1].1;
    let order = &steady[2].1;
    let (rss, peak) = memory.unwrap_or((f64::NAN, f64::NAN));
    println!("server memory: {rss:.1} MiB resident after the loads, {peak:.1} MiB at peak");

    let scale = if args.skip_scale {
        None
    } else {
        let mut p50 = Vec::new();
        for n in [1_000u32, 1_000_000] {
            let db = BenchDb::create(&args, &format!("scale{n}")).await?;
            let key = seed(&db, n).await?;
            let server = Server::start(&db).await?;
            let m = measure(
                &args,
                &server.base,
                &key,
                n,
                Load::Voice,
                args.seconds,
                Some(args.rate),
            )
            .await?;
            println!(
                "voice webhook at {n:>9} clients, {} req/s: p50 {:.2} ms, p99 {:.2} ms",
                args.rate,
                m.ms(0.5),
                m.ms(0.99)
            );
            p50.push(m.ms(0.5));
            server.stop().await;
            db.remove().await;
        }
        Some(p50[1] / p50[0])
    };

    let voice_ratio = voice.rps() / reference;
    let mut checks = vec![
        (
            "voice >= 50% of reference",
            voice_ratio >= 0.5,
            format!("{:.0}%", 100.0 * voice_ratio),
        ),
        (
            "voice p99 < 10 ms at the steady rate",
            steady_voice.ms(0.99) < 10.0,
            format!("{:.2} ms", steady_voice.ms(0.99)),
        ),
        (
            "order p99 < 2 ms at the steady rate",
            order.ms(0.99) < 2.0,
            format!("{:.2} ms", order.ms(0.99)),
        ),
        ("peak RSS < 64 MiB", peak < 64.0, format!("{peak:.1} MiB")),
    ];
    if let Some(ratio) = scale {
        checks.push((
            "voice p50 at 1M clients <= 1.5x at 1k",
            ratio <= 1.5,
            format!("{ratio:.2}x"),
        ));
    }
    let errors: u64 = results.iter().chain(&steady).map(|(_, m)| m.errors).sum();
    let met = checks.iter().filter(|c| c.1).count();
    println!();
    for (name, ok, value) in &checks {
        println!("  [{}] {name}: {value}", if *ok { "met" } else { "MISSED" });
    }
    println!(
        "SUMMARY {engine}: reference {reference:.0} req/s; voice {:.0} req/s ({:.0}%), p99 {:.2} ms at {} req/s; sms {:.0} req/s; order p99 {:.2} ms at {} req/s; peak RSS {peak:.1} MiB{}; {errors} errors; {met}/{} targets met",
        voice.rps(),
        100.0 * voice_ratio,
        steady_voice.ms(0.99),
        args.rate,
        results[3].1.rps(),
        order.ms(0.99),
        args.rate,
        scale.map_or(String::new(), |r| format!("; p50 1M/1k {r:.2}x")),
        checks.len()
    );
    Ok(())
}
