//! `proxycall pool`: numbers added and listed without the carrier.

use clap::Subcommand;

use super::{Failure, usage};
use crate::app::{App, pool};
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
        /// available, reserved, assigned or released.
        #[arg(long)]
        status: Option<String>,
    },
}

pub async fn run(app: &App, action: PoolCommand) -> Result<(), Failure> {
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
