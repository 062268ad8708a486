//! Clients and their orders.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Activation, Interaction, ProxyPick, StoreResult};
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

/// What the dashboard's search asks for: one kind at a time, each answered from an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientSearch {
    All,
    Id(ClientId),
    /// Lower-cased: the e-mails that start with it.
    EmailPrefix(String),
    /// The client whose real phone or proxy it is.
    Phone(E164),
    /// As typed: the names that start with it, case aside.
    NamePrefix(String),
}

/// A page of a list sorted by id, highest (newest) first, found by its neighbours' ids
/// (keyset): the first page, the ids below the last of the page before, or the ids above the
/// first of the page after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdPage {
    First,
    Before(i64),
    After(i64),
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
    /// The order, with its client's proxy as it is now: all a repeated order answers with,
    /// in one read.
    async fn order(&self, id: &OrderId) -> StoreResult<Option<(Order, Option<E164>)>>;
    async fn insert_order(&self, id: &OrderId, client: ClientId) -> StoreResult<Order>;
    /// A page of the clients `search` finds, highest id first, at most `limit`.
    async fn clients_page(
        &self,
        search: &ClientSearch,
        page: IdPage,
        limit: i64,
    ) -> StoreResult<Vec<Client>>;
    /// The client's latest orders, newest first.
    async fn client_orders(&self, id: ClientId, limit: i64) -> StoreResult<Vec<Order>>;
    /// The latest activations of this phone or e-mail, newest first.
    async fn client_activations(
        &self,
        phone: &E164,
        mail: &Email,
        limit: i64,
    ) -> StoreResult<Vec<Activation>>;
    /// The client's latest interactions, newest first.
    async fn client_interactions(&self, id: ClientId, limit: i64) -> StoreResult<Vec<Interaction>>;
    /// Takes the client's proxy away, in one transaction: the client is left without one and
    /// the number, if the pool holds it for this client, is freed with a cool-off until
    /// `cooloff_until` (a draining number stays draining). Returns the number taken, `None`
    /// when the client had none; `NotFound` when there is no such client.
    async fn give_back_proxy(
        &self,
        id: ClientId,
        cooloff_until: DateTime<Utc>,
    ) -> StoreResult<Option<E164>>;
}
