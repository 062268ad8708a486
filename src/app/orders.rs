//! `POST /orders`: get or create the client, give a new client a proxy, record the order.
//! Idempotent: the same order again returns the same answer.

use super::{App, AppError, AppResult, clients};
use crate::domain::{ClientId, ClientName, CountryIso, E164, Email, OrderId};
use crate::store::{Conflict, StoreError};

#[derive(Debug, Clone)]
pub struct PlaceOrder {
    pub order_id: OrderId,
    pub client_id: ClientId,
    pub client_name: ClientName,
    pub client_mail: Email,
    pub client_real_phone: E164,
    pub client_iso_residency: Option<CountryIso>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPlaced {
    pub order_id: OrderId,
    pub client_id: ClientId,
    pub proxy: E164,
    /// Whether this request created the client (and so took a number from the pool).
    pub new_client: bool,
}

pub async fn place(app: &App, req: PlaceOrder) -> AppResult<OrderPlaced> {
    if let Some((existing, proxy)) = app.store.order(&req.order_id).await? {
        return replay(app, &req, existing.client_id, proxy).await;
    }
    let (client, new_client) = clients::get_or_create(
        app,
        clients::CreateClient {
            id: req.client_id,
            name: req.client_name.clone(),
            mail: req.client_mail.clone(),
            real_phone: req.client_real_phone.clone(),
            iso_residency: req.client_iso_residency,
        },
    )
    .await?;
    match app.store.insert_order(&req.order_id, client.id).await {
        Ok(_) => {}
        // A concurrent request with the same order id was first: answer as it did.
        Err(StoreError::Conflict(Conflict::OrderExists)) => {
            let (existing, proxy) = app
                .store
                .order(&req.order_id)
                .await?
                .ok_or(AppError::NotFound { what: "order" })?;
            return replay(app, &req, existing.client_id, proxy).await;
        }
        Err(e) => return Err(e.into()),
    }
    let proxy = client.proxy.ok_or(AppError::NotFound { what: "proxy" })?;
    tracing::info!(
        order_id = %req.order_id,
        client_id = %client.id,
        proxy = %proxy.masked(),
        new_client,
        "order recorded"
    );
    Ok(OrderPlaced {
        order_id: req.order_id,
        client_id: client.id,
        proxy,
        new_client,
    })
}

/// The answer for an order id seen before: the same answer for the same client, a conflict
/// for another one. `proxy` is the client's, read with the order: a client who has one (the
/// usual case) costs no other read.
async fn replay(
    app: &App,
    req: &PlaceOrder,
    owner: ClientId,
    proxy: Option<E164>,
) -> AppResult<OrderPlaced> {
    if owner != req.client_id {
        return Err(AppError::Conflict {
            kind: super::ConflictKind::OrderConflict,
            message: format!(
                "order_id {} is already recorded for another client",
                req.order_id
            ),
        });
    }
    let proxy = match proxy {
        Some(proxy) => proxy,
        None => clients::ensure_proxy(app, owner)
            .await?
            .proxy
            .ok_or(AppError::NotFound { what: "proxy" })?,
    };
    Ok(OrderPlaced {
        order_id: req.order_id.clone(),
        client_id: owner,
        proxy,
        new_client: false,
    })
}
