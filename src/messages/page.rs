//! The wording of the self-service pages (`http/pages/`): the `[page]` table of each catalogue.
//! Texts with `{…}` have their placeholders filled in by the page that shows them.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageWords {
    pub site_name: String,
    /// The link to the other language, written in that language.
    pub other_language: String,
    pub skip_to_content: String,

    pub form_title: String,
    pub form_intro: String,
    pub required_note: String,
    pub label_name: String,
    pub label_mail: String,
    pub label_phone: String,
    pub hint_phone: String,
    pub label_country: String,
    pub submit: String,
    /// Above the list of errors at the top of the form; `{count}`.
    pub errors_summary: String,
    pub error_name_empty: String,
    pub error_name_invalid: String,
    pub error_mail_empty: String,
    pub error_mail_invalid: String,
    pub error_phone_empty: String,
    pub error_phone_format: String,
    pub error_phone_invalid: String,
    /// A number that cannot get a code: premium rate, one of ours, a country not served.
    pub error_phone_refused: String,
    pub error_country: String,
    pub error_csrf: String,
    /// `{minutes}`.
    pub error_cooldown: String,
    pub error_daily_limit_phone: String,
    pub error_daily_limit_email: String,
    pub error_pool_exhausted: String,
    pub error_unavailable: String,

    pub status_title: String,
    pub steps_title: String,
    pub step_sms: String,
    pub step_call: String,
    pub step_link: String,
    pub status_label: String,
    pub status_pending: String,
    pub status_pending_call: String,
    pub status_pending_mail: String,
    pub status_verified: String,
    /// `{proxy}`: the client's ProxyCall number.
    pub status_done: String,
    pub status_expired: String,
    pub status_locked: String,
    /// `{wrong}`, `{max}`.
    pub wrong_answers: String,
    /// `{seconds}`.
    pub refresh_note: String,
    pub refresh_now: String,
    pub new_request: String,
    pub under_way_title: String,
    pub under_way_text: String,
    pub status_unknown_title: String,
    pub status_unknown_text: String,

    pub verify_invalid_title: String,
    pub verify_invalid_text: String,
    pub verify_not_found_title: String,
    pub verify_not_found_text: String,
    pub verify_already_title: String,
    pub verify_already_text: String,
    pub verify_expired_title: String,
    pub verify_expired_text: String,
    pub verify_confirm_from_phone_title: String,
    pub verify_confirm_from_phone_text: String,
    pub verify_confirm_from_email_title: String,
    pub verify_confirm_from_email_text: String,
    pub verify_locked_title: String,
    pub verify_locked_text: String,
    pub verify_error_title: String,
    pub verify_error_text: String,
    pub verify_success_title: String,
    pub verify_success_text: String,

    pub too_many_title: String,
    /// `{minutes}`.
    pub too_many_text: String,
    pub error_title: String,

    /// The countries a proxy number can be asked in, by ISO code (the form lists them in the
    /// order `http/pages` gives).
    pub countries: BTreeMap<String, String>,
}
