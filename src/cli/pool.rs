//! `proxycall pool`: numbers added and listed without the carrier, and the pool operations
//! (`operation.rs`) with the routes' options and reports.

use clap::Subcommand;

use super::{Failure, operation, usage};
use crate::app::pool::{FixWebhooksJob, PurgeWithoutSmsJob, ReleaseJob};
use crate::app::provision::ProvisionJob;
use crate::app::sync::SyncJob;
use crate::app::{App, AppError, pool};
use crate::config::Settings;
use crate::domain::{CountryIso, E164, NumberType, NumberTypeFilter};
use crate::store::PoolStatus;

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
        /// available, reserved, assigned, draining, missing or released.
        #[arg(long)]
        status: Option<String>,
        /// One JSON array, with the fields of `GET /pool/available`.
        #[arg(long)]
        json: bool,
    },
    /// Buy numbers from the carrier, with this server's webhooks, into the pool
    /// (`POST /pool/provision`).
    Provision {
        /// ISO-2 country.
        #[arg(long, visible_alias = "country-iso")]
        country: String,
        /// Numbers to buy, 1 to 50.
        #[arg(long, default_value_t = 1)]
        batch_size: u32,
        /// mobile, local or national.
        #[arg(long = "type", visible_alias = "number-type", default_value = "mobile")]
        number_type: String,
        #[arg(long)]
        require_sms_capability: bool,
        #[arg(long)]
        require_voice_capability: bool,
        /// Candidates to ask the carrier for (at most 100 are asked).
        #[arg(long, default_value_t = 100)]
        candidates_limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Give numbers back to the carrier and mark them released (`POST /pool/release`).
    Release {
        /// E.164 numbers, 1 to 500.
        #[arg(required = true)]
        numbers: Vec<String>,
        /// Release numbers assigned to a client or reserved for an activation too.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Mark numbers draining: their client keeps them, no new client gets them, until they
    /// are released (`POST /pool/drain`).
    Drain {
        /// E.164 numbers, 1 to 500.
        #[arg(required = true)]
        numbers: Vec<String>,
        /// Give drained numbers back instead.
        #[arg(long)]
        undo: bool,
        #[arg(long)]
        json: bool,
    },
    /// Point every number's voice and SMS webhooks (URLs and methods) at this server
    /// (`POST /pool/fix-webhooks`); a dry run by default: `--dry-run=false` changes them.
    FixWebhooks {
        #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true",
            action = clap::ArgAction::Set)]
        dry_run: bool,
        #[arg(long)]
        only_country: Option<String>,
        #[arg(long)]
        only_status: Option<String>,
        /// The SMS webhooks too.
        #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true",
            action = clap::ArgAction::Set)]
        fix_sms: bool,
        #[arg(long)]
        json: bool,
    },
    /// Compare the carrier's numbers with the pool, both ways (`POST /pool/sync`): add what
    /// the pool lacks, flag `missing` what the carrier no longer has. `--apply=false` only
    /// says what it would do.
    Sync {
        #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true",
            action = clap::ArgAction::Set)]
        apply: bool,
        #[arg(long)]
        json: bool,
    },
    /// Release the numbers that cannot take texts (`POST /pool/purge-sans-sms`).
    PurgeSansSms {
        /// Numbers assigned to a client or reserved for an activation too.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
}

/// A refusal from the app layer, naming the option instead of the route's field.
fn option_error(e: AppError) -> Failure {
    match e {
        AppError::Invalid { field, message } => {
            usage(format!("--{}: {message}", field.replace('_', "-")))
        }
        other => other.into(),
    }
}

fn numbers(raw: &[String]) -> Result<Vec<E164>, Failure> {
    raw.iter()
        .map(|n| E164::parse(n).map_err(|e| usage(format!("{n}: {e}"))))
        .collect()
}

fn country(raw: Option<String>, flag: &str) -> Result<Option<CountryIso>, Failure> {
    raw.map(|c| CountryIso::parse(&c).map_err(|e| usage(format!("--{flag}: {e}"))))
        .transpose()
}

pub async fn run(app: &App, settings: &Settings, action: PoolCommand) -> Result<(), Failure> {
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
        PoolCommand::List {
            country,
            status,
            json,
        } => {
            let country = self::country(country, "country")?;
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
            if json {
                let rows: Vec<_> = numbers.into_iter().map(row).collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&rows).unwrap_or_default()
                );
                return Ok(());
            }
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
        PoolCommand::Provision {
            country,
            batch_size,
            number_type,
            require_sms_capability,
            require_voice_capability,
            candidates_limit,
            json,
        } => {
            let twilio = settings.twilio.as_ref();
            let job = ProvisionJob {
                country: self::country(Some(country), "country")?.expect("given"),
                batch_size,
                number_type: NumberType::parse(&number_type)
                    .map_err(|e| usage(format!("--type: {e}")))?,
                require_sms: require_sms_capability,
                require_voice: require_voice_capability,
                candidates_limit,
                address_sid: twilio.and_then(|t| t.address_sid.clone()),
                bundle_sid: twilio.and_then(|t| t.bundle_sid.clone()),
                requested_by: None,
            };
            job.check().map_err(option_error)?;
            operation::run(app, job, "provision", json).await?;
        }
        PoolCommand::Release {
            numbers,
            force,
            json,
        } => {
            let job = ReleaseJob {
                numbers: self::numbers(&numbers)?,
                force,
                requested_by: None,
            };
            job.check().map_err(option_error)?;
            operation::run(app, job, "release", json).await?;
        }
        PoolCommand::Drain {
            numbers,
            undo,
            json,
        } => {
            let report = pool::drain(app, &self::numbers(&numbers)?, undo)
                .await
                .map_err(option_error)?;
            let report = serde_json::to_value(&report).unwrap_or_default();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                print!("{}", operation::render(&report));
            }
        }
        PoolCommand::FixWebhooks {
            dry_run,
            only_country,
            only_status,
            fix_sms,
            json,
        } => {
            let job = FixWebhooksJob {
                dry_run,
                only_country: self::country(only_country, "only-country")?,
                only_status,
                fix_sms,
                requested_by: None,
            };
            job.check().map_err(option_error)?;
            operation::run(app, job, "fix-webhooks", json).await?;
        }
        PoolCommand::Sync { apply, json } => {
            let job = SyncJob {
                apply,
                requested_by: None,
            };
            operation::run(app, job, "sync", json).await?;
        }
        PoolCommand::PurgeSansSms { force, json } => {
            let job = PurgeWithoutSmsJob {
                force,
                requested_by: None,
            };
            operation::run(app, job, "purge-sans-sms", json).await?;
        }
    }
    Ok(())
}

/// A pool number for scripts.
fn row(n: crate::store::PoolNumber) -> serde_json::Value {
    serde_json::json!({
        "phone_number": n.phone_number.to_string(),
        "country_iso": n.country_iso.to_string(),
        "number_type": n.number_type.as_str(),
        "status": n.status.as_str(),
        "client_id": n.holder().map(|c| c.get()),
        "voice_capable": n.voice_capable,
        "sms_capable": n.sms_capable,
        "friendly_name": n.friendly_name,
        "purchased_at": n.purchased_at,
        "assigned_at": n.assigned_at,
    })
}
