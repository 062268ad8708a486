//! The wording of missed calls, voicemail and the whisper (`app::voicemail`): the
//! `[voicemail]` table of each catalogue. Texts with `{…}` have their placeholders filled in.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoicemailWords {
    /// How `{when}` and `{until}` are written (chrono's strftime), in `PROXYCALL_TIMEZONE`.
    pub time_format: String,
    /// Said to the caller before the beep.
    pub prompt: String,
    /// Said to the caller once the message is recorded.
    pub thanks: String,
    /// `{caller}`, `{when}`.
    pub missed_sms: String,
    /// `{caller}`, `{when}`, `{link}`, `{until}`.
    pub voicemail_sms: String,
    /// Whispered to the client when the caller's order is not known.
    pub whisper: String,
    /// `{order}`.
    pub whisper_order: String,
}
