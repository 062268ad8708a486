//! Clients: lookups, strict creation, partial update, and handing a client its proxy.

use super::{App, AppError, AppResult, pool_exhausted};
use crate::domain::{ClientId, ClientName, CountryIso, E164, Email, NumberType, line_type};
use crate::store::{
    Activation, Client, ClientPatch, ClientSearch, Conflict, IdPage, Interaction, NewClient, Order,
    PoolStatus, ProxyPick, StoreError,
};

#[derive(Debug, Clone)]
pub struct CreateClient {
    pub id: ClientId,
    pub name: ClientName,
    pub mail: Email,
    pub real_phone: E164,
    pub iso_residency: Option<CountryIso>,
}

/// A client's proxy: from the pool of its residency country, else of its phone's country;
/// mobile first, local as fall-back (SPEC §4).
fn proxy_pick(
    residency: Option<CountryIso>,
    phone: &E164,
    name: &ClientName,
) -> AppResult<ProxyPick> {
    let country = residency
        .or_else(|| phone.region())
        .ok_or_else(|| AppError::Invalid {
            field: "client_iso_residency",
            message: "is required: no country can be derived from client_real_phone".into(),
        })?;
    Ok(ProxyPick {
        country,
        types: vec![NumberType::Mobile, NumberType::Local],
        attribution_name: name.as_str().to_owned(),
        friendly_name: None,
    })
}

fn new_client(c: &CreateClient) -> NewClient {
    NewClient {
        id: c.id,
        name: c.name.clone(),
        mail: c.mail.clone(),
        real_phone: c.real_phone.clone(),
        // As the legacy sheet's formula did: residency defaults to the phone's country.
        iso_residency: c.iso_residency.or_else(|| c.real_phone.region()),
        country_code: c.real_phone.calling_code(),
    }
}

/// A client's real phone is a line a person answers, and not one of ours: the proxy dials and
/// texts it, so a premium-rate or other service number would cost on every relay, and one of
/// our own numbers would bring each relay back as a webhook (a loop between proxies).
pub(crate) async fn check_real_phone(app: &App, phone: &E164) -> AppResult<()> {
    let invalid = |message: String| AppError::Invalid {
        field: "client_real_phone",
        message,
    };
    if !phone.is_personal() {
        let line = phone.line_type();
        let what = if line_type::is_personal(line) {
            "a number of no country (a satellite phone or an international network)"
        } else {
            line_type::describe(line)
        };
        return Err(invalid(format!(
            "is {what}: a client's phone must be a mobile or fixed line"
        )));
    }
    let pooled = app
        .store
        .pool_number(phone)
        .await?
        .is_some_and(|n| n.status != PoolStatus::Released);
    if pooled || app.store.client_by_proxy(phone).await?.is_some() {
        return Err(invalid(
            "is one of this service's proxy numbers, not a client's phone".into(),
        ));
    }
    Ok(())
}

/// Inserts the client with a proxy from the pool, or writes nothing.
async fn insert_with_proxy(app: &App, c: &CreateClient) -> AppResult<Result<Client, Conflict>> {
    check_real_phone(app, &c.real_phone).await?;
    let pick = proxy_pick(c.iso_residency, &c.real_phone, &c.name)?;
    match app.store.insert_client(&new_client(c), Some(&pick)).await {
        Ok(Some(client)) => {
            tracing::info!(
                client_id = %client.id,
                proxy = %client.proxy.as_ref().map(|p| p.masked().to_string()).unwrap_or_default(),
                "client created"
            );
            Ok(Ok(client))
        }
        Ok(None) => Err(pool_exhausted(app.store.as_ref(), pick.country, &pick.types).await),
        Err(StoreError::Conflict(conflict)) => Ok(Err(conflict)),
        Err(e) => Err(e.into()),
    }
}

/// Strict create: a conflict if the id exists; the client gets a proxy, or nothing is written.
pub async fn create(app: &App, c: CreateClient) -> AppResult<Client> {
    insert_with_proxy(app, &c)
        .await?
        .map_err(|_| AppError::Conflict {
            kind: super::ConflictKind::ClientExists,
            message: format!("client {} already exists", c.id),
        })
}

/// The client with that id, created with a proxy when it does not exist yet. The flag says
/// whether this call created it.
pub async fn get_or_create(app: &App, c: CreateClient) -> AppResult<(Client, bool)> {
    // When the insert conflicts, another request created the client meanwhile: its proxy
    // is the answer.
    if app.store.client(c.id).await?.is_none()
        && let Ok(client) = insert_with_proxy(app, &c).await?
    {
        return Ok((client, true));
    }
    Ok((ensure_proxy(app, c.id).await?, false))
}

/// The client, with a proxy from the pool if it had none (a client imported without one).
pub async fn ensure_proxy(app: &App, id: ClientId) -> AppResult<Client> {
    let client = get(app, id).await?;
    if client.proxy.is_some() {
        return Ok(client);
    }
    let pick = proxy_pick(client.iso_residency, &client.real_phone, &client.name)?;
    match app.store.attach_proxy(id, &pick).await? {
        Some(client) => Ok(client),
        None => Err(pool_exhausted(app.store.as_ref(), pick.country, &pick.types).await),
    }
}

pub async fn get(app: &App, id: ClientId) -> AppResult<Client> {
    app.store
        .client(id)
        .await?
        .ok_or(AppError::NotFound { what: "client" })
}

pub async fn by_proxy(app: &App, proxy: &E164) -> AppResult<Client> {
    app.store
        .client_by_proxy(proxy)
        .await?
        .ok_or(AppError::NotFound { what: "client" })
}

pub async fn next_id(app: &App) -> AppResult<i64> {
    Ok(app.store.next_client_id().await?)
}

/// Partial update of name, e-mail, real phone and proxy. The calling code follows a new real
/// phone; residency and last caller are never changed here.
pub async fn update(app: &App, id: ClientId, mut patch: ClientPatch) -> AppResult<Client> {
    if let Some(phone) = &patch.real_phone {
        check_real_phone(app, phone).await?;
        patch.country_code = phone.calling_code();
    }
    // A proxy taken from the client rests before anyone else gets it.
    if patch.proxy.is_some() {
        patch.old_proxy_cooloff_until = Some(chrono::Utc::now() + app.pool_cooloff);
    }
    match app.store.update_client(id, &patch).await {
        Ok(client) => {
            tracing::info!(client_id = %id, "client updated");
            Ok(client)
        }
        Err(StoreError::NotFound) => Err(AppError::NotFound { what: "client" }),
        Err(StoreError::Conflict(Conflict::ProxyTaken { .. })) => Err(AppError::Conflict {
            kind: super::ConflictKind::ProxyTaken,
            // Never say which client holds it: that is another client's data.
            message: "client_proxy_number belongs to another client".into(),
        }),
        Err(StoreError::Conflict(Conflict::NumberMissing)) => Err(AppError::Conflict {
            kind: super::ConflictKind::ProxyTaken,
            message: "client_proxy_number is flagged missing: the carrier no longer lists it \
                      (POST /pool/sync)"
                .into(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// How the dashboard's one search box is read, from what was typed: a whole number is an id,
/// something with `@` an e-mail (its start), `+…` or `00…` a phone number (the real phone or
/// the proxy), anything else the start of a name; case never matters.
pub fn search_of(raw: &str) -> ClientSearch {
    let typed = raw.trim();
    if typed.is_empty() {
        return ClientSearch::All;
    }
    if typed.contains('@') {
        return ClientSearch::EmailPrefix(typed.to_lowercase());
    }
    // As people write numbers: with spaces, dots, dashes or brackets.
    let compact: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '.' | '-' | '(' | ')'))
        .collect();
    if (compact.starts_with('+') || compact.starts_with("00"))
        && let Ok(phone) = E164::parse_shape(&compact)
    {
        return ClientSearch::Phone(phone);
    }
    if let Ok(id) = ClientId::parse(typed) {
        return ClientSearch::Id(id);
    }
    ClientSearch::NamePrefix(typed.to_owned())
}

/// A page of the clients a search finds, highest id first.
pub async fn search(
    app: &App,
    search: &ClientSearch,
    page: IdPage,
    limit: i64,
) -> AppResult<Vec<Client>> {
    Ok(app.store.clients_page(search, page, limit).await?)
}

/// A client with what happened to it lately, each list bounded.
#[derive(Debug, Clone)]
pub struct ClientFile {
    pub client: Client,
    pub orders: Vec<Order>,
    /// Those of its phone or e-mail.
    pub activations: Vec<Activation>,
    pub interactions: Vec<Interaction>,
}

/// The client and its latest `limit` orders, activations and interactions.
pub async fn file(app: &App, id: ClientId, limit: i64) -> AppResult<ClientFile> {
    let client = get(app, id).await?;
    Ok(ClientFile {
        orders: app.store.client_orders(id, limit).await?,
        activations: app
            .store
            .client_activations(&client.real_phone, &client.mail, limit)
            .await?,
        interactions: app.store.client_interactions(id, limit).await?,
        client,
    })
}

/// Takes the client's proxy back: the client is left without one, and the number goes back to
/// the pool through the cool-off (`PROXYCALL_POOL_COOLOFF_DAYS`), as a proxy changed by
/// `update` does, so that the client's correspondents do not reach a stranger. Returns the
/// number given back; a client without a proxy is refused (nothing to give back).
pub async fn give_back_proxy(app: &App, id: ClientId) -> AppResult<E164> {
    let until = chrono::Utc::now() + app.pool_cooloff;
    match app.store.give_back_proxy(id, until).await {
        Ok(Some(proxy)) => {
            tracing::info!(client_id = %id, proxy = %proxy.masked(), "client's proxy given back");
            Ok(proxy)
        }
        Ok(None) => Err(AppError::Invalid {
            field: "client_proxy_number",
            message: "the client has no proxy to give back".into(),
        }),
        Err(StoreError::NotFound) => Err(AppError::NotFound { what: "client" }),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_box_is_read_by_what_was_typed() {
        let phone = |s: &str| ClientSearch::Phone(E164::parse_shape(s).unwrap());
        for (typed, read) in [
            ("", ClientSearch::All),
            ("   ", ClientSearch::All),
            ("42", ClientSearch::Id(ClientId::new(42).unwrap())),
            (" 7 ", ClientSearch::Id(ClientId::new(7).unwrap())),
            (
                "Jean@Example.com",
                ClientSearch::EmailPrefix("jean@example.com".into()),
            ),
            ("jean@", ClientSearch::EmailPrefix("jean@".into())),
            ("+33612345678", phone("+33612345678")),
            ("+33 6 12 34 56 78", phone("+33612345678")),
            ("0033612345678", phone("+33612345678")),
            ("+33 (0)6", ClientSearch::NamePrefix("+33 (0)6".into())),
            ("0", ClientSearch::NamePrefix("0".into())),
            ("Jeanne MAR", ClientSearch::NamePrefix("Jeanne MAR".into())),
            ("Émile", ClientSearch::NamePrefix("Émile".into())),
            (
                "'; drop table clients; --",
                ClientSearch::NamePrefix("'; drop table clients; --".into()),
            ),
        ] {
            assert_eq!(search_of(typed), read, "{typed:?}");
        }
    }
}
