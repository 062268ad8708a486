//! Missed calls, voicemail and the whisper (`app::voicemail`): the TwiML of a call to the
//! client, Twilio's callbacks once its phone stopped ringing (signed), and the public listen
//! link, which serves the recording fetched from Twilio with the account's credentials.

use axum::extract::{Path, State};
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{public, twilio_signed};
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::twilio::{SignedForm, xml};
use crate::app::routing::ToClient;
use crate::app::voicemail::{self, AfterDial, Listen, RING_SECS};
use crate::domain::{E164, OrderId};
use crate::twiml;

pub fn router() -> OpenApiRouter<AppState> {
    twilio_signed(
        OpenApiRouter::new()
            .routes(routes!(dial_status))
            .routes(routes!(recorded))
            .routes(routes!(recording))
            .routes(routes!(whisper)),
    )
    .merge(public(OpenApiRouter::new().routes(routes!(listen))))
}

/// A third party's call routed to the client.
pub struct ClientCall<'a> {
    pub proxy: &'a E164,
    pub client_phone: &'a E164,
    /// What routing knew: the client, the caller's order, their quiet hours.
    pub to: &'a ToClient,
    pub caller: Option<&'a E164>,
    pub sid: Option<&'a str>,
}

/// The TwiML of a call to the client: a dial that reports how it ended, whispered first when
/// `PROXYCALL_WHISPER` is on; during the client's quiet hours, the voicemail at once.
pub(super) async fn connect_to_client(state: &AppState, call: ClientCall<'_>) -> String {
    let quiet = call.to.quiet_until.is_some()
        && voicemail::straight_to_voicemail(
            &state.app,
            call.to.client,
            call.proxy,
            call.caller,
            call.sid,
        )
        .await
        .unwrap_or_else(|e| {
            // The voicemail could not be opened: the call goes through.
            tracing::error!(error = %e, "a quiet client's voicemail could not be opened");
            false
        });
    if quiet {
        return record_twiml(state);
    }
    let base = &state.app.routing.public_base_url;
    let whisper = if state.app.voicemail.whisper {
        Some(match &call.to.order {
            Some(order) => format!(
                "{base}/twilio/voice/whisper?order_id={}",
                form_urlencoded::byte_serialize(order.as_str().as_bytes()).collect::<String>()
            ),
            None => format!("{base}/twilio/voice/whisper"),
        })
    } else {
        None
    };
    twiml::dial_client(
        call.proxy,
        call.client_phone,
        &format!("{base}/twilio/voice/dial-status"),
        RING_SECS,
        whisper.as_deref(),
    )
}

/// What the caller hears before the beep, and where Twilio reports the recording.
fn record_twiml(state: &AppState) -> String {
    let base = &state.app.routing.public_base_url;
    let words = state.catalogue;
    twiml::record(
        &words.voice_language,
        &words.voicemail.prompt,
        state.app.voicemail.max_length_secs,
        &format!("{base}/twilio/voice/recorded"),
        &format!("{base}/twilio/voice/recording"),
    )
}

/// The form Twilio posts when the dial of a forwarded call ends (other fields are accepted and
/// signed, not read).
#[derive(Deserialize, ToSchema)]
#[allow(non_snake_case, dead_code)]
pub struct DialStatusCallback {
    /// The forwarded call (the caller's leg).
    #[schema(example = "CA0123456789abcdef0123456789abcdef")]
    CallSid: String,
    /// `completed`, `answered`, `busy`, `no-answer`, `failed`, `canceled`.
    #[schema(example = "no-answer")]
    DialCallStatus: String,
    /// The caller's number (E.164).
    #[schema(example = "+33698765432")]
    From: String,
}

/// The dial of a call to a client ended. Unanswered (`no-answer`, `busy`, `failed`), the caller
/// may leave a message (`PROXYCALL_VOICEMAIL`), or the client is texted the missed call. A call
/// that is not one we forwarded to a client gets an empty answer, and nothing is sent. Signed
/// by Twilio (`X-Twilio-Signature`).
#[utoipa::path(post, path = "/twilio/voice/dial-status", tag = "twilio",
    request_body(content = DialStatusCallback, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, content_type = "text/xml", body = String, description = "TwiML",
            example = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say language=\"fr-FR\">Votre correspondant n'est pas disponible. Laissez un message après le bip.</Say><Record maxLength=\"120\" playBeep=\"true\" action=\"https://proxycall.example.com/twilio/voice/recorded\" method=\"POST\" recordingStatusCallback=\"https://proxycall.example.com/twilio/voice/recording\" recordingStatusCallbackMethod=\"POST\" /></Response>"),
              (status = 403, body = ErrorBody, description = "`bad_signature`: missing or invalid X-Twilio-Signature",
            example = json!({"code": "bad_signature", "message": "missing or invalid X-Twilio-Signature", "detail": "missing or invalid X-Twilio-Signature"}))))]
pub async fn dial_status(State(state): State<AppState>, form: SignedForm) -> Response {
    let (Some(sid), Some(status)) = (form.get("CallSid"), form.get("DialCallStatus")) else {
        return xml(twiml::empty());
    };
    let words = state.catalogue;
    let caller = form.phone("From");
    xml(
        match voicemail::dial_ended(&state.app, words, sid, caller.as_ref(), status).await {
            Ok(AfterDial::Nothing) => twiml::empty(),
            Ok(AfterDial::Record) => record_twiml(&state),
            Ok(AfterDial::Missed) => twiml::say(&words.voice_language, &words.unavailable),
            Err(e) => {
                tracing::error!(error = %e, "dial status failed");
                twiml::say(&words.voice_language, &words.unavailable)
            }
        },
    )
}

/// The form Twilio posts when a `<Record>` ends.
#[derive(Deserialize, ToSchema)]
#[allow(non_snake_case, dead_code)]
pub struct RecordedCallback {
    /// The forwarded call.
    #[schema(example = "CA0123456789abcdef0123456789abcdef")]
    CallSid: String,
    /// The recording, when there is one.
    #[schema(example = "RE0123456789abcdef0123456789abcdef")]
    RecordingSid: Option<String>,
    /// Its length in seconds.
    #[schema(example = "14")]
    RecordingDuration: Option<String>,
}

/// The message is recorded (or the caller left none: the client is then texted the missed
/// call). Signed by Twilio (`X-Twilio-Signature`).
#[utoipa::path(post, path = "/twilio/voice/recorded", tag = "twilio",
    request_body(content = RecordedCallback, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, content_type = "text/xml", body = String, description = "TwiML",
            example = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say language=\"fr-FR\">Merci, votre message a été transmis. Au revoir.</Say></Response>"),
              (status = 403, body = ErrorBody, description = "`bad_signature`: missing or invalid X-Twilio-Signature",
            example = json!({"code": "bad_signature", "message": "missing or invalid X-Twilio-Signature", "detail": "missing or invalid X-Twilio-Signature"}))))]
pub async fn recorded(State(state): State<AppState>, form: SignedForm) -> Response {
    let words = state.catalogue;
    if let Some(sid) = form.get("CallSid") {
        let duration = form
            .get("RecordingDuration")
            .and_then(|d| d.parse::<i64>().ok());
        let result =
            voicemail::record_ended(&state.app, words, sid, form.get("RecordingSid"), duration)
                .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "recording end failed");
        }
    }
    xml(twiml::say(&words.voice_language, &words.voicemail.thanks))
}

/// The form Twilio posts about a recording (`recordingStatusCallback`).
#[derive(Deserialize, ToSchema)]
#[allow(non_snake_case, dead_code)]
pub struct RecordingStatusCallback {
    /// The call recorded.
    #[schema(example = "CA0123456789abcdef0123456789abcdef")]
    CallSid: String,
    /// Twilio's id of the recording.
    #[schema(example = "RE0123456789abcdef0123456789abcdef")]
    RecordingSid: String,
    /// `in-progress`, `completed`, `absent`, `failed`.
    #[schema(example = "completed")]
    RecordingStatus: String,
    /// Its length in seconds.
    #[schema(example = "14")]
    RecordingDuration: Option<String>,
}

/// A recording is ready: the client gets a text from the proxy with a link to listen to it
/// (`/voicemail/{token}`). A recording of a call with no voicemail of ours is ignored.
/// Signed by Twilio (`X-Twilio-Signature`).
#[utoipa::path(post, path = "/twilio/voice/recording", tag = "twilio",
    request_body(content = RecordingStatusCallback, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, content_type = "text/xml", body = String, description = "empty TwiML",
            example = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response />"),
              (status = 403, body = ErrorBody, description = "`bad_signature`: missing or invalid X-Twilio-Signature",
            example = json!({"code": "bad_signature", "message": "missing or invalid X-Twilio-Signature", "detail": "missing or invalid X-Twilio-Signature"}))))]
pub async fn recording(State(state): State<AppState>, form: SignedForm) -> Response {
    if let (Some(call), Some(recording), Some(status)) = (
        form.get("CallSid"),
        form.get("RecordingSid"),
        form.get("RecordingStatus"),
    ) {
        let duration = form
            .get("RecordingDuration")
            .and_then(|d| d.parse::<i64>().ok());
        let result = voicemail::recording_status(
            &state.app,
            state.catalogue,
            call,
            recording,
            status,
            duration,
        )
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "recording callback failed");
        }
    }
    xml(twiml::empty())
}

/// `?order_id=…` of the address Twilio called (signed with it).
fn order_id(uri: &Uri) -> Option<OrderId> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == "order_id")
        .and_then(|(_, v)| OrderId::parse(&v).ok())
}

/// What the client hears before a forwarded call is connected (`PROXYCALL_WHISPER`): who
/// calls, with the order when known. Signed by Twilio (`X-Twilio-Signature`): the order id is
/// part of the signed address, which only we wrote.
#[utoipa::path(post, path = "/twilio/voice/whisper", tag = "twilio",
    params(("order_id" = Option<String>, Query, description = "the caller's order, as set in the dial's `<Number url>`")),
    responses((status = 200, content_type = "text/xml", body = String, description = "TwiML",
            example = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say language=\"fr-FR\">Appel de votre livreur pour la commande 1234.</Say></Response>"),
              (status = 403, body = ErrorBody, description = "`bad_signature`: missing or invalid X-Twilio-Signature",
            example = json!({"code": "bad_signature", "message": "missing or invalid X-Twilio-Signature", "detail": "missing or invalid X-Twilio-Signature"}))))]
pub async fn whisper(State(state): State<AppState>, uri: Uri, _form: SignedForm) -> Response {
    let words = state.catalogue;
    let line = match order_id(&uri) {
        Some(order) => words
            .voicemail
            .whisper_order
            .replace("{order}", order.as_str()),
        None => words.voicemail.whisper.clone(),
    };
    xml(twiml::say(&words.voice_language, &line))
}

/// A voicemail's audio (MP3), for `PROXYCALL_VOICEMAIL_LINK_HOURS` after it was left: the link
/// the client was texted. ProxyCall fetches it from Twilio with the account's credentials;
/// no Twilio address is ever handed out.
#[utoipa::path(get, path = "/voicemail/{token}", tag = "voicemail",
    params(("token" = String, Path, description = "the link's token, as texted to the client",
        example = "q3J8x0VbH1mZk2T9uY6wR4sLp7nC5dA0eF1gH2iJ3kM")),
    responses((status = 200, content_type = "audio/mpeg", body = Vec<u8>, description = "the message's audio (MP3 bytes)",
            example = "ID3…"),
              (status = 404, body = ErrorBody, description = "`not_found`: no such link",
            example = json!({"code": "not_found", "message": "no such voicemail", "detail": "no such voicemail"})),
              (status = 410, body = ErrorBody, description = "`gone`: the link expired, or the recording was deleted",
            example = json!({"code": "gone", "message": "this voicemail link has expired", "detail": "this voicemail link has expired"}))))]
pub async fn listen(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match voicemail::listen(&state.app, &token).await {
        Ok(Listen::Audio(audio)) => (
            [
                (header::CONTENT_TYPE, "audio/mpeg"),
                // The link is a secret: no copy kept on the way, no address passed on.
                (header::CACHE_CONTROL, "no-store"),
                (header::REFERRER_POLICY, "no-referrer"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            audio,
        )
            .into_response(),
        Ok(Listen::Unknown) => {
            ApiError::new(ErrorCode::NotFound, "no such voicemail").into_response()
        }
        Ok(Listen::Expired) => {
            ApiError::new(ErrorCode::Gone, "this voicemail link has expired").into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
