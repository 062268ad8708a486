//! Configuration: read from flags and the environment (the earlier version's names keep
//! working), checked all at once at start-up. A bad or missing setting stops the start with
//! one message that lists every problem (audit #5).

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

use crate::app::low_water::LowWaterPolicy;
use crate::app::routing::{OptOutRules, UnmaskPolicy};
use crate::app::voicemail::VoicemailPolicy;
use crate::domain::{AllowList, CountryIso, Email, NumberType};
use crate::messages::Language;

/// Settings as given, before any check. Every field is text so that one bad value does not
/// hide the others. `Debug` hides what may hold a secret; so does `--help` (a URL's password
/// would otherwise show as the environment's value).
#[derive(Clone, Default, clap::Args)]
pub struct RawSettings {
    /// Database: sqlite://PATH (created if missing) or postgres://… [default: sqlite://proxycall.db]
    #[arg(
        long,
        env = "PROXYCALL_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8000; 0.0.0.0:$PORT when PORT is set]
    #[arg(long, env = "PROXYCALL_LISTEN", global = true)]
    pub listen: Option<String>,
    /// twilio or simulated [default: twilio when Twilio credentials are set, else simulated]
    #[arg(long, env = "PROXYCALL_CARRIER", global = true)]
    pub carrier: Option<String>,
    /// Public URL Twilio calls (webhooks, links) [legacy fallback: RENDER_EXTERNAL_URL]
    #[arg(long, env = "PUBLIC_BASE_URL", global = true, hide_env_values = true)]
    pub public_base_url: Option<String>,
    /// Requests per minute allowed per key, and refused attempts (no or bad key, bad webhook
    /// signature) per client address [default: 100]
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
    /// Seconds a client has to send a request's headers, from its first byte (or from
    /// connecting) [default: 10]
    #[arg(long, env = "PROXYCALL_HEADER_TIMEOUT_SECS", global = true)]
    pub header_timeout_secs: Option<String>,
    /// Seconds a keep-alive connection may wait for its next request [default: 60]
    #[arg(long, env = "PROXYCALL_IDLE_TIMEOUT_SECS", global = true)]
    pub idle_timeout_secs: Option<String>,
    /// Connections open at once; when all are taken, idle ones are closed to make room
    /// [default: 4096]
    #[arg(long, env = "PROXYCALL_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<String>,
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
    /// Time zone of the times callers hear and read (a recent contact's last call, quiet
    /// hours), an IANA name [default: Europe/Paris]
    #[arg(long, env = "PROXYCALL_TIMEZONE", global = true)]
    pub timezone: Option<String>,
    /// Days a correspondent stays among a client's recent contacts (reachable by `#N`, the
    /// call menu, or as the last caller) [default: 7]
    #[arg(long, env = "PROXYCALL_CONTACT_WINDOW_DAYS", global = true)]
    pub contact_window_days: Option<String>,
    /// Whether clients choose whom to reach: `#?`, `#N`, `BLOQUER #N` texts and the call menu;
    /// off, they reach their most recent contact [default: on]
    #[arg(long, env = "PROXYCALL_CONTACT_CHOICE", global = true)]
    pub contact_choice: Option<String>,
    /// Whether a relayed text that finally fails sends its sender one text saying so (a
    /// bounce) [default: true]
    #[arg(long, env = "PROXYCALL_BOUNCE_FAILED_TEXTS", global = true)]
    pub bounce_failed_texts: Option<String>,
    /// Whether the pictures of an MMS are relayed where the destination takes MMS (US and
    /// Canadian numbers); off, a line says a picture could not be forwarded [default: true]
    #[arg(long, env = "PROXYCALL_RELAY_PICTURES", global = true)]
    pub relay_pictures: Option<String>,
    /// Hours a message is retried through passing carrier failures before it fails
    /// (then `proxycall outbox requeue`) [default: 24]
    #[arg(long, env = "PROXYCALL_OUTBOX_RETRY_HOURS", global = true)]
    pub outbox_retry_hours: Option<String>,
    /// Seconds after a send whose outcome is unknown before the carrier's list of sent texts
    /// is trusted to settle it [default: 120]
    #[arg(long, env = "PROXYCALL_OUTBOX_SETTLE_GRACE_SECS", global = true)]
    pub outbox_settle_grace_secs: Option<String>,
    /// Minutes a one-time code stays valid [default: 15]
    #[arg(long, env = "PROXYCALL_OTP_TTL_MINUTES", global = true)]
    pub otp_ttl_minutes: Option<String>,
    /// Wrong codes (SMS, call and link together) before an activation locks [default: 5]
    #[arg(long, env = "PROXYCALL_OTP_MAX_WRONG", global = true)]
    pub otp_max_wrong: Option<String>,
    /// Seconds after the code's SMS before a still-waiting activation gets the call that
    /// reads it [default: 60]
    #[arg(long, env = "PROXYCALL_OTP_CALL_AFTER_SECS", global = true)]
    pub otp_call_after_secs: Option<String>,
    /// Seconds after that call before a still-waiting activation gets the link, by SMS and
    /// e-mail [default: 120]
    #[arg(long, env = "PROXYCALL_OTP_LINK_AFTER_SECS", global = true)]
    pub otp_link_after_secs: Option<String>,
    /// Hours after which a waiting activation expires and its number goes back [default: 48]
    #[arg(long, env = "PROXYCALL_ACTIVATION_EXPIRE_HOURS", global = true)]
    pub activation_expire_hours: Option<String>,
    /// Seconds between two requests for a code for one phone or e-mail; 0 for none
    /// [default: 180]
    #[arg(long, env = "PROXYCALL_OTP_MIN_INTERVAL_SECS", global = true)]
    pub otp_min_interval_secs: Option<String>,
    /// Requests for a code per phone in 24 hours [default: 5]
    #[arg(long, env = "PROXYCALL_OTP_PER_PHONE_PER_DAY", global = true)]
    pub otp_per_phone_per_day: Option<String>,
    /// Activations one address may start in an hour from the public page `/activate`
    /// [default: 10]
    #[arg(long, env = "PROXYCALL_ACTIVATE_PER_ADDRESS_HOUR", global = true)]
    pub activate_per_address_hour: Option<String>,
    /// Days a number taken from a client is kept from other clients; 0 for none [default: 30]
    #[arg(long, env = "PROXYCALL_POOL_COOLOFF_DAYS", global = true)]
    pub pool_cooloff_days: Option<String>,
    /// Numbers a client could be given now (per country and type) under which the operator is
    /// alerted and, with --pool-auto-buy-to, numbers are bought; 0 for never [default: 10]
    #[arg(long, env = "PROXYCALL_POOL_LOW_WATER", global = true)]
    pub pool_low_water: Option<String>,
    /// Hours between two low-pool e-mails about one country and type [default: 8]
    #[arg(long, env = "PROXYCALL_POOL_ALERT_COOLDOWN_HOURS", global = true)]
    pub pool_alert_cooldown_hours: Option<String>,
    /// Buy numbers for a low country and type up to this many available (needs
    /// --pool-monthly-budget) [default: none, nothing is bought]
    #[arg(long, env = "PROXYCALL_POOL_AUTO_BUY_TO", global = true)]
    pub pool_auto_buy_to: Option<String>,
    /// Numbers bought automatically per calendar month (UTC), across every process
    /// [default: none]
    #[arg(long, env = "PROXYCALL_POOL_MONTHLY_BUDGET", global = true)]
    pub pool_monthly_budget: Option<String>,
    /// Requests for a code per e-mail in 24 hours [default: 10]
    #[arg(long, env = "PROXYCALL_OTP_PER_EMAIL_PER_DAY", global = true)]
    pub otp_per_email_per_day: Option<String>,
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
    /// Jobs one process runs at once, its workers together: mostly sends waiting on the
    /// carrier. Twilio turns away more than 100 concurrent requests per account by default
    /// (429), whatever the number of processes [default: 100]
    #[arg(long, env = "PROXYCALL_SEND_CONCURRENCY", global = true)]
    pub send_concurrency: Option<String>,
    /// The operator's e-mail address: the weekly report is sent there (needs the SMTP
    /// settings) [default: none]
    #[arg(long, env = "PROXYCALL_ALERT_EMAIL", global = true)]
    pub alert_email: Option<String>,
    /// What a relayed text holding a phone number, an e-mail address or a link becomes:
    /// allow, redact or block [default: redact]
    #[arg(long, env = "PROXYCALL_UNMASK_POLICY", global = true)]
    pub unmask_policy: Option<String>,
    /// Countries (ISO-2, comma-separated; `none`) of the proxies where opt-out keywords apply
    /// [default: US,CA]
    #[arg(long, env = "PROXYCALL_OPT_OUT_COUNTRIES", global = true)]
    pub opt_out_countries: Option<String>,
    /// Words that opt a sender out of a proxy's texts, comma-separated
    /// [default: STOP,STOPALL,UNSUBSCRIBE,CANCEL,END,QUIT,ARRET,ARRÊT]
    #[arg(long, env = "PROXYCALL_OPT_OUT_KEYWORDS", global = true)]
    pub opt_out_keywords: Option<String>,
    /// Words that opt a sender back in [default: START,UNSTOP]
    #[arg(long, env = "PROXYCALL_OPT_IN_KEYWORDS", global = true)]
    pub opt_in_keywords: Option<String>,
    /// Words answered with a short help text [default: HELP,INFO,AIDE]
    #[arg(long, env = "PROXYCALL_HELP_KEYWORDS", global = true)]
    pub help_keywords: Option<String>,
    /// Whether a caller the client does not answer may leave a voice message (else the client
    /// gets a missed-call text) [default: true]
    #[arg(long, env = "PROXYCALL_VOICEMAIL", global = true)]
    pub voicemail: Option<String>,
    /// The longest voice message, in seconds [default: 120]
    #[arg(long, env = "PROXYCALL_VOICEMAIL_MAX_SECS", global = true)]
    pub voicemail_max_secs: Option<String>,
    /// Hours a voicemail's listen link works [default: 72]
    #[arg(long, env = "PROXYCALL_VOICEMAIL_LINK_HOURS", global = true)]
    pub voicemail_link_hours: Option<String>,
    /// Days a voicemail's recording is kept, at Twilio and here [default: 30]
    #[arg(long, env = "PROXYCALL_VOICEMAIL_RETENTION_DAYS", global = true)]
    pub voicemail_retention_days: Option<String>,
    /// Whether a forwarded call starts with a short announcement to the client, naming the
    /// caller's order [default: false]
    #[arg(long, env = "PROXYCALL_WHISPER", global = true)]
    pub whisper: Option<String>,

    /// The dashboard at /admin.
    #[command(flatten)]
    pub admin: AdminRawSettings,

    // Read from the environment only: secrets do not belong on a command line.
    #[arg(skip)]
    pub env: EnvOnly,
}

/// The dashboard's settings, as given.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AdminRawSettings {
    /// Require every operator to log in with a TOTP code; one without is sent to enrol first
    /// [default: false]
    #[arg(long, env = "PROXYCALL_ADMIN_REQUIRE_TOTP", global = true)]
    pub admin_require_totp: Option<String>,
    /// Seconds an operator's session lasts without a request [default: 1800]
    #[arg(long, env = "PROXYCALL_ADMIN_SESSION_IDLE_SECS", global = true)]
    pub admin_session_idle_secs: Option<String>,
    /// Seconds an operator's session lasts at most, however active [default: 43200]
    #[arg(long, env = "PROXYCALL_ADMIN_SESSION_MAX_SECS", global = true)]
    pub admin_session_max_secs: Option<String>,
    /// Failed logins for one account in 15 minutes before its logins are refused [default: 5]
    #[arg(
        long,
        env = "PROXYCALL_ADMIN_LOGIN_FAILURES_PER_ACCOUNT",
        global = true
    )]
    pub admin_login_failures_per_account: Option<String>,
    /// Failed logins from one address in 15 minutes before its logins are refused [default: 20]
    #[arg(
        long,
        env = "PROXYCALL_ADMIN_LOGIN_FAILURES_PER_ADDRESS",
        global = true
    )]
    pub admin_login_failures_per_address: Option<String>,
}

/// The dashboard's settings.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub require_totp: bool,
    pub session_idle: chrono::Duration,
    pub session_max: chrono::Duration,
    pub failures_per_account: i64,
    pub failures_per_address: i64,
    /// The window failed logins are counted over.
    pub failure_window: chrono::Duration,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            require_totp: false,
            session_idle: chrono::Duration::minutes(30),
            session_max: chrono::Duration::hours(12),
            failures_per_account: 5,
            failures_per_address: 20,
            failure_window: chrono::Duration::minutes(15),
        }
    }
}

fn admin(raw: &AdminRawSettings, p: &mut Problems) -> AdminSettings {
    let d = AdminSettings::default();
    let secs = |v: i64| chrono::Duration::seconds(v);
    let require_totp = p.parse(
        "PROXYCALL_ADMIN_REQUIRE_TOTP",
        given(&raw.admin_require_totp),
        d.require_totp,
        flag,
    );
    let session_idle = secs(p.parse(
        "PROXYCALL_ADMIN_SESSION_IDLE_SECS",
        given(&raw.admin_session_idle_secs),
        d.session_idle.num_seconds(),
        positive,
    ));
    let session_max = secs(p.parse(
        "PROXYCALL_ADMIN_SESSION_MAX_SECS",
        given(&raw.admin_session_max_secs),
        d.session_max.num_seconds(),
        positive,
    ));
    if session_max < session_idle {
        p.0.push(
            "PROXYCALL_ADMIN_SESSION_MAX_SECS: shorter than PROXYCALL_ADMIN_SESSION_IDLE_SECS"
                .into(),
        );
    }
    AdminSettings {
        require_totp,
        session_idle,
        session_max,
        failures_per_account: p.parse(
            "PROXYCALL_ADMIN_LOGIN_FAILURES_PER_ACCOUNT",
            given(&raw.admin_login_failures_per_account),
            d.failures_per_account,
            positive,
        ),
        failures_per_address: p.parse(
            "PROXYCALL_ADMIN_LOGIN_FAILURES_PER_ADDRESS",
            given(&raw.admin_login_failures_per_address),
            d.failures_per_address,
            positive,
        ),
        failure_window: d.failure_window,
    }
}

/// Settings taken only from the environment. `Debug` hides the secrets.
#[derive(Clone, Default)]
pub struct EnvOnly {
    pub database_url_legacy: Option<String>,
    pub port: Option<String>,
    pub render_external_url: Option<String>,
    pub api_token: Option<String>,
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<String>,
    /// The auth token being replaced, during a rotation: webhooks signed with it still pass.
    pub twilio_auth_token_previous: Option<String>,
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
    pub otp_secret: Option<String>,
    pub smtp_tls: Option<String>,
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
            twilio_auth_token_previous: var("TWILIO_AUTH_TOKEN_PREVIOUS"),
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
            otp_secret: var("PROXYCALL_OTP_SECRET"),
            smtp_tls: var("SMTP_TLS"),
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

/// Activation's codes, cascade and limits.
#[derive(Debug, Clone)]
pub struct OtpSettings {
    pub ttl: chrono::Duration,
    pub max_wrong: i64,
    pub call_after: chrono::Duration,
    pub link_after: chrono::Duration,
    pub expire_after: chrono::Duration,
    pub min_interval: chrono::Duration,
    pub per_phone_per_day: i64,
    pub per_email_per_day: i64,
    /// `PROXYCALL_OTP_SECRET`: the key codes are hashed with. Unset, one is made and kept in
    /// the database, shared by every process.
    pub secret: Option<SecretString>,
}

impl Default for OtpSettings {
    fn default() -> Self {
        Self {
            ttl: chrono::Duration::minutes(15),
            max_wrong: 5,
            call_after: chrono::Duration::seconds(60),
            link_after: chrono::Duration::seconds(120),
            expire_after: chrono::Duration::hours(48),
            min_interval: chrono::Duration::seconds(180),
            per_phone_per_day: 5,
            per_email_per_day: 10,
            secret: None,
        }
    }
}

/// The shortest `PROXYCALL_OTP_SECRET` accepted.
pub const MIN_OTP_SECRET_CHARS: usize = 32;

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: SecretString,
    pub from: Email,
    pub tls: SmtpTls,
}

/// How the connection to the SMTP server is protected (`SMTP_TLS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// STARTTLS, required: a server that does not offer it gets neither the password nor the
    /// e-mail (never an opportunistic fall-back to clear text).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// Clear text: only to a relay on this machine.
    None,
}

impl SmtpTls {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StartTls => "starttls",
            Self::Tls => "tls",
            Self::None => "none",
        }
    }
}

#[derive(Clone)]
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
    /// Time a client has to send a request's headers.
    pub header_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub log_level: String,
    pub log_json: bool,
    pub allow_list: AllowList,
    /// Relays an hour per (sender, proxy), and per proxy, in this process.
    pub relay_limit_per_sender_hour: u32,
    pub relay_limit_per_proxy_hour: u32,
    pub language: Language,
    /// Where the times callers hear and read are told.
    pub timezone: chrono_tz::Tz,
    /// How long a correspondent stays a recent contact of a client.
    pub contact_window: chrono::Duration,
    /// Clients choose whom to reach (`#?`, `#N`, `BLOQUER #N`, the call menu).
    pub contact_choice: bool,
    /// `PROXYCALL_BOUNCE_FAILED_TEXTS`.
    pub bounce_failed_texts: bool,
    /// `PROXYCALL_RELAY_PICTURES`.
    pub relay_pictures: bool,
    pub retention: chrono::Duration,
    /// How long passing failures of a send are retried, from the message's creation.
    pub outbox_retry_horizon: chrono::Duration,
    /// How long after a send whose outcome is unknown the carrier's listing settles it.
    pub outbox_settle_grace: chrono::Duration,
    /// The one-time codes of activation (SPEC §7).
    pub otp: OtpSettings,
    /// Activations one address may start in an hour from `/activate`.
    pub activate_per_address_hour: u32,
    /// How long a number taken from a client is kept from the others.
    pub pool_cooloff: chrono::Duration,
    /// Workers running background jobs in this process.
    pub job_workers: usize,
    /// Jobs this process runs at once, its workers together.
    pub send_concurrency: usize,
    /// Whether `POST /bench/twiml` is served (for `proxycall bench` only).
    #[cfg(feature = "bench")]
    pub bench_reference: bool,
    /// The token webhooks are signed with: Twilio's auth token. `None` with the simulated
    /// carrier and no `TWILIO_AUTH_TOKEN`: the server then makes one and keeps it.
    pub webhook_auth_token: Option<SecretString>,
    /// `TWILIO_AUTH_TOKEN_PREVIOUS`: during a rotation, webhooks signed with it pass too.
    pub webhook_auth_token_previous: Option<SecretString>,
    /// Problems that do not stop the start, to log once logging is up.
    pub warnings: Vec<String>,
    /// `PROXYCALL_ALERT_EMAIL`: where the operator's e-mails (the weekly report) go.
    pub alert_email: Option<Email>,
    /// The low pool's mark, alert cool-down and auto-buy (`PROXYCALL_POOL_LOW_WATER`…).
    pub low_water: LowWaterPolicy,
    /// The dashboard at /admin.
    pub admin: AdminSettings,
    /// `PROXYCALL_UNMASK_POLICY`.
    pub unmask_policy: UnmaskPolicy,
    /// `PROXYCALL_OPT_OUT_COUNTRIES` and the keywords.
    pub opt_out: OptOutRules,
    /// Missed calls, voicemail and the whisper (`PROXYCALL_VOICEMAIL*`, `PROXYCALL_WHISPER`).
    pub voicemail: VoicemailPolicy,
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

/// The shortest `PROXYCALL_API_TOKEN` accepted.
pub const MIN_API_TOKEN_CHARS: usize = 32;

/// The URL Twilio calls: webhook URLs are built by appending a path to it, and Twilio signs
/// them. A query or fragment would end up in the middle of those URLs; a user or password would
/// show wherever the URL does. Twilio reaches it over the Internet: https, except on this
/// machine (tests, a tunnel) or with the simulated carrier.
fn public_url(v: &str, carrier: CarrierKind) -> Result<String, String> {
    let base = http_url(v)?;
    let url = url::Url::parse(&base).map_err(|e| format!("'{v}' is not a URL ({e})"))?;
    let mut wrong = Vec::new();
    if url.query().is_some() || url.fragment().is_some() {
        wrong.push("carry no query or fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        wrong.push("carry no user or password");
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if carrier == CarrierKind::Twilio && url.scheme() != "https" && !loopback {
        wrong.push("be https:// with the Twilio carrier (http:// only on a loopback host)");
    }
    if wrong.is_empty() {
        Ok(base)
    } else {
        // The value itself is not repeated: it may hold a password.
        Err(format!("must {}", wrong.join(" and ")))
    }
}

/// A URL as it may be shown: without the password in its user part or its query
/// (`?password=`). One that does not parse is not shown beyond its scheme: it may hold a
/// password where we cannot see it.
pub fn redacted_url(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        let scheme = url.split("://").next().unwrap_or("database");
        return format!("{scheme}://… (a URL that does not parse)");
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    let query: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let v = if k.eq_ignore_ascii_case("password") {
                "***".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    if !query.is_empty() {
        u.query_pairs_mut().clear().extend_pairs(query);
    }
    u.to_string()
}

/// How a secret shows in `Debug`: whether it is set, never what it is.
fn secret(v: &Option<String>) -> Option<&'static str> {
    v.as_ref().map(|_| REDACTED)
}

const REDACTED: &str = "[REDACTED]";

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
            .and_then(|(name, v)| {
                p.parse(name, Some(v), None, |v| public_url(v, carrier).map(Some))
            });

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

        // It holds every scope: as hard to guess as a generated key, or no start.
        let api_token = given(&env.api_token).and_then(|t| {
            if t.chars().count() < MIN_API_TOKEN_CHARS {
                p.0.push(format!(
                    "PROXYCALL_API_TOKEN: must be at least {MIN_API_TOKEN_CHARS} characters \
                     (it grants every scope); e.g. `openssl rand -hex 32`"
                ));
                return None;
            }
            Some(SecretString::from(t.to_owned()))
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
        if !trust_forwarded_for {
            for (name, value) in [
                ("PORT", &env.port),
                ("RENDER_EXTERNAL_URL", &env.render_external_url),
            ] {
                if given(value).is_some() {
                    warnings.push(format!(
                        "{name} is set, as hosting platforms do, but PROXYCALL_TRUST_FORWARDED_FOR \
                         is off: behind the platform's proxy every caller has the proxy's address, \
                         so one caller's refused attempts get every caller refused (429); set \
                         PROXYCALL_TRUST_FORWARDED_FOR=true if the proxy appends X-Forwarded-For"
                    ));
                    break;
                }
            }
        }
        let header_timeout = Duration::from_secs(p.parse(
            "PROXYCALL_HEADER_TIMEOUT_SECS",
            given(&raw.header_timeout_secs),
            10,
            positive,
        ));
        let idle_timeout = Duration::from_secs(p.parse(
            "PROXYCALL_IDLE_TIMEOUT_SECS",
            given(&raw.idle_timeout_secs),
            60,
            positive,
        ));
        let max_connections = p.parse(
            "PROXYCALL_MAX_CONNECTIONS",
            given(&raw.max_connections),
            4096,
            positive,
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
        let timezone = p.parse(
            "PROXYCALL_TIMEZONE",
            given(&raw.timezone),
            chrono_tz::Europe::Paris,
            |v| {
                v.parse::<chrono_tz::Tz>()
                    .map_err(|_| format!("'{v}' is not a time zone (an IANA name: Europe/Paris)"))
            },
        );
        let contact_window = chrono::Duration::days(p.parse(
            "PROXYCALL_CONTACT_WINDOW_DAYS",
            given(&raw.contact_window_days),
            7,
            |v| {
                positive::<i64>(v).and_then(|d| {
                    if d <= 365 {
                        Ok(d)
                    } else {
                        Err(format!("'{v}' is over a year (365 days at most)"))
                    }
                })
            },
        ));
        let contact_choice = p.parse(
            "PROXYCALL_CONTACT_CHOICE",
            given(&raw.contact_choice),
            true,
            flag,
        );
        let bounce_failed_texts = p.parse(
            "PROXYCALL_BOUNCE_FAILED_TEXTS",
            given(&raw.bounce_failed_texts),
            true,
            flag,
        );
        let relay_pictures = p.parse(
            "PROXYCALL_RELAY_PICTURES",
            given(&raw.relay_pictures),
            true,
            flag,
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
        let otp = otp(raw, env, &mut p);
        let pool_cooloff = chrono::Duration::days(p.parse(
            "PROXYCALL_POOL_COOLOFF_DAYS",
            given(&raw.pool_cooloff_days),
            crate::app::DEFAULT_POOL_COOLOFF_DAYS,
            |v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|d| (0..=3650).contains(d))
                    .ok_or_else(|| format!("'{v}' is not a number of days from 0 to 3650"))
            },
        ));
        let activate_per_address_hour = p.parse(
            "PROXYCALL_ACTIVATE_PER_ADDRESS_HOUR",
            given(&raw.activate_per_address_hour),
            crate::http::DEFAULT_STARTS_PER_ADDRESS_HOUR,
            positive,
        );
        if carrier == CarrierKind::Twilio && otp.secret.is_none() {
            warnings.push(
                "PROXYCALL_OTP_SECRET is not set: activation codes are hashed with a key kept in \
                 the database, so a copy of the database alone could test them; set it (32 \
                 characters or more) outside the database"
                    .into(),
            );
        }
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
        let send_concurrency = p.parse(
            "PROXYCALL_SEND_CONCURRENCY",
            given(&raw.send_concurrency),
            crate::outbox::DEFAULT_SEND_CONCURRENCY,
            positive,
        );
        #[cfg(feature = "bench")]
        let bench_reference = p.parse(
            "PROXYCALL_BENCH_REFERENCE",
            given(&raw.bench_reference),
            false,
            flag,
        );
        let alert_email = p.parse(
            "PROXYCALL_ALERT_EMAIL",
            given(&raw.alert_email),
            None,
            |v| Email::parse(v).map(Some),
        );
        if alert_email.is_some() && smtp.is_none() {
            warnings.push(
                "PROXYCALL_ALERT_EMAIL is set but the SMTP settings are not: no e-mail is sent \
                 to it"
                    .into(),
            );
        }
        let low_water = low_water(raw, twilio.as_ref(), &mut p);
        if given(&raw.pool_monthly_budget).is_some() && given(&raw.pool_auto_buy_to).is_none() {
            warnings.push(
                "PROXYCALL_POOL_MONTHLY_BUDGET is set but PROXYCALL_POOL_AUTO_BUY_TO is not: \
                 nothing is bought"
                    .into(),
            );
        }
        let admin = admin(&raw.admin, &mut p);
        let unmask_policy = p.parse(
            "PROXYCALL_UNMASK_POLICY",
            given(&raw.unmask_policy),
            UnmaskPolicy::Redact,
            UnmaskPolicy::parse,
        );
        let opt_out = opt_out(raw, &mut p);
        let voicemail = voicemail(raw, &mut p);
        let webhook_auth_token = token_given.map(|t| SecretString::from(t.to_owned()));
        let webhook_auth_token_previous =
            given(&env.twilio_auth_token_previous).map(|t| SecretString::from(t.to_owned()));

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
            header_timeout,
            idle_timeout,
            max_connections,
            log_level,
            log_json,
            allow_list,
            relay_limit_per_sender_hour,
            relay_limit_per_proxy_hour,
            language,
            timezone,
            contact_window,
            contact_choice,
            bounce_failed_texts,
            relay_pictures,
            retention,
            outbox_retry_horizon,
            outbox_settle_grace,
            otp,
            activate_per_address_hour,
            pool_cooloff,
            job_workers,
            send_concurrency,
            #[cfg(feature = "bench")]
            bench_reference,
            webhook_auth_token,
            webhook_auth_token_previous,
            warnings,
            alert_email,
            low_water,
            admin,
            unmask_policy,
            opt_out,
            voicemail,
        })
    }
}

/// The opt-out keywords: where they apply, and three lists that share no word.
fn opt_out(raw: &RawSettings, p: &mut Problems) -> OptOutRules {
    use crate::app::routing::keywords::{self, *};
    let d = OptOutRules::default();
    let rules = OptOutRules {
        countries: p.parse(
            "PROXYCALL_OPT_OUT_COUNTRIES",
            given(&raw.opt_out_countries),
            d.countries,
            keywords::countries,
        ),
        stop: p.parse(
            "PROXYCALL_OPT_OUT_KEYWORDS",
            given(&raw.opt_out_keywords),
            d.stop,
            words,
        ),
        start: p.parse(
            "PROXYCALL_OPT_IN_KEYWORDS",
            given(&raw.opt_in_keywords),
            d.start,
            words,
        ),
        help: p.parse(
            "PROXYCALL_HELP_KEYWORDS",
            given(&raw.help_keywords),
            d.help,
            words,
        ),
    };
    if let Some(word) = rules.overlap() {
        p.0.push(format!(
            "PROXYCALL_OPT_OUT_KEYWORDS, PROXYCALL_OPT_IN_KEYWORDS, PROXYCALL_HELP_KEYWORDS: \
             '{word}' is in two lists"
        ));
    }
    rules
}

/// Missed calls and voicemail: a link may not outlive the recording it plays.
fn voicemail(raw: &RawSettings, p: &mut Problems) -> VoicemailPolicy {
    use crate::app::voicemail::{
        DEFAULT_LINK_HOURS, DEFAULT_MAX_LENGTH_SECS, DEFAULT_RETENTION_DAYS,
    };
    let enabled = p.parse("PROXYCALL_VOICEMAIL", given(&raw.voicemail), true, flag);
    // Twilio records up to 4 hours; a voicemail needs far less.
    let max_length_secs = p.parse(
        "PROXYCALL_VOICEMAIL_MAX_SECS",
        given(&raw.voicemail_max_secs),
        DEFAULT_MAX_LENGTH_SECS,
        |v| match positive::<u32>(v) {
            Ok(n) if n <= 600 => Ok(n),
            Ok(_) => Err(format!("'{v}' is more than 600 seconds")),
            Err(e) => Err(e),
        },
    );
    let link_hours = p.parse(
        "PROXYCALL_VOICEMAIL_LINK_HOURS",
        given(&raw.voicemail_link_hours),
        DEFAULT_LINK_HOURS,
        |v| match positive::<i64>(v) {
            Ok(h) if h <= 720 => Ok(h),
            Ok(_) => Err(format!("'{v}' is more than 720 hours (30 days)")),
            Err(e) => Err(e),
        },
    );
    let retention_days = p.parse(
        "PROXYCALL_VOICEMAIL_RETENTION_DAYS",
        given(&raw.voicemail_retention_days),
        DEFAULT_RETENTION_DAYS,
        |v| match positive::<i64>(v) {
            Ok(d) if d <= 3650 => Ok(d),
            Ok(_) => Err(format!("'{v}' is more than 3650 days")),
            Err(e) => Err(e),
        },
    );
    if link_hours > retention_days * 24 {
        p.0.push(format!(
            "PROXYCALL_VOICEMAIL_LINK_HOURS: {link_hours} hours outlive the recording              (PROXYCALL_VOICEMAIL_RETENTION_DAYS: {retention_days} days)"
        ));
    }
    let whisper = p.parse("PROXYCALL_WHISPER", given(&raw.whisper), false, flag);
    VoicemailPolicy {
        enabled,
        max_length_secs,
        link_valid: chrono::Duration::hours(link_hours),
        retention: chrono::Duration::days(retention_days),
        whisper,
    }
}

/// The low pool: auto-buy needs a budget, and a target at least the mark (a lower one would
/// buy at every look, the pool still low).
fn low_water(
    raw: &RawSettings,
    twilio: Option<&TwilioSettings>,
    p: &mut Problems,
) -> LowWaterPolicy {
    use crate::app::low_water::{AutoBuy, DEFAULT_ALERT_COOLDOWN_HOURS, DEFAULT_LOW_WATER};
    let count = |v: &str| {
        v.parse::<i64>()
            .ok()
            .filter(|n| (0..=100_000).contains(n))
            .ok_or_else(|| format!("'{v}' is not a number from 0 to 100000"))
    };
    let low_water = p.parse(
        "PROXYCALL_POOL_LOW_WATER",
        given(&raw.pool_low_water),
        DEFAULT_LOW_WATER,
        count,
    );
    let alert_cooldown = chrono::Duration::hours(p.parse(
        "PROXYCALL_POOL_ALERT_COOLDOWN_HOURS",
        given(&raw.pool_alert_cooldown_hours),
        DEFAULT_ALERT_COOLDOWN_HOURS,
        |v| match positive::<i64>(v) {
            Ok(h) if h <= 720 => Ok(h),
            Ok(_) => Err(format!("'{v}' is more than 720 hours (30 days)")),
            Err(e) => Err(e),
        },
    ));
    let to = p.parse(
        "PROXYCALL_POOL_AUTO_BUY_TO",
        given(&raw.pool_auto_buy_to),
        None,
        |v| match positive::<i64>(v) {
            Ok(n) if n > 100_000 => Err(format!("'{v}' is more than 100000")),
            Ok(n) if n < low_water => Err(format!(
                "{n} is under PROXYCALL_POOL_LOW_WATER ({low_water}): buying up to it would \
                 leave the pool low"
            )),
            Ok(n) => Ok(Some(n)),
            Err(e) => Err(e),
        },
    );
    let budget = p.parse(
        "PROXYCALL_POOL_MONTHLY_BUDGET",
        given(&raw.pool_monthly_budget),
        None,
        |v| count(v).map(Some),
    );
    let auto_buy = match (to, budget) {
        (Some(to), Some(monthly_budget)) => Some(AutoBuy {
            to,
            monthly_budget,
            address_sid: twilio.and_then(|t| t.address_sid.clone()),
            bundle_sid: twilio.and_then(|t| t.bundle_sid.clone()),
        }),
        (Some(_), None) => {
            p.0.push(
                "PROXYCALL_POOL_MONTHLY_BUDGET: is required with PROXYCALL_POOL_AUTO_BUY_TO (the \
                 numbers auto-buy may buy each month)"
                    .into(),
            );
            None
        }
        _ => None,
    };
    LowWaterPolicy {
        low_water,
        alert_cooldown,
        auto_buy,
    }
}

fn otp(raw: &RawSettings, env: &EnvOnly, p: &mut Problems) -> OtpSettings {
    let d = OtpSettings::default();
    let secs =
        |p: &mut Problems, name: &str, v: &Option<String>, default: chrono::Duration| {
            chrono::Duration::seconds(p.parse(name, given(v), default.num_seconds(), |v| {
                match positive::<i64>(v) {
                    Ok(s) if s <= 86_400 => Ok(s),
                    Ok(_) => Err(format!("'{v}' is more than a day (86400 seconds)")),
                    Err(e) => Err(e),
                }
            }))
        };
    let ttl = chrono::Duration::minutes(p.parse(
        "PROXYCALL_OTP_TTL_MINUTES",
        given(&raw.otp_ttl_minutes),
        d.ttl.num_minutes(),
        |v| match positive::<i64>(v) {
            Ok(m) if m <= 1440 => Ok(m),
            Ok(_) => Err(format!("'{v}' is more than a day (1440 minutes)")),
            Err(e) => Err(e),
        },
    ));
    let max_wrong = p.parse(
        "PROXYCALL_OTP_MAX_WRONG",
        given(&raw.otp_max_wrong),
        d.max_wrong,
        positive,
    );
    let call_after = secs(
        p,
        "PROXYCALL_OTP_CALL_AFTER_SECS",
        &raw.otp_call_after_secs,
        d.call_after,
    );
    let link_after = secs(
        p,
        "PROXYCALL_OTP_LINK_AFTER_SECS",
        &raw.otp_link_after_secs,
        d.link_after,
    );
    let expire_after = chrono::Duration::hours(p.parse(
        "PROXYCALL_ACTIVATION_EXPIRE_HOURS",
        given(&raw.activation_expire_hours),
        d.expire_after.num_hours(),
        positive,
    ));
    // 0 turns the cool-down off (the daily limits still hold).
    let min_interval = chrono::Duration::seconds(p.parse(
        "PROXYCALL_OTP_MIN_INTERVAL_SECS",
        given(&raw.otp_min_interval_secs),
        d.min_interval.num_seconds(),
        |v| {
            v.parse::<i64>()
                .ok()
                .filter(|s| (0..=86_400).contains(s))
                .ok_or_else(|| format!("'{v}' is not a number of seconds from 0 to 86400"))
        },
    ));
    let per_phone_per_day = p.parse(
        "PROXYCALL_OTP_PER_PHONE_PER_DAY",
        given(&raw.otp_per_phone_per_day),
        d.per_phone_per_day,
        positive,
    );
    let per_email_per_day = p.parse(
        "PROXYCALL_OTP_PER_EMAIL_PER_DAY",
        given(&raw.otp_per_email_per_day),
        d.per_email_per_day,
        positive,
    );
    let secret = p.parse("PROXYCALL_OTP_SECRET", given(&env.otp_secret), None, |v| {
        if v.chars().count() < MIN_OTP_SECRET_CHARS {
            Err(format!(
                "is shorter than {MIN_OTP_SECRET_CHARS} characters (e.g. `openssl rand -hex 32`)"
            ))
        } else {
            Ok(Some(SecretString::from(v.to_owned())))
        }
    });
    OtpSettings {
        ttl,
        max_wrong,
        call_after,
        link_after,
        expire_after,
        min_interval,
        per_phone_per_day,
        per_email_per_day,
        secret,
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
    let host = parts[0].1?;
    let port = p.parse("SMTP_PORT", given(&env.smtp_port), 587, positive);
    let tls = p.parse(
        "SMTP_TLS",
        given(&env.smtp_tls),
        if port == 465 {
            SmtpTls::Tls
        } else {
            SmtpTls::StartTls
        },
        |v| smtp_tls(v, host),
    );
    let from = p.parse("SMTP_FROM", parts[3].1, None, |v| Email::parse(v).map(Some))?;
    Some(SmtpSettings {
        host: host.to_owned(),
        port,
        user: parts[1].1?.to_owned(),
        password: SecretString::from(parts[2].1?.to_owned()),
        from,
        tls,
    })
}

/// `SMTP_TLS`: `none` sends the password and the e-mails in clear, so only to a relay on this
/// machine (`localhost` or a loopback address), never across a network.
fn smtp_tls(v: &str, host: &str) -> Result<SmtpTls, String> {
    match v.to_ascii_lowercase().as_str() {
        "starttls" => Ok(SmtpTls::StartTls),
        "tls" => Ok(SmtpTls::Tls),
        "none" if is_loopback(host) => Ok(SmtpTls::None),
        "none" => Err(format!(
            "'none' sends the password and e-mails in clear: only for a relay on this machine \
             (SMTP_HOST localhost or a loopback address, not {host})"
        )),
        _ => Err(format!("'{v}' is not starttls, tls or none")),
    }
}

/// `localhost`, or a loopback address (`127.0.0.1`, `::1`, `[::1]`).
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

// `Debug` by hand: a derived one would print tokens, passwords and a database URL's password.
// Secrets show as `[REDACTED]` (or `SecretString`'s own redaction), URLs without passwords.

impl std::fmt::Debug for RawSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("RawSettings");
        d.field(
            "database_url",
            &self.database_url.as_deref().map(redacted_url),
        )
        .field("listen", &self.listen)
        .field("carrier", &self.carrier)
        .field(
            "public_base_url",
            &self.public_base_url.as_deref().map(redacted_url),
        )
        .field("rate_limit_per_minute", &self.rate_limit_per_minute)
        .field("body_limit_bytes", &self.body_limit_bytes)
        .field("request_timeout_secs", &self.request_timeout_secs)
        .field("trust_forwarded_for", &self.trust_forwarded_for)
        .field("header_timeout_secs", &self.header_timeout_secs)
        .field("idle_timeout_secs", &self.idle_timeout_secs)
        .field("max_connections", &self.max_connections)
        .field("log_level", &self.log_level)
        .field("log_json", &self.log_json)
        .field("allowed_calling_codes", &self.allowed_calling_codes)
        .field("language", &self.language)
        .field("timezone", &self.timezone)
        .field("contact_window_days", &self.contact_window_days)
        .field("contact_choice", &self.contact_choice)
        .field("bounce_failed_texts", &self.bounce_failed_texts)
        .field("relay_pictures", &self.relay_pictures)
        .field("retention_days", &self.retention_days);
        #[cfg(feature = "bench")]
        d.field("bench_reference", &self.bench_reference);
        d.field("job_workers", &self.job_workers)
            .field("outbox_workers", &self.outbox_workers)
            .field("send_concurrency", &self.send_concurrency)
            .field("alert_email", &self.alert_email.as_ref().map(|_| "[set]"))
            .field("pool_low_water", &self.pool_low_water)
            .field("pool_alert_cooldown_hours", &self.pool_alert_cooldown_hours)
            .field("pool_auto_buy_to", &self.pool_auto_buy_to)
            .field("pool_monthly_budget", &self.pool_monthly_budget)
            .field("voicemail", &self.voicemail)
            .field("voicemail_max_secs", &self.voicemail_max_secs)
            .field("voicemail_link_hours", &self.voicemail_link_hours)
            .field("voicemail_retention_days", &self.voicemail_retention_days)
            .field("whisper", &self.whisper)
            .field("admin", &self.admin)
            .field("unmask_policy", &self.unmask_policy)
            .field("opt_out_countries", &self.opt_out_countries)
            .field("opt_out_keywords", &self.opt_out_keywords)
            .field("opt_in_keywords", &self.opt_in_keywords)
            .field("help_keywords", &self.help_keywords)
            .field("env", &self.env)
            .finish()
    }
}

impl std::fmt::Debug for EnvOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvOnly")
            .field(
                "database_url_legacy",
                &self.database_url_legacy.as_deref().map(redacted_url),
            )
            .field("port", &self.port)
            .field(
                "render_external_url",
                &self.render_external_url.as_deref().map(redacted_url),
            )
            .field("api_token", &secret(&self.api_token))
            .field("twilio_account_sid", &self.twilio_account_sid)
            .field("twilio_auth_token", &secret(&self.twilio_auth_token))
            .field(
                "twilio_auth_token_previous",
                &secret(&self.twilio_auth_token_previous),
            )
            .field("twilio_api_base", &self.twilio_api_base)
            .field("twilio_address_sid", &self.twilio_address_sid)
            .field("twilio_bundle_sid", &self.twilio_bundle_sid)
            .field("twilio_phone_country", &self.twilio_phone_country)
            .field("twilio_number_type", &self.twilio_number_type)
            .field("twilio_pool_size", &self.twilio_pool_size)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_user", &self.smtp_user)
            .field("smtp_password", &secret(&self.smtp_password))
            .field("smtp_from", &self.smtp_from)
            .field("otp_secret", &secret(&self.otp_secret))
            .field("smtp_tls", &self.smtp_tls)
            .finish()
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Settings");
        d.field("database_url", &redacted_url(&self.database_url))
            .field("listen", &self.listen)
            .field("carrier", &self.carrier)
            .field("twilio", &self.twilio)
            .field("public_base_url", &self.public_base_url)
            .field("api_token", &self.api_token.as_ref().map(|_| REDACTED))
            .field("default_country", &self.default_country)
            .field("default_number_type", &self.default_number_type)
            .field("pool_size", &self.pool_size)
            .field("smtp", &self.smtp)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .field("header_timeout", &self.header_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections", &self.max_connections)
            .field("log_level", &self.log_level)
            .field("log_json", &self.log_json)
            .field("allow_list", &self.allow_list)
            .field("language", &self.language)
            .field("timezone", &self.timezone)
            .field("contact_window", &self.contact_window)
            .field("contact_choice", &self.contact_choice)
            .field("bounce_failed_texts", &self.bounce_failed_texts)
            .field("relay_pictures", &self.relay_pictures)
            .field("retention", &self.retention)
            .field("job_workers", &self.job_workers)
            .field("send_concurrency", &self.send_concurrency);
        #[cfg(feature = "bench")]
        d.field("bench_reference", &self.bench_reference);
        d.field(
            "webhook_auth_token",
            &self.webhook_auth_token.as_ref().map(|_| REDACTED),
        )
        .field(
            "webhook_auth_token_previous",
            &self.webhook_auth_token_previous.as_ref().map(|_| REDACTED),
        )
        .field("warnings", &self.warnings)
        .field("alert_email", &self.alert_email)
        .field("low_water", &self.low_water)
        .field("admin", &self.admin)
        .field("unmask_policy", &self.unmask_policy)
        .field("opt_out", &self.opt_out)
        .field("voicemail", &self.voicemail)
        .finish()
    }
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
    fn send_concurrency_defaults_to_twilios_limit_and_is_positive() {
        let mut r = raw();
        assert_eq!(Settings::from_raw(&r).unwrap().send_concurrency, 100);
        r.send_concurrency = Some("512".into());
        assert_eq!(Settings::from_raw(&r).unwrap().send_concurrency, 512);
        r.send_concurrency = Some("0".into());
        let err = Settings::from_raw(&r).unwrap_err().to_string();
        assert!(err.contains("PROXYCALL_SEND_CONCURRENCY"), "{err}");
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
    fn auto_buy_needs_a_budget_and_a_target_over_the_mark() {
        let s = Settings::from_raw(&raw()).unwrap();
        assert_eq!(
            s.low_water,
            crate::app::low_water::LowWaterPolicy::default()
        );
        assert_eq!(s.low_water.low_water, 10);
        assert_eq!(s.low_water.alert_cooldown, chrono::Duration::hours(8));
        let mut r = raw();
        r.pool_auto_buy_to = Some("20".into());
        r.pool_alert_cooldown_hours = Some("0".into());
        let err = Settings::from_raw(&r).unwrap_err();
        assert_eq!(err.0.len(), 2, "every problem at once: {err}");
        let text = err.to_string();
        assert!(
            text.contains("PROXYCALL_POOL_MONTHLY_BUDGET: is required"),
            "{text}"
        );
        assert!(
            text.contains("PROXYCALL_POOL_ALERT_COOLDOWN_HOURS"),
            "{text}"
        );
        r.pool_alert_cooldown_hours = None;
        r.pool_auto_buy_to = Some("5".into());
        r.pool_monthly_budget = Some("lots".into());
        let text = Settings::from_raw(&r).unwrap_err().to_string();
        assert!(
            text.contains("PROXYCALL_POOL_AUTO_BUY_TO: 5 is under"),
            "{text}"
        );
        assert!(
            text.contains("PROXYCALL_POOL_MONTHLY_BUDGET: 'lots'"),
            "{text}"
        );
        r.pool_auto_buy_to = Some("25".into());
        r.pool_monthly_budget = Some("40".into());
        let auto_buy = Settings::from_raw(&r).unwrap().low_water.auto_buy.unwrap();
        assert_eq!((auto_buy.to, auto_buy.monthly_budget), (25, 40));
        r.pool_auto_buy_to = None;
        let s = Settings::from_raw(&r).unwrap();
        assert!(s.low_water.auto_buy.is_none());
        assert!(
            s.warnings.iter().any(|w| w.contains("nothing is bought")),
            "{:?}",
            s.warnings
        );
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
    fn the_time_zone_and_the_contact_window_are_checked() {
        let s = Settings::from_raw(&raw()).unwrap();
        assert_eq!(s.timezone, chrono_tz::Europe::Paris);
        assert_eq!(s.contact_window, chrono::Duration::days(7));
        let mut r = raw();
        r.timezone = Some("America/New_York".into());
        r.contact_window_days = Some("30".into());
        let s = Settings::from_raw(&r).unwrap();
        assert_eq!(s.timezone, chrono_tz::America::New_York);
        assert_eq!(s.contact_window, chrono::Duration::days(30));
        r.timezone = Some("Mars/Olympus".into());
        r.contact_window_days = Some("366".into());
        let text = Settings::from_raw(&r).unwrap_err().to_string();
        assert!(
            text.contains("PROXYCALL_TIMEZONE: 'Mars/Olympus'"),
            "{text}"
        );
        assert!(
            text.contains("PROXYCALL_CONTACT_WINDOW_DAYS: '366'"),
            "{text}"
        );
    }

    #[test]
    fn bounces_and_pictures_are_on_unless_turned_off() {
        let s = Settings::from_raw(&raw()).unwrap();
        assert!(s.bounce_failed_texts && s.relay_pictures);
        let mut r = raw();
        r.bounce_failed_texts = Some("false".into());
        r.relay_pictures = Some("off".into());
        let s = Settings::from_raw(&r).unwrap();
        assert!(!s.bounce_failed_texts && !s.relay_pictures);
        r.bounce_failed_texts = Some("sometimes".into());
        let text = Settings::from_raw(&r).unwrap_err().to_string();
        assert!(
            text.contains("PROXYCALL_BOUNCE_FAILED_TEXTS: 'sometimes'"),
            "{text}"
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

    fn twilio() -> RawSettings {
        let mut r = raw();
        r.env.twilio_account_sid = Some(format!("AC{}", "a".repeat(32)));
        r.env.twilio_auth_token = Some("secret-token".into());
        r
    }

    #[test]
    fn the_public_url_is_https_without_query_or_fragment_with_twilio() {
        let problem = |r: &RawSettings| {
            Settings::from_raw(r)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let mut r = twilio();
        for bad in [
            "http://proxycall.example.com",
            "https://proxycall.example.com/?token=1",
            "https://proxycall.example.com#top",
            "https://proxycall.example.com/?",
            "https://user:hunter2@proxycall.example.com",
        ] {
            r.public_base_url = Some(bad.into());
            let text = problem(&r);
            assert!(text.contains("PUBLIC_BASE_URL: must"), "{bad}: {text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
        r.public_base_url = None;
        r.env.render_external_url = Some("http://proxycall.onrender.com".into());
        assert!(problem(&r).contains("RENDER_EXTERNAL_URL: must be https://"));

        // One message lists every problem of the URL, with the others.
        r.env.render_external_url = None;
        r.public_base_url = Some("http://proxycall.example.com/?a=1".into());
        r.rate_limit_per_minute = Some("lots".into());
        let err = Settings::from_raw(&r).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(
            err.0[0].contains("query") && err.0[0].contains("https"),
            "{err}"
        );
        r.rate_limit_per_minute = None;

        for good in [
            "https://proxycall.example.com",
            "https://proxycall.example.com:443/",
            "https://proxycall.example.com:8443/hooks",
            "http://127.0.0.1:8000",
            "http://localhost:8000",
            "http://[::1]:8000",
        ] {
            r.public_base_url = Some(good.into());
            assert_eq!(problem(&r), "", "{good}");
        }
        // The simulated carrier talks to no one outside: http is fine, a query is not.
        let mut r = raw();
        r.public_base_url = Some("http://proxycall.internal".into());
        assert_eq!(problem(&r), "");
        r.public_base_url = Some("http://proxycall.internal/?a=1".into());
        assert!(problem(&r).contains("PUBLIC_BASE_URL: must carry no query"));
    }

    #[test]
    fn a_short_api_token_stops_the_start() {
        let mut r = raw();
        r.env.api_token = Some("x".repeat(MIN_API_TOKEN_CHARS - 1));
        let err = Settings::from_raw(&r).unwrap_err().to_string();
        assert!(
            err.contains("PROXYCALL_API_TOKEN: must be at least 32 characters"),
            "{err}"
        );
        assert!(!err.contains(&"x".repeat(MIN_API_TOKEN_CHARS - 1)), "{err}");
        r.env.api_token = Some("x".repeat(MIN_API_TOKEN_CHARS));
        assert!(Settings::from_raw(&r).unwrap().api_token.is_some());
    }

    #[test]
    fn a_platform_without_trusted_forwarding_is_warned_about() {
        let warned = |r: &RawSettings| {
            Settings::from_raw(r)
                .unwrap()
                .warnings
                .iter()
                .any(|w| w.contains("PROXYCALL_TRUST_FORWARDED_FOR"))
        };
        let mut r = raw();
        assert!(!warned(&r));
        r.env.port = Some("10000".into());
        assert!(warned(&r));
        r.trust_forwarded_for = Some("true".into());
        assert!(!warned(&r));
        let mut r = raw();
        r.env.render_external_url = Some("https://proxycall.onrender.com".into());
        assert!(warned(&r));
    }

    #[test]
    fn connection_limits_have_defaults_and_are_checked() {
        let s = Settings::from_raw(&raw()).unwrap();
        assert_eq!(s.header_timeout, Duration::from_secs(10));
        assert_eq!(s.idle_timeout, Duration::from_secs(60));
        assert_eq!(s.max_connections, 4096);
        let mut r = raw();
        r.header_timeout_secs = Some("0".into());
        r.idle_timeout_secs = Some("soon".into());
        r.max_connections = Some("-1".into());
        let err = Settings::from_raw(&r).unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
        for name in [
            "PROXYCALL_HEADER_TIMEOUT_SECS",
            "PROXYCALL_IDLE_TIMEOUT_SECS",
            "PROXYCALL_MAX_CONNECTIONS",
        ] {
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    fn smtp(host: &str, port: Option<&str>, tls: Option<&str>) -> Result<SmtpSettings, String> {
        let mut r = raw();
        r.env.smtp_host = Some(host.into());
        r.env.smtp_port = port.map(Into::into);
        r.env.smtp_tls = tls.map(Into::into);
        r.env.smtp_user = Some("mailer".into());
        r.env.smtp_password = Some("smtp-hunter2".into());
        r.env.smtp_from = Some("noreply@example.com".into());
        Settings::from_raw(&r)
            .map(|s| s.smtp.expect("SMTP settings"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn smtp_tls_is_required_by_default_and_clear_text_only_on_this_machine() {
        let tls = |host, port, tls| smtp(host, port, tls).map(|s| s.tls);
        // Unsaid: implicit TLS on 465, else STARTTLS (required).
        assert_eq!(tls("smtp.example.com", None, None), Ok(SmtpTls::StartTls));
        assert_eq!(smtp("smtp.example.com", None, None).unwrap().port, 587);
        assert_eq!(tls("smtp.example.com", Some("465"), None), Ok(SmtpTls::Tls));
        assert_eq!(
            tls("smtp.example.com", Some("2525"), None),
            Ok(SmtpTls::StartTls)
        );
        // Said: as said, whatever the port.
        assert_eq!(
            tls("smtp.example.com", Some("465"), Some("STARTTLS")),
            Ok(SmtpTls::StartTls)
        );
        assert_eq!(
            tls("smtp.example.com", Some("587"), Some("tls")),
            Ok(SmtpTls::Tls)
        );
        // Clear text to a relay on this machine only.
        for host in [
            "localhost",
            "LocalHost",
            "127.0.0.1",
            "127.0.0.2",
            "::1",
            "[::1]",
        ] {
            assert_eq!(
                tls(host, Some("25"), Some("none")),
                Ok(SmtpTls::None),
                "{host}"
            );
        }
        for host in [
            "smtp.example.com",
            "10.0.0.5",
            "localhost.example.com",
            "::2",
        ] {
            let err = tls(host, Some("25"), Some("none")).unwrap_err();
            assert!(err.contains("SMTP_TLS: 'none'"), "{host}: {err}");
            assert!(err.contains("loopback"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        let err = tls("smtp.example.com", None, Some("ssl")).unwrap_err();
        assert!(
            err.contains("SMTP_TLS: 'ssl' is not starttls, tls or none"),
            "{err}"
        );
        // Without the other SMTP settings it is not asked for.
        let mut r = raw();
        r.env.smtp_tls = Some("none".into());
        assert!(Settings::from_raw(&r).unwrap().smtp.is_none());
    }

    #[test]
    fn the_dashboard_s_settings_have_defaults_and_are_checked() {
        let admin = Settings::from_raw(&raw()).unwrap().admin;
        assert!(!admin.require_totp);
        assert_eq!(admin.session_idle, chrono::Duration::minutes(30));
        assert_eq!(admin.session_max, chrono::Duration::hours(12));
        assert_eq!(
            (admin.failures_per_account, admin.failures_per_address),
            (5, 20)
        );
        let mut bad = raw();
        bad.admin.admin_require_totp = Some("maybe".into());
        bad.admin.admin_session_idle_secs = Some("600".into());
        bad.admin.admin_session_max_secs = Some("60".into());
        bad.admin.admin_login_failures_per_account = Some("0".into());
        let problems = Settings::from_raw(&bad).unwrap_err().0;
        for expected in [
            "PROXYCALL_ADMIN_REQUIRE_TOTP: 'maybe' is not a boolean",
            "PROXYCALL_ADMIN_SESSION_MAX_SECS: shorter than PROXYCALL_ADMIN_SESSION_IDLE_SECS",
            "PROXYCALL_ADMIN_LOGIN_FAILURES_PER_ACCOUNT: '0' is not a positive whole number",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "{problems:?}"
            );
        }
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let secrets = [
            "api-token-0123456789abcdef0123456789",
            "twilio-token-current",
            "twilio-token-previous",
            "smtp-hunter2",
            "db-s3cret",
            "legacy-db-s3cret",
        ];
        let mut r = twilio();
        r.database_url = Some(format!("postgres://app:{}@db/app", secrets[4]));
        r.env.database_url_legacy = Some(format!("postgres://db/app?password={}", secrets[5]));
        r.public_base_url = Some("https://proxycall.example.com".into());
        r.env.api_token = Some(secrets[0].into());
        r.env.twilio_auth_token = Some(secrets[1].into());
        r.env.twilio_auth_token_previous = Some(secrets[2].into());
        r.env.smtp_host = Some("smtp.example.com".into());
        r.env.smtp_user = Some("mailer".into());
        r.env.smtp_password = Some(secrets[3].into());
        r.env.smtp_from = Some("noreply@example.com".into());
        let settings = Settings::from_raw(&r).unwrap();
        assert!(settings.webhook_auth_token_previous.is_some());
        for shown in [
            format!("{r:?}"),
            format!("{r:#?}"),
            format!("{settings:?}"),
            format!("{settings:#?}"),
        ] {
            for secret in secrets {
                assert!(!shown.contains(secret), "{secret} shows in:\n{shown}");
            }
            assert!(shown.contains("[REDACTED]"), "{shown}");
            // What is not secret still shows.
            assert!(shown.contains("proxycall.example.com"), "{shown}");
        }
    }

    #[test]
    fn the_unmask_policy_and_the_opt_out_keywords_have_defaults_and_are_checked() {
        let s = Settings::from_raw(&raw()).unwrap();
        assert_eq!(s.unmask_policy, UnmaskPolicy::Redact);
        assert_eq!(s.opt_out, OptOutRules::default());
        assert_eq!(
            s.opt_out
                .countries
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>(),
            ["US", "CA"]
        );
        let mut r = raw();
        r.unmask_policy = Some("block".into());
        r.opt_out_countries = Some("none".into());
        r.help_keywords = Some("aide, info".into());
        let s = Settings::from_raw(&r).unwrap();
        assert_eq!(s.unmask_policy, UnmaskPolicy::Block);
        assert!(s.opt_out.countries.is_empty());
        assert_eq!(s.opt_out.help, ["AIDE", "INFO"]);
        r.unmask_policy = Some("hide".into());
        r.opt_out_countries = Some("US,ZZ".into());
        r.opt_in_keywords = Some("START,STOP".into());
        let text = Settings::from_raw(&r).unwrap_err().to_string();
        assert!(text.contains("PROXYCALL_UNMASK_POLICY: 'hide'"), "{text}");
        assert!(text.contains("PROXYCALL_OPT_OUT_COUNTRIES: 'ZZ'"), "{text}");
        assert!(text.contains("'STOP' is in two lists"), "{text}");
    }

    #[test]
    fn voicemail_and_whisper_settings_are_checked() {
        let s = Settings::from_raw(&raw()).unwrap();
        assert_eq!(s.voicemail, VoicemailPolicy::default());
        assert!(s.voicemail.enabled && !s.voicemail.whisper);
        let mut r = raw();
        r.voicemail = Some("off".into());
        r.whisper = Some("on".into());
        r.voicemail_max_secs = Some("60".into());
        r.voicemail_link_hours = Some("24".into());
        r.voicemail_retention_days = Some("1".into());
        let s = Settings::from_raw(&r).unwrap();
        assert!(!s.voicemail.enabled && s.voicemail.whisper);
        assert_eq!(s.voicemail.max_length_secs, 60);
        assert_eq!(s.voicemail.link_valid, chrono::Duration::hours(24));
        r.voicemail_link_hours = Some("25".into());
        r.voicemail_max_secs = Some("601".into());
        r.voicemail = Some("maybe".into());
        let text = Settings::from_raw(&r).unwrap_err().to_string();
        for expected in [
            "PROXYCALL_VOICEMAIL_LINK_HOURS: 25 hours outlive the recording",
            "PROXYCALL_VOICEMAIL_MAX_SECS: '601'",
            "PROXYCALL_VOICEMAIL: 'maybe'",
        ] {
            assert!(text.contains(expected), "{expected}: {text}");
        }
    }
}
