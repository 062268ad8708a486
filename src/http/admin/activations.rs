//! `GET /admin/activations`: activations by status (tabs with their counts), newest first, 50
//! a page (keyset: `?after=<pending_id>`); an activation's page and, for operators, its resend
//! and expire forms — the API's own use cases, each change written to the audit log. Phones
//! and e-mails are masked for viewers; never a code nor a link's token (none is stored).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::page::{self, AdminFrame, Notice, Section, blank, words};
use super::session::{AnyRole, Operator, OperatorRole, RequireRole};
use crate::app::activation::{self, ResendChannel};
use crate::app::dashboard::{self, Stage};
use crate::app::{AppError, ConflictKind};
use crate::domain::{ActivationStatus, E164, Email, PendingId, Role};
use crate::http::AppState;
use crate::http::pages::frame::html;
use crate::messages::AdminWords;
use crate::store::Activation;

const PAGE: i64 = 50;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivationsQuery {
    /// A status (PENDING, PENDING_CALL, PENDING_MAIL, PROMOTED, UPDATED (mail)…, EXPIRED,
    /// LOCKED); blank for all.
    status: Option<String>,
    /// The activations after this one (the last of the previous page).
    after: Option<String>,
    /// fr or en.
    #[allow(dead_code)]
    lang: Option<String>,
}

pub struct Tab {
    pub label: String,
    pub count: i64,
    pub href: String,
    pub current: bool,
}

pub struct Row {
    pub pending_id: String,
    pub created: String,
    pub name: String,
    pub phone: String,
    pub mail: String,
    pub proxy: String,
    pub status: &'static str,
    pub stage: &'static str,
    pub attempts: String,
}

#[derive(Template)]
#[template(path = "admin/activations.html")]
pub struct ActivationsPage {
    pub frame: AdminFrame,
    pub tabs: Vec<Tab>,
    pub rows: Vec<Row>,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
}

pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
}

#[derive(Template)]
#[template(path = "admin/activation.html")]
pub struct ActivationPage {
    pub frame: AdminFrame,
    pub pending_id: String,
    pub fields: Vec<(&'static str, String)>,
    /// The forms: operators and admins, while it waits for its code.
    pub can_act: bool,
    pub channels: Vec<Choice>,
    pub csrf_token: String,
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Viewers see phones and e-mails masked, as logs do.
fn phone(masked: bool, p: &E164) -> String {
    if masked {
        p.masked().to_string()
    } else {
        p.as_str().to_owned()
    }
}

fn mail(masked: bool, m: &Email) -> String {
    if masked {
        m.masked()
    } else {
        m.as_str().to_owned()
    }
}

fn masks(operator: &Operator) -> bool {
    !operator.role().allows(Role::Operator)
}

fn stage_name(w: &'static AdminWords, s: Stage) -> &'static str {
    match s {
        Stage::Sms => &w.stage_sms,
        Stage::Call => &w.stage_call,
        Stage::Link => &w.stage_link,
    }
}

fn channel_name(w: &'static AdminWords, c: ResendChannel) -> &'static str {
    match c {
        ResendChannel::Sms => &w.channel_sms,
        ResendChannel::Voice => &w.channel_voice,
        ResendChannel::Email => &w.channel_email,
    }
}

fn href(status: Option<ActivationStatus>, after: Option<&str>) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("status", status.map(ActivationStatus::as_str).unwrap_or(""));
    if let Some(after) = after {
        q.append_pair("after", after);
    }
    format!("/admin/activations?{}", q.finish())
}

fn refuse(operator: &Operator, field: &str, reason: &str) -> Response {
    page::bad_filter(operator, Section::Activations, field, reason)
}

fn pending_id(raw: &str) -> Result<PendingId, String> {
    PendingId::parse(raw.trim())
}

/// The activations, by status.
#[utoipa::path(get, path = "/admin/activations", tag = "admin", params(ActivationsQuery),
    responses((status = 200, content_type = "text/html", body = String, description = "the activations, by status"),
        (status = 400, content_type = "text/html", body = String,
            description = "`status` or `after` is not valid: the page names it")))]
pub async fn activations(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AnyRole>,
    Query(query): Query<ActivationsQuery>,
) -> Response {
    let w = words(operator.language);
    let status = match blank(&query.status).map(|s| (s, ActivationStatus::parse(s))) {
        None => None,
        Some((_, Some(s))) => Some(s),
        Some(_) => {
            let known = ActivationStatus::ALL
                .map(ActivationStatus::as_str)
                .join(", ");
            return refuse(&operator, "status", &known);
        }
    };
    let after = match blank(&query.after).map(pending_id).transpose() {
        Ok(after) => after,
        Err(reason) => return refuse(&operator, "after", &reason),
    };
    let (counts, listed) = match tokio::try_join!(
        dashboard::activation_counts(&state.app),
        dashboard::activations_page(&state.app, status, after.as_ref(), PAGE),
    ) {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "the activations could not be read");
            return page::error(operator.language);
        }
    };
    let tabs = std::iter::once(Tab {
        label: w.activations_all.clone(),
        count: counts.iter().map(|(_, n)| n).sum(),
        href: href(None, None),
        current: status.is_none(),
    })
    .chain(counts.iter().map(|(s, n)| Tab {
        label: s.as_str().to_owned(),
        count: *n,
        href: href(Some(*s), None),
        current: status == Some(*s),
    }))
    .collect();
    let next_href = (listed.len() as i64 == PAGE)
        .then(|| {
            listed
                .last()
                .map(|l| href(status, Some(l.activation.pending_id.as_str())))
        })
        .flatten();
    let masked = masks(&operator);
    let max_wrong = state.app.activation.max_wrong;
    let rows = listed
        .iter()
        .map(|l| {
            let a = &l.activation;
            Row {
                pending_id: a.pending_id.as_str().to_owned(),
                created: time(a.created_at),
                name: a.name.as_str().to_owned(),
                phone: phone(masked, &a.phone),
                mail: mail(masked, &a.mail),
                proxy: a.proxy.as_str().to_owned(),
                status: a.status.as_str(),
                stage: stage_name(w, Stage::of(l)),
                attempts: format!("{} / {max_wrong}", a.wrong_answers),
            }
        })
        .collect();
    let frame = operator
        .frame(&w.activations_title, Some(Section::Activations))
        .switch_to("/admin/activations");
    html(
        StatusCode::OK,
        &ActivationsPage {
            frame,
            tabs,
            rows,
            next_href,
            first_href: after.map(|_| href(status, None)),
        },
    )
}

fn not_found(operator: &Operator) -> Response {
    let w = words(operator.language);
    page::notice(
        StatusCode::NOT_FOUND,
        AdminFrame {
            title: w.activation_refused_title.clone(),
            ..operator.frame("", Some(Section::Activations))
        },
        &w.activation_not_found,
    )
}

/// One activation; for operators, its resend and expire forms.
#[utoipa::path(get, path = "/admin/activations/{pending_id}", tag = "admin",
    params(("pending_id" = String, Path, description = "the activation's id",
        example = "0b7a4c1e-5f0e-4a8e-9d6b-2f3c4d5e6f70")),
    responses((status = 200, content_type = "text/html", body = String, description = "one activation; for operators, its resend and expire forms"),
        (status = 400, content_type = "text/html", body = String, description = "the id is not a valid activation id: the page says so"),
        (status = 404, content_type = "text/html", body = String, description = "no activation has this id")))]
pub async fn activation_page(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AnyRole>,
    Path(raw): Path<String>,
) -> Response {
    let w = words(operator.language);
    let id = match pending_id(&raw) {
        Ok(id) => id,
        Err(reason) => return refuse(&operator, "pending_id", &reason),
    };
    let a = match dashboard::activation(&state.app, &id).await {
        Ok(Some(a)) => a,
        Ok(None) => return not_found(&operator),
        Err(e) => {
            tracing::error!(error = %e, "an activation could not be read");
            return page::error(operator.language);
        }
    };
    let fields = fields(w, masks(&operator), &a, state.app.activation.max_wrong);
    let can_act = operator.role().allows(Role::Operator) && a.status.is_waiting();
    let channels = [
        ResendChannel::Sms,
        ResendChannel::Voice,
        ResendChannel::Email,
    ]
    .into_iter()
    .map(|c| Choice {
        value: c.as_str(),
        label: channel_name(w, c),
    })
    .collect();
    let csrf_token = operator.current.session.csrf_token.clone();
    let path = format!("/admin/activations/{}", id.as_str());
    let frame = operator
        .frame(
            w.activation_title.replace("{id}", id.as_str()),
            Some(Section::Activations),
        )
        .switch_to(&path);
    html(
        StatusCode::OK,
        &ActivationPage {
            frame,
            pending_id: id.as_str().to_owned(),
            fields,
            can_act,
            channels,
            csrf_token,
        },
    )
}

fn fields(
    w: &'static AdminWords,
    masked: bool,
    a: &Activation,
    max_wrong: i64,
) -> Vec<(&'static str, String)> {
    let or_blank = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(time).unwrap_or_default();
    vec![
        (&w.activation_pending_id, a.pending_id.as_str().to_owned()),
        (&w.activations_created, time(a.created_at)),
        (&w.activation_updated, time(a.updated_at)),
        (&w.activations_client, a.name.as_str().to_owned()),
        (&w.activations_phone, phone(masked, &a.phone)),
        (&w.activations_mail, mail(masked, &a.mail)),
        (&w.activations_proxy, a.proxy.as_str().to_owned()),
        (&w.pool_country, a.country.as_str().to_owned()),
        (&w.pool_type, a.number_type.clone()),
        (&w.activations_status, a.status.as_str().to_owned()),
        (
            &w.activations_attempts,
            format!("{} / {max_wrong}", a.wrong_answers),
        ),
        (&w.activation_verified, or_blank(a.verified_at)),
        (&w.activation_ended, or_blank(a.ended_at)),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ResendForm {
    channel: String,
}

/// Sends the code again on a channel: the API's `POST /confirmations/resend`.
#[utoipa::path(post, path = "/admin/activations/{pending_id}/resend", tag = "admin",
    params(("pending_id" = String, Path, description = "the activation's id",
        example = "0b7a4c1e-5f0e-4a8e-9d6b-2f3c4d5e6f70")),
    request_body(content = ResendForm, content_type = "application/x-www-form-urlencoded",
        description = "channel (sms, voice, email), csrf_token",
        example = json!({"channel": "sms", "csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 200, content_type = "text/html", body = String, description = "sent"),
        (status = 400, content_type = "text/html", body = String,
            description = "a field is not valid: the page names it"),
        (status = 403, content_type = "text/html", body = String,
            description = "a viewer: nothing is sent"),
        (status = 404, content_type = "text/html", body = String, description = "no activation has this id"),
        (status = 409, content_type = "text/html", body = String,
            description = "the activation no longer waits"),
        (status = 429, content_type = "text/html", body = String,
            description = "over a sending limit")))]
pub async fn resend(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<OperatorRole>,
    Path(raw): Path<String>,
    Form(form): Form<ResendForm>,
) -> Response {
    let w = words(operator.language);
    let id = match pending_id(&raw) {
        Ok(id) => id,
        Err(reason) => return refuse(&operator, "pending_id", &reason),
    };
    let Some(channel) = ResendChannel::parse(&form.channel) else {
        return refuse(&operator, "channel", "sms, voice, email");
    };
    if let Err(e) = activation::resend(&state.app, &id, channel).await {
        return refused(&state, &operator, &id, e).await;
    }
    record(
        &state,
        &operator,
        "activation.resend",
        &id,
        json!({"channel": channel.as_str()}),
    )
    .await;
    done(
        &operator,
        &id,
        w.activation_resent
            .replace("{channel}", channel_name(w, channel)),
    )
}

/// Expires the activation now; its number goes back to the pool.
#[utoipa::path(post, path = "/admin/activations/{pending_id}/expire", tag = "admin",
    params(("pending_id" = String, Path, description = "the activation's id",
        example = "0b7a4c1e-5f0e-4a8e-9d6b-2f3c4d5e6f70")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "csrf_token",
        example = json!({"csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 200, content_type = "text/html", body = String, description = "expired"),
        (status = 400, content_type = "text/html", body = String, description = "the id is not a valid activation id"),
        (status = 403, content_type = "text/html", body = String,
            description = "a viewer: nothing changes"),
        (status = 404, content_type = "text/html", body = String, description = "no activation has this id"),
        (status = 409, content_type = "text/html", body = String,
            description = "the activation no longer waits")))]
pub async fn expire(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<OperatorRole>,
    Path(raw): Path<String>,
) -> Response {
    let w = words(operator.language);
    let id = match pending_id(&raw) {
        Ok(id) => id,
        Err(reason) => return refuse(&operator, "pending_id", &reason),
    };
    let expired = match activation::expire_one(&state.app, &id).await {
        Ok(expired) => expired,
        Err(e) => return refused(&state, &operator, &id, e).await,
    };
    // The proxy is a pool number of ours, not personal: written in full.
    record(
        &state,
        &operator,
        "activation.expire",
        &id,
        json!({"proxy_number": expired.proxy.as_str()}),
    )
    .await;
    done(&operator, &id, &w.activation_expired)
}

async fn record(
    state: &AppState,
    operator: &Operator,
    action: &str,
    id: &PendingId,
    details: serde_json::Value,
) {
    let target = format!("activation:{}", id.as_str());
    operator
        .record(&state.app, action, Some(&target), details)
        .await;
}

/// A page saying what was done, with the way back to the activation.
fn done(operator: &Operator, id: &PendingId, text: impl Into<String>) -> Response {
    let w = words(operator.language);
    notice_with_back(operator, id, StatusCode::OK, &w.activation_done_title, text)
}

fn notice_with_back(
    operator: &Operator,
    id: &PendingId,
    status: StatusCode,
    title: &str,
    text: impl Into<String>,
) -> Response {
    let w = words(operator.language);
    html(
        status,
        &Notice {
            frame: operator.frame(title, Some(Section::Activations)),
            text: text.into(),
            link: Some((
                format!("/admin/activations/{}", id.as_str()),
                w.activation_back.clone(),
            )),
        },
    )
}

/// Why the use case did nothing, as a page: unknown, no longer waiting, over a limit.
async fn refused(state: &AppState, operator: &Operator, id: &PendingId, e: AppError) -> Response {
    let w = words(operator.language);
    let title = &w.activation_refused_title;
    match e {
        AppError::NotFound { .. } => not_found(operator),
        AppError::Conflict {
            kind: ConflictKind::NotPending,
            ..
        } => {
            let status = match dashboard::activation(&state.app, id).await {
                Ok(Some(a)) => a.status.as_str(),
                _ => "?",
            };
            let text = w.activation_not_waiting.replace("{status}", status);
            notice_with_back(operator, id, StatusCode::CONFLICT, title, text)
        }
        AppError::TooManyRequests { code, retry_after } => {
            let text = w
                .activation_limited
                .replace("{code}", code)
                .replace("{seconds}", &retry_after.as_secs().max(1).to_string());
            notice_with_back(operator, id, StatusCode::TOO_MANY_REQUESTS, title, text)
        }
        AppError::Invalid { field, message } => refuse(operator, field, &message),
        e => {
            tracing::error!(error = %e, pending_id = %id, "an activation's action failed");
            page::error(operator.language)
        }
    }
}
