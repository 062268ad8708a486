//! Twilio's webhooks. The signature is checked first: a request without a valid
//! `X-Twilio-Signature` is refused (403) before anything is read or written (audit #1).

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::twilio_signed;
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::limits::Refusal;
use crate::app::activation::{self, CallScript, GatherReply, TextReply};
use crate::app::outbox::{self, StatusCallback};
use crate::app::routing::{self, Call, CallAnswer, Text, TextAnswer};
use crate::carrier::signature;
use crate::domain::{E164, Media, PendingId, message_body};
use crate::store::OutboundKind;
use crate::twiml;

use super::contact_text;

/// The webhooks: Twilio holds no API key, it signs each request instead.
pub fn router() -> OpenApiRouter<AppState> {
    twilio_signed(
        OpenApiRouter::new()
            .routes(routes!(voice))
            .routes(routes!(voice_menu))
            .routes(routes!(sms))
            .routes(routes!(sms_status))
            .routes(routes!(voice_status))
            .routes(routes!(voice_otp))
            .routes(routes!(voice_otp_gather)),
    )
}

/// A webhook's form parameters, once the signature over them has been checked.
pub struct SignedForm(Vec<(String, String)>);

impl SignedForm {
    /// The call a voice webhook is about.
    fn call(&self) -> Call {
        Call {
            from: self.phone("From"),
            to: self.phone("To"),
            sid: self.get("CallSid").map(str::to_owned),
        }
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// A number field, normalised; `None` when absent or not a number (e.g. `anonymous`).
    pub(super) fn phone(&self, name: &str) -> Option<E164> {
        self.get(name).and_then(|v| E164::parse_shape(v).ok())
    }
}

impl FromRequest<AppState> for SignedForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let address = super::address::client_address(state, &req);
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default();
        // Twilio signs the URL it called: our public base (with or without its default port),
        // then the path and query.
        let path_and_query = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let given = req
            .headers()
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Bytes::from_request(req, state).await.map_err(|_| {
            ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large")
        })?;
        let params: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
        let mut tokens = vec![state.webhook_token.expose_secret().as_bytes()];
        if let Some(previous) = &state.webhook_token_previous {
            tokens.push(previous.expose_secret().as_bytes());
        }
        if given.is_some_and(|sig| {
            signature::verify_any(&tokens, &state.signed_bases, &path_and_query, &params, &sig)
        }) {
            return Ok(Self(params));
        }
        refuse(state, address, &route)
    }
}

/// A forged or unsigned request: counted, logged without its content (the first per address
/// per minute), and limited per address (signed traffic never is: a dropped webhook is a lost
/// call).
fn refuse(state: &AppState, address: IpAddr, route: &str) -> Result<SignedForm, ApiError> {
    metrics::counter!("webhook_signature_failures_total").increment(1);
    state
        .limits
        .refused(address, Refusal::BadSignature, route)?;
    Err(ApiError::new(
        ErrorCode::BadSignature,
        "missing or invalid X-Twilio-Signature",
    ))
}

pub(super) fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// The form Twilio posts for a call (other fields are accepted and signed, not read).
#[derive(Deserialize, ToSchema)]
#[allow(non_snake_case, dead_code)]
pub struct VoiceWebhook {
    /// The caller's number (E.164).
    #[schema(example = "+33612345678")]
    From: String,
    /// The number called: a proxy of the pool.
    #[schema(example = "+33780000001")]
    To: String,
    /// Twilio's id of the call.
    #[schema(example = "CA0123456789abcdef0123456789abcdef")]
    CallSid: String,
}

/// The form Twilio posts for a text or a delivery status.
#[derive(Deserialize, ToSchema)]
#[allow(non_snake_case, dead_code)]
pub struct SmsWebhook {
    /// The sender's number (E.164).
    #[schema(example = "+33612345678")]
    From: String,
    /// The number texted: a proxy of the pool.
    #[schema(example = "+33780000001")]
    To: String,
    /// The text; never logged.
    #[schema(example = "Bonjour, je suis devant chez vous.")]
    Body: Option<String>,
    /// Twilio's id of the message.
    #[schema(example = "SM0123456789abcdef0123456789abcdef")]
    MessageSid: String,
    /// `received` on some inbound texts; a delivery status on status callbacks.
    #[schema(example = "received")]
    MessageStatus: Option<String>,
    /// The same, under its earlier name.
    #[schema(example = "received")]
    SmsStatus: Option<String>,
    /// How many pictures an MMS carries (`MediaUrl0`…`MediaUrl9`).
    #[schema(example = "1")]
    NumMedia: Option<String>,
    /// The first picture's address at Twilio; only Twilio's API addresses are relayed, others
    /// are refused (never fetched nor relayed). `MediaUrl1`… likewise.
    #[schema(
        example = "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/MM0123456789abcdef0123456789abcdef/Media/ME0123456789abcdef0123456789abcdef"
    )]
    MediaUrl0: Option<String>,
}

/// The form Twilio posts about a text we sent (other fields are accepted and signed, not read).
#[derive(Deserialize, ToSchema)]
#[allow(non_snake_case, dead_code)]
pub struct SmsStatusCallback {
    /// Twilio's id of the message we sent.
    #[schema(example = "SM0123456789abcdef0123456789abcdef")]
    MessageSid: String,
    /// `queued`, `sent`, `delivered`, `undelivered`, `failed`…
    #[schema(example = "delivered")]
    MessageStatus: String,
}

/// The form Twilio posts about a call we placed.
#[derive(Deserialize, ToSchema)]
#[allow(non_snake_case, dead_code)]
pub struct VoiceStatusCallback {
    /// Twilio's id of the call we placed.
    #[schema(example = "CA0123456789abcdef0123456789abcdef")]
    CallSid: String,
    /// `initiated`, `ringing`, `in-progress`, `completed`, `busy`, `failed`, `no-answer`…
    #[schema(example = "completed")]
    CallStatus: String,
}

/// A call to a proxy: connect the third party to the client, or the client to their last
/// caller. Signed by Twilio (`X-Twilio-Signature`).
#[utoipa::path(post, path = "/twilio/voice", tag = "twilio",
    request_body(content = VoiceWebhook, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, content_type = "text/xml", body = String, description = "TwiML",
            example = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial callerId=\"+33780000001\"><Number>+33612345678</Number></Dial></Response>"),
              (status = 403, body = ErrorBody, description = "`bad_signature`: missing or invalid X-Twilio-Signature",
            example = json!({"code": "bad_signature", "message": "missing or invalid X-Twilio-Signature", "detail": "missing or invalid X-Twilio-Signature"}))))]
pub async fn voice(State(state): State<AppState>, form: SignedForm) -> Response {
    let call = form.call();
    let (caller, sid) = (call.from.clone(), call.sid.clone());
    let answer = routing::route_call(&state.app, call).await;
    // A third party's call to the client: dialled with the missed-call and voicemail paths.
    if let Ok(CallAnswer::Connect {
        proxy,
        number,
        to_client: Some(to),
    }) = &answer
    {
        let call = super::voicemail::ClientCall {
            proxy,
            client_phone: number,
            to,
            caller: caller.as_ref(),
            sid: sid.as_deref(),
        };
        return xml(super::voicemail::connect_to_client(&state, call).await);
    }
    xml(call_answer(&state, answer))
}

/// A call's answer as TwiML.
fn call_answer(state: &AppState, answer: Result<CallAnswer, crate::app::AppError>) -> String {
    let words = state.catalogue;
    let say = |text: &str| twiml::say(&words.voice_language, text);
    match answer {
        Ok(CallAnswer::Connect { proxy, number, .. }) => twiml::dial(&proxy, &number),
        Ok(CallAnswer::Menu {
            proxy,
            choices,
            default,
            again,
        }) => contact_text::menu(
            words,
            state.app.routing.timezone,
            contact_text::Menu {
                choices: &choices,
                again,
                action: &format!("{}/twilio/voice/menu", state.app.routing.public_base_url),
                proxy: &proxy,
                default: &default,
            },
        ),
        Ok(CallAnswer::UnknownNumber) => say(&words.unknown_number),
        Ok(CallAnswer::CountryBlocked) => say(&words.country_blocked),
        Ok(CallAnswer::NoRecentCaller) => say(&words.no_recent_caller),
        Ok(CallAnswer::Unavailable) => say(&words.unavailable),
        Err(e) => {
            tracing::error!(error = %e, "voice webhook failed");
            say(&words.voice_apology)
        }
    }
}

/// The form Twilio posts when the client pressed a key on the call menu.
#[derive(Deserialize, ToSchema)]
#[allow(non_snake_case, dead_code)]
pub struct MenuWebhook {
    /// Twilio's id of the client's call.
    #[schema(example = "CA0123456789abcdef0123456789abcdef")]
    CallSid: String,
    /// The client's phone.
    #[schema(example = "+33612345678")]
    From: String,
    /// Their proxy.
    #[schema(example = "+33780000001")]
    To: String,
    /// The key pressed: the `#N` of the contact to reach.
    #[schema(example = "2")]
    Digits: Option<String>,
}

/// The client's key on the call menu they hear when they call their proxy with several
/// recent contacts: connects the contact it numbers, or says the menu again. Only the
/// client's own call, to their own proxy, is connected. Signed by Twilio
/// (`X-Twilio-Signature`).
#[utoipa::path(post, path = "/twilio/voice/menu", tag = "twilio",
    request_body(content = MenuWebhook, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, content_type = "text/xml", body = String, description = "TwiML",
            example = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial callerId=\"+33780000001\"><Number>+33698765432</Number></Dial></Response>"),
              (status = 403, body = ErrorBody, description = "`bad_signature`: missing or invalid X-Twilio-Signature",
            example = json!({"code": "bad_signature", "message": "missing or invalid X-Twilio-Signature", "detail": "missing or invalid X-Twilio-Signature"}))))]
pub async fn voice_menu(State(state): State<AppState>, form: SignedForm) -> Response {
    let call = form.call();
    let digits = form.get("Digits").unwrap_or_default();
    xml(call_answer(
        &state,
        routing::choose_contact(&state.app, call, digits).await,
    ))
}

/// A text to a proxy (relayed through the outbox). A delivery status posted here (any
/// `MessageStatus`/`SmsStatus` but `received`) is recorded as on `/twilio/sms/status`.
/// Signed by Twilio (`X-Twilio-Signature`).
#[utoipa::path(post, path = "/twilio/sms", tag = "twilio",
    request_body(content = SmsWebhook, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, content_type = "text/xml", body = String, description = "TwiML",
            example = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response />"),
              (status = 403, body = ErrorBody, description = "`bad_signature`: missing or invalid X-Twilio-Signature",
            example = json!({"code": "bad_signature", "message": "missing or invalid X-Twilio-Signature", "detail": "missing or invalid X-Twilio-Signature"}))))]
pub async fn sms(State(state): State<AppState>, form: SignedForm) -> Response {
    let sid = form
        .get("MessageSid")
        .or(form.get("SmsSid"))
        .map(str::to_owned);
    // An inbound text may carry `SmsStatus`/`MessageStatus=received`; any other status is a
    // delivery status, from callbacks configured on this path (by hand, or by an earlier
    // version): still recorded.
    if let Some(status) = delivery_status(&form) {
        if let Some(sid) = sid {
            record_status(&state, OutboundKind::Sms, None, sid, status).await;
        }
        return xml(twiml::empty());
    }
    let text = Text {
        from: form.phone("From"),
        to: form.phone("To"),
        // Control characters (a NUL, which PostgreSQL refuses) go here, once.
        body: message_body(form.get("Body").unwrap_or_default()).into_owned(),
        sid,
        media: Media::from_form(|k| form.get(k), &state.app.routing.relay.media_origin),
    };
    if text.media.refused > 0 {
        // Counted, never quoted: an address may lead to someone's picture.
        tracing::warn!(
            refused = text.media.refused,
            "an MMS named pictures outside the carrier's API: not relayed"
        );
    }
    let words = state.catalogue;
    // A text from a phone being activated to its proxy answers the activation.
    let mut activating = false;
    if let (Some(from), Some(to)) = (&text.from, &text.to) {
        let reply =
            activation::answer_text(&state.app, from, to, &text.body, text.sid.as_deref()).await;
        match reply {
            Ok(None) => {}
            Ok(Some(TextReply::NotAnAnswer)) => activating = true,
            Ok(Some(TextReply::Confirmed | TextReply::Nothing)) => return xml(twiml::empty()),
            Ok(Some(TextReply::Wrong)) => return xml(twiml::message(&words.otp_wrong_sms)),
            Ok(Some(TextReply::Locked)) => return xml(twiml::message(&words.otp_locked)),
            Ok(Some(TextReply::Expired)) => return xml(twiml::message(&words.otp_expired)),
            Ok(Some(TextReply::ConfirmFromEmail)) => {
                return xml(twiml::message(&words.otp_confirm_from_email));
            }
            Err(e) => {
                tracing::error!(error = %e, "activation answer failed");
                return xml(twiml::message(&words.sms_apology));
            }
        }
    }
    xml(match routing::route_text(&state.app, text).await {
        Ok(TextAnswer::Nothing) => twiml::empty(),
        // A text without a code to a number still being activated: say what is expected.
        Ok(TextAnswer::UnknownProxy) if activating => twiml::message(&words.otp_not_an_answer_sms),
        Ok(TextAnswer::UnknownProxy) => twiml::message(&words.sms_unknown_proxy),
        Ok(TextAnswer::CountryBlocked) => twiml::message(&words.country_blocked),
        Ok(TextAnswer::NoRecentCorrespondent) => twiml::message(&words.sms_no_recent_correspondent),
        Ok(TextAnswer::OptedOut) => twiml::message(&words.guard.opted_out_sms),
        Ok(TextAnswer::OptedIn) => twiml::message(&words.guard.opted_in_sms),
        Ok(TextAnswer::Help) => twiml::message(&words.guard.help_sms),
        Ok(answer) => match contact_text::reply(words, state.app.routing.timezone, &answer) {
            Some(text) => twiml::message(&text),
            None => twiml::empty(),
        },
        Err(e) => {
            tracing::error!(error = %e, "sms webhook failed");
            twiml::message(&words.sms_apology)
        }
    })
}

/// A text's delivery status, unless it says the text is an inbound one (`received`).
fn delivery_status(form: &SignedForm) -> Option<&str> {
    form.get("MessageStatus")
        .or(form.get("SmsStatus"))
        .filter(|s| !s.eq_ignore_ascii_case("received"))
}

/// `?outbound_id=N` of the address the carrier called back (signed with it).
fn outbound_id(uri: &Uri) -> Option<i64> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == "outbound_id")
        .and_then(|(_, v)| v.parse().ok())
}

/// Records a status callback; a failure is logged, and Twilio still gets its 200 (it would
/// only retry what we cannot record now).
async fn record_status(
    state: &AppState,
    kind: OutboundKind,
    outbound_id: Option<i64>,
    sid: String,
    status: &str,
) {
    let callback = StatusCallback {
        kind,
        outbound_id,
        sid,
        status: status.to_owned(),
    };
    if let Err(e) = outbox::status_callback(&state.app, callback).await {
        tracing::error!(error = %e, "status callback failed");
    }
}

/// The delivery status of a text we sent. The address we gave Twilio names the message
/// (`?outbound_id=N`): a callback proves Twilio took it, which settles a send whose outcome
/// was unknown. Signed by Twilio (`X-Twilio-Signature`).
#[utoipa::path(post, path = "/twilio/sms/status", tag = "twilio",
    params(("outbound_id" = Option<i64>, Query, description = "the outbound message, as set in the StatusCallback we gave")),
    request_body(content = SmsStatusCallback, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, content_type = "text/xml", body = String, description = "empty TwiML",
            example = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response />"),
              (status = 403, body = ErrorBody, description = "`bad_signature`: missing or invalid X-Twilio-Signature",
            example = json!({"code": "bad_signature", "message": "missing or invalid X-Twilio-Signature", "detail": "missing or invalid X-Twilio-Signature"}))))]
pub async fn sms_status(State(state): State<AppState>, uri: Uri, form: SignedForm) -> Response {
    let sid = form.get("MessageSid").or(form.get("SmsSid"));
    let status = form.get("MessageStatus").or(form.get("SmsStatus"));
    if let (Some(sid), Some(status)) = (sid, status) {
        record_status(
            &state,
            OutboundKind::Sms,
            outbound_id(&uri),
            sid.to_owned(),
            status,
        )
        .await;
    }
    xml(twiml::empty())
}

/// The status of a call we placed, recorded against its outbound message (`?outbound_id=N`).
/// Signed by Twilio (`X-Twilio-Signature`).
#[utoipa::path(post, path = "/twilio/voice/status", tag = "twilio",
    params(("outbound_id" = Option<i64>, Query, description = "the outbound call, as set in the StatusCallback we gave")),
    request_body(content = VoiceStatusCallback, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, content_type = "text/xml", body = String, description = "empty TwiML",
            example = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response />"),
              (status = 403, body = ErrorBody, description = "`bad_signature`: missing or invalid X-Twilio-Signature",
            example = json!({"code": "bad_signature", "message": "missing or invalid X-Twilio-Signature", "detail": "missing or invalid X-Twilio-Signature"}))))]
pub async fn voice_status(State(state): State<AppState>, uri: Uri, form: SignedForm) -> Response {
    if let (Some(sid), Some(status)) = (form.get("CallSid"), form.get("CallStatus")) {
        record_status(
            &state,
            OutboundKind::Call,
            outbound_id(&uri),
            sid.to_owned(),
            status,
        )
        .await;
    }
    xml(twiml::empty())
}

/// `?pending_id=…` of the address Twilio called (signed with it), or the form's.
fn pending_id(uri: &Uri, form: &SignedForm) -> Option<PendingId> {
    let from_query = uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "pending_id")
            .map(|(_, v)| v.into_owned())
    });
    from_query
        .as_deref()
        .or(form.get("pending_id"))
        .and_then(|v| PendingId::parse(v).ok())
}

/// Where the verification call posts the digits typed: the try count lives on the server,
/// not in this address.
fn gather_action(state: &AppState, id: &PendingId) -> String {
    format!(
        "{}/twilio/voice/otp/gather?pending_id={id}",
        state.app.routing.public_base_url
    )
}

/// The form Twilio posts when a call we placed is answered, or digits were typed.
#[derive(Deserialize, ToSchema)]
#[allow(non_snake_case, dead_code)]
pub struct OtpCallWebhook {
    /// Twilio's id of the verification call.
    #[schema(example = "CA0123456789abcdef0123456789abcdef")]
    CallSid: String,
    /// The number calling: the activation's proxy.
    #[schema(example = "+33780000001")]
    From: String,
    /// The number called: the phone being verified.
    #[schema(example = "+33612345678")]
    To: String,
    /// On `/gather`: the keys pressed.
    #[schema(example = "482913")]
    Digits: Option<String>,
}

/// The verification call's script: a new code read digit by digit, twice, then a gather of as
/// many digits. Only the call placed for this activation (from its proxy, to its phone), and
/// only its first request, gets a code. Signed by Twilio (`X-Twilio-Signature`).
#[utoipa::path(post, path = "/twilio/voice/otp", tag = "twilio",
    params(("pending_id" = String, Query, description = "the activation, as set in the call's URL")),
    request_body(content = OtpCallWebhook, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, content_type = "text/xml", body = String, description = "TwiML",
            example = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say language=\"fr-FR\">Bonjour, voici votre code de confirmation ProxyCall.</Say><Pause length=\"1\" /><Say language=\"fr-FR\">4. 8. 2. 9. 1. 3</Say><Pause length=\"1\" /><Say language=\"fr-FR\">Je répète.</Say><Pause length=\"1\" /><Say language=\"fr-FR\">4. 8. 2. 9. 1. 3</Say><Pause length=\"1\" /><Gather action=\"https://proxycall.example.com/twilio/voice/otp/gather?pending_id=P-0b7c9a2e\" method=\"POST\" numDigits=\"6\" timeout=\"15\"><Say language=\"fr-FR\">Veuillez saisir votre code sur votre clavier téléphonique.</Say></Gather><Say language=\"fr-FR\">Nous n'avons pas reçu de réponse. Au revoir.</Say></Response>"),
              (status = 403, body = ErrorBody, description = "`bad_signature`: missing or invalid X-Twilio-Signature",
            example = json!({"code": "bad_signature", "message": "missing or invalid X-Twilio-Signature", "detail": "missing or invalid X-Twilio-Signature"}))))]
pub async fn voice_otp(State(state): State<AppState>, uri: Uri, form: SignedForm) -> Response {
    let words = state.catalogue;
    let lang = &words.voice_language;
    let id = pending_id(&uri, &form);
    let script = activation::call_script(
        &state.app,
        id.as_ref(),
        form.get("CallSid"),
        form.phone("From").as_ref(),
        form.phone("To").as_ref(),
    )
    .await;
    xml(match (script, id) {
        (Ok(CallScript::ReadCode { code }), Some(id)) => twiml::read_code(
            lang,
            words,
            &activation::code::spoken(&code),
            &gather_action(&state, &id),
            activation::code::CODE_DIGITS,
        ),
        (Ok(CallScript::NotValid), _) => twiml::say(lang, &words.otp_call_not_valid),
        (Ok(_), _) => twiml::say(lang, &words.otp_call_technical),
        (Err(e), _) => {
            tracing::error!(error = %e, "verification call failed");
            twiml::say(lang, &words.otp_call_technical)
        }
    })
}

/// The digits typed on the verification call: the right code promotes; a wrong one is
/// counted (3 tries per call, `PROXYCALL_OTP_MAX_WRONG` in all). Signed by Twilio
/// (`X-Twilio-Signature`).
#[utoipa::path(post, path = "/twilio/voice/otp/gather", tag = "twilio",
    params(("pending_id" = String, Query, description = "the activation, as set in the gather's action")),
    request_body(content = OtpCallWebhook, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, content_type = "text/xml", body = String, description = "TwiML",
            example = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say language=\"fr-FR\">Code confirmé. Merci et au revoir.</Say></Response>"),
              (status = 403, body = ErrorBody, description = "`bad_signature`: missing or invalid X-Twilio-Signature",
            example = json!({"code": "bad_signature", "message": "missing or invalid X-Twilio-Signature", "detail": "missing or invalid X-Twilio-Signature"}))))]
pub async fn voice_otp_gather(
    State(state): State<AppState>,
    uri: Uri,
    form: SignedForm,
) -> Response {
    let words = state.catalogue;
    let lang = &words.voice_language;
    let id = pending_id(&uri, &form);
    let reply = activation::gather(
        &state.app,
        id.as_ref(),
        form.get("CallSid"),
        form.get("Digits"),
    )
    .await;
    xml(match (reply, id) {
        (Ok(GatherReply::Confirmed), _) => twiml::say(lang, &words.otp_gather_ok),
        (Ok(GatherReply::Again), Some(id)) => twiml::gather_again(
            lang,
            words,
            &gather_action(&state, &id),
            activation::code::CODE_DIGITS,
        ),
        (Ok(GatherReply::TooMany), _) => twiml::say(lang, &words.otp_gather_too_many),
        (Ok(GatherReply::Locked), _) => twiml::say(lang, &words.otp_locked),
        (Ok(GatherReply::NotValid), _) => twiml::say(lang, &words.otp_gather_not_valid),
        (Ok(GatherReply::Failed), _) => twiml::say(lang, &words.otp_gather_failed),
        (Ok(GatherReply::ConfirmFromEmail), _) => twiml::say(lang, &words.otp_confirm_from_email),
        (Ok(GatherReply::Technical | GatherReply::Again), _) => {
            twiml::say(lang, &words.otp_call_technical)
        }
        (Err(e), _) => {
            tracing::error!(error = %e, "verification gather failed");
            twiml::say(lang, &words.otp_gather_failed)
        }
    })
}
