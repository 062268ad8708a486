//! What callers hear and read comes from a catalogue per language (`messages/*.toml`),
//! embedded in the binary. French is the default, as the earlier version spoke.

use std::sync::OnceLock;

use serde::Deserialize;

mod admin;
mod contacts;
mod guard;
mod page;
mod pool_alert;
mod relay;
mod report;
mod voicemail;
pub use admin::AdminWords;
pub use contacts::ContactWords;
pub use guard::GuardWords;
pub use page::PageWords;
pub use pool_alert::PoolAlertWords;
pub use relay::RelayWords;
pub use report::ReportWords;
pub use voicemail::VoicemailWords;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Fr,
    En,
}

impl Language {
    /// The language a page offers to switch to.
    pub fn other(self) -> Self {
        match self {
            Self::Fr => Self::En,
            Self::En => Self::Fr,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fr => "fr",
            Self::En => "en",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "fr" | "fr-fr" => Ok(Self::Fr),
            "en" | "en-us" | "en-gb" => Ok(Self::En),
            other => Err(format!("'{other}' is not a catalogue (fr or en)")),
        }
    }
}

/// One language's wording. Every field is required and no other is allowed, so an
/// incomplete catalogue cannot load.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    pub voice_language: String,
    pub unknown_number: String,
    pub country_blocked: String,
    pub no_recent_caller: String,
    pub unavailable: String,
    pub voice_apology: String,
    pub sms_unknown_proxy: String,
    pub sms_no_recent_correspondent: String,
    pub sms_apology: String,
    pub otp_sms: String,
    pub otp_link_sms: String,
    pub otp_confirmed_sms: String,
    pub otp_wrong_sms: String,
    pub otp_locked: String,
    pub otp_expired: String,
    pub otp_confirm_from_email: String,
    pub otp_not_an_answer_sms: String,
    pub otp_call_intro: String,
    pub otp_call_repeat: String,
    pub otp_call_prompt: String,
    pub otp_call_no_input: String,
    pub otp_call_technical: String,
    pub otp_call_not_valid: String,
    pub otp_gather_not_valid: String,
    pub otp_gather_ok: String,
    pub otp_gather_failed: String,
    pub otp_gather_too_many: String,
    pub otp_gather_wrong: String,
    pub otp_gather_again: String,
    pub otp_goodbye: String,
    pub otp_email_subject: String,
    pub otp_email_greeting: String,
    pub otp_email_text: String,
    pub otp_email_button: String,
    /// The self-service pages.
    pub page: PageWords,
    /// The weekly report's e-mail.
    pub report: ReportWords,
    /// The low pool's e-mail.
    pub pool_alert: PoolAlertWords,
    /// The dashboard at /admin.
    pub admin: AdminWords,
    /// A client's recent contacts: `#?`, `#N`, `BLOQUER #N`, the call menu.
    pub contacts: ContactWords,
    /// The unmasking guard and the opt-out keywords.
    pub guard: GuardWords,
    /// Bounces of failed relays, and pictures that could not be forwarded.
    pub relay: RelayWords,
    /// Missed calls, voicemail and the whisper.
    pub voicemail: VoicemailWords,
}

impl Catalogue {
    pub fn get(language: Language) -> &'static Catalogue {
        static FR: OnceLock<Catalogue> = OnceLock::new();
        static EN: OnceLock<Catalogue> = OnceLock::new();
        match language {
            Language::Fr => FR.get_or_init(|| parse(include_str!("../messages/fr.toml"))),
            Language::En => EN.get_or_init(|| parse(include_str!("../messages/en.toml"))),
        }
    }
}

fn parse(text: &str) -> Catalogue {
    toml::from_str(text).expect("embedded catalogues are complete (checked by tests)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_is_complete() {
        for text in [
            include_str!("../messages/fr.toml"),
            include_str!("../messages/en.toml"),
        ] {
            let parsed: Result<Catalogue, _> = toml::from_str(text);
            assert!(parsed.is_ok(), "{parsed:?}");
        }
    }

    #[test]
    fn french_keeps_the_earlier_wording() {
        let fr = Catalogue::get(Language::Fr);
        assert_eq!(fr.voice_language, "fr-FR");
        assert_eq!(fr.unknown_number, "Ce numéro n'est pas reconnu.");
        assert_eq!(
            fr.sms_no_recent_correspondent,
            "Aucun correspondant récent pour ce proxy."
        );
    }
}
