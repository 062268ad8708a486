//! `GET /admin/pool`: the pool's numbers, filtered and 50 a page (keyset: `?after=<id>`), and
//! for operators the forms that start the pool's operations through the API's own use cases.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::overview::status_name;
use super::page::{self, AdminFrame, Section, blank, keyset_id, see_other, words};
use super::session::{AnyRole, OperatorRole, RequireRole};
use crate::app::operations;
use crate::app::provision::ProvisionJob;
use crate::app::{AppError, dashboard};
use crate::domain::{CountryIso, NumberType, NumberTypeFilter, Role};
use crate::http::AppState;
use crate::http::pages::frame::html;
use crate::store::PoolStatus;

const PAGE: i64 = 50;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PoolQuery {
    /// ISO country (FR…), blank for all.
    country: Option<String>,
    /// mobile, local…, blank for all.
    r#type: Option<String>,
    /// available, reserved, assigned, draining, released, missing; blank for all.
    status: Option<String>,
    /// The numbers after this id (the last of the previous page).
    after: Option<String>,
    /// fr or en.
    #[allow(dead_code)]
    lang: Option<String>,
}

pub struct Row {
    pub number: String,
    pub country: String,
    pub number_type: String,
    pub status: &'static str,
    pub friendly_name: String,
    /// The name of the client it was given to (kept after a release).
    pub client: String,
}

pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "admin/pool.html")]
pub struct PoolPage {
    pub frame: AdminFrame,
    pub country: String,
    pub types: Vec<Choice>,
    pub statuses: Vec<Choice>,
    pub rows: Vec<Row>,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
    /// The operations' forms: operators and admins only.
    pub can_operate: bool,
    pub csrf_token: String,
}

/// The filters, parsed: the field named when one is not valid.
struct Filters {
    country: Option<CountryIso>,
    number_type: Option<NumberType>,
    status: Option<PoolStatus>,
    after: i64,
}

fn filters(q: &PoolQuery) -> Result<Filters, (&'static str, String)> {
    Ok(Filters {
        country: blank(&q.country)
            .map(|c| CountryIso::parse(&c.to_uppercase()).map_err(|e| ("country", e.to_string())))
            .transpose()?,
        number_type: blank(&q.r#type)
            .map(|t| NumberType::parse(t).map_err(|e| ("type", e.to_string())))
            .transpose()?,
        status: blank(&q.status)
            .map(|s| {
                PoolStatus::parse(s)
                    .ok_or(("status", PoolStatus::ALL.map(PoolStatus::as_str).join(", ")))
            })
            .transpose()?,
        after: keyset_id(&q.after)
            .map_err(|()| ("after", "> 0".to_owned()))?
            .unwrap_or(0),
    })
}

/// The pool's numbers; for operators, the forms that start its operations.
#[utoipa::path(get, path = "/admin/pool", tag = "admin", params(PoolQuery),
    responses((status = 200, content_type = "text/html", body = String, description = "the pool's numbers; for operators, the forms of its operations"),
        (status = 400, content_type = "text/html", body = String,
            description = "a filter is not valid: the page names it")))]
pub async fn pool(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AnyRole>,
    Query(query): Query<PoolQuery>,
) -> Response {
    let w = words(operator.language);
    let f = match filters(&query) {
        Ok(f) => f,
        Err((field, reason)) => {
            return page::bad_filter(&operator, Section::Pool, field, &reason);
        }
    };
    let type_filter = f
        .number_type
        .map_or(NumberTypeFilter::Any, NumberTypeFilter::Only);
    let numbers =
        match dashboard::pool_page(&state.app, f.country, type_filter, f.status, f.after, PAGE)
            .await
        {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "the pool could not be read");
                return page::error(operator.language);
            }
        };
    let country = f.country.as_ref().map(|c| c.as_str().to_owned());
    let query_of = |after: Option<i64>| {
        let mut q = vec![
            format!("country={}", country.clone().unwrap_or_default()),
            format!(
                "type={}",
                f.number_type.map(NumberType::as_str).unwrap_or_default()
            ),
            format!(
                "status={}",
                f.status.map(PoolStatus::as_str).unwrap_or_default()
            ),
        ];
        if let Some(after) = after {
            q.push(format!("after={after}"));
        }
        format!("/admin/pool?{}", q.join("&"))
    };
    let next_href = (numbers.len() as i64 == PAGE)
        .then(|| numbers.last().map(|(id, _)| query_of(Some(*id))))
        .flatten();
    let rows = numbers
        .into_iter()
        .map(|(_, n)| Row {
            number: n.phone_number.as_str().to_owned(),
            country: n.country_iso.as_str().to_owned(),
            number_type: n.number_type.as_str().to_owned(),
            status: status_name(w, n.status),
            friendly_name: n.friendly_name.unwrap_or_default(),
            client: n.attribution_to_client_name.unwrap_or_default(),
        })
        .collect();
    let any = Choice {
        value: "",
        label: &w.filter_any,
        selected: false,
    };
    let types = std::iter::once(Choice {
        selected: f.number_type.is_none(),
        ..any
    })
    .chain(NumberType::ALL.iter().map(|t| Choice {
        value: t.as_str(),
        label: t.as_str(),
        selected: f.number_type == Some(*t),
    }))
    .collect();
    let statuses = std::iter::once(Choice {
        value: "",
        label: &w.filter_any,
        selected: f.status.is_none(),
    })
    .chain(PoolStatus::ALL.iter().map(|s| Choice {
        value: s.as_str(),
        label: status_name(w, *s),
        selected: f.status == Some(*s),
    }))
    .collect();
    let can_operate = operator.operator().role.allows(Role::Operator);
    let csrf_token = operator.current.session.csrf_token.clone();
    let frame = operator
        .frame(&w.pool_list_title, Some(Section::Pool))
        .switch_to("/admin/pool");
    html(
        StatusCode::OK,
        &PoolPage {
            frame,
            country: country.clone().unwrap_or_default(),
            types,
            statuses,
            rows,
            next_href,
            first_href: (f.after > 0).then(|| query_of(None)),
            can_operate,
            csrf_token,
        },
    )
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ProvisionForm {
    country: String,
    r#type: String,
    batch_size: String,
}

/// Starts buying numbers: the API's provisioning job (`POST /pool/provision`), then to its page.
#[utoipa::path(post, path = "/admin/pool/provision", tag = "admin",
    request_body(content = ProvisionForm, content_type = "application/x-www-form-urlencoded",
        description = "country, type, batch_size, csrf_token",
        example = json!({"country": "FR", "type": "mobile", "batch_size": "5", "csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 303, description = "to the job's page, /admin/jobs/{id}"),
        (status = 400, content_type = "text/html", body = String,
            description = "a field is not valid: the page names it"),
        (status = 403, content_type = "text/html", body = String,
            description = "a viewer: nothing is started")))]
pub async fn provision(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<OperatorRole>,
    Form(form): Form<ProvisionForm>,
) -> Response {
    let refuse =
        |field: &str, reason: String| page::bad_filter(&operator, Section::Pool, field, &reason);
    let country = match CountryIso::parse(&form.country.trim().to_uppercase()) {
        Ok(c) => c,
        Err(e) => return refuse("country", e.to_string()),
    };
    let number_type = match NumberType::parse(form.r#type.trim()) {
        Ok(t) => t,
        Err(e) => return refuse("type", e.to_string()),
    };
    let Ok(batch_size) = form.batch_size.trim().parse::<u32>() else {
        return refuse("batch_size", "1 – 50".into());
    };
    let twilio = state.settings.twilio.as_ref();
    let job = ProvisionJob {
        country,
        batch_size,
        number_type,
        require_sms: true,
        require_voice: true,
        // The API's default (`POST /pool/provision` without `candidates_limit`).
        candidates_limit: 100,
        address_sid: twilio.and_then(|t| t.address_sid.clone()),
        bundle_sid: twilio.and_then(|t| t.bundle_sid.clone()),
        requested_by: Some(format!("operator:{}", operator.operator().id)),
    };
    if let Err(AppError::Invalid { field, message }) = job.check() {
        return refuse(field, message);
    }
    start(
        &state,
        &operator,
        &job,
        json!({
            "country": job.country.as_str(),
            "type": job.number_type.as_str(),
            "batch_size": job.batch_size,
        }),
    )
    .await
}

/// Starts `job` (or finds the one of its kind running), writes it to the audit log under its
/// kind, and sends the operator to its page.
pub(super) async fn start<J: crate::jobs::Job>(
    state: &AppState,
    operator: &super::session::Operator,
    job: &J,
    details: serde_json::Value,
) -> Response {
    let action = J::KIND;
    let (id, already) = match operations::start(&state.app, job).await {
        Ok(started) => started,
        Err(e) => {
            tracing::error!(error = %e, action, "an operation could not be started");
            return page::error(operator.language);
        }
    };
    let mut details = details;
    details["job_id"] = json!(id);
    details["already_running"] = json!(already);
    operator
        .record(&state.app, action, Some(&format!("job:{id}")), details)
        .await;
    see_other(&format!("/admin/jobs/{id}"))
}
