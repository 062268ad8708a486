//! The pool: what is available, handing a number to a client, adding numbers by hand.

use chrono::Utc;

use super::{App, AppError, AppResult, pool_exhausted};
use crate::domain::{ClientId, ClientName, CountryIso, E164, NumberType, NumberTypeFilter};
use crate::store::{Conflict, NewPoolNumber, PoolNumber, PoolStatus, ProxyPick, StoreError};

pub async fn available(
    app: &App,
    country: CountryIso,
    filter: NumberTypeFilter,
) -> AppResult<Vec<PoolNumber>> {
    Ok(app
        .store
        .pool_numbers(Some(country), filter, Some(PoolStatus::Available))
        .await?)
}

#[derive(Debug, Clone)]
pub struct Assign {
    pub client_id: ClientId,
    pub country: CountryIso,
    pub client_name: ClientName,
    pub number_type: NumberType,
    pub friendly_name: Option<String>,
}

/// Marks one available number of exactly that type as the client's, atomically. As in the
/// earlier version, the client row is not touched: the operator then sets the proxy with
/// `PUT /clients/{id}`.
pub async fn assign(app: &App, a: Assign) -> AppResult<PoolNumber> {
    let pick = ProxyPick {
        country: a.country,
        types: vec![a.number_type],
        attribution_name: a.client_name.as_str().to_owned(),
        friendly_name: a.friendly_name.clone(),
    };
    match app.store.assign_from_pool(a.client_id, &pick).await? {
        Some(number) => {
            tracing::info!(
                client_id = %a.client_id,
                proxy = %number.phone_number.masked(),
                country = %a.country,
                number_type = %a.number_type,
                "pool number assigned"
            );
            Ok(number)
        }
        None => Err(pool_exhausted(app.store.as_ref(), a.country, &pick.types).await),
    }
}

#[derive(Debug, Clone)]
pub struct AddNumber {
    pub phone_number: E164,
    pub country: Option<CountryIso>,
    pub number_type: NumberType,
    pub voice: bool,
    pub sms: bool,
    pub friendly_name: Option<String>,
}

/// Adds a number the operator already has (or a simulated one) as available, without asking
/// the carrier. The country defaults to the number's own. A client's real phone is refused:
/// as one of ours, that client's own calls and texts would no longer be relayed.
pub async fn add(app: &App, n: AddNumber) -> AppResult<PoolNumber> {
    if app.store.is_client_phone(&n.phone_number).await? {
        return Err(AppError::Invalid {
            field: "phone_number",
            message: "is a client's real phone, not a number of this service".into(),
        });
    }
    let country = n
        .country
        .or_else(|| n.phone_number.region())
        .ok_or_else(|| AppError::Invalid {
            field: "country",
            message: "is required: no country can be derived from the number".into(),
        })?;
    let new = NewPoolNumber {
        phone_number: n.phone_number.clone(),
        twilio_sid: None,
        country_iso: country,
        number_type: n.number_type,
        voice_capable: n.voice,
        sms_capable: n.sms,
        friendly_name: n.friendly_name,
        purchased_at: Utc::now(),
    };
    match app.store.add_pool_number(&new).await {
        Ok(number) => {
            tracing::info!(number = %number.phone_number.masked(), %country, "pool number added");
            Ok(number)
        }
        Err(StoreError::Conflict(Conflict::NumberExists)) => Err(AppError::Conflict {
            kind: super::ConflictKind::NumberExists,
            message: format!("{} is already in the pool", n.phone_number),
        }),
        Err(e) => Err(e.into()),
    }
}
