//! What a client reads and hears of their recent contacts (`#?`, `#N`, `BLOQUER #N`, the call
//! menu): the `[contacts]` table of each catalogue. Texts with `{…}` have their placeholders
//! filled in; `time_format` and `date_format` are chrono's `strftime` patterns.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactWords {
    /// Times and days in a list or a menu, in the operator's time zone.
    pub time_format: String,
    pub date_format: String,
    /// `{time}`: a contact seen today.
    pub today: String,
    /// `{date}`, `{time}`: a contact seen another day.
    pub other_day: String,
    /// How a contact last reached the client: a call, a text, or unknown (from before).
    pub by_call: String,
    pub by_text: String,
    pub by_unknown: String,
    /// `#?`'s answer: a header, a line per contact, a footer.
    pub list_header: String,
    /// `{n}`, `{number}` (masked), `{how}`, `{when}`, `{order}`, `{blocked}`.
    pub list_line: String,
    /// `{order}`: filled in where a contact's order is known.
    pub list_order: String,
    pub list_blocked: String,
    pub list_footer: String,
    /// `#N` or `BLOQUER #N` with fewer contacts: `{n}`.
    pub no_such: String,
    /// A command that names no contact.
    pub usage: String,
    /// `{n}`, `{number}` (masked).
    pub blocked: String,
    pub unblocked: String,
    /// `#N message` to a blocked contact: `{n}`, `{number}`.
    pub is_blocked: String,
    /// The call menu, a line per contact: `{n}`, `{how}`, `{when}`, `{order}`.
    pub menu_line: String,
    pub menu_how_call: String,
    pub menu_how_text: String,
    pub menu_how_unknown: String,
    /// `{order}`.
    pub menu_order: String,
    /// Said after the lines: no key connects the most recent.
    pub menu_default: String,
    /// A key that numbers no contact.
    pub menu_again: String,
}
