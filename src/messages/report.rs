//! The wording of the weekly report's e-mail (`app::report`): the `[report]` table of each
//! catalogue. Texts with `{…}` have their placeholders filled in by the report.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportWords {
    pub email_subject: String,
    /// `{week}`, `{from}`, `{to}`.
    pub intro: String,
    /// `{total}`, `{new}`.
    pub clients: String,
    /// `{started}`, `{promoted}`, `{updated}`, `{expired}`, `{locked}`.
    pub activations: String,
    pub calls: String,
    pub texts: String,
    /// A list with nothing in it.
    pub none: String,
    pub pool: String,
    /// `{bought}`, `{released}`.
    pub numbers: String,
    /// `{texts}`, `{calls}`, `{emails}`.
    pub failures: String,
}
