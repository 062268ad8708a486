//! The wording of what a relay adds or sends back (`app::routing::relay`, the outbox's
//! bounces): the `[relay]` table of each catalogue.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayWords {
    /// SMS from the proxy to a sender whose relayed text finally failed.
    pub bounce_sms: String,
    /// A line added to a relayed text whose pictures could not go on (the destination takes
    /// no MMS, or an address was refused).
    pub picture_not_forwarded: String,
}
