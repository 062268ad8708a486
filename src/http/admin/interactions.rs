//! `GET /admin/interactions`: the calls and texts routed, filtered by proxy, channel, outcome
//! and dates, newest first, 50 a page (keyset: `?before=<id>`). Never a body (none is
//! stored); the client's phone masked for viewers.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::page::{
    self, AdminFrame, Section, blank, channel_name, keyset_id, outcome_label, outcome_name, words,
};
use super::session::{AnyRole, RequireRole};
use crate::app::dashboard;
use crate::domain::{E164, Role};
use crate::http::AppState;
use crate::http::pages::frame::html;
use crate::store::{Channel, InteractionFilter, Outcome};

const PAGE: i64 = 50;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InteractionsQuery {
    /// A proxy number (+33…), blank for all.
    proxy: Option<String>,
    /// voice or sms, blank for both.
    channel: Option<String>,
    /// forwarded, unknown_proxy, blocked_country…; blank for all.
    outcome: Option<String>,
    /// From this day (YYYY-MM-DD, UTC).
    from: Option<String>,
    /// To this day included (YYYY-MM-DD, UTC).
    to: Option<String>,
    /// The interactions before this id (the last of the previous page).
    before: Option<String>,
    /// fr or en.
    #[allow(dead_code)]
    lang: Option<String>,
}

pub struct Row {
    pub at: String,
    pub proxy: String,
    pub channel: &'static str,
    pub direction: String,
    pub outcome: String,
    pub client: String,
}

pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "admin/interactions.html")]
pub struct InteractionsPage {
    pub frame: AdminFrame,
    pub proxy: String,
    pub from: String,
    pub to: String,
    pub channels: Vec<Choice>,
    pub outcomes: Vec<Choice>,
    pub rows: Vec<Row>,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
}

/// The filters, parsed: the field named when one is not valid.
struct Filters {
    filter: InteractionFilter,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    before: Option<i64>,
}

fn day(
    field: &'static str,
    raw: Option<&str>,
) -> Result<Option<NaiveDate>, (&'static str, String)> {
    raw.map(|d| {
        NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| (field, "YYYY-MM-DD".to_owned()))
    })
    .transpose()
}

fn start_of(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn filters(q: &InteractionsQuery) -> Result<Filters, (&'static str, String)> {
    let from = day("from", blank(&q.from))?;
    let to = day("to", blank(&q.to))?;
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        return Err(("to", format!(">= {from}")));
    }
    Ok(Filters {
        filter: InteractionFilter {
            proxy: blank(&q.proxy)
                .map(|p| E164::parse(p).map_err(|e| ("proxy", e.to_string())))
                .transpose()?,
            channel: blank(&q.channel)
                .map(|c| {
                    Channel::parse(c)
                        .ok_or(("channel", Channel::ALL.map(Channel::as_str).join(", ")))
                })
                .transpose()?,
            outcome: blank(&q.outcome)
                .map(|o| {
                    Outcome::parse(o)
                        .ok_or(("outcome", Outcome::ALL.map(Outcome::as_str).join(", ")))
                })
                .transpose()?,
            from: from.map(start_of),
            until: to.and_then(|d| d.succ_opt()).map(start_of),
        },
        from,
        to,
        before: keyset_id(&q.before).map_err(|()| ("before", "> 0".to_owned()))?,
    })
}

/// The calls and texts routed.
#[utoipa::path(get, path = "/admin/interactions", tag = "admin", params(InteractionsQuery),
    responses((status = 200, content_type = "text/html", body = String, description = "the calls and texts routed"),
        (status = 400, content_type = "text/html", body = String,
            description = "a filter is not valid: the page names it")))]
pub async fn interactions(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AnyRole>,
    Query(query): Query<InteractionsQuery>,
) -> Response {
    let w = words(operator.language);
    let f = match filters(&query) {
        Ok(f) => f,
        Err((field, reason)) => {
            return page::bad_filter(&operator, Section::Interactions, field, &reason);
        }
    };
    let listed = match dashboard::interactions_page(&state.app, &f.filter, f.before, PAGE).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "the interactions could not be read");
            return page::error(operator.language);
        }
    };
    let proxy = f
        .filter
        .proxy
        .as_ref()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let from = f.from.map(|d| d.to_string()).unwrap_or_default();
    let to = f.to.map(|d| d.to_string()).unwrap_or_default();
    let query_of = |before: Option<i64>| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("proxy", &proxy)
            .append_pair(
                "channel",
                f.filter.channel.map(Channel::as_str).unwrap_or(""),
            )
            .append_pair(
                "outcome",
                f.filter.outcome.map(Outcome::as_str).unwrap_or(""),
            )
            .append_pair("from", &from)
            .append_pair("to", &to);
        if let Some(before) = before {
            q.append_pair("before", &before.to_string());
        }
        format!("/admin/interactions?{}", q.finish())
    };
    let next_href = (listed.len() as i64 == PAGE)
        .then(|| listed.last().map(|l| query_of(Some(l.interaction.id))))
        .flatten();
    let masked = !operator.role().allows(Role::Operator);
    let rows = listed
        .into_iter()
        .map(|l| {
            let i = l.interaction;
            let phone = l.client_phone.map(|p| {
                if masked {
                    p.masked().to_string()
                } else {
                    p.as_str().to_owned()
                }
            });
            let client = [l.client_name, phone]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · ");
            Row {
                at: i.occurred_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                proxy: i.proxy.as_str().to_owned(),
                channel: Channel::parse(&i.channel).map_or("?", |c| channel_name(w, c)),
                direction: i.direction,
                outcome: outcome_label(w, &i.outcome),
                client,
            }
        })
        .collect();
    let any = &w.filter_any;
    let channels = std::iter::once(Choice {
        value: "",
        label: any,
        selected: f.filter.channel.is_none(),
    })
    .chain(Channel::ALL.iter().map(|c| Choice {
        value: c.as_str(),
        label: channel_name(w, *c),
        selected: f.filter.channel == Some(*c),
    }))
    .collect();
    let outcomes = std::iter::once(Choice {
        value: "",
        label: any,
        selected: f.filter.outcome.is_none(),
    })
    .chain(Outcome::ALL.iter().map(|o| Choice {
        value: o.as_str(),
        label: outcome_name(w, *o),
        selected: f.filter.outcome == Some(*o),
    }))
    .collect();
    let first_href = f.before.map(|_| query_of(None));
    let frame = operator
        .frame(&w.interactions_title, Some(Section::Interactions))
        .switch_to("/admin/interactions");
    html(
        StatusCode::OK,
        &InteractionsPage {
            frame,
            proxy: proxy.clone(),
            from: from.clone(),
            to: to.clone(),
            channels,
            outcomes,
            rows,
            next_href,
            first_href,
        },
    )
}
