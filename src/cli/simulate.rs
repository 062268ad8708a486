//! `proxycall simulate`: play Twilio against a running server, and read what the simulated
//! carrier delivered.

use clap::Subcommand;

use super::{Failure, usage};
use crate::app::App;
use crate::config::Settings;
use crate::domain::E164;
use crate::{server, simulate};

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

pub async fn run(app: &App, settings: &Settings, action: SimulateCommand) -> Result<(), Failure> {
    let base = |url: Option<String>| {
        url.unwrap_or_else(|| server::public_base_url(settings, settings.listen))
    };
    let phone = |flag: &str, raw: &str| {
        E164::parse_shape(raw)
            .map(|n| n.to_string())
            .map_err(|e| usage(format!("--{flag}: {e}")))
    };
    let token = || async {
        let token = server::webhook_token(settings, app.store.as_ref()).await?;
        Ok::<_, Failure>(secrecy::ExposeSecret::expose_secret(&token).to_owned())
    };
    let http = reqwest::Client::new();
    let (status, twiml) = match action {
        SimulateCommand::Call { from, to, url } => {
            let (from, to) = (phone("from", &from)?, phone("to", &to)?);
            let sid = crate::carrier::sid("CA");
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
            let sid = crate::carrier::sid("SM");
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
