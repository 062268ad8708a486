//! `/clients/{client_id}/blocks`: the correspondents a client blocked (issue 12). Clients
//! block by text (`BLOQUER #N`); the operator sees and changes the same blocks here.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::scoped;
use super::error::{ApiError, ErrorBody};
use super::extract::Json;
use super::legacy::timestamp;
use crate::app::blocks;
use crate::domain::{ClientId, E164, Scope};
use crate::store::Contact;

/// Reading needs `read`; a change needs `clients`.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    scoped(
        state,
        Scope::Read,
        OpenApiRouter::new().routes(routes!(list_blocks)),
    )
    .merge(scoped(
        state,
        Scope::Clients,
        OpenApiRouter::new().routes(routes!(block, unblock)),
    ))
}

/// A blocked correspondent.
#[derive(Serialize, ToSchema)]
pub struct BlockResponse {
    #[schema(example = "+33698765432")]
    number: String,
    /// When it was blocked; `null` once unblocked.
    #[schema(example = "2026-11-30T14:02:00Z")]
    blocked_at: Option<String>,
    /// When it last reached the client.
    #[schema(example = "2026-11-30T13:58:41Z")]
    last_contact_at: String,
}

impl From<Contact> for BlockResponse {
    fn from(c: Contact) -> Self {
        Self {
            number: c.number.to_string(),
            blocked_at: c.blocked_at.map(|t| timestamp(Some(t))),
            last_contact_at: timestamp(Some(c.last_at)),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BlocksResponse {
    #[schema(example = 42)]
    client_id: i64,
    blocks: Vec<BlockResponse>,
}

/// The correspondent to block or unblock.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// A number that reached the client through their proxy.
    #[schema(value_type = String, example = "+33698765432")]
    number: E164,
}

fn client_id(raw: &str) -> Result<ClientId, ApiError> {
    ClientId::parse(raw).map_err(|e| ApiError::invalid("client_id", e))
}

/// The correspondents a client blocked, the latest blocked first.
#[utoipa::path(get, path = "/clients/{client_id}/blocks", tag = "clients",
    params(("client_id" = i64, Path)),
    responses((status = 200, body = BlocksResponse, description = "the client's blocks"),
        (status = 404, body = ErrorBody, description = "`not_found`: no client has this id",
            example = json!({"code": "not_found", "message": "client not found", "detail": "client not found"}))))]
pub async fn list_blocks(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<BlocksResponse>, ApiError> {
    let id = client_id(&id)?;
    let blocks = blocks::list(&state.app, id).await?;
    Ok(axum::Json(BlocksResponse {
        client_id: id.get(),
        blocks: blocks.into_iter().map(Into::into).collect(),
    }))
}

/// Blocks a correspondent of the client: their calls hear a neutral message, their texts are
/// not relayed. Only a number that reached the client can be blocked. Blocking it again
/// changes nothing (200).
#[utoipa::path(post, path = "/clients/{client_id}/blocks", tag = "clients",
    params(("client_id" = i64, Path)), request_body = BlockRequest,
    responses((status = 201, body = BlockResponse, description = "blocked"),
        (status = 200, body = BlockResponse, description = "blocked already"),
        (status = 404, body = ErrorBody, description = "`not_found`: no client has this id, or the number never reached the client",
            example = json!({"code": "not_found", "message": "contact not found", "detail": "contact not found"})),
        (status = 422, body = ErrorBody, description = "`invalid_input`: the number is not one; `field` names it",
            example = json!({"code": "invalid_input", "message": "number: not a phone number", "field": "number", "detail": "number: not a phone number"}))))]
pub async fn block(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(req): Json<BlockRequest>,
) -> Result<(StatusCode, axum::Json<BlockResponse>), ApiError> {
    let (contact, changed) = blocks::set(&state.app, client_id(&id)?, &req.number, true).await?;
    let status = if changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(contact.into())))
}

/// Unblocks a correspondent of the client (the same body as the block). Unblocking one that
/// is not blocked changes nothing.
#[utoipa::path(delete, path = "/clients/{client_id}/blocks", tag = "clients",
    params(("client_id" = i64, Path)), request_body = BlockRequest,
    responses((status = 200, body = BlockResponse, description = "not blocked (any more)"),
        (status = 404, body = ErrorBody, description = "`not_found`: no client has this id, or the number never reached the client",
            example = json!({"code": "not_found", "message": "contact not found", "detail": "contact not found"})),
        (status = 422, body = ErrorBody, description = "`invalid_input`: the number is not one; `field` names it",
            example = json!({"code": "invalid_input", "message": "number: not a phone number", "field": "number", "detail": "number: not a phone number"}))))]
pub async fn unblock(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(req): Json<BlockRequest>,
) -> Result<axum::Json<BlockResponse>, ApiError> {
    let (contact, _) = blocks::set(&state.app, client_id(&id)?, &req.number, false).await?;
    Ok(axum::Json(contact.into()))
}
