//! The weekly report (SPEC §4 `GET /reports/weekly`, §9): what an ISO week saw — clients,
//! activations, calls and texts by outcome, the pool, numbers bought and released, failed
//! sends — and its e-mail to the operator on Sunday evenings (API-COMPAT §9), once per week
//! across processes.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Once;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{App, AppError};
use crate::jobs::{Job, JobContext, JobError};
use crate::messages::ReportWords;
use crate::store::{NewEmail, PeriodFigures};

/// An ISO 8601 week, `YYYY-Www`: Monday 00:00 UTC to the next Monday.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsoWeek {
    year: i32,
    week: u32,
}

impl IsoWeek {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let wrong = || format!("'{raw}' is not an ISO week such as 2026-W09");
        let (year, week) = raw.split_once("-W").ok_or_else(wrong)?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(week, 2) {
            return Err(wrong());
        }
        let (year, week) = (
            year.parse().map_err(|_| wrong())?,
            week.parse().map_err(|_| wrong())?,
        );
        // Weeks 53 exist only in some years: chrono knows which.
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)
            .map(|_| Self { year, week })
            .ok_or_else(|| format!("{raw}: the year {year} has no week {week}"))
    }

    /// The week `at` falls in.
    pub fn containing(at: DateTime<Utc>) -> Self {
        let iso = at.date_naive().iso_week();
        Self {
            year: iso.year(),
            week: iso.week(),
        }
    }

    /// The last week that has ended by `now`.
    pub fn last_complete(now: DateTime<Utc>) -> Self {
        Self::containing(now - chrono::Duration::days(7))
    }

    /// Monday 00:00 UTC.
    pub fn start(self) -> DateTime<Utc> {
        NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Mon)
            .expect("an IsoWeek is a real week")
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
    }

    /// The next Monday 00:00 UTC (excluded).
    pub fn end(self) -> DateTime<Utc> {
        self.start() + chrono::Duration::days(7)
    }
}

impl fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-W{:02}", self.year, self.week)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WeeklyReport {
    /// `YYYY-Www`.
    pub week: String,
    /// Monday 00:00 UTC.
    pub from: DateTime<Utc>,
    /// The next Monday 00:00 UTC, excluded.
    pub to: DateTime<Utc>,
    pub clients: ClientCounts,
    pub activations: ActivationCounts,
    /// Calls of the week by outcome (`forwarded`, `blocked_country`, `unknown_proxy`…: the
    /// values of `store::Outcome`).
    pub calls: BTreeMap<String, i64>,
    /// Texts of the week by outcome.
    pub texts: BTreeMap<String, i64>,
    /// The pool now, by country, type and status.
    pub pool: Vec<PoolCount>,
    pub numbers: NumberMoves,
    pub outbox_failures: Failures,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientCounts {
    /// Clients at the end of the week.
    pub total: i64,
    /// Clients created during the week.
    pub new: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActivationCounts {
    pub started: i64,
    /// Verified, and a new client created.
    pub promoted: i64,
    /// Verified, and an existing client updated.
    pub updated: i64,
    pub expired: i64,
    /// Too many wrong codes.
    pub locked: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolCount {
    pub country: String,
    pub number_type: String,
    pub status: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NumberMoves {
    /// Numbers whose purchase date falls in the week.
    pub bought: i64,
    /// Numbers given back to the carrier during the week.
    pub released: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failures {
    /// Texts and calls given up during the week.
    pub texts: i64,
    pub calls: i64,
    pub emails: i64,
}

impl WeeklyReport {
    fn from_figures(week: IsoWeek, f: PeriodFigures) -> Self {
        let mut calls = BTreeMap::new();
        let mut texts = BTreeMap::new();
        for (channel, outcome, count) in f.interactions {
            let by_outcome = if channel == "voice" {
                &mut calls
            } else {
                &mut texts
            };
            *by_outcome.entry(outcome).or_insert(0) += count;
        }
        let failed = |kind: &str| {
            f.outbound_failed
                .iter()
                .filter(|(k, _)| k == kind)
                .map(|(_, n)| n)
                .sum()
        };
        Self {
            week: week.to_string(),
            from: week.start(),
            to: week.end(),
            clients: ClientCounts {
                total: f.clients_total,
                new: f.clients_new,
            },
            activations: ActivationCounts {
                started: f.activations.started,
                promoted: f.activations.promoted,
                updated: f.activations.updated,
                expired: f.activations.expired,
                locked: f.activations.locked,
            },
            calls,
            texts,
            numbers: NumberMoves {
                bought: f.pool.iter().map(|g| g.bought).sum(),
                released: f.pool.iter().map(|g| g.released).sum(),
            },
            pool: f
                .pool
                .into_iter()
                .map(|g| PoolCount {
                    country: g.country,
                    number_type: g.number_type,
                    status: g.status,
                    count: g.count,
                })
                .collect(),
            outbox_failures: Failures {
                texts: failed("sms"),
                calls: failed("call"),
                emails: f.emails_failed,
            },
        }
    }

    /// The e-mail's plain-text body, in the catalogue's words.
    pub fn text(&self, words: &ReportWords) -> String {
        let last_day = self.to - chrono::Duration::days(1);
        let mut lines = vec![
            words
                .intro
                .replace("{week}", &self.week)
                .replace("{from}", &self.from.format("%Y-%m-%d").to_string())
                .replace("{to}", &last_day.format("%Y-%m-%d").to_string()),
            String::new(),
            words
                .clients
                .replace("{total}", &self.clients.total.to_string())
                .replace("{new}", &self.clients.new.to_string()),
            words
                .activations
                .replace("{started}", &self.activations.started.to_string())
                .replace("{promoted}", &self.activations.promoted.to_string())
                .replace("{updated}", &self.activations.updated.to_string())
                .replace("{expired}", &self.activations.expired.to_string())
                .replace("{locked}", &self.activations.locked.to_string()),
            String::new(),
        ];
        for (heading, by_outcome) in [(&words.calls, &self.calls), (&words.texts, &self.texts)] {
            lines.push(heading.clone());
            if by_outcome.is_empty() {
                lines.push(format!("  {}", words.none));
            }
            for (outcome, count) in by_outcome {
                lines.push(format!("  {outcome}: {count}"));
            }
        }
        lines.push(String::new());
        lines.push(words.pool.clone());
        if self.pool.is_empty() {
            lines.push(format!("  {}", words.none));
        }
        for g in &self.pool {
            lines.push(format!(
                "  {} {} {}: {}",
                g.country, g.number_type, g.status, g.count
            ));
        }
        lines.push(
            words
                .numbers
                .replace("{bought}", &self.numbers.bought.to_string())
                .replace("{released}", &self.numbers.released.to_string()),
        );
        lines.push(String::new());
        lines.push(
            words
                .failures
                .replace("{texts}", &self.outbox_failures.texts.to_string())
                .replace("{calls}", &self.outbox_failures.calls.to_string())
                .replace("{emails}", &self.outbox_failures.emails.to_string()),
        );
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }
}

/// The report of `week`.
pub async fn weekly(app: &App, week: IsoWeek) -> Result<WeeklyReport, AppError> {
    let figures = app.store.period_figures(week.start(), week.end()).await?;
    Ok(WeeklyReport::from_figures(week, figures))
}

/// Whether `at` is in the earlier version's window for the report's e-mail: Sundays, 23:00 to
/// 23:59 UTC.
pub fn in_email_window(at: DateTime<Utc>) -> bool {
    at.weekday() == Weekday::Sun && at.hour() == 23
}

/// The dedupe key of `week`'s e-mail: one per week, whatever the processes and restarts.
pub fn email_key(week: IsoWeek) -> String {
    format!("weekly_report:{week}")
}

/// Runs every hour; in the Sunday window, queues the week's report to `PROXYCALL_ALERT_EMAIL`
/// through the e-mail outbox, under a key naming the week, so that it is queued once.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WeeklyReportEmail {}

static NO_MAIL_LOGGED: Once = Once::new();

impl Job for WeeklyReportEmail {
    const KIND: &'static str = "report.weekly_email";

    async fn run(self, ctx: JobContext) -> Result<Option<serde_json::Value>, JobError> {
        if !in_email_window(ctx.now) {
            return Ok(Some(
                json!({ "queued": false, "why": "outside the Sunday window" }),
            ));
        }
        let (Some(_), Some(to)) = (&ctx.app.mail, &ctx.app.alert_email) else {
            NO_MAIL_LOGGED.call_once(|| {
                tracing::info!(
                    "weekly report: not e-mailed (it needs the SMTP settings and \
                     PROXYCALL_ALERT_EMAIL)"
                );
            });
            return Ok(Some(
                json!({ "queued": false, "why": "no mailer or no address" }),
            ));
        };
        let week = IsoWeek::containing(ctx.now);
        let report = weekly(&ctx.app, week).await.map_err(JobError::retry)?;
        let words = &ctx.app.activation.words.report;
        let email = NewEmail {
            purpose: "weekly_report",
            to: to.clone(),
            subject: words.email_subject.clone(),
            text: report.text(words),
            html: None,
            dedupe_key: Some(email_key(week)),
        };
        let queued = ctx
            .app
            .store
            .enqueue_email(&email, ctx.now, ctx.now)
            .await?;
        if let Some(id) = queued {
            ctx.app.job_wake.notify_waiters();
            tracing::info!(week = %week, email_id = id, to = %to.masked(), "weekly report queued");
        }
        Ok(Some(
            json!({ "queued": queued.is_some(), "week": week.to_string() }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_week_parses_and_has_its_bounds() {
        let week = IsoWeek::parse("2026-W01").unwrap();
        assert_eq!(week.to_string(), "2026-W01");
        // 2026-01-01 is a Thursday: its week began on Monday 2025-12-29.
        assert_eq!(week.start().to_rfc3339(), "2025-12-29T00:00:00+00:00");
        assert_eq!(week.end().to_rfc3339(), "2026-01-05T00:00:00+00:00");
        assert_eq!(
            IsoWeek::parse("2025-W53"),
            Err("2025-W53: the year 2025 has no week 53".to_owned())
        );
        assert!(IsoWeek::parse("2026-W53").is_ok());
        for bad in [
            "", "2026", "2026-48", "2026-W4", "2026-W00", "26-W10", "2026-w10", "2026-W1x",
        ] {
            assert!(IsoWeek::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_last_complete_week_is_the_one_before() {
        let sunday_night: DateTime<Utc> = "2026-11-29T23:30:00Z".parse().unwrap();
        assert_eq!(IsoWeek::containing(sunday_night).to_string(), "2026-W48");
        let monday: DateTime<Utc> = "2026-11-30T00:00:00Z".parse().unwrap();
        assert_eq!(IsoWeek::last_complete(monday).to_string(), "2026-W48");
        assert!(in_email_window(sunday_night));
        assert!(!in_email_window(monday));
        assert!(!in_email_window("2026-11-29T22:59:59Z".parse().unwrap()));
    }
}
