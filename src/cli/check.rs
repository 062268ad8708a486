//! `proxycall check`: what an operator runs first on a new host. It reads the settings as
//! `serve` does, reaches the database (changing nothing) and the carrier (for Twilio, it
//! fetches the account), and says what is configured and what is wrong.

use super::Failure;
use crate::app::{App, keys};
use crate::config::{RawSettings, Settings, redacted_url as without_password};
use crate::{server, store};

pub async fn run(raw: &RawSettings) -> Result<(), Failure> {
    let settings = match Settings::from_raw(raw) {
        Ok(s) => s,
        Err(e) => {
            println!("configuration: {} problem(s)", e.0.len());
            for problem in &e.0 {
                println!("  - {problem}");
            }
            return Err(Failure {
                message: "the configuration has problems (above)".into(),
                code: 1,
            });
        }
    };
    let mut problems = 0;
    println!("configuration: ok");
    for warning in &settings.warnings {
        println!("  warning: {warning}");
    }
    println!("listen: {}", settings.listen);
    println!(
        "public URL: {}",
        server::public_base_url(&settings, settings.listen)
    );
    println!(
        "language: {}; job workers: {}; retention: {} days",
        settings.language.as_str(),
        settings.job_workers,
        settings.retention.num_days()
    );
    let low = &settings.low_water;
    println!(
        "low pool: under {} per country and type; alert every {} h at most; auto-buy: {}",
        low.low_water,
        low.alert_cooldown.num_hours(),
        low.auto_buy.as_ref().map_or("off".to_owned(), |b| format!(
            "up to {}, {} a month",
            b.to, b.monthly_budget
        ))
    );

    let url = without_password(&settings.database_url);
    let store = match store::connect_as_is(&settings.database_url).await {
        Ok(store) => store,
        Err(e) => {
            println!("database: {url}: unreachable ({e})");
            problems += 1;
            // The carrier can still be checked.
            return finish(problems + check_carrier(&settings, None).await);
        }
    };
    match store.migration_status().await {
        Ok(m) if m.applied >= m.known => {
            println!(
                "database: {url}: reachable, {} migrations applied",
                m.applied
            )
        }
        Ok(m) => println!(
            "database: {url}: reachable, {} of {} migrations applied (the rest run at the next \
             start, or with `proxycall migrate`)",
            m.applied, m.known
        ),
        Err(e) => {
            println!("database: {url}: unreachable ({e})");
            problems += 1;
        }
    }
    problems += check_carrier(&settings, Some(store.clone())).await;

    let app = App::new(store.clone(), server::carrier(&settings, &store));
    match keys::any_usable(&app, chrono::Utc::now()).await {
        Ok(any) => {
            let env = settings.api_token.is_some();
            println!(
                "API access: {}{}",
                if any {
                    "usable keys in the database"
                } else {
                    "no usable key in the database"
                },
                if env { ", PROXYCALL_API_TOKEN set" } else { "" }
            );
            if !any && !env {
                println!(
                    "  problem: `serve` refuses to start without a way to authenticate: set \
                     PROXYCALL_API_TOKEN or run `proxycall keys create --name NAME --scopes admin`"
                );
                problems += 1;
            }
        }
        // Before the first migration there is no key table: the start will create it.
        Err(_) => println!("API access: not known yet (the database is not migrated)"),
    }
    finish(problems)
}

/// Reaches the carrier; returns the number of problems found.
async fn check_carrier(
    settings: &Settings,
    store: Option<std::sync::Arc<dyn store::Store>>,
) -> usize {
    let Some(twilio) = &settings.twilio else {
        println!(
            "carrier: simulated (no Twilio credentials): calls and texts are recorded, not \
             delivered"
        );
        return 0;
    };
    let Some(store) = store else {
        println!("carrier: twilio ({}), not checked", twilio.account_sid);
        return 0;
    };
    let carrier = server::carrier(settings, &store);
    match carrier.account().await {
        Ok(account) => {
            println!(
                "carrier: twilio at {}: account {} \"{}\" ({})",
                twilio.api_base, account.sid, account.friendly_name, account.status
            );
            if account.status != "active" {
                println!("  problem: the Twilio account is {}", account.status);
                return 1;
            }
            0
        }
        Err(e) => {
            println!("carrier: twilio at {}: {e}", twilio.api_base);
            1
        }
    }
}

fn finish(problems: usize) -> Result<(), Failure> {
    if problems == 0 {
        println!("all checks passed");
        return Ok(());
    }
    Err(Failure {
        message: format!("{problems} problem(s) found (above)"),
        code: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            without_password("postgres://app:s3cret@db/app"),
            "postgres://app:***@db/app"
        );
        let q = without_password("postgres://db/app?user=app&password=s3cret");
        assert!(!q.contains("s3cret") && q.contains("user=app"), "{q}");
        let bad = without_password("postgres://app:s3cr#t@db/app");
        assert!(!bad.contains("s3cr"), "{bad}");
        assert_eq!(
            without_password("sqlite://proxycall.db"),
            "sqlite://proxycall.db"
        );
    }
}
