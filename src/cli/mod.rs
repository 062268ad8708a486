//! The `proxycall` command line: parse, set up, dispatch. One file per command group.
//!
//! Every command that works on the service builds it from `Settings` as `serve` does
//! ([`service`]): with Twilio credentials set it talks to Twilio, never silently to the
//! simulated carrier.

mod check;
mod import;
mod jobs;
mod keys;
mod operation;
mod operators;
mod outbox;
mod pool;
mod serve;
mod simulate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::App;
use crate::config::{self, RawSettings, Settings};
use crate::{server, store, telemetry};
use jobs::JobsCommand;
use keys::KeysCommand;
use operators::OperatorsCommand;
use outbox::OutboxCommand;
use pool::PoolCommand;
use simulate::SimulateCommand;

#[derive(Parser)]
#[command(
    name = "proxycall",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("PROXYCALL_COMMIT"), ")"),
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
    /// Check the settings, the database and the carrier (for Twilio, fetch the account), and
    /// say what is configured and what is wrong; exits non-zero on a problem.
    Check,
    /// Create, list and revoke API keys.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Create, list and disable the dashboard's operators; reset their passwords.
    Operators {
        #[command(subcommand)]
        action: OperatorsCommand,
    },
    /// Add and list pool numbers; run the pool operations (provision, release, drain, fix
    /// webhooks, purge) as the API does.
    Pool {
        #[command(subcommand)]
        action: PoolCommand,
    },
    /// Import the CSV exports of the Google Sheets version (`Clients`, `TwilioPools`,
    /// `CONFIRMATION_PENDING`); rows already stored are left as they are.
    Import(import::ImportArgs),
    /// Follow background work: sends, periodic housekeeping, long operations.
    Jobs {
        #[command(subcommand)]
        action: JobsCommand,
    },
    /// Act on outbound messages: requeue failed ones.
    Outbox {
        #[command(subcommand)]
        action: OutboxCommand,
    },
    /// Measure throughput and latency under load against a reference route (build with
    /// --release for figures).
    #[cfg(feature = "bench")]
    Bench(crate::bench::BenchArgs),
    /// Print a shell's completion script for proxycall: `source <(proxycall completions
    /// bash)`, or save it where the shell looks (see docs/DEPLOY.md).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Play Twilio: send signed webhooks to a running server, read what the simulated
    /// carrier delivered.
    Simulate {
        #[command(subcommand)]
        action: SimulateCommand,
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
        Command::Serve | Command::Demo => {
            let settings = Settings::from_raw(&raw).map_err(usage)?;
            telemetry::init(&settings.log_level, settings.log_json);
            serve::run(settings, matches!(cli.command, Command::Demo)).await
        }
        #[cfg(feature = "bench")]
        Command::Bench(args) => crate::bench::run(args).await.map_err(|e| Failure {
            message: format!("{e:#}"),
            code: 1,
        }),
        Command::Migrate => {
            quiet_logs(&raw);
            store::connect(&config::database_url(&raw).map_err(usage)?).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Check => {
            quiet_logs(&raw);
            check::run(&raw).await
        }
        Command::Keys { action } => {
            let (_, app) = service(&raw).await?;
            keys::run(&app, action).await
        }
        Command::Operators { action } => {
            let (_, app) = service(&raw).await?;
            operators::run(&app, action).await
        }
        Command::Pool { action } => {
            let (settings, app) = service(&raw).await?;
            pool::run(&app, &settings, action).await
        }
        Command::Import(args) => {
            let (_, app) = service(&raw).await?;
            import::run(&app, args).await
        }
        Command::Jobs { action } => {
            let (settings, app) = service(&raw).await?;
            let registry = crate::jobs::registry(settings.retention.num_days());
            jobs::run(&app, &registry, action).await
        }
        Command::Outbox { action } => {
            let (_, app) = service(&raw).await?;
            outbox::run(&app, action).await
        }
        Command::Simulate { action } => {
            let (settings, app) = service(&raw).await?;
            simulate::run(&app, &settings, action).await
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "proxycall", &mut script);
            // `| head` closing the pipe early is the reader's choice, not an error.
            match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
    }
}

/// Commands print their results; logs are for what goes wrong.
fn quiet_logs(raw: &RawSettings) {
    let level = raw.log_level.clone().unwrap_or_else(|| "warn".into());
    telemetry::init(&level, false);
}

/// The settings, and the service built from them exactly as `serve` builds it: the database
/// (migrated), the carrier they name, and where Twilio reaches the server
/// (`PUBLIC_BASE_URL`), which provisioning and webhook repairs point numbers at.
async fn service(raw: &RawSettings) -> Result<(Settings, App), Failure> {
    quiet_logs(raw);
    let settings = Settings::from_raw(raw).map_err(usage)?;
    let store = store::connect(&settings.database_url).await?;
    let parts = server::assemble(settings.clone(), store, settings.listen).await?;
    Ok((settings, parts.app))
}
