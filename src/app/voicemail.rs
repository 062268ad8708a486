//! Missed calls and voicemail (issue 12, items 3 and 7): a third party's call the client does
//! not answer ends with a text to the client — "missed call from …", or with
//! `PROXYCALL_VOICEMAIL` a message the caller left and a link to listen to it for
//! `PROXYCALL_VOICEMAIL_LINK_HOURS`. The recording stays at the carrier: the link is served by
//! ProxyCall, which fetches the audio with the account's credentials, and the recording is
//! deleted there and here after `PROXYCALL_VOICEMAIL_RETENTION_DAYS`. A forwarded call can
//! start with a whisper to the client naming the caller's order (`PROXYCALL_WHISPER`).
//!
//! Every callback must name a call we forwarded to a client (its `CallSid`): anything else is
//! ignored. The text goes through the outbox with a dedupe key on the `CallSid`, so that a
//! retried callback — or a missed call that also left a message — texts the client once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{App, AppResult, quiet_hours};
use crate::domain::{ClientId, E164};
use crate::jobs::{Job, JobContext, JobError};
use crate::messages::Catalogue;
use crate::store::{ForwardedCall, NewOutbound, NewVoicemail, OutboundKind, Recorded, Voicemail};

/// Seconds the client's phone rings before the call counts as missed.
pub const RING_SECS: u32 = 25;

/// `PROXYCALL_VOICEMAIL*` and `PROXYCALL_WHISPER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoicemailPolicy {
    /// Whether a caller the client did not answer may leave a message.
    pub enabled: bool,
    /// The longest message, in seconds.
    pub max_length_secs: u32,
    /// How long the listen link works.
    pub link_valid: chrono::Duration,
    /// How long a recording is kept (at the carrier and here).
    pub retention: chrono::Duration,
    /// Whether a forwarded call starts with a whisper to the client.
    pub whisper: bool,
}

pub const DEFAULT_MAX_LENGTH_SECS: u32 = 120;
pub const DEFAULT_LINK_HOURS: i64 = 72;
pub const DEFAULT_RETENTION_DAYS: i64 = 30;

impl Default for VoicemailPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            max_length_secs: DEFAULT_MAX_LENGTH_SECS,
            link_valid: chrono::Duration::hours(DEFAULT_LINK_HOURS),
            retention: chrono::Duration::days(DEFAULT_RETENTION_DAYS),
            whisper: false,
        }
    }
}

/// During the client's quiet hours (routing read them with the batch) a call to them is not
/// dialled: the caller may leave a message (whatever `PROXYCALL_VOICEMAIL` says, so that an
/// urgent caller is never turned away), and the text about it waits for the end of the quiet
/// hours. Opens the voicemail; answers whether the call goes to it.
pub async fn straight_to_voicemail(
    app: &App,
    client: ClientId,
    proxy: &E164,
    caller: Option<&E164>,
    call_sid: Option<&str>,
) -> AppResult<bool> {
    let (Some(caller), Some(call_sid)) = (caller, call_sid) else {
        return Ok(false);
    };
    app.store
        .open_voicemail(&NewVoicemail {
            call_sid: call_sid.to_owned(),
            client_id: client,
            proxy: proxy.clone(),
            caller: caller.clone(),
            created_at: Utc::now(),
        })
        .await?;
    Ok(true)
}

/// What the caller hears once the client's phone stopped ringing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterDial {
    /// Nothing: the call was answered, the caller hung up, or it is not a call of ours.
    Nothing,
    /// The client did not answer; the missed call is texted to them.
    Missed,
    /// The client did not answer; the caller may leave a message.
    Record,
}

/// Why a dialled call ended (`DialCallStatus`), as far as it matters here.
fn unanswered(status: &str) -> bool {
    matches!(status, "no-answer" | "busy" | "failed")
}

/// The dial of a forwarded call ended with `status`: a call to the client that went
/// unanswered gets a voicemail (opened now: the recording's callback names only the call), or
/// the missed-call text.
pub async fn dial_ended(
    app: &App,
    words: &Catalogue,
    call_sid: &str,
    caller: Option<&E164>,
    status: &str,
) -> AppResult<AfterDial> {
    if !unanswered(status) {
        return Ok(AfterDial::Nothing);
    }
    let Some(call) = app.store.forwarded_call(call_sid).await? else {
        return Ok(AfterDial::Nothing);
    };
    // The caller's number is the signed webhook's; an anonymous one was never forwarded.
    let Some(caller) = caller else {
        return Ok(AfterDial::Nothing);
    };
    let now = Utc::now();
    if app.voicemail.enabled {
        app.store
            .open_voicemail(&NewVoicemail {
                call_sid: call_sid.to_owned(),
                client_id: call.client.id,
                proxy: call.proxy.clone(),
                caller: caller.clone(),
                created_at: now,
            })
            .await?;
        return Ok(AfterDial::Record);
    }
    missed_text(app, words, &call, caller, call_sid, now, now).await?;
    Ok(AfterDial::Missed)
}

/// The recording ended (the `<Record>`'s action). A caller who left nothing gets the client a
/// missed-call text instead of a voicemail.
pub async fn record_ended(
    app: &App,
    words: &Catalogue,
    call_sid: &str,
    recording_sid: Option<&str>,
    duration_secs: Option<i64>,
) -> AppResult<()> {
    let left_something = recording_sid.is_some() && duration_secs.is_none_or(|d| d > 0);
    if left_something {
        return Ok(());
    }
    nothing_left(app, words, call_sid).await
}

/// A voicemail without a message: the missed-call text, from what the voicemail row holds.
async fn nothing_left(app: &App, words: &Catalogue, call_sid: &str) -> AppResult<()> {
    let Some(voicemail) = app.store.voicemail_by_call(call_sid).await? else {
        return Ok(());
    };
    let Some(call) = app.store.forwarded_call(call_sid).await? else {
        return Ok(());
    };
    missed_text(
        app,
        words,
        &call,
        &voicemail.caller,
        call_sid,
        voicemail.created_at,
        Utc::now(),
    )
    .await
}

/// The carrier's word on a recording (`recordingStatusCallback`): a completed one becomes the
/// voicemail text with its listen link; a failed one, the missed-call text. A recording of a
/// call with no voicemail of ours is ignored.
pub async fn recording_status(
    app: &App,
    words: &Catalogue,
    call_sid: &str,
    recording_sid: &str,
    status: &str,
    duration_secs: Option<i64>,
) -> AppResult<()> {
    let Some(voicemail) = app.store.voicemail_by_call(call_sid).await? else {
        return Ok(());
    };
    match status {
        "completed" if duration_secs != Some(0) => {}
        // No message to hear: the call was still missed.
        "completed" | "failed" | "absent" => return nothing_left(app, words, call_sid).await,
        // `in-progress`: the completed one follows.
        _ => return Ok(()),
    }
    if !crate::carrier::is_recording_sid(recording_sid) {
        return Ok(());
    }
    let Some(call) = app.store.forwarded_call(call_sid).await? else {
        return Ok(());
    };
    let now = Utc::now();
    let (token, token_hash) = super::activation::code::new_link_token();
    let link_expires_at = now + app.voicemail.link_valid;
    let tz = app.routing.timezone;
    let body = words
        .voicemail
        .voicemail_sms
        .replace("{caller}", &voicemail.caller.masked().to_string())
        .replace(
            "{when}",
            &voicemail
                .created_at
                .with_timezone(&tz)
                .format(&words.voicemail.time_format)
                .to_string(),
        )
        .replace(
            "{link}",
            &format!("{}/voicemail/{token}", app.routing.public_base_url),
        )
        .replace(
            "{until}",
            &link_expires_at
                .with_timezone(&tz)
                .format(&words.voicemail.time_format)
                .to_string(),
        );
    let text = notice(&call, "voicemail", body, call_sid);
    let recorded = Recorded {
        recording_sid: recording_sid.to_owned(),
        duration_secs,
        token_hash,
        link_expires_at,
    };
    let send_at = quiet_hours::held_until(app, call.client.id)
        .await?
        .unwrap_or(now);
    if app
        .store
        .record_voicemail(call_sid, &recorded, &text, send_at, now)
        .await?
    {
        app.job_wake.notify_waiters();
    }
    Ok(())
}

/// The text that tells the client about the call, from its proxy; one per call.
fn notice(
    call: &ForwardedCall,
    purpose: &'static str,
    body: String,
    call_sid: &str,
) -> NewOutbound {
    NewOutbound {
        kind: OutboundKind::Sms,
        purpose,
        from: call.proxy.clone(),
        to: call.client.real_phone.clone(),
        body: Some(body),
        url: None,
        dedupe_key: Some(format!("missed_call:{call_sid}")),
        relay: None,
    }
}

async fn missed_text(
    app: &App,
    words: &Catalogue,
    call: &ForwardedCall,
    caller: &E164,
    call_sid: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let body = words
        .voicemail
        .missed_sms
        .replace("{caller}", &caller.masked().to_string())
        .replace(
            "{when}",
            &at.with_timezone(&app.routing.timezone)
                .format(&words.voicemail.time_format)
                .to_string(),
        );
    let text = notice(call, "missed_call", body, call_sid);
    let send_at = quiet_hours::held_until(app, call.client.id)
        .await?
        .unwrap_or(now);
    if app.store.enqueue_at(&text, send_at, now).await?.is_some() {
        app.job_wake.notify_waiters();
    }
    Ok(())
}

/// What a listen link leads to.
pub enum Listen {
    /// The recording's audio (MP3).
    Audio(Vec<u8>),
    /// No such link.
    Unknown,
    /// The link's time is over, or the recording was deleted.
    Expired,
}

/// The audio behind a listen link, fetched from the carrier with the account's credentials.
pub async fn listen(app: &App, token: &str) -> AppResult<Listen> {
    // A token is 43 URL-safe characters: anything else names nothing, and costs no query.
    if token.len() != 43
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(Listen::Unknown);
    }
    let hash = super::activation::code::link_token_hash(token);
    let Some(voicemail) = app.store.voicemail_by_token(&hash).await? else {
        return Ok(Listen::Unknown);
    };
    let (Some(sid), Some(until)) = (&voicemail.recording_sid, voicemail.link_expires_at) else {
        return Ok(Listen::Unknown);
    };
    if until <= Utc::now() {
        return Ok(Listen::Expired);
    }
    match app.carrier.recording_audio(sid).await {
        Ok(audio) => Ok(Listen::Audio(audio)),
        Err(crate::carrier::CarrierError::Rejected { status: 404, .. }) => Ok(Listen::Expired),
        Err(e) => Err(e.into()),
    }
}

/// Deletes the recordings older than `PROXYCALL_VOICEMAIL_RETENTION_DAYS`, at the carrier
/// first, then their rows; one the carrier could not delete now stays for the next run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PurgeVoicemails {}

/// Voicemails one run handles at most; the rest wait for the next hour.
const PURGE_BATCH: i64 = 500;

impl Job for PurgeVoicemails {
    const KIND: &'static str = "voicemails.purge";

    async fn run(self, ctx: JobContext) -> Result<Option<serde_json::Value>, JobError> {
        let app = &ctx.app;
        let before = ctx.now - app.voicemail.retention;
        let old: Vec<Voicemail> = app.store.voicemails_before(before, PURGE_BATCH).await?;
        let (mut deleted, mut kept) = (0u64, 0u64);
        for voicemail in old {
            if let Some(sid) = &voicemail.recording_sid
                && let Err(e) = app.carrier.delete_recording(sid).await
            {
                tracing::warn!(error = %e, "a recording could not be deleted at the carrier");
                kept += 1;
                continue;
            }
            app.store.delete_voicemail(voicemail.id).await?;
            deleted += 1;
        }
        if deleted > 0 {
            tracing::info!(count = deleted, "old voicemails deleted");
        }
        if kept > 0 {
            return Err(JobError::retry(format!(
                "{kept} recording(s) could not be deleted at the carrier"
            )));
        }
        Ok(Some(json!({ "deleted": deleted })))
    }
}
