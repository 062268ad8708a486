//! Missed calls and voicemail (`app::voicemail`): the forwarded call a callback must name, the
//! voicemails and their listen links, and the clients' quiet hours.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Client, NewOutbound, StoreResult};
use crate::domain::{ClientId, E164};

/// A call we forwarded to a client: what a dial-status or recording callback must match.
#[derive(Debug, Clone)]
pub struct ForwardedCall {
    pub proxy: E164,
    pub client: Client,
}

/// A voicemail opened when its recording starts.
#[derive(Debug, Clone)]
pub struct NewVoicemail {
    pub call_sid: String,
    pub client_id: ClientId,
    pub proxy: E164,
    pub caller: E164,
    pub created_at: DateTime<Utc>,
}

/// A voicemail as stored (never its token: only the token's hash is kept).
#[derive(Debug, Clone)]
pub struct Voicemail {
    pub id: i64,
    pub call_sid: String,
    pub client_id: ClientId,
    pub proxy: E164,
    pub caller: E164,
    /// Set once the carrier said the recording is ready.
    pub recording_sid: Option<String>,
    pub duration_secs: Option<i64>,
    pub link_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub recorded_at: Option<DateTime<Utc>>,
}

/// The recording of a voicemail, once ready, with its listen link.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub recording_sid: String,
    pub duration_secs: Option<i64>,
    pub token_hash: String,
    pub link_expires_at: DateTime<Utc>,
}

/// A client's quiet hours: local times of day (`PROXYCALL_TIMEZONE`), `start` to `end`,
/// over midnight when `end` is earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: chrono::NaiveTime,
    pub end: chrono::NaiveTime,
}

#[async_trait]
pub trait VoicemailStore {
    /// The call with this `CallSid` that we forwarded to a client (a third party's call), with
    /// that client; `None` for any other call.
    async fn forwarded_call(&self, call_sid: &str) -> StoreResult<Option<ForwardedCall>>;
    /// Opens a voicemail; `false` when one exists for this call (a retried callback).
    async fn open_voicemail(&self, voicemail: &NewVoicemail) -> StoreResult<bool>;
    async fn voicemail_by_call(&self, call_sid: &str) -> StoreResult<Option<Voicemail>>;
    /// Records the recording of the call's voicemail and queues the text to the client (due
    /// at `send_at`), in one transaction; `false` when the voicemail was recorded already or
    /// is unknown (nothing written).
    async fn record_voicemail(
        &self,
        call_sid: &str,
        recorded: &Recorded,
        text: &NewOutbound,
        send_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// The voicemail whose listen token hashes to `token_hash`.
    async fn voicemail_by_token(&self, token_hash: &str) -> StoreResult<Option<Voicemail>>;
    /// Voicemails created before `before`, oldest first, at most `limit`.
    async fn voicemails_before(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Voicemail>>;
    async fn delete_voicemail(&self, id: i64) -> StoreResult<()>;
    /// The quiet hours of those of `clients` that have some.
    async fn quiet_hours_of(
        &self,
        clients: &[ClientId],
    ) -> StoreResult<Vec<(ClientId, QuietHours)>>;
    /// The client's quiet hours; `NotFound` when there is no such client.
    async fn quiet_hours(&self, client: ClientId) -> StoreResult<Option<QuietHours>>;
    /// Sets (or with `None` clears) the client's quiet hours; `NotFound` when there is no such
    /// client.
    async fn set_quiet_hours(
        &self,
        client: ClientId,
        hours: Option<QuietHours>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
}
