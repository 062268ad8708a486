//! `POST /orders`.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::scoped;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, blank_as_none};
use crate::app::orders::{self, PlaceOrder};
use crate::domain::{ClientId, ClientName, CountryIso, E164, Email, OrderId, Scope};

/// The shop's route: its key holds `orders`.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    scoped(
        state,
        Scope::Orders,
        OpenApiRouter::new().routes(routes!(create_order)),
    )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    /// The shop's order reference (text; a number is taken as its digits).
    #[schema(value_type = String, example = "CMD-1001")]
    order_id: OrderId,
    /// A positive integer, as a JSON number or a string of digits.
    #[schema(value_type = i64, example = 42)]
    client_id: ClientId,
    #[schema(value_type = String, example = "Jeanne MARTIN")]
    client_name: ClientName,
    #[schema(value_type = String, example = "jeanne.martin@example.com")]
    client_mail: Email,
    /// E.164; `0033…` and bare digits are accepted and normalised.
    #[schema(value_type = String, example = "+33612345678")]
    client_real_phone: E164,
    /// ISO-2 country whose pool gives the proxy; defaults to the phone's country.
    #[serde(default, deserialize_with = "blank_as_none")]
    #[schema(value_type = Option<String>, example = "FR")]
    client_iso_residency: Option<CountryIso>,
}

#[derive(Serialize, ToSchema)]
pub struct OrderResponse {
    #[schema(example = "CMD-1001")]
    order_id: String,
    #[schema(example = 42)]
    client_id: i64,
    #[schema(example = "+33780000001")]
    client_proxy_number: String,
}

/// Get or create the client (a new client gets a proxy from its country's pool, mobile
/// first), record the order, and return the client's proxy. Idempotent.
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = OrderRequest,
    responses(
        (status = 200, body = OrderResponse, description = "the client's proxy"),
        (status = 409, body = ErrorBody, description = "order_id used by another client, or the pool is empty",
            example = json!({"code": "order_conflict", "message": "order_id CMD-1042 is already recorded for another client", "detail": "order_id CMD-1042 is already recorded for another client"})),
        (status = 422, body = ErrorBody, description = "a field is invalid"),
    ))]
pub async fn create_order(
    State(state): State<AppState>,
    Json(req): Json<OrderRequest>,
) -> Result<axum::Json<OrderResponse>, ApiError> {
    let placed = orders::place(
        &state.app,
        PlaceOrder {
            order_id: req.order_id,
            client_id: req.client_id,
            client_name: req.client_name,
            client_mail: req.client_mail,
            client_real_phone: req.client_real_phone,
            client_iso_residency: req.client_iso_residency,
        },
    )
    .await?;
    Ok(axum::Json(OrderResponse {
        order_id: placed.order_id.to_string(),
        client_id: placed.client_id.get(),
        client_proxy_number: placed.proxy.to_string(),
    }))
}
