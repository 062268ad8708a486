//! `GET /admin/clients`: the clients, found from one search box (`app::clients::search_of`
//! reads what was typed), 50 a page, newest first (keyset on the id: `?before=` the last of the
//! page, `?after=` the first). Viewers see phones and e-mails masked there. A client's page
//! (`/admin/clients/{id}`) shows them in full to every role, and is written to the audit log;
//! operators change or give back its proxy there, through the API's own use cases.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::page::{self, AdminFrame, Section, see_other, words};
use super::session::{AnyRole, Operator, OperatorRole, RequireRole};
use crate::app::AppError;
use crate::app::clients::{self, ClientFile};
use crate::domain::{ClientId, E164, Role};
use crate::http::AppState;
use crate::http::pages::frame::html;
use crate::store::{Client, ClientPatch, ClientSearch, IdPage};

const PAGE: i64 = 50;
/// How many of a client's orders, activations and interactions its page shows.
const LATEST: i64 = 50;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClientsQuery {
    /// A client's id, the start of a name, an e-mail (or its start), a phone or proxy number.
    q: Option<String>,
    /// The clients older than this id (the last of the previous page).
    before: Option<String>,
    /// The clients newer than this id (the first of the next page).
    after: Option<String>,
    /// fr or en.
    #[allow(dead_code)]
    lang: Option<String>,
}

pub struct Row {
    pub id: i64,
    pub name: String,
    pub mail: String,
    pub phone: String,
    pub proxy: String,
    pub country: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "admin/clients.html")]
pub struct ClientsPage {
    pub frame: AdminFrame,
    pub q: String,
    /// What the search was read as, with what was typed.
    pub searched: Option<String>,
    pub rows: Vec<Row>,
    pub newer_href: Option<String>,
    pub older_href: Option<String>,
    pub first_href: Option<String>,
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A page parameter: absent (or blank), or a positive id.
fn page_param(raw: &Option<String>) -> Result<Option<i64>, ()> {
    match raw.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => match s.parse::<i64>() {
            Ok(id) if id > 0 => Ok(Some(id)),
            _ => Err(()),
        },
    }
}

fn bad_page(operator: &Operator) -> Response {
    let w = words(operator.language);
    page::notice(
        StatusCode::BAD_REQUEST,
        AdminFrame {
            title: w.bad_page_title.clone(),
            ..operator.frame("", Some(Section::Clients))
        },
        &w.bad_page_text,
    )
}

/// The clients, searched, a page at a time.
#[utoipa::path(get, path = "/admin/clients", tag = "admin", params(ClientsQuery),
    responses((status = 200, content_type = "text/html", body = String, description = "the clients, searched, a page at a time"),
        (status = 400, content_type = "text/html", body = String,
            description = "`before` or `after` is not a positive whole number, or both are given")))]
pub async fn list(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AnyRole>,
    Query(query): Query<ClientsQuery>,
) -> Response {
    let w = words(operator.language);
    let page = match (page_param(&query.before), page_param(&query.after)) {
        (Ok(None), Ok(None)) => IdPage::First,
        (Ok(Some(id)), Ok(None)) => IdPage::Before(id),
        (Ok(None), Ok(Some(id))) => IdPage::After(id),
        _ => return bad_page(&operator),
    };
    let q = query.q.as_deref().unwrap_or("").trim().to_owned();
    let search = clients::search_of(&q);
    // One more than a page says whether there is a page beyond.
    let mut found = match clients::search(&state.app, &search, page, PAGE + 1).await {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "the clients could not be read");
            return page::error(operator.language);
        }
    };
    let beyond = found.len() as i64 > PAGE;
    if beyond {
        // The extra one is past the page's end: the oldest going down, the newest going up.
        if matches!(page, IdPage::After(_)) {
            found.remove(0);
        } else {
            found.pop();
        }
    }
    let href = |key: &str, id: i64| {
        let mut url = form_urlencoded::Serializer::new(String::new());
        if !q.is_empty() {
            url.append_pair("q", &q);
        }
        url.append_pair(key, &id.to_string());
        format!("/admin/clients?{}", url.finish())
    };
    let (first, last) = (
        found.first().map(|c| c.id.get()),
        found.last().map(|c| c.id.get()),
    );
    let older = match page {
        IdPage::After(_) => true,
        _ => beyond,
    };
    let newer = match page {
        IdPage::After(_) => beyond,
        IdPage::Before(_) => true,
        IdPage::First => false,
    };
    let older_href = last.filter(|_| older).map(|id| href("before", id));
    let newer_href = first.filter(|_| newer).map(|id| href("after", id));
    let first_href = (page != IdPage::First).then(|| {
        if q.is_empty() {
            "/admin/clients".to_owned()
        } else {
            let mut url = form_urlencoded::Serializer::new(String::new());
            format!("/admin/clients?{}", url.append_pair("q", &q).finish())
        }
    });
    let masked = !operator.role().allows(Role::Operator);
    let rows = found.into_iter().map(|c| row(c, masked)).collect();
    let searched = (!q.is_empty()).then(|| {
        let kind = match search {
            ClientSearch::All | ClientSearch::NamePrefix(_) => &w.clients_kind_name,
            ClientSearch::Id(_) => &w.clients_kind_id,
            ClientSearch::EmailPrefix(_) => &w.clients_kind_email,
            ClientSearch::Phone(_) => &w.clients_kind_phone,
        };
        w.clients_searched
            .replace("{kind}", kind)
            .replace("{q}", &q)
    });
    let frame = operator
        .frame(&w.clients_title, Some(Section::Clients))
        .switch_to("/admin/clients");
    html(
        StatusCode::OK,
        &ClientsPage {
            frame,
            q,
            searched,
            rows,
            newer_href,
            older_href,
            first_href,
        },
    )
}

/// A list's row: a viewer sees the phone and the e-mail masked.
fn row(c: Client, masked: bool) -> Row {
    Row {
        id: c.id.get(),
        name: c.name.as_str().to_owned(),
        mail: if masked {
            c.mail.masked()
        } else {
            c.mail.to_string()
        },
        phone: if masked {
            c.real_phone.masked().to_string()
        } else {
            c.real_phone.to_string()
        },
        // Our own number, not the client's.
        proxy: c.proxy.map(|p| p.to_string()).unwrap_or_default(),
        country: c
            .iso_residency
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        created: when(c.created_at),
    }
}

pub struct OrderRow {
    pub id: String,
    pub at: String,
}

pub struct ActivationRow {
    pub id: String,
    pub created: String,
    pub status: String,
    pub proxy: String,
}

/// A blocked correspondent: masked, and named in the unblock form by a keyed digest of its
/// number (the page never holds a third party's number, nor anything to guess it from).
pub struct BlockRow {
    pub number: String,
    pub since: String,
    pub key: String,
}

/// What names a blocked correspondent in the unblock form: an HMAC under a key derived from
/// the server's secret. A plain hash would not do: the masked number leaves few to try.
fn block_key(app: &crate::app::App, number: &E164) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let key = app.activation.key.derive("dashboard contact key");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(number.as_str().as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

pub struct InteractionRow {
    pub at: String,
    pub channel: String,
    pub direction: String,
    pub outcome: String,
    pub proxy: String,
}

#[derive(Template)]
#[template(path = "admin/client.html")]
pub struct ClientPage {
    pub frame: AdminFrame,
    pub id: i64,
    pub name: String,
    pub mail: String,
    pub phone: String,
    pub proxy: Option<String>,
    pub country: String,
    pub calling_code: String,
    /// A third party's number: masked.
    pub last_caller: Option<String>,
    pub created: String,
    pub updated: String,
    pub bounded: String,
    pub orders: Vec<OrderRow>,
    pub activations: Vec<ActivationRow>,
    pub interactions: Vec<InteractionRow>,
    /// The correspondents the client blocked.
    pub blocks: Vec<BlockRow>,
    /// The forms: operators and admins only.
    pub can_operate: bool,
    pub csrf_token: String,
    pub give_back_text: String,
}

fn not_found(operator: &Operator) -> Response {
    let w = words(operator.language);
    page::notice(
        StatusCode::NOT_FOUND,
        AdminFrame {
            title: w.bad_page_title.clone(),
            ..operator.frame("", Some(Section::Clients))
        },
        &w.client_not_found,
    )
}

fn bad_id(operator: &Operator) -> Response {
    let w = words(operator.language);
    page::notice(
        StatusCode::BAD_REQUEST,
        AdminFrame {
            title: w.bad_page_title.clone(),
            ..operator.frame("", Some(Section::Clients))
        },
        &w.client_bad_id,
    )
}

/// A refused change: the field named, the status the API would give.
fn refused(operator: &Operator, status: StatusCode, field: &str, reason: &str) -> Response {
    let w = words(operator.language);
    page::notice(
        status,
        AdminFrame {
            title: w.client_refused_title.clone(),
            ..operator.frame("", Some(Section::Clients))
        },
        w.client_refused_text
            .replace("{field}", field)
            .replace("{reason}", reason),
    )
}

/// What a use case refused, as a page naming the field; a failure of ours is logged.
fn refusal(operator: &Operator, e: AppError) -> Response {
    match e {
        AppError::NotFound { .. } => not_found(operator),
        AppError::Invalid { field, message } => {
            refused(operator, StatusCode::BAD_REQUEST, field, &message)
        }
        AppError::Conflict { message, .. } => refused(
            operator,
            StatusCode::CONFLICT,
            "client_proxy_number",
            &message,
        ),
        e => {
            tracing::error!(error = %e, "a client could not be changed");
            page::error(operator.language)
        }
    }
}

/// A client, with its latest orders, activations and interactions; written to the audit log.
#[utoipa::path(get, path = "/admin/clients/{id}", tag = "admin",
    params(("id" = i64, Path, description = "the client's id")),
    responses((status = 200, content_type = "text/html", body = String, description = "the client, with its latest orders, activations and interactions"),
        (status = 400, content_type = "text/html", body = String,
            description = "the id is not a positive whole number"),
        (status = 404, content_type = "text/html", body = String, description = "no client has this id")))]
pub async fn show(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<AnyRole>,
    Path(id): Path<String>,
) -> Response {
    let w = words(operator.language);
    let Ok(id) = ClientId::parse(&id) else {
        return bad_id(&operator);
    };
    let file = match clients::file(&state.app, id, LATEST).await {
        Ok(file) => file,
        Err(AppError::NotFound { .. }) => return not_found(&operator),
        Err(e) => {
            tracing::error!(error = %e, "a client could not be read");
            return page::error(operator.language);
        }
    };
    // Who looked at whose personal data; the data itself stays out of the log.
    operator
        .record(
            &state.app,
            "client.view",
            Some(&format!("client:{id}")),
            json!({}),
        )
        .await;
    let ClientFile {
        client,
        orders,
        activations,
        interactions,
    } = file;
    let blocks = match crate::app::blocks::list(&state.app, id).await {
        Ok(blocks) => blocks,
        Err(e) => {
            tracing::error!(error = %e, "a client's blocks could not be read");
            return page::error(operator.language);
        }
    };
    let can_operate = operator.role().allows(Role::Operator);
    let csrf_token = operator.current.session.csrf_token.clone();
    let frame = operator
        .frame(
            w.client_title.replace("{id}", &id.to_string()),
            Some(Section::Clients),
        )
        .switch_to(&format!("/admin/clients/{id}"));
    html(
        StatusCode::OK,
        &ClientPage {
            frame,
            id: id.get(),
            name: client.name.as_str().to_owned(),
            mail: client.mail.to_string(),
            phone: client.real_phone.to_string(),
            proxy: client.proxy.map(|p| p.to_string()),
            country: client
                .iso_residency
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            calling_code: client.country_code.unwrap_or_default(),
            last_caller: client.last_caller.map(|p| p.masked().to_string()),
            created: when(client.created_at),
            updated: when(client.updated_at),
            bounded: w.client_bounded.replace("{count}", &LATEST.to_string()),
            orders: orders
                .into_iter()
                .map(|o| OrderRow {
                    id: o.id.as_str().to_owned(),
                    at: when(o.created_at),
                })
                .collect(),
            activations: activations
                .into_iter()
                .map(|a| ActivationRow {
                    id: a.pending_id.as_str().to_owned(),
                    created: when(a.created_at),
                    status: a.status.as_str().to_owned(),
                    proxy: a.proxy.to_string(),
                })
                .collect(),
            interactions: interactions
                .into_iter()
                .map(|i| InteractionRow {
                    at: when(i.occurred_at),
                    channel: i.channel,
                    direction: i.direction,
                    outcome: i.outcome,
                    proxy: i.proxy.to_string(),
                })
                .collect(),
            blocks: blocks
                .into_iter()
                .map(|c| BlockRow {
                    number: c.number.masked().to_string(),
                    since: c.blocked_at.map(when).unwrap_or_default(),
                    key: block_key(&state.app, &c.number),
                })
                .collect(),
            can_operate,
            csrf_token,
            give_back_text: w
                .client_give_back_text
                .replace("{days}", &state.app.pool_cooloff.num_days().to_string()),
        },
    )
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ProxyForm {
    proxy: String,
}

/// Gives the client the typed number as its proxy: `PUT /clients/{id}`'s use case and rules
/// (a number of another client, draining or missing is refused, 409); the old proxy rests
/// for the cool-off.
#[utoipa::path(post, path = "/admin/clients/{id}/proxy", tag = "admin",
    params(("id" = i64, Path, description = "the client's id")),
    request_body(content = ProxyForm, content_type = "application/x-www-form-urlencoded",
        description = "proxy, csrf_token",
        example = json!({"proxy": "+33780000002", "csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 303, description = "back to the client's page"),
        (status = 400, content_type = "text/html", body = String,
            description = "the number is not valid: the page names the field"),
        (status = 403, content_type = "text/html", body = String,
            description = "a viewer: nothing is changed"),
        (status = 404, content_type = "text/html", body = String, description = "no client has this id"),
        (status = 409, content_type = "text/html", body = String,
            description = "the number cannot be this client's: the page names the field")))]
pub async fn change_proxy(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<OperatorRole>,
    Path(id): Path<String>,
    Form(form): Form<ProxyForm>,
) -> Response {
    let Ok(id) = ClientId::parse(&id) else {
        return bad_id(&operator);
    };
    let compact: String = form.proxy.chars().filter(|c| !c.is_whitespace()).collect();
    let proxy = match E164::parse(&compact) {
        Ok(p) => p,
        Err(e) => {
            return refused(
                &operator,
                StatusCode::BAD_REQUEST,
                "client_proxy_number",
                &e.to_string(),
            );
        }
    };
    let patch = ClientPatch {
        proxy: Some(proxy.clone()),
        ..ClientPatch::default()
    };
    if let Err(e) = clients::update(&state.app, id, patch).await {
        return refusal(&operator, e);
    }
    // Proxies are our numbers, not personal data: written in full.
    operator
        .record(
            &state.app,
            "client.proxy_change",
            Some(&format!("client:{id}")),
            json!({"proxy": proxy.as_str()}),
        )
        .await;
    see_other(&format!("/admin/clients/{id}"))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct GiveBackForm {
    /// The confirmation checkbox: sent (`on`) when ticked.
    confirm: Option<String>,
}

/// Takes the client's proxy back into the pool, through the cool-off; only with the box ticked.
#[utoipa::path(post, path = "/admin/clients/{id}/give-back", tag = "admin",
    params(("id" = i64, Path, description = "the client's id")),
    request_body(content = GiveBackForm, content_type = "application/x-www-form-urlencoded",
        description = "confirm, csrf_token",
        example = json!({"confirm": "on", "csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 303, description = "back to the client's page"),
        (status = 400, content_type = "text/html", body = String,
            description = "not confirmed, or the client has no proxy: nothing is changed"),
        (status = 403, content_type = "text/html", body = String,
            description = "a viewer: nothing is changed"),
        (status = 404, content_type = "text/html", body = String, description = "no client has this id")))]
pub async fn give_back(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<OperatorRole>,
    Path(id): Path<String>,
    Form(form): Form<GiveBackForm>,
) -> Response {
    let w = words(operator.language);
    let Ok(id) = ClientId::parse(&id) else {
        return bad_id(&operator);
    };
    if form.confirm.as_deref().is_none_or(str::is_empty) {
        return page::notice(
            StatusCode::BAD_REQUEST,
            AdminFrame {
                title: w.client_refused_title.clone(),
                ..operator.frame("", Some(Section::Clients))
            },
            &w.client_confirm_missing,
        );
    }
    let proxy = match clients::give_back_proxy(&state.app, id).await {
        Ok(proxy) => proxy,
        Err(e) => return refusal(&operator, e),
    };
    operator
        .record(
            &state.app,
            "client.proxy_give_back",
            Some(&format!("client:{id}")),
            json!({"proxy": proxy.as_str(), "cooloff_days": state.app.pool_cooloff.num_days()}),
        )
        .await;
    see_other(&format!("/admin/clients/{id}"))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UnblockForm {
    /// The blocked correspondent, as the client's page names it.
    contact: String,
}

/// Lifts a block the client made (`BLOQUER #N`), as `DELETE /clients/{id}/blocks` does.
#[utoipa::path(post, path = "/admin/clients/{id}/unblock", tag = "admin",
    params(("id" = i64, Path, description = "the client's id")),
    request_body(content = UnblockForm, content_type = "application/x-www-form-urlencoded",
        description = "contact, csrf_token",
        example = json!({"contact": "5f2c0e9a1b7d3c4e8a6f0b21", "csrf_token": "Zk3vQ9x2LrT8mB1cN4aE7w"})),
    responses((status = 303, description = "back to the client's page"),
        (status = 403, content_type = "text/html", body = String,
            description = "a viewer: nothing is changed"),
        (status = 404, content_type = "text/html", body = String,
            description = "no client has this id, or no such blocked correspondent")))]
pub async fn unblock(
    State(state): State<AppState>,
    RequireRole(operator, ..): RequireRole<OperatorRole>,
    Path(id): Path<String>,
    Form(form): Form<UnblockForm>,
) -> Response {
    let Ok(id) = ClientId::parse(&id) else {
        return bad_id(&operator);
    };
    let blocks = match crate::app::blocks::list(&state.app, id).await {
        Ok(blocks) => blocks,
        Err(e) => return refusal(&operator, e),
    };
    let Some(contact) = blocks
        .into_iter()
        .find(|c| block_key(&state.app, &c.number) == form.contact)
    else {
        return not_found(&operator);
    };
    if let Err(e) = crate::app::blocks::set(&state.app, id, &contact.number, false).await {
        return refusal(&operator, e);
    }
    operator
        .record(
            &state.app,
            "client.unblock",
            Some(&format!("client:{id}")),
            json!({"contact": contact.number.masked().to_string()}),
        )
        .await;
    see_other(&format!("/admin/clients/{id}"))
}
