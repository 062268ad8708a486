//! The wording of the low pool's e-mail to the operator (`app::low_water`): the `[pool_alert]`
//! table of each catalogue. Texts with `{…}` have their placeholders filled in.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolAlertWords {
    pub email_subject: String,
    /// `{country}`, `{number_type}`, `{available}`, `{low_water}`.
    pub intro: String,
    /// Auto-buy is not configured.
    pub auto_buy_off: String,
    /// `{bought}`, `{target}`, `{spent}`, `{budget}`.
    pub auto_bought: String,
    /// Nothing bought: the month's budget is spent. `{spent}`, `{budget}`.
    pub budget_spent: String,
    /// Buying failed. `{bought}`, `{error}`.
    pub auto_buy_failed: String,
    /// What the operator can do.
    pub advice: String,
}
