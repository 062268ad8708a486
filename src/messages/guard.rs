//! The wording of the unmasking guard and the opt-out keywords (`app::routing::guard`,
//! `keywords`): the `[guard]` table of each catalogue. Each is one short text: carriers
//! expect the answers to stop, start and help words to fit one SMS.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardWords {
    /// What replaces a phone number in a redacted relay.
    pub hidden_phone: String,
    /// What replaces an e-mail address.
    pub hidden_email: String,
    /// What replaces a link.
    pub hidden_link: String,
    /// Told to a sender whose relayed text was redacted (once a day per proxy).
    pub unmask_redacted_sms: String,
    /// Told to a sender whose text was not relayed (once a day per proxy).
    pub unmask_blocked_sms: String,
    /// The answer to a stop word.
    pub opted_out_sms: String,
    /// The answer to a start word after a stop word.
    pub opted_in_sms: String,
    /// The answer to a help word.
    pub help_sms: String,
}
