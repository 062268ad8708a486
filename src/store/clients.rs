//! Clients and their orders.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ProxyPick, StoreResult};
use crate::domain::{ClientId, ClientName, CountryIso, E164, Email, OrderId};

#[derive(Debug, Clone)]
pub struct Client {
    pub id: ClientId,
    pub name: ClientName,
    pub mail: Email,
    pub real_phone: E164,
    pub proxy: Option<E164>,
    pub iso_residency: Option<CountryIso>,
    /// Calling code of the real phone, e.g. `+33`.
    pub country_code: Option<String>,
    pub last_caller: Option<E164>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewClient {
    pub id: ClientId,
    pub name: ClientName,
    pub mail: Email,
    pub real_phone: E164,
    pub iso_residency: Option<CountryIso>,
    pub country_code: Option<String>,
}

/// A partial update; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    pub name: Option<ClientName>,
    pub mail: Option<Email>,
    pub real_phone: Option<E164>,
    pub proxy: Option<E164>,
    /// Set by the use case when the real phone changes, never from input.
    pub country_code: Option<String>,
    /// When the proxy changes: until when the old one is kept from other clients (the
    /// cool-off); set by the use case, never from input.
    pub old_proxy_cooloff_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: OrderId,
    pub client_id: ClientId,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait ClientStore {
    async fn next_client_id(&self) -> StoreResult<i64>;
    async fn client(&self, id: ClientId) -> StoreResult<Option<Client>>;
    async fn client_by_proxy(&self, proxy: &E164) -> StoreResult<Option<Client>>;
    /// Whether some client's real phone is `phone`.
    async fn is_client_phone(&self, phone: &E164) -> StoreResult<bool>;
    /// Inserts the client and, when `pick` is given, hands it a pool number, in one
    /// transaction: either both happen or neither. `Ok(None)` when the pool has no number.
    async fn insert_client(
        &self,
        client: &NewClient,
        pick: Option<&ProxyPick>,
    ) -> StoreResult<Option<Client>>;
    /// Gives an existing client without a proxy a pool number. Returns the client as it is
    /// afterwards (with the proxy it already had if another request was first), or `Ok(None)`
    /// when the pool has no number.
    async fn attach_proxy(&self, id: ClientId, pick: &ProxyPick) -> StoreResult<Option<Client>>;
    async fn update_client(&self, id: ClientId, patch: &ClientPatch) -> StoreResult<Client>;
    async fn order(&self, id: &OrderId) -> StoreResult<Option<Order>>;
    async fn insert_order(&self, id: &OrderId, client: ClientId) -> StoreResult<Order>;
}
