//! The correspondents a client blocked (issue 12), as the operator sees and changes them
//! through the API. The client blocks and unblocks by text (`BLOQUER #N`), through routing.

use chrono::Utc;

use super::{App, AppError, AppResult};
use crate::domain::{ClientId, E164};
use crate::store::Contact;

/// A client's blocked correspondents, the latest blocked first.
pub async fn list(app: &App, client: ClientId) -> AppResult<Vec<Contact>> {
    super::clients::get(app, client).await?;
    Ok(app.store.blocked_contacts(client).await?)
}

/// Blocks or unblocks one of the client's correspondents. Only a number that reached the
/// client can be blocked: a block names a contact, not any number. Answers the contact and
/// whether this changed it.
pub async fn set(
    app: &App,
    client: ClientId,
    number: &E164,
    blocked: bool,
) -> AppResult<(Contact, bool)> {
    super::clients::get(app, client).await?;
    app.store
        .set_blocked(client, number, blocked.then(Utc::now))
        .await?
        .ok_or(AppError::NotFound { what: "contact" })
}
