//! `GET /admin`: the overview (issue 10): the pool against its low-water mark, calls and texts
//! per hour over 7 days (SVG drawn here, no script), the activation funnel, the queues.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};

use super::page::{self, AdminFrame, Section, outcome_label};
use super::session::{AnyRole, RequireRole};
use crate::app::dashboard::{self, Hour, Overview};
use crate::http::AppState;
use crate::http::chart::{Series, StackedBars};
use crate::http::pages::frame::html;
use crate::messages::AdminWords;
use crate::store::{PoolStatus, QueueHealth};

pub struct PoolRow {
    pub country: String,
    pub number_type: String,
    pub counts: Vec<i64>,
    pub available: i64,
    pub low: bool,
}

pub struct QueueRow {
    pub id: &'static str,
    pub name: &'static str,
    pub queued: i64,
    pub oldest: String,
    pub failed: i64,
}

/// A step of the funnel: its bar's width is its share of the started ones, in tenths, so the
/// stylesheet (classes `w0`…`w10`) draws it without an inline style.
pub struct Step {
    pub id: &'static str,
    pub label: &'static str,
    pub count: i64,
    pub tenths: i64,
}

#[derive(Template)]
#[template(path = "admin/overview.html")]
pub struct OverviewPage {
    pub frame: AdminFrame,
    pub statuses: Vec<&'static str>,
    pub pool: Vec<PoolRow>,
    pub low_water: i64,
    pub calls_svg: String,
    pub texts_svg: String,
    pub funnel: Vec<Step>,
    pub queues: Vec<QueueRow>,
}

/// The dashboard's first page.
#[utoipa::path(get, path = "/admin", tag = "admin",
    responses((status = 200, content_type = "text/html", body = String, description = "the dashboard's overview"),
        (status = 303, description = "no live session: to /admin/login")))]
pub async fn overview(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AnyRole>,
) -> Response {
    let w = page::words(operator.language);
    let now = Utc::now();
    let o = match dashboard::overview(&state.app, now, state.settings.low_water.low_water).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "the overview could not be counted");
            return page::error(operator.language);
        }
    };
    let frame = operator
        .frame(&w.overview_title, Some(Section::Overview))
        .switch_to("/admin");
    html(StatusCode::OK, &page_of(frame, w, &o))
}

fn page_of(frame: AdminFrame, w: &'static AdminWords, o: &Overview) -> OverviewPage {
    OverviewPage {
        frame,
        statuses: PoolStatus::ALL.iter().map(|s| status_name(w, *s)).collect(),
        pool: o
            .pool
            .iter()
            .map(|l| PoolRow {
                country: l.country.clone(),
                number_type: l.number_type.clone(),
                counts: l.by_status.iter().map(|(_, n)| *n).collect(),
                available: l.available,
                low: l.low,
            })
            .collect(),
        low_water: o.low_water,
        calls_svg: chart(w, "calls", &w.calls_chart_title, &o.hours, |h| &h.voice),
        texts_svg: chart(w, "texts", &w.texts_chart_title, &o.hours, |h| &h.sms),
        funnel: funnel(w, o),
        queues: vec![
            queue_row("queue-outbox", &w.queue_outbox, &o.queues.outbox, o.now, w),
            queue_row("queue-jobs", &w.queue_jobs, &o.queues.jobs, o.now, w),
            queue_row("queue-emails", &w.queue_emails, &o.queues.emails, o.now, w),
        ],
    }
}

pub fn status_name(w: &'static AdminWords, s: PoolStatus) -> &'static str {
    match s {
        PoolStatus::Available => &w.status_available,
        PoolStatus::Reserved => &w.status_reserved,
        PoolStatus::Assigned => &w.status_assigned,
        PoolStatus::Draining => &w.status_draining,
        PoolStatus::Released => &w.status_released,
        PoolStatus::Missing => &w.status_missing,
    }
}

/// One channel's chart: a series per outcome seen in the window, a bar per hour, the day
/// written under each midnight's bar (UTC) — 168 hour labels would not fit.
fn chart(
    w: &'static AdminWords,
    id: &str,
    title: &str,
    hours: &[Hour],
    channel: impl Fn(&Hour) -> &std::collections::BTreeMap<String, i64>,
) -> String {
    let mut outcomes: Vec<&String> = hours.iter().flat_map(|h| channel(h).keys()).collect();
    outcomes.sort();
    outcomes.dedup();
    let first_midnight = hours
        .iter()
        .position(|h| h.start.format("%H").to_string() == "00")
        .unwrap_or(0);
    let labels = hours
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if i >= first_midnight && (i - first_midnight).is_multiple_of(24) {
                h.start.format("%d/%m").to_string()
            } else {
                h.start.format("%d/%m %Hh").to_string()
            }
        })
        .collect();
    StackedBars {
        id: id.to_owned(),
        title: title.to_owned(),
        labels,
        label_every: 24,
        label_from: first_midnight,
        series: outcomes
            .into_iter()
            .map(|outcome| Series {
                name: outcome_label(w, outcome),
                values: hours
                    .iter()
                    .map(|h| channel(h).get(outcome).copied().unwrap_or(0))
                    .collect(),
            })
            .collect(),
    }
    .render()
}

fn funnel(w: &'static AdminWords, o: &Overview) -> Vec<Step> {
    let f = &o.funnel;
    let started = f.started.max(1);
    [
        ("funnel-started", &w.funnel_started, f.started),
        ("funnel-call", &w.funnel_call, f.call),
        ("funnel-link", &w.funnel_link, f.link),
        ("funnel-promoted", &w.funnel_promoted, f.promoted),
        ("funnel-expired", &w.funnel_expired, f.expired),
        ("funnel-waiting", &w.funnel_waiting, f.waiting),
    ]
    .into_iter()
    .map(|(id, label, count)| Step {
        id,
        label,
        count,
        tenths: (count * 10 / started).clamp(0, 10),
    })
    .collect()
}

fn queue_row(
    id: &'static str,
    name: &'static str,
    q: &QueueHealth,
    now: DateTime<Utc>,
    w: &'static AdminWords,
) -> QueueRow {
    QueueRow {
        id,
        name,
        queued: q.queued,
        oldest: q
            .oldest
            .map(|t| age(w, (now - t).num_minutes().max(0)))
            .unwrap_or_else(|| w.queue_none.clone()),
        failed: q.failed,
    }
}

fn age(w: &AdminWords, minutes: i64) -> String {
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    if days > 0 {
        w.age_days
            .replace("{days}", &days.to_string())
            .replace("{hours}", &hours.to_string())
    } else if hours > 0 {
        w.age_hours
            .replace("{hours}", &hours.to_string())
            .replace("{minutes}", &minutes.to_string())
    } else {
        w.age_minutes.replace("{minutes}", &minutes.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Catalogue, Language};

    #[test]
    fn an_age_says_its_largest_units() {
        let w = &Catalogue::get(Language::En).admin;
        assert_eq!(age(w, 5), "5 min");
        assert_eq!(age(w, 125), "2 h 5 min");
        assert_eq!(age(w, 3 * 1440 + 61), "3 d 1 h");
    }
}
