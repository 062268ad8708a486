//! The `proxycall` command line: parse, set up, dispatch.

use std::process::ExitCode;

use chrono::Duration;
use clap::{Parser, Subcommand};

use crate::app::{App, keys, pool};
use crate::config::{self, RawSettings, Settings};
use crate::domain::{CountryIso, E164, NumberType, NumberTypeFilter, Scopes};
use crate::store::{self, PoolStatus};
use crate::{demo, server, simulate, telemetry};

#[derive(Parser)]
#[command(
    name = "proxycall",
    version,
    about = "Masked phone numbers: proxies that hide real numbers"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: RawSettings,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve,
    /// Run the server with a demo set-up: an admin key (printed once), a few simulated
    /// numbers in the pool, and an order placed through the API to show the result.
    Demo,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Create, list and revoke API keys.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Add and list pool numbers without the carrier.
    Pool {
        #[command(subcommand)]
        action: PoolCommand,
    },
    /// Measure throughput and latency under load against a reference route (build with
    /// --release for figures).
    #[cfg(feature = "bench")]
    Bench(crate::bench::BenchArgs),
    /// Play Twilio: send signed webhooks to a running server, read what the simulated
    /// carrier delivered.
    Simulate {
        #[command(subcommand)]
        action: SimulateCommand,
    },
}

#[derive(Subcommand)]
pub enum SimulateCommand {
    /// Someone calls a proxy: prints the TwiML answer.
    Call {
        #[arg(long)]
        from: String,
        /// The proxy number called.
        #[arg(long)]
        to: String,
        /// The server's public URL [default: PUBLIC_BASE_URL, else http://LISTEN]
        #[arg(long)]
        url: Option<String>,
    },
    /// Someone texts a proxy: prints the TwiML answer; the relay follows through the outbox.
    Sms {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        body: String,
        #[arg(long)]
        url: Option<String>,
    },
    /// What the simulated carrier delivered, newest first.
    Inbox {
        /// Only what reached this phone.
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value_t = 10)]
        limit: i64,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once; only its hash is stored.
    Create {
        /// What the key is for, e.g. the integration using it.
        #[arg(long)]
        name: String,
        /// Comma-separated: admin, orders, clients, pool, read.
        #[arg(long)]
        scopes: String,
        /// Days until the key stops working (never, when absent).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by its id.
    Revoke { id: String },
}

#[derive(Subcommand)]
pub enum PoolCommand {
    /// Add numbers as available.
    Add {
        /// E.164 numbers.
        #[arg(required = true)]
        numbers: Vec<String>,
        /// mobile, local or national.
        #[arg(long = "type", default_value = "mobile")]
        number_type: String,
        /// ISO-2 country; defaults to each number's own.
        #[arg(long)]
        country: Option<String>,
        #[arg(long)]
        no_sms: bool,
        #[arg(long)]
        no_voice: bool,
    },
    /// List pool numbers.
    List {
        #[arg(long)]
        country: Option<String>,
        /// available, reserved, assigned or released.
        #[arg(long)]
        status: Option<String>,
    },
}

/// A failure to report to the operator, with the exit code to leave with.
pub struct Failure {
    message: String,
    code: u8,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Self {
            message: e.to_string(),
            code: 1,
        }
    }
}

fn usage(message: impl std::fmt::Display) -> Failure {
    Failure {
        message: message.to_string(),
        code: 2,
    }
}

pub async fn run(mut cli: Cli) -> ExitCode {
    cli.settings.env = config::EnvOnly::from_env();
    match dispatch(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("proxycall: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), Failure> {
    let raw = cli.settings;
    match cli.command {
        Command::Serve => serve(Settings::from_raw(&raw).map_err(usage)?, false).await,
        Command::Demo => serve(Settings::from_raw(&raw).map_err(usage)?, true).await,
        #[cfg(feature = "bench")]
        Command::Bench(args) => crate::bench::run(args).await.map_err(|e| Failure {
            message: format!("{e:#}"),
            code: 1,
        }),
        command => {
            let level = raw.log_level.clone().unwrap_or_else(|| "warn".into());
            telemetry::init(&level, false);
            let app = App::new(store::connect(&config::database_url(&raw).map_err(usage)?).await?);
            match command {
                Command::Migrate => {
                    println!("database is up to date");
                    Ok(())
                }
                Command::Keys { action } => keys_command(&app, action).await,
                Command::Pool { action } => pool_command(&app, action).await,
                Command::Simulate { action } => simulate_command(&app, &raw, action).await,
                Command::Serve | Command::Demo => unreachable!("handled above"),
                #[cfg(feature = "bench")]
                Command::Bench(_) => unreachable!("handled above"),
            }
        }
    }
}

async fn serve(settings: Settings, demo_mode: bool) -> Result<(), Failure> {
    telemetry::init(&settings.log_level, settings.log_json);
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    let app = App::new(store::connect(&settings.database_url).await?);
    let demo_key = if demo_mode {
        Some(demo::prepare(&app).await?)
    } else {
        None
    };
    if settings.api_token.is_none() && !keys::any_usable(&app, chrono::Utc::now()).await? {
        return Err(usage(
            "no way to authenticate API requests: set PROXYCALL_API_TOKEN or create a key with \
             `proxycall keys create --name NAME --scopes admin`",
        ));
    }
    // The phone-number metadata loads on first use; load it now, not on a caller's request.
    let _ = E164::parse("+33612345678");
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    let address = listener.local_addr()?;
    let carrier = format!("{:?}", settings.carrier).to_lowercase();
    let carrier = carrier.as_str();
    let parts = server::assemble(settings, app.store.clone(), address).await?;
    tracing::info!(%address, carrier, public_url = %parts.app.routing.public_base_url, "ProxyCall listening");
    let base = parts.app.routing.public_base_url.clone();
    let token = parts.state.webhook_token.clone();
    let store = parts.app.store.clone();
    let running = tokio::spawn(server::run(listener, parts, shutdown_signal()));
    if let Some(key) = demo_key {
        demo::show(&base, &key, &token, store.as_ref()).await?;
    }
    running.await??;
    tracing::info!("ProxyCall stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM (what a platform sends before stopping the process).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn keys_command(app: &App, action: KeysCommand) -> Result<(), Failure> {
    match action {
        KeysCommand::Create {
            name,
            scopes,
            expires_in_days,
        } => {
            let scopes = Scopes::parse(&scopes).map_err(|e| usage(format!("--scopes: {e}")))?;
            let expires = expires_in_days.map(|d| Duration::days(i64::from(d)));
            let issued = keys::create(app, name.trim(), scopes, expires).await?;
            println!("{}", issued.secret);
            eprintln!(
                "key {} created with scopes {}; it is shown only now: store it safely",
                issued.key.id, issued.key.scopes
            );
        }
        KeysCommand::List => {
            let now = chrono::Utc::now();
            println!(
                "{:<10} {:<20} {:<24} {:<10} {:<20} {:<20}",
                "ID", "NAME", "SCOPES", "STATE", "EXPIRES", "LAST USED"
            );
            for k in keys::list(app).await? {
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else if k.is_usable(now) {
                    "active"
                } else {
                    "expired"
                };
                let day = |t: Option<chrono::DateTime<chrono::Utc>>| {
                    t.map_or("-".to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string())
                };
                println!(
                    "{:<10} {:<20} {:<24} {:<10} {:<20} {:<20}",
                    k.id,
                    k.name,
                    k.scopes.to_string(),
                    state,
                    day(k.expires_at),
                    day(k.last_used_at)
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !keys::revoke(app, id.trim()).await? {
                return Err(usage(format!("no active key with id '{id}'")));
            }
            println!("key {id} revoked");
        }
    }
    Ok(())
}

async fn pool_command(app: &App, action: PoolCommand) -> Result<(), Failure> {
    match action {
        PoolCommand::Add {
            numbers,
            number_type,
            country,
            no_sms,
            no_voice,
        } => {
            let number_type =
                NumberType::parse(&number_type).map_err(|e| usage(format!("--type: {e}")))?;
            let country = country
                .map(|c| CountryIso::parse(&c).map_err(|e| usage(format!("--country: {e}"))))
                .transpose()?;
            // Check every number before adding any.
            let parsed = numbers
                .iter()
                .map(|n| E164::parse(n).map_err(|e| usage(format!("{n}: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            for phone_number in parsed {
                let added = pool::add(
                    app,
                    pool::AddNumber {
                        phone_number,
                        country,
                        number_type,
                        voice: !no_voice,
                        sms: !no_sms,
                        friendly_name: None,
                    },
                )
                .await?;
                println!(
                    "added {} ({} {})",
                    added.phone_number, added.country_iso, added.number_type
                );
            }
        }
        PoolCommand::List { country, status } => {
            let country = country
                .map(|c| CountryIso::parse(&c).map_err(|e| usage(format!("--country: {e}"))))
                .transpose()?;
            let status = status
                .map(|s| {
                    PoolStatus::parse(&s)
                        .ok_or_else(|| usage(format!("--status: '{s}' is not a pool status")))
                })
                .transpose()?;
            let numbers = app
                .store
                .pool_numbers(country, NumberTypeFilter::Any, status)
                .await?;
            for n in numbers {
                println!(
                    "{:<16} {:<3} {:<7} {:<10} client={}",
                    n.phone_number.to_string(),
                    n.country_iso.to_string(),
                    n.number_type.as_str(),
                    n.status.as_str(),
                    n.holder().map_or("-".to_owned(), |c| c.to_string())
                );
            }
        }
    }
    Ok(())
}

async fn simulate_command(
    app: &App,
    raw: &RawSettings,
    action: SimulateCommand,
) -> Result<(), Failure> {
    let settings = Settings::from_raw(raw).map_err(usage)?;
    let base = |url: Option<String>| {
        url.unwrap_or_else(|| server::public_base_url(&settings, settings.listen))
    };
    let phone = |flag: &str, raw: &str| {
        E164::parse_shape(raw)
            .map(|n| n.to_string())
            .map_err(|e| usage(format!("--{flag}: {e}")))
    };
    let token = || async {
        let token = server::webhook_token(&settings, app.store.as_ref()).await?;
        Ok::<_, Failure>(secrecy::ExposeSecret::expose_secret(&token).to_owned())
    };
    let http = reqwest::Client::new();
    let (status, twiml) = match action {
        SimulateCommand::Call { from, to, url } => {
            let (from, to) = (phone("from", &from)?, phone("to", &to)?);
            let sid = simulate::sid("CA");
            let params = simulate::call_params(&from, &to, &sid);
            simulate::post_webhook(
                &http,
                &base(url),
                "/twilio/voice",
                token().await?.as_bytes(),
                &params,
            )
            .await?
        }
        SimulateCommand::Sms {
            from,
            to,
            body,
            url,
        } => {
            let (from, to) = (phone("from", &from)?, phone("to", &to)?);
            let sid = simulate::sid("SM");
            let params = simulate::sms_params(&from, &to, &body, &sid);
            simulate::post_webhook(
                &http,
                &base(url),
                "/twilio/sms",
                token().await?.as_bytes(),
                &params,
            )
            .await?
        }
        SimulateCommand::Inbox { to, limit } => {
            let to = to
                .map(|t| E164::parse_shape(&t).map_err(|e| usage(format!("--to: {e}"))))
                .transpose()?;
            for d in app.store.simulated_deliveries(to.as_ref(), limit).await? {
                let what = d.body.or(d.url).unwrap_or_default();
                println!(
                    "{} {:<4} {} -> {}  {what}",
                    d.delivered_at.format("%H:%M:%S"),
                    d.kind,
                    d.from,
                    d.to
                );
            }
            return Ok(());
        }
    };
    println!("{status} {twiml}");
    if status >= 400 {
        return Err(Failure {
            message: format!("the server answered {status}"),
            code: 1,
        });
    }
    Ok(())
}
