//! `GET /admin/settings` (admins): what the server runs with (`config::Settings`), grouped and
//! named by environment variable. Secrets — the Twilio auth tokens, the API token, the SMTP
//! password, the OTP secret, a password in a URL — show only whether they are set: the page is
//! built from the settings field by field, so a new secret is not shown unless added here.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::page::{Section, words};
use super::session::{AdminRole, RequireRole};
use crate::config::{CarrierKind, Settings, redacted_url};
use crate::http::AppState;
use crate::http::pages::frame::html;
use crate::messages::AdminWords;

pub struct Group {
    pub title: &'static str,
    pub rows: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "admin/settings.html")]
pub struct SettingsPage {
    pub frame: super::page::AdminFrame,
    pub groups: Vec<Group>,
}

/// A span of time as a person reads it: the largest whole unit.
fn span(d: chrono::Duration) -> String {
    let s = d.num_seconds();
    match s {
        0 => "0 s".into(),
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3_600 == 0 => format!("{} h", s / 3_600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn secs(d: std::time::Duration) -> String {
    span(chrono::Duration::seconds(d.as_secs() as i64))
}

fn yes_no(v: bool) -> String {
    if v { "true" } else { "false" }.to_owned()
}

/// Whether a secret is set; never what it is.
fn secret<T>(w: &AdminWords, v: Option<&T>) -> String {
    if v.is_some() {
        w.settings_set.clone()
    } else {
        w.settings_unset.clone()
    }
}

fn or_unset(w: &AdminWords, v: Option<String>) -> String {
    v.unwrap_or_else(|| w.settings_unset.clone())
}

fn groups(w: &'static AdminWords, s: &Settings) -> Vec<Group> {
    let twilio = s.twilio.as_ref();
    let smtp = s.smtp.as_ref();
    let auto_buy = s.low_water.auto_buy.as_ref();
    vec![
        Group {
            title: &w.settings_service,
            rows: vec![
                ("PROXYCALL_DATABASE_URL", redacted_url(&s.database_url)),
                ("PROXYCALL_LISTEN", s.listen.to_string()),
                (
                    "PUBLIC_BASE_URL",
                    or_unset(w, s.public_base_url.as_deref().map(redacted_url)),
                ),
                ("PROXYCALL_API_TOKEN", secret(w, s.api_token.as_ref())),
                ("PROXYCALL_LANGUAGE", s.language.as_str().to_owned()),
                ("PROXYCALL_TIMEZONE", s.timezone.name().to_owned()),
                ("PROXYCALL_CONTACT_WINDOW_DAYS", span(s.contact_window)),
                ("PROXYCALL_CONTACT_CHOICE", yes_no(s.contact_choice)),
                (
                    "TWILIO_PHONE_COUNTRY",
                    s.default_country.as_str().to_owned(),
                ),
                ("LOG_LEVEL", s.log_level.clone()),
                ("PROXYCALL_LOG_JSON", yes_no(s.log_json)),
                ("PROXYCALL_JOB_WORKERS", s.job_workers.to_string()),
                ("PROXYCALL_SEND_CONCURRENCY", s.send_concurrency.to_string()),
                ("PROXYCALL_RETENTION_DAYS", span(s.retention)),
                (
                    "PROXYCALL_ALERT_EMAIL",
                    or_unset(w, s.alert_email.as_ref().map(|e| e.as_str().to_owned())),
                ),
            ],
        },
        Group {
            title: &w.settings_carrier,
            rows: vec![
                (
                    "PROXYCALL_CARRIER",
                    match s.carrier {
                        CarrierKind::Twilio => "twilio",
                        CarrierKind::Simulated => "simulated",
                    }
                    .to_owned(),
                ),
                (
                    "TWILIO_ACCOUNT_SID",
                    or_unset(w, twilio.map(|t| t.account_sid.clone())),
                ),
                (
                    "TWILIO_AUTH_TOKEN",
                    secret(w, s.webhook_auth_token.as_ref()),
                ),
                (
                    "TWILIO_AUTH_TOKEN_PREVIOUS",
                    secret(w, s.webhook_auth_token_previous.as_ref()),
                ),
                (
                    "TWILIO_API_BASE",
                    or_unset(w, twilio.map(|t| redacted_url(&t.api_base))),
                ),
                (
                    "TWILIO_ADDRESS_SID",
                    or_unset(w, twilio.and_then(|t| t.address_sid.clone())),
                ),
                (
                    "TWILIO_BUNDLE_SID",
                    or_unset(w, twilio.and_then(|t| t.bundle_sid.clone())),
                ),
                (
                    "TWILIO_NUMBER_TYPE",
                    s.default_number_type.as_str().to_owned(),
                ),
                ("TWILIO_POOL_SIZE", s.pool_size.to_string()),
                (
                    "PROXYCALL_BOUNCE_FAILED_TEXTS",
                    yes_no(s.bounce_failed_texts),
                ),
                ("PROXYCALL_RELAY_PICTURES", yes_no(s.relay_pictures)),
            ],
        },
        Group {
            title: &w.settings_limits,
            rows: vec![
                (
                    "PROXYCALL_RATE_LIMIT_PER_MINUTE",
                    s.rate_limit_per_minute.to_string(),
                ),
                ("PROXYCALL_BODY_LIMIT_BYTES", s.body_limit_bytes.to_string()),
                ("PROXYCALL_REQUEST_TIMEOUT_SECS", secs(s.request_timeout)),
                ("PROXYCALL_HEADER_TIMEOUT_SECS", secs(s.header_timeout)),
                ("PROXYCALL_IDLE_TIMEOUT_SECS", secs(s.idle_timeout)),
                ("PROXYCALL_MAX_CONNECTIONS", s.max_connections.to_string()),
                (
                    "PROXYCALL_TRUST_FORWARDED_FOR",
                    yes_no(s.trust_forwarded_for),
                ),
                (
                    "PROXYCALL_ALLOWED_CALLING_CODES",
                    s.allow_list
                        .codes()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                (
                    "PROXYCALL_RELAY_LIMIT_PER_SENDER_HOUR",
                    s.relay_limit_per_sender_hour.to_string(),
                ),
                (
                    "PROXYCALL_RELAY_LIMIT_PER_PROXY_HOUR",
                    s.relay_limit_per_proxy_hour.to_string(),
                ),
                ("PROXYCALL_OUTBOX_RETRY_HOURS", span(s.outbox_retry_horizon)),
                (
                    "PROXYCALL_OUTBOX_SETTLE_GRACE_SECS",
                    span(s.outbox_settle_grace),
                ),
                (
                    "PROXYCALL_ACTIVATE_PER_ADDRESS_HOUR",
                    s.activate_per_address_hour.to_string(),
                ),
            ],
        },
        Group {
            title: &w.settings_activation,
            rows: vec![
                ("PROXYCALL_OTP_TTL_MINUTES", span(s.otp.ttl)),
                ("PROXYCALL_OTP_MAX_WRONG", s.otp.max_wrong.to_string()),
                ("PROXYCALL_OTP_CALL_AFTER_SECS", span(s.otp.call_after)),
                ("PROXYCALL_OTP_LINK_AFTER_SECS", span(s.otp.link_after)),
                (
                    "PROXYCALL_ACTIVATION_EXPIRE_HOURS",
                    span(s.otp.expire_after),
                ),
                ("PROXYCALL_OTP_MIN_INTERVAL_SECS", span(s.otp.min_interval)),
                (
                    "PROXYCALL_OTP_PER_PHONE_PER_DAY",
                    s.otp.per_phone_per_day.to_string(),
                ),
                (
                    "PROXYCALL_OTP_PER_EMAIL_PER_DAY",
                    s.otp.per_email_per_day.to_string(),
                ),
                ("PROXYCALL_OTP_SECRET", secret(w, s.otp.secret.as_ref())),
            ],
        },
        Group {
            title: &w.settings_pool,
            rows: vec![
                ("PROXYCALL_POOL_COOLOFF_DAYS", span(s.pool_cooloff)),
                (
                    "PROXYCALL_POOL_LOW_WATER",
                    s.low_water.low_water.to_string(),
                ),
                (
                    "PROXYCALL_POOL_ALERT_COOLDOWN_HOURS",
                    span(s.low_water.alert_cooldown),
                ),
                (
                    "PROXYCALL_POOL_AUTO_BUY_TO",
                    or_unset(w, auto_buy.map(|a| a.to.to_string())),
                ),
                (
                    "PROXYCALL_POOL_MONTHLY_BUDGET",
                    or_unset(w, auto_buy.map(|a| a.monthly_budget.to_string())),
                ),
            ],
        },
        Group {
            title: &w.settings_admin,
            rows: vec![
                ("PROXYCALL_ADMIN_REQUIRE_TOTP", yes_no(s.admin.require_totp)),
                (
                    "PROXYCALL_ADMIN_SESSION_IDLE_SECS",
                    span(s.admin.session_idle),
                ),
                (
                    "PROXYCALL_ADMIN_SESSION_MAX_SECS",
                    span(s.admin.session_max),
                ),
                (
                    "PROXYCALL_ADMIN_LOGIN_FAILURES_PER_ACCOUNT",
                    s.admin.failures_per_account.to_string(),
                ),
                (
                    "PROXYCALL_ADMIN_LOGIN_FAILURES_PER_ADDRESS",
                    s.admin.failures_per_address.to_string(),
                ),
            ],
        },
        Group {
            title: &w.settings_email,
            rows: vec![
                ("SMTP_HOST", or_unset(w, smtp.map(|m| m.host.clone()))),
                ("SMTP_PORT", or_unset(w, smtp.map(|m| m.port.to_string()))),
                ("SMTP_USER", or_unset(w, smtp.map(|m| m.user.clone()))),
                ("SMTP_PASSWORD", secret(w, smtp.map(|m| &m.password))),
                (
                    "SMTP_FROM",
                    or_unset(w, smtp.map(|m| m.from.as_str().to_owned())),
                ),
                (
                    "SMTP_TLS",
                    or_unset(w, smtp.map(|m| m.tls.as_str().to_owned())),
                ),
            ],
        },
        Group {
            title: &w.settings_guard,
            rows: vec![
                (
                    "PROXYCALL_UNMASK_POLICY",
                    s.unmask_policy.as_str().to_owned(),
                ),
                (
                    "PROXYCALL_OPT_OUT_COUNTRIES",
                    if s.opt_out.countries.is_empty() {
                        "none".to_owned()
                    } else {
                        s.opt_out
                            .countries
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                ),
                ("PROXYCALL_OPT_OUT_KEYWORDS", s.opt_out.stop.join(", ")),
                ("PROXYCALL_OPT_IN_KEYWORDS", s.opt_out.start.join(", ")),
                ("PROXYCALL_HELP_KEYWORDS", s.opt_out.help.join(", ")),
            ],
        },
        Group {
            title: &w.settings_voicemail,
            rows: vec![
                ("PROXYCALL_VOICEMAIL", yes_no(s.voicemail.enabled)),
                (
                    "PROXYCALL_VOICEMAIL_MAX_SECS",
                    span(chrono::Duration::seconds(
                        s.voicemail.max_length_secs.into(),
                    )),
                ),
                (
                    "PROXYCALL_VOICEMAIL_LINK_HOURS",
                    span(s.voicemail.link_valid),
                ),
                (
                    "PROXYCALL_VOICEMAIL_RETENTION_DAYS",
                    span(s.voicemail.retention),
                ),
                ("PROXYCALL_WHISPER", yes_no(s.voicemail.whisper)),
            ],
        },
    ]
}

/// The server's settings, secrets masked.
#[utoipa::path(get, path = "/admin/settings", tag = "admin",
    responses((status = 200, content_type = "text/html", body = String, description = "the server's settings, secrets masked"),
        (status = 403, content_type = "text/html", body = String,
            description = "the operator is not an admin")))]
pub async fn settings(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AdminRole>,
) -> Response {
    let w = words(operator.language);
    let frame = operator
        .frame(&w.settings_title, Some(Section::Settings))
        .switch_to("/admin/settings");
    html(
        StatusCode::OK,
        &SettingsPage {
            frame,
            groups: groups(w, &state.settings),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::span;

    #[test]
    fn a_span_reads_in_its_largest_whole_unit() {
        assert_eq!(span(chrono::Duration::hours(48)), "2 d");
        assert_eq!(span(chrono::Duration::minutes(90)), "90 min");
        assert_eq!(span(chrono::Duration::seconds(61)), "61 s");
        assert_eq!(span(chrono::Duration::zero()), "0 s");
    }
}
