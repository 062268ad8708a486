//! `/clients`: lookups, strict creation, partial update.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::scoped;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, blank_as_none};
use super::legacy::{text, timestamp};
use crate::app::clients::{self, CreateClient};
use crate::domain::{ClientId, ClientName, CountryIso, E164, Email, Scope};
use crate::store::{Client, ClientPatch};

/// Lookups need `read`; creating or changing a client needs `clients`. `GET` and `PUT` of
/// `/clients/{client_id}` share a path and still get a scope each.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    scoped(
        state,
        Scope::Read,
        OpenApiRouter::new()
            .routes(routes!(next_id))
            .routes(routes!(get_client))
            .routes(routes!(by_proxy)),
    )
    .merge(scoped(
        state,
        Scope::Clients,
        OpenApiRouter::new()
            .routes(routes!(create_client))
            .routes(routes!(update_client)),
    ))
}

/// A client, with the earlier version's 8 keys first. Absent values are `""`, as the earlier
/// version's spreadsheet gave them.
#[derive(Serialize, ToSchema)]
pub struct ClientResponse {
    #[schema(example = 42)]
    client_id: i64,
    #[schema(example = "Jeanne Martin")]
    client_name: String,
    #[schema(example = "jeanne.martin@example.com")]
    client_mail: String,
    #[schema(example = "+33612345678")]
    client_real_phone: String,
    #[schema(example = "+33780000001")]
    client_proxy_number: String,
    #[schema(example = "FR")]
    client_iso_residency: String,
    #[schema(example = "+33")]
    client_country_code: String,
    #[schema(example = "+33698765432")]
    client_last_caller: String,
    #[schema(example = "2026-11-30 09:15:02")]
    created_at: String,
    #[schema(example = "2026-11-30 09:15:02")]
    updated_at: String,
}

impl From<Client> for ClientResponse {
    fn from(c: Client) -> Self {
        Self {
            client_id: c.id.get(),
            client_name: c.name.as_str().to_owned(),
            client_mail: c.mail.to_string(),
            client_real_phone: c.real_phone.to_string(),
            client_proxy_number: text(c.proxy),
            client_iso_residency: text(c.iso_residency),
            client_country_code: text(c.country_code),
            client_last_caller: text(c.last_caller),
            created_at: timestamp(Some(c.created_at)),
            updated_at: timestamp(Some(c.updated_at)),
        }
    }
}

/// `PUT /clients/{id}` answers with the keys in the earlier version's order.
#[derive(Serialize, ToSchema)]
pub struct ClientUpdatedResponse {
    #[schema(example = 42)]
    client_id: i64,
    #[schema(example = "+33780000001")]
    client_proxy_number: String,
    #[schema(example = "Jeanne Martin")]
    client_name: String,
    #[schema(example = "jeanne.martin@example.com")]
    client_mail: String,
    #[schema(example = "+33612345678")]
    client_real_phone: String,
    #[schema(example = "FR")]
    client_iso_residency: String,
    #[schema(example = "+33")]
    client_country_code: String,
    #[schema(example = "+33698765432")]
    client_last_caller: String,
}

impl From<Client> for ClientUpdatedResponse {
    fn from(c: Client) -> Self {
        let r = ClientResponse::from(c);
        Self {
            client_id: r.client_id,
            client_proxy_number: r.client_proxy_number,
            client_name: r.client_name,
            client_mail: r.client_mail,
            client_real_phone: r.client_real_phone,
            client_iso_residency: r.client_iso_residency,
            client_country_code: r.client_country_code,
            client_last_caller: r.client_last_caller,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NextIdResponse {
    #[schema(example = 43)]
    next_client_id: i64,
}

fn client_id(raw: &str) -> Result<ClientId, ApiError> {
    ClientId::parse(raw).map_err(|e| ApiError::invalid("client_id", e))
}

/// The next free client id (highest + 1).
#[utoipa::path(get, path = "/clients/next-id", tag = "clients",
    responses((status = 200, body = NextIdResponse, description = "the next free client id")))]
pub async fn next_id(
    State(state): State<AppState>,
) -> Result<axum::Json<NextIdResponse>, ApiError> {
    Ok(axum::Json(NextIdResponse {
        next_client_id: clients::next_id(&state.app).await?,
    }))
}

/// One client.
#[utoipa::path(get, path = "/clients/{client_id}", tag = "clients",
    params(("client_id" = i64, Path)),
    responses((status = 200, body = ClientResponse, description = "the client"), (status = 404, body = ErrorBody, description = "`not_found`: no client has this id",
            example = json!({"code": "not_found", "message": "client not found", "detail": "client not found"}))))]
pub async fn get_client(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<ClientResponse>, ApiError> {
    let client = clients::get(&state.app, client_id(&id)?).await?;
    Ok(axum::Json(client.into()))
}

/// The client a proxy number belongs to. Spaces and a missing `+` are tolerated.
#[utoipa::path(get, path = "/clients/by-proxy/{proxy}", tag = "clients",
    params(("proxy" = String, Path, example = "+33780000001")),
    responses((status = 200, body = ClientResponse, description = "the client the number is the proxy of"), (status = 404, body = ErrorBody, description = "`not_found`: no client has this proxy",
            example = json!({"code": "not_found", "message": "client not found", "detail": "client not found"}))))]
pub async fn by_proxy(
    State(state): State<AppState>,
    Path(proxy): Path<String>,
) -> Result<axum::Json<ClientResponse>, ApiError> {
    let compact: String = proxy.chars().filter(|c| !c.is_whitespace()).collect();
    let proxy = E164::parse_shape(&compact).map_err(|e| ApiError::invalid("proxy", e))?;
    let client = clients::by_proxy(&state.app, &proxy).await?;
    Ok(axum::Json(client.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClientRequest {
    /// A positive integer, as a JSON number or a string of digits.
    #[schema(value_type = i64, example = 42)]
    client_id: ClientId,
    #[schema(value_type = String, example = "Jeanne Martin")]
    client_name: ClientName,
    #[schema(value_type = String, example = "jeanne.martin@example.com")]
    client_mail: Email,
    #[schema(value_type = String, example = "+33612345678")]
    client_real_phone: E164,
    #[serde(default, deserialize_with = "blank_as_none")]
    #[schema(value_type = Option<String>, example = "FR")]
    client_iso_residency: Option<CountryIso>,
}

#[derive(Serialize, ToSchema)]
pub struct ClientCreatedResponse {
    #[schema(example = 42)]
    client_id: i64,
    #[schema(example = "+33780000001")]
    client_proxy_number: String,
}

/// Strict create: 409 if the id exists. The new client gets a proxy from the pool.
#[utoipa::path(post, path = "/clients", tag = "clients", request_body = CreateClientRequest,
    responses(
        (status = 200, body = ClientCreatedResponse, description = "the client, created, with its proxy"),
        (status = 409, body = ErrorBody, description = "the id exists, or the pool is empty"),
        (status = 422, body = ErrorBody, description = "`invalid_input`: a field is not valid; `field` names it"),
    ))]
pub async fn create_client(
    State(state): State<AppState>,
    Json(req): Json<CreateClientRequest>,
) -> Result<axum::Json<ClientCreatedResponse>, ApiError> {
    let client = clients::create(
        &state.app,
        CreateClient {
            id: req.client_id,
            name: req.client_name,
            mail: req.client_mail,
            real_phone: req.client_real_phone,
            iso_residency: req.client_iso_residency,
        },
    )
    .await?;
    Ok(axum::Json(ClientCreatedResponse {
        client_id: client.id.get(),
        client_proxy_number: text(client.proxy),
    }))
}

/// Every field optional; `null` or `""` keeps the stored value. Residency, calling code and
/// last caller are accepted and ignored: they are not the caller's to change.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateClientRequest {
    #[serde(deserialize_with = "blank_as_none")]
    #[schema(value_type = Option<String>, example = "Jeanne Martin")]
    client_name: Option<ClientName>,
    #[serde(deserialize_with = "blank_as_none")]
    #[schema(value_type = Option<String>, example = "jeanne.martin@example.com")]
    client_mail: Option<Email>,
    #[serde(deserialize_with = "blank_as_none")]
    #[schema(value_type = Option<String>, example = "+33612345678")]
    client_real_phone: Option<E164>,
    #[serde(deserialize_with = "blank_as_none")]
    #[schema(value_type = Option<String>, example = "+33780000002")]
    client_proxy_number: Option<E164>,
    #[serde(rename = "client_iso_residency")]
    #[schema(value_type = Option<String>, example = "FR")]
    _client_iso_residency: Option<serde_json::Value>,
    #[serde(rename = "client_country_code")]
    #[schema(value_type = Option<String>, example = "+33")]
    _client_country_code: Option<serde_json::Value>,
    #[serde(rename = "client_last_caller")]
    #[schema(value_type = Option<String>, example = "+33698765432")]
    _client_last_caller: Option<serde_json::Value>,
}

/// Partial update. A proxy that belongs to another client is refused (409).
#[utoipa::path(put, path = "/clients/{client_id}", tag = "clients",
    request_body = UpdateClientRequest,
    params(("client_id" = i64, Path)),
    responses(
        (status = 200, body = ClientUpdatedResponse, description = "the client, changed"),
        (status = 404, body = ErrorBody, description = "`not_found`: no client has this id",
            example = json!({"code": "not_found", "message": "client not found", "detail": "client not found"})),
        (status = 409, body = ErrorBody, description = "the proxy belongs to another client",
            example = json!({"code": "proxy_taken", "message": "client_proxy_number belongs to another client", "detail": "client_proxy_number belongs to another client"})),
        (status = 422, body = ErrorBody, description = "`invalid_input`: a field is not valid; `field` names it"),
    ))]
pub async fn update_client(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(req): Json<UpdateClientRequest>,
) -> Result<axum::Json<ClientUpdatedResponse>, ApiError> {
    let id = client_id(&id)?;
    let patch = ClientPatch {
        name: req.client_name,
        mail: req.client_mail,
        real_phone: req.client_real_phone,
        proxy: req.client_proxy_number,
        country_code: None,
        old_proxy_cooloff_until: None,
    };
    let client = clients::update(&state.app, id, patch).await?;
    Ok(axum::Json(client.into()))
}
