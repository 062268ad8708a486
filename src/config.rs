//! Configuration: read from flags and the environment (the earlier version's names keep
//! working), checked all at once at start-up. A bad or missing setting stops the start with
//! one message that lists every problem (audit #5).

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

use crate::domain::{AllowList, CountryIso, Email, NumberType};
use crate::messages::Language;

/// Settings as given, before any check. Every field is text so that one bad value does not
/// hide the others.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RawSettings {
    /// Database: sqlite://PATH (created if missing) or postgres://… [default: sqlite://proxycall.db]
    #[arg(long, env = "PROXYCALL_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8000; 0.0.0.0:$PORT when PORT is set]
    #[arg(long, env = "PROXYCALL_LISTEN", global = true)]
    pub listen: Option<String>,
    /// twilio or simulated [default: twilio when Twilio credentials are set, else simulated]
    #[arg(long, env = "PROXYCALL_CARRIER", global = true)]
    pub carrier: Option<String>,
    /// Public URL Twilio calls (webhooks, links) [legacy fallback: RENDER_EXTERNAL_URL]
    #[arg(long, env = "PUBLIC_BASE_URL", global = true)]
    pub public_base_url: Option<String>,
    /// Requests per minute allowed per client address and per key [default: 100]
    #[arg(long, env = "PROXYCALL_RATE_LIMIT_PER_MINUTE", global = true)]
    pub rate_limit_per_minute: Option<String>,
    /// Largest accepted request body, in bytes [default: 65536]
    #[arg(long, env = "PROXYCALL_BODY_LIMIT_BYTES", global = true)]
    pub body_limit_bytes: Option<String>,
    /// Time allowed for one request, in seconds [default: 15]
    #[arg(long, env = "PROXYCALL_REQUEST_TIMEOUT_SECS", global = true)]
    pub request_timeout_secs: Option<String>,
    /// Take the client address from the last X-Forwarded-For entry (behind a reverse proxy)
    #[arg(long, env = "PROXYCALL_TRUST_FORWARDED_FOR", global = true)]
    pub trust_forwarded_for: Option<String>,
    /// Log level or filter (error, warn, info, debug, trace) [default: info]
    #[arg(long, env = "LOG_LEVEL", global = true)]
    pub log_level: Option<String>,
    /// Log as JSON lines
    #[arg(long, env = "PROXYCALL_LOG_JSON", global = true)]
    pub log_json: Option<String>,
    /// Calling codes whose callers may use a proxy, comma-separated [default: EU, EEA, CH]
    #[arg(long, env = "PROXYCALL_ALLOWED_CALLING_CODES", global = true)]
    pub allowed_calling_codes: Option<String>,
    /// Language of what callers hear and read: fr or en [default: fr]
    #[arg(long, env = "PROXYCALL_LANGUAGE", global = true)]
    pub language: Option<String>,
    /// Relays (calls connected, texts relayed) per hour from one sender through one proxy, in
    /// each process [default: 30]
    #[arg(long, env = "PROXYCALL_RELAY_LIMIT_PER_SENDER_HOUR", global = true)]
    pub relay_limit_per_sender_hour: Option<String>,
    /// Relays per hour through one proxy, in each process [default: 300]
    #[arg(long, env = "PROXYCALL_RELAY_LIMIT_PER_PROXY_HOUR", global = true)]
    pub relay_limit_per_proxy_hour: Option<String>,
    /// Days interactions, sent and failed messages, finished jobs and simulated deliveries
    /// are kept [default: 90]
    #[arg(long, env = "PROXYCALL_RETENTION_DAYS", global = true)]
    pub retention_days: Option<String>,
    /// Hours a message is retried through passing carrier failures before it fails
    /// (then `proxycall outbox requeue`) [default: 24]
    #[arg(long, env = "PROXYCALL_OUTBOX_RETRY_HOURS", global = true)]
    pub outbox_retry_hours: Option<String>,
    /// Seconds after a send whose outcome is unknown before the carrier's list of sent texts
    /// is trusted to settle it [default: 120]
    #[arg(long, env = "PROXYCALL_OUTBOX_SETTLE_GRACE_SECS", global = true)]
    pub outbox_settle_grace_secs: Option<String>,
    /// Serve `POST /bench/twiml`, a constant TwiML answer: the benchmark's reference
    #[cfg(feature = "bench")]
    #[arg(long, env = "PROXYCALL_BENCH_REFERENCE", global = true, hide = true)]
    pub bench_reference: Option<String>,
    /// Workers running background jobs (sends, housekeeping) per process; 0 runs none in
    /// this process [default: 4]
    #[arg(long, env = "PROXYCALL_JOB_WORKERS", global = true)]
    pub job_workers: Option<String>,
    /// The earlier name of `--job-workers`, still accepted.
    #[arg(long, env = "PROXYCALL_OUTBOX_WORKERS", global = true, hide = true)]
    pub outbox_workers: Option<String>,

    // Read from the environment only: secrets do not belong on a command line.
    #[arg(skip)]
    pub env: EnvOnly,
}

/// Settings taken only from the environment.
#[derive(Debug, Clone, Default)]
pub struct EnvOnly {
    pub database_url_legacy: Option<String>,
    pub port: Option<String>,
    pub render_external_url: Option<String>,
    pub api_token: Option<String>,
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<String>,
    pub twilio_api_base: Option<String>,
    pub twilio_address_sid: Option<String>,
    pub twilio_bundle_sid: Option<String>,
    pub twilio_phone_country: Option<String>,
    pub twilio_number_type: Option<String>,
    pub twilio_pool_size: Option<String>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<String>,
    pub smtp_user: Option<String>,
    pub smtp_password: Option<String>,
    pub smtp_from: Option<String>,
}

impl EnvOnly {
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok();
        Self {
            database_url_legacy: var("DATABASE_URL"),
            port: var("PORT"),
            render_external_url: var("RENDER_EXTERNAL_URL"),
            api_token: var("PROXYCALL_API_TOKEN"),
            twilio_account_sid: var("TWILIO_ACCOUNT_SID"),
            twilio_auth_token: var("TWILIO_AUTH_TOKEN"),
            twilio_api_base: var("TWILIO_API_BASE"),
            twilio_address_sid: var("TWILIO_ADDRESS_SID"),
            twilio_bundle_sid: var("TWILIO_BUNDLE_SID"),
            twilio_phone_country: var("TWILIO_PHONE_COUNTRY"),
            twilio_number_type: var("TWILIO_NUMBER_TYPE"),
            twilio_pool_size: var("TWILIO_POOL_SIZE"),
            smtp_host: var("SMTP_HOST"),
            smtp_port: var("SMTP_PORT"),
            smtp_user: var("SMTP_USER"),
            smtp_password: var("SMTP_PASSWORD"),
            smtp_from: var("SMTP_FROM"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CarrierKind {
    Twilio,
    Simulated,
}

#[derive(Debug, Clone)]
pub struct TwilioSettings {
    pub account_sid: String,
    pub auth_token: SecretString,
    pub api_base: String,
    pub address_sid: Option<String>,
    pub bundle_sid: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: SecretString,
    pub from: Email,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub listen: SocketAddr,
    pub carrier: CarrierKind,
    /// Set when the carrier is Twilio.
    pub twilio: Option<TwilioSettings>,
    /// Without trailing `/`.
    pub public_base_url: Option<String>,
    pub api_token: Option<SecretString>,
    pub default_country: CountryIso,
    pub default_number_type: NumberType,
    pub pool_size: u32,
    pub smtp: Option<SmtpSettings>,
    pub rate_limit_per_minute: u32,
    pub body_limit_bytes: usize,
    pub request_timeout: Duration,
    pub trust_forwarded_for: bool,
    pub log_level: String,
    pub log_json: bool,
    pub allow_list: AllowList,
    /// Relays an hour per (sender, proxy), and per proxy, in this process.
    pub relay_limit_per_sender_hour: u32,
    pub relay_limit_per_proxy_hour: u32,
    pub language: Language,
    pub retention: chrono::Duration,
    /// How long passing failures of a send are retried, from the message's creation.
    pub outbox_retry_horizon: chrono::Duration,
    /// How long after a send whose outcome is unknown the carrier's listing settles it.
    pub outbox_settle_grace: chrono::Duration,
    /// Workers running background jobs in this process.
    pub job_workers: usize,
    /// Whether `POST /bench/twiml` is served (for `proxycall bench` only).
    #[cfg(feature = "bench")]
    pub bench_reference: bool,
    /// The token webhooks are signed with: Twilio's auth token. `None` with the simulated
    /// carrier and no `TWILIO_AUTH_TOKEN`: the server then makes one and keeps it.
    pub webhook_auth_token: Option<SecretString>,
    /// Problems that do not stop the start, to log once logging is up.
    pub warnings: Vec<String>,
}

/// Every problem found, one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

/// A setting's value, with blank meaning unset.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

struct Problems(Vec<String>);

impl Problems {
    fn parse<T, E: std::fmt::Display>(
        &mut self,
        name: &str,
        value: Option<&str>,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> T {
        match value {
            None => default,
            Some(v) => parse(v).unwrap_or_else(|e| {
                self.0.push(format!("{name}: {e}"));
                default
            }),
        }
    }
}

fn flag(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("'{v}' is not a boolean (true or false)")),
    }
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(v: &str) -> Result<T, String> {
    match v.parse::<T>() {
        Ok(n) if n > T::default() => Ok(n),
        _ => Err(format!("'{v}' is not a positive whole number")),
    }
}

fn http_url(v: &str) -> Result<String, String> {
    let url = url::Url::parse(v).map_err(|e| format!("'{v}' is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("'{v}' must be an http:// or https:// URL"));
    }
    Ok(v.trim_end_matches('/').to_owned())
}

fn sid(prefix: &'static str) -> impl Fn(&str) -> Result<String, String> {
    move |v| {
        let hex = v.strip_prefix(prefix).unwrap_or("");
        if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(v.to_owned())
        } else {
            Err(format!(
                "must be {prefix} followed by 32 hexadecimal digits"
            ))
        }
    }
}

pub fn database_url(raw: &RawSettings) -> Result<String, ConfigError> {
    let url = given(&raw.database_url)
        .or(given(&raw.env.database_url_legacy))
        .unwrap_or("sqlite://proxycall.db");
    if url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        Ok(url.to_owned())
    } else {
        Err(ConfigError(vec![
            "PROXYCALL_DATABASE_URL: must start with sqlite:// or postgres://".into(),
        ]))
    }
}

impl Settings {
    pub fn from_raw(raw: &RawSettings) -> Result<Self, ConfigError> {
        let env = &raw.env;
        let mut p = Problems(Vec::new());
        let mut warnings = Vec::new();

        let database_url = database_url(raw).unwrap_or_else(|e| {
            p.0.extend(e.0);
            String::new()
        });

        let default_listen: SocketAddr = ([127, 0, 0, 1], 8000).into();
        let listen = match (given(&raw.listen), given(&env.port)) {
            (Some(l), _) => p.parse("PROXYCALL_LISTEN", Some(l), default_listen, |v| {
                v.parse::<SocketAddr>()
                    .map_err(|_| format!("'{v}' is not an address such as 127.0.0.1:8000"))
            }),
            // A platform that sets PORT expects the service on every interface.
            (None, Some(port)) => p.parse("PORT", Some(port), default_listen, |v| {
                positive::<u16>(v).map(|port| SocketAddr::from(([0, 0, 0, 0], port)))
            }),
            (None, None) => default_listen,
        };

        let sid_given = given(&env.twilio_account_sid);
        let token_given = given(&env.twilio_auth_token);
        let carrier = match given(&raw.carrier).map(str::to_ascii_lowercase).as_deref() {
            Some("twilio") => CarrierKind::Twilio,
            Some("simulated") => CarrierKind::Simulated,
            Some(other) => {
                p.0.push(format!(
                    "PROXYCALL_CARRIER: '{other}' is not twilio or simulated"
                ));
                CarrierKind::Simulated
            }
            None if sid_given.is_some() && token_given.is_some() => CarrierKind::Twilio,
            None => {
                warnings.push(
                    "no Twilio credentials: using the simulated carrier (nothing is really sent)"
                        .into(),
                );
                CarrierKind::Simulated
            }
        };

        let public_base_url = given(&raw.public_base_url)
            .map(|v| ("PUBLIC_BASE_URL", v))
            .or(given(&env.render_external_url).map(|v| ("RENDER_EXTERNAL_URL", v)))
            .and_then(|(name, v)| p.parse(name, Some(v), None, |v| http_url(v).map(Some)));

        let twilio = if carrier == CarrierKind::Twilio {
            let account_sid = match sid_given {
                Some(v) => p.parse("TWILIO_ACCOUNT_SID", Some(v), String::new(), sid("AC")),
                None => {
                    p.0.push("TWILIO_ACCOUNT_SID: is required with the Twilio carrier".into());
                    String::new()
                }
            };
            if token_given.is_none() {
                p.0.push("TWILIO_AUTH_TOKEN: is required with the Twilio carrier".into());
            }
            if public_base_url.is_none()
                && given(&raw.public_base_url).is_none()
                && given(&env.render_external_url).is_none()
            {
                p.0.push(
                    "PUBLIC_BASE_URL: is required with the Twilio carrier (webhooks are signed \
                     over the public URL)"
                        .into(),
                );
            }
            Some(TwilioSettings {
                account_sid,
                auth_token: SecretString::from(token_given.unwrap_or_default().to_owned()),
                api_base: p.parse(
                    "TWILIO_API_BASE",
                    given(&env.twilio_api_base),
                    "https://api.twilio.com".to_owned(),
                    http_url,
                ),
                address_sid: p.parse(
                    "TWILIO_ADDRESS_SID",
                    given(&env.twilio_address_sid),
                    None,
                    |v| sid("AD")(v).map(Some),
                ),
                bundle_sid: p.parse(
                    "TWILIO_BUNDLE_SID",
                    given(&env.twilio_bundle_sid),
                    None,
                    |v| sid("BU")(v).map(Some),
                ),
            })
        } else {
            None
        };

        let api_token = given(&env.api_token).map(|t| {
            if t.len() < 16 {
                warnings.push("PROXYCALL_API_TOKEN is shorter than 16 characters".into());
            }
            SecretString::from(t.to_owned())
        });

        let default_country = p.parse(
            "TWILIO_PHONE_COUNTRY",
            given(&env.twilio_phone_country),
            CountryIso::parse("US").expect("US is a country"),
            CountryIso::parse,
        );
        let default_number_type = p.parse(
            "TWILIO_NUMBER_TYPE",
            given(&env.twilio_number_type),
            NumberType::Mobile,
            NumberType::parse,
        );
        let pool_size = p.parse(
            "TWILIO_POOL_SIZE",
            given(&env.twilio_pool_size),
            3,
            positive,
        );

        let smtp = smtp(env, &mut p);

        let rate_limit_per_minute = p.parse(
            "PROXYCALL_RATE_LIMIT_PER_MINUTE",
            given(&raw.rate_limit_per_minute),
            100,
            positive,
        );
        let body_limit_bytes = p.parse(
            "PROXYCALL_BODY_LIMIT_BYTES",
            given(&raw.body_limit_bytes),
            64 * 1024,
            positive,
        );
        let request_timeout = Duration::from_secs(p.parse(
            "PROXYCALL_REQUEST_TIMEOUT_SECS",
            given(&raw.request_timeout_secs),
            15,
            positive,
        ));
        let trust_forwarded_for = p.parse(
            "PROXYCALL_TRUST_FORWARDED_FOR",
            given(&raw.trust_forwarded_for),
            false,
            flag,
        );
        let log_level = p.parse("LOG_LEVEL", given(&raw.log_level), "info".to_owned(), |v| {
            tracing_subscriber::EnvFilter::try_new(v.to_ascii_lowercase())
                .map(|_| v.to_ascii_lowercase())
                .map_err(|_| format!("'{v}' is not a level (error, warn, info, debug, trace)"))
        });
        let log_json = p.parse("PROXYCALL_LOG_JSON", given(&raw.log_json), false, flag);
        let allow_list = p.parse(
            "PROXYCALL_ALLOWED_CALLING_CODES",
            given(&raw.allowed_calling_codes),
            AllowList::default(),
            AllowList::parse,
        );
        let relay_limit_per_sender_hour = p.parse(
            "PROXYCALL_RELAY_LIMIT_PER_SENDER_HOUR",
            given(&raw.relay_limit_per_sender_hour),
            crate::app::routing::RelayLimits::DEFAULT_PER_SENDER_HOUR,
            positive,
        );
        let relay_limit_per_proxy_hour = p.parse(
            "PROXYCALL_RELAY_LIMIT_PER_PROXY_HOUR",
            given(&raw.relay_limit_per_proxy_hour),
            crate::app::routing::RelayLimits::DEFAULT_PER_PROXY_HOUR,
            positive,
        );
        let language = p.parse(
            "PROXYCALL_LANGUAGE",
            given(&raw.language),
            Language::Fr,
            Language::parse,
        );
        let retention = chrono::Duration::days(p.parse(
            "PROXYCALL_RETENTION_DAYS",
            given(&raw.retention_days),
            90,
            positive::<i64>,
        ));
        // A month at most: the send job's cap on tries must never be what stops it.
        let outbox_retry_horizon = chrono::Duration::hours(p.parse(
            "PROXYCALL_OUTBOX_RETRY_HOURS",
            given(&raw.outbox_retry_hours),
            24,
            |v| match positive::<i64>(v) {
                Ok(h) if h <= 720 => Ok(h),
                Ok(_) => Err(format!("'{v}' is more than 720 hours (30 days)")),
                Err(e) => Err(e),
            },
        ));
        let outbox_settle_grace = chrono::Duration::seconds(p.parse(
            "PROXYCALL_OUTBOX_SETTLE_GRACE_SECS",
            given(&raw.outbox_settle_grace_secs),
            120,
            |v| match positive::<i64>(v) {
                Ok(s) if s <= 3600 => Ok(s),
                Ok(_) => Err(format!("'{v}' is more than 3600 seconds")),
                Err(e) => Err(e),
            },
        ));
        // 0 is allowed: processes that only answer, beside others that send.
        let job_workers = p.parse(
            "PROXYCALL_JOB_WORKERS",
            given(&raw.job_workers).or(given(&raw.outbox_workers)),
            4,
            |v| {
                v.parse::<usize>()
                    .map_err(|_| format!("'{v}' is not a whole number"))
            },
        );
        #[cfg(feature = "bench")]
        let bench_reference = p.parse(
            "PROXYCALL_BENCH_REFERENCE",
            given(&raw.bench_reference),
            false,
            flag,
        );
        let webhook_auth_token = token_given.map(|t| SecretString::from(t.to_owned()));

        if !p.0.is_empty() {
            return Err(ConfigError(p.0));
        }
        Ok(Self {
            database_url,
            listen,
            carrier,
            twilio,
            public_base_url,
            api_token,
            default_country,
            default_number_type,
            pool_size,
            smtp,
            rate_limit_per_minute,
            body_limit_bytes,
            request_timeout,
            trust_forwarded_for,
            log_level,
            log_json,
            allow_list,
            relay_limit_per_sender_hour,
            relay_limit_per_proxy_hour,
            language,
            retention,
            outbox_retry_horizon,
            outbox_settle_grace,
            job_workers,
            #[cfg(feature = "bench")]
            bench_reference,
            webhook_auth_token,
            warnings,
        })
    }
}

/// SMTP is all or nothing: host, user, password and sender together, or none of them.
fn smtp(env: &EnvOnly, p: &mut Problems) -> Option<SmtpSettings> {
    let parts = [
        ("SMTP_HOST", given(&env.smtp_host)),
        ("SMTP_USER", given(&env.smtp_user)),
        ("SMTP_PASSWORD", given(&env.smtp_password)),
        ("SMTP_FROM", given(&env.smtp_from)),
    ];
    let set: Vec<_> = parts.iter().filter(|(_, v)| v.is_some()).collect();
    if set.is_empty() {
        return None;
    }
    if set.len() < parts.len() {
        for (name, v) in &parts {
            if v.is_none() {
                p.0.push(format!(
                    "{name}: is required when any SMTP_ setting is given"
                ));
            }
        }
        return None;
    }
    let port = p.parse("SMTP_PORT", given(&env.smtp_port), 587, positive);
    let from = p.parse("SMTP_FROM", parts[3].1, None, |v| Email::parse(v).map(Some))?;
    Some(SmtpSettings {
        host: parts[0].1?.to_owned(),
        port,
        user: parts[1].1?.to_owned(),
        password: SecretString::from(parts[2].1?.to_owned()),
        from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawSettings {
        RawSettings::default()
    }

    #[test]
    fn defaults_to_sqlite_and_the_simulated_carrier() {
        let s = Settings::from_raw(&raw()).unwrap();
        assert_eq!(s.database_url, "sqlite://proxycall.db");
        assert_eq!(s.carrier, CarrierKind::Simulated);
        assert_eq!(s.listen.to_string(), "127.0.0.1:8000");
        assert_eq!(s.rate_limit_per_minute, 100);
        assert!(!s.warnings.is_empty());
    }

    #[test]
    fn job_workers_take_the_earlier_outbox_name_too() {
        let mut r = raw();
        assert_eq!(Settings::from_raw(&r).unwrap().job_workers, 4);
        r.outbox_workers = Some("2".into());
        assert_eq!(Settings::from_raw(&r).unwrap().job_workers, 2);
        r.job_workers = Some("0".into());
        assert_eq!(
            Settings::from_raw(&r).unwrap().job_workers,
            0,
            "the new name wins"
        );
        r.job_workers = Some("many".into());
        let err = Settings::from_raw(&r).unwrap_err().to_string();
        assert!(err.contains("PROXYCALL_JOB_WORKERS"), "{err}");
    }

    #[test]
    fn the_outbox_horizon_and_grace_are_bounded() {
        let s = Settings::from_raw(&raw()).unwrap();
        assert_eq!(s.outbox_retry_horizon, chrono::Duration::hours(24));
        assert_eq!(s.outbox_settle_grace, chrono::Duration::seconds(120));
        let mut r = raw();
        r.outbox_retry_hours = Some("721".into());
        r.outbox_settle_grace_secs = Some("0".into());
        let err = Settings::from_raw(&r).unwrap_err().to_string();
        assert!(err.contains("PROXYCALL_OUTBOX_RETRY_HOURS"), "{err}");
        assert!(err.contains("PROXYCALL_OUTBOX_SETTLE_GRACE_SECS"), "{err}");
        r.outbox_retry_hours = Some("2".into());
        r.outbox_settle_grace_secs = Some("5".into());
        let s = Settings::from_raw(&r).unwrap();
        assert_eq!(s.outbox_retry_horizon, chrono::Duration::hours(2));
        assert_eq!(s.outbox_settle_grace, chrono::Duration::seconds(5));
    }

    #[test]
    fn port_alone_listens_on_every_interface() {
        let mut r = raw();
        r.env.port = Some("9090".into());
        assert_eq!(
            Settings::from_raw(&r).unwrap().listen.to_string(),
            "0.0.0.0:9090"
        );
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let mut r = raw();
        r.carrier = Some("twilio".into());
        r.env.twilio_account_sid = Some("ACnope".into());
        r.rate_limit_per_minute = Some("lots".into());
        r.env.smtp_host = Some("smtp.example.com".into());
        r.database_url = Some("mysql://x".into());
        let err = Settings::from_raw(&r).unwrap_err();
        let text = err.to_string();
        for needle in [
            "PROXYCALL_DATABASE_URL",
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "PUBLIC_BASE_URL",
            "PROXYCALL_RATE_LIMIT_PER_MINUTE",
            "SMTP_USER",
            "SMTP_PASSWORD",
            "SMTP_FROM",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
        assert_eq!(err.0.len(), 8, "{text}");
    }

    #[test]
    fn twilio_credentials_select_twilio_and_legacy_names_work() {
        let mut r = raw();
        r.env.twilio_account_sid = Some(format!("AC{}", "a".repeat(32)));
        r.env.twilio_auth_token = Some("secret-token".into());
        r.env.render_external_url = Some("https://proxycall.example.com/".into());
        r.env.database_url_legacy = Some("postgres://localhost/proxycall".into());
        let s = Settings::from_raw(&r).unwrap();
        assert_eq!(s.carrier, CarrierKind::Twilio);
        assert_eq!(
            s.public_base_url.as_deref(),
            Some("https://proxycall.example.com")
        );
        assert_eq!(s.database_url, "postgres://localhost/proxycall");
        assert_eq!(s.twilio.unwrap().api_base, "https://api.twilio.com");
    }
}
