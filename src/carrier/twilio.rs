//! Twilio's REST API (2010-04-01), over HTTP Basic auth. `TWILIO_API_BASE` points it at a
//! test double or at Prism, which checks every request against Twilio's own OpenAPI spec.
//!
//! Reads and rate-limited writes are retried here with back-off; sending a text or a call is
//! not (the outbox decides, so that nothing is sent twice). A failure says whether the request
//! could have been carried out: `Unreachable` (no connection was made) and a 503 with
//! `Retry-After` surely not; a time-out or reset once connected, another 5xx, or a success
//! whose body cannot be read, maybe.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use chrono::{DateTime, Utc};

use super::{
    Account, AvailableNumber, Carrier, CarrierError, CarrierResult, IncomingNumber, NumberSearch,
    Purchase, SentMessage, WebhookUpdate,
};
use crate::domain::{E164, MediaUrl, NumberType};

pub struct TwilioClient {
    http: reqwest::Client,
    api_base: String,
    account_sid: String,
    auth_token: SecretString,
}

/// Twilio's error body.
#[derive(Deserialize)]
struct TwilioError {
    code: Option<u32>,
}

/// Capabilities come as `voice`/`sms` in some answers and `Voice`/`SMS` in others.
#[derive(Deserialize, Default)]
#[serde(transparent)]
struct Capabilities(HashMap<String, Option<bool>>);

impl Capabilities {
    fn has(&self, name: &str) -> bool {
        self.0
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case(name) && v.unwrap_or(false))
    }
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

#[derive(Deserialize)]
struct IncomingRow {
    sid: String,
    phone_number: String,
    friendly_name: Option<String>,
    voice_url: Option<String>,
    voice_method: Option<String>,
    sms_url: Option<String>,
    sms_method: Option<String>,
    #[serde(default)]
    capabilities: Option<Capabilities>,
}

#[derive(Deserialize)]
struct IncomingPage {
    incoming_phone_numbers: Vec<IncomingRow>,
    next_page_uri: Option<String>,
}

#[derive(Deserialize)]
struct AvailableRow {
    phone_number: String,
    #[serde(default)]
    capabilities: Option<Capabilities>,
}

#[derive(Deserialize)]
struct AvailablePage {
    available_phone_numbers: Vec<AvailableRow>,
}

#[derive(Deserialize)]
struct MessageRow {
    sid: String,
    body: Option<String>,
    /// RFC 2822, e.g. `Thu, 30 Jul 2015 20:12:31 +0000`.
    date_created: Option<String>,
    status: Option<String>,
}

#[derive(Deserialize)]
struct MessagePage {
    messages: Vec<MessageRow>,
    next_page_uri: Option<String>,
}

/// Pages of a message listing read at most: a listing longer than that (thousands of texts
/// between one proxy and one person since a message was queued) proves nothing.
const MAX_LIST_PAGES: usize = 10;

/// Twilio's timestamps (RFC 2822); RFC 3339 is read too.
fn timestamp(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(raw)
        .or_else(|_| DateTime::parse_from_rfc3339(raw))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `Retry-After`: seconds, or an HTTP date.
fn retry_after(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(raw).ok()?.with_timezone(&Utc);
    Some((at - Utc::now()).to_std().unwrap_or_default())
}

#[derive(Deserialize)]
struct AccountRow {
    sid: String,
    status: Option<String>,
    friendly_name: Option<String>,
}

impl IncomingRow {
    fn into_number(self) -> CarrierResult<IncomingNumber> {
        let caps = self.capabilities.unwrap_or_default();
        Ok(IncomingNumber {
            phone_number: E164::parse_shape(&self.phone_number)
                .map_err(|_| CarrierError::Protocol("a number is not E.164".into()))?,
            sid: self.sid,
            friendly_name: self.friendly_name,
            voice_url: self.voice_url.filter(|u| !u.is_empty()),
            voice_method: self.voice_method,
            sms_url: self.sms_url.filter(|u| !u.is_empty()),
            sms_method: self.sms_method,
            voice: caps.has("voice"),
            sms: caps.has("sms"),
            mms: caps.has("mms"),
            number_type: None,
        })
    }
}

fn retry_policy() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(3)
        .with_jitter()
}

/// Time allowed for one request, answer included.
const TIMEOUT: Duration = Duration::from_secs(15);

fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3).min(timeout))
        .timeout(timeout)
        .user_agent(concat!("proxycall/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client builds")
}

impl TwilioClient {
    pub fn new(api_base: &str, account_sid: &str, auth_token: SecretString) -> Self {
        Self {
            http: http_client(TIMEOUT),
            api_base: api_base.trim_end_matches('/').to_owned(),
            account_sid: account_sid.to_owned(),
            auth_token,
        }
    }

    /// The same client with another time-out per request (tests use a short one).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.http = http_client(timeout);
        self
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}{path}",
            self.api_base, self.account_sid
        )
    }

    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.http
            .request(method, url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
    }

    /// Sends once; a success's body is read as JSON.
    async fn call<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        request: RequestBuilder,
    ) -> CarrierResult<T> {
        let bytes = self.call_raw(operation, request).await?;
        // DELETE answers 204 with no body.
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes).map_err(|e| {
            let error = CarrierError::Protocol(format!("{operation}: {e}"));
            metrics::counter!("carrier_errors_total", "operation" => operation, "kind" => error.kind())
                .increment(1);
            error
        })
    }

    /// Sends once; answers a success's body as it came (a recording's audio), and maps a
    /// failure to what the caller can do about it.
    async fn call_raw(
        &self,
        operation: &'static str,
        request: RequestBuilder,
    ) -> CarrierResult<Vec<u8>> {
        let started = Instant::now();
        let result = request.send().await;
        metrics::histogram!("carrier_request_duration_seconds", "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        let count = |error: CarrierError| {
            metrics::counter!("carrier_errors_total", "operation" => operation, "kind" => error.kind())
                .increment(1);
            error
        };
        let response = result.map_err(|e| {
            // Refused, DNS, TLS handshake: the request was never written.
            count(if e.is_connect() {
                CarrierError::Unreachable(e.without_url().to_string())
            } else {
                CarrierError::Network(e.without_url().to_string())
            })
        })?;
        let status = response.status();
        if status.is_success() {
            let bytes = response
                .bytes()
                .await
                .map_err(|e| count(CarrierError::Network(e.without_url().to_string())))?;
            return Ok(bytes.to_vec());
        }
        let retry_header = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry_after = retry_header.as_deref().and_then(retry_after);
        let code = response
            .json::<TwilioError>()
            .await
            .ok()
            .and_then(|e| e.code);
        let error = match (status, code) {
            (_, Some(21649)) => CarrierError::BundleMismatch,
            (_, Some(21651)) => CarrierError::AddressNotInBundle,
            (_, Some(20003)) | (StatusCode::UNAUTHORIZED, _) => CarrierError::BadCredentials,
            (StatusCode::TOO_MANY_REQUESTS, _) | (_, Some(20429)) => {
                CarrierError::RateLimited { retry_after }
            }
            // Turned away, with a time to come back: the request was not carried out.
            (StatusCode::SERVICE_UNAVAILABLE, _) if retry_header.is_some() => {
                CarrierError::Unavailable { retry_after }
            }
            (s, _) if s.is_server_error() => CarrierError::Server { status: s.as_u16() },
            (s, code) => CarrierError::Rejected {
                status: s.as_u16(),
                code,
            },
        };
        Err(count(error))
    }

    /// Reads: safe to repeat on any passing failure.
    async fn read<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        url: String,
    ) -> CarrierResult<T> {
        (|| self.call(operation, self.request(Method::GET, &url)))
            .retry(retry_policy())
            .when(CarrierError::is_transient)
            .await
    }

    /// Every page of a listing of the account's numbers, from `path`.
    async fn list_incoming(
        &self,
        operation: &'static str,
        path: &str,
    ) -> CarrierResult<Vec<IncomingNumber>> {
        let mut numbers = Vec::new();
        let mut url = self.url(&format!("{path}?PageSize=1000"));
        loop {
            let page: IncomingPage = self.read(operation, url).await?;
            for row in page.incoming_phone_numbers {
                numbers.push(row.into_number()?);
            }
            match page.next_page_uri.filter(|u| !u.is_empty()) {
                // Twilio gives the next page as a path from the API's root.
                Some(next) => url = format!("{}{next}", self.api_base),
                None => return Ok(numbers),
            }
        }
    }

    /// Writes that are safe to repeat after a refusal that did nothing (429 only).
    async fn write<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: Method,
        url: String,
        form: Vec<(&'static str, String)>,
    ) -> CarrierResult<T> {
        let request = || {
            let r = self.request(method.clone(), &url);
            if form.is_empty() { r } else { r.form(&form) }
        };
        (|| self.call(operation, request()))
            .retry(retry_policy())
            .when(|e| matches!(e, CarrierError::RateLimited { .. }))
            .await
    }
}

#[async_trait]
impl Carrier for TwilioClient {
    fn name(&self) -> &'static str {
        "twilio"
    }

    async fn send_sms(
        &self,
        from: &E164,
        to: &E164,
        body: &str,
        status_callback: Option<&str>,
    ) -> CarrierResult<String> {
        self.send_mms(from, to, body, &[], status_callback).await
    }

    async fn send_mms(
        &self,
        from: &E164,
        to: &E164,
        body: &str,
        media: &[MediaUrl],
        status_callback: Option<&str>,
    ) -> CarrierResult<String> {
        let mut form = vec![("To", to.to_string()), ("From", from.to_string())];
        // Twilio wants a body, pictures, or both: a picture alone goes without `Body`.
        if !body.is_empty() || media.is_empty() {
            form.push(("Body", body.to_owned()));
        }
        // One `MediaUrl` parameter per picture, as Twilio's API reads an array.
        for url in media {
            form.push(("MediaUrl", url.as_str().to_owned()));
        }
        if let Some(cb) = status_callback {
            form.push(("StatusCallback", cb.to_owned()));
        }
        let request = self
            .request(Method::POST, &self.url("/Messages.json"))
            .form(&form);
        let created: Created = self.call("messages.create", request).await?;
        Ok(created.sid)
    }

    async fn place_call(
        &self,
        from: &E164,
        to: &E164,
        url: &str,
        status_callback: Option<&str>,
    ) -> CarrierResult<String> {
        let mut form = vec![
            ("To", to.to_string()),
            ("From", from.to_string()),
            ("Url", url.to_owned()),
            ("Method", "POST".to_owned()),
        ];
        if let Some(cb) = status_callback {
            form.push(("StatusCallback", cb.to_owned()));
            form.push(("StatusCallbackMethod", "POST".to_owned()));
        }
        let request = self
            .request(Method::POST, &self.url("/Calls.json"))
            .form(&form);
        let created: Created = self.call("calls.create", request).await?;
        Ok(created.sid)
    }

    async fn sent_messages(
        &self,
        from: &E164,
        to: &E164,
        since: DateTime<Utc>,
    ) -> CarrierResult<Vec<SentMessage>> {
        // No `DateSent>` filter: a text Twilio took but has not sent yet has no `date_sent`,
        // and such a filter would hide it — the very text in doubt. Texts from one proxy to
        // one number are few; their creation time is checked here instead (a text without one is
        // kept: the caller decides).
        let mut url = url::Url::parse(&self.url("/Messages.json"))
            .map_err(|e| CarrierError::Protocol(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("From", from.as_str())
            .append_pair("To", to.as_str())
            .append_pair("PageSize", "1000");
        let mut url = url.to_string();
        let mut found = Vec::new();
        for _ in 0..MAX_LIST_PAGES {
            let page: MessagePage = self.read("messages.list", url).await?;
            found.extend(
                page.messages
                    .into_iter()
                    .map(|m| SentMessage {
                        created_at: m.date_created.as_deref().and_then(timestamp),
                        sid: m.sid,
                        body: m.body,
                        status: m.status,
                    })
                    .filter(|m| m.created_at.is_none_or(|at| at >= since)),
            );
            match page.next_page_uri.filter(|u| !u.is_empty()) {
                Some(next) => url = format!("{}{next}", self.api_base),
                None => return Ok(found),
            }
        }
        Err(CarrierError::Protocol(format!(
            "messages.list: more than {MAX_LIST_PAGES} pages"
        )))
    }

    async fn search_numbers(&self, search: &NumberSearch) -> CarrierResult<Vec<AvailableNumber>> {
        let kind = match search.number_type {
            NumberType::Mobile => "Mobile",
            NumberType::Local => "Local",
        };
        let mut url = url::Url::parse(&self.url(&format!(
            "/AvailablePhoneNumbers/{}/{kind}.json",
            search.country
        )))
        .map_err(|e| CarrierError::Protocol(e.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("PageSize", &search.limit.clamp(1, 100).to_string());
            if search.sms {
                q.append_pair("SmsEnabled", "true");
            }
            if search.voice {
                q.append_pair("VoiceEnabled", "true");
            }
        }
        let page: AvailablePage = self.read("available_numbers.list", url.to_string()).await?;
        Ok(page
            .available_phone_numbers
            .into_iter()
            .filter_map(|row| {
                let caps = row.capabilities.unwrap_or_default();
                Some(AvailableNumber {
                    phone_number: E164::parse_shape(&row.phone_number).ok()?,
                    voice: caps.has("voice"),
                    sms: caps.has("sms"),
                })
            })
            .collect())
    }

    async fn buy_number(&self, p: &Purchase) -> CarrierResult<IncomingNumber> {
        let mut form = vec![
            ("PhoneNumber", p.phone_number.to_string()),
            ("VoiceUrl", p.voice_url.clone()),
            ("VoiceMethod", "POST".to_owned()),
            ("SmsUrl", p.sms_url.clone()),
            ("SmsMethod", "POST".to_owned()),
            ("FriendlyName", p.friendly_name.clone()),
        ];
        if let Some(sid) = &p.address_sid {
            form.push(("AddressSid", sid.clone()));
        }
        if let Some(sid) = &p.bundle_sid {
            form.push(("BundleSid", sid.clone()));
        }
        let row: IncomingRow = self
            .write(
                "incoming_numbers.create",
                Method::POST,
                self.url("/IncomingPhoneNumbers.json"),
                form,
            )
            .await?;
        row.into_number()
    }

    async fn incoming_numbers(&self) -> CarrierResult<Vec<IncomingNumber>> {
        self.list_incoming("incoming_numbers.list", "/IncomingPhoneNumbers.json")
            .await
    }

    async fn incoming_numbers_of_type(
        &self,
        number_type: NumberType,
    ) -> CarrierResult<Vec<IncomingNumber>> {
        let path = match number_type {
            NumberType::Mobile => "/IncomingPhoneNumbers/Mobile.json",
            NumberType::Local => "/IncomingPhoneNumbers/Local.json",
        };
        let mut numbers = self
            .list_incoming("incoming_numbers.list_typed", path)
            .await?;
        for n in &mut numbers {
            n.number_type = Some(number_type);
        }
        Ok(numbers)
    }

    async fn update_number(&self, sid: &str, u: &WebhookUpdate) -> CarrierResult<IncomingNumber> {
        let mut form = Vec::new();
        if let Some(url) = &u.voice_url {
            form.push(("VoiceUrl", url.clone()));
            form.push(("VoiceMethod", "POST".to_owned()));
        }
        if let Some(url) = &u.sms_url {
            form.push(("SmsUrl", url.clone()));
            form.push(("SmsMethod", "POST".to_owned()));
        }
        if let Some(name) = &u.friendly_name {
            form.push(("FriendlyName", name.clone()));
        }
        let url = self.url(&format!("/IncomingPhoneNumbers/{sid}.json"));
        let row: IncomingRow = self
            .write("incoming_numbers.update", Method::POST, url, form)
            .await?;
        row.into_number()
    }

    async fn release_number(&self, sid: &str) -> CarrierResult<()> {
        let url = self.url(&format!("/IncomingPhoneNumbers/{sid}.json"));
        let _: serde_json::Value = self
            .write("incoming_numbers.delete", Method::DELETE, url, Vec::new())
            .await?;
        Ok(())
    }

    async fn account(&self) -> CarrierResult<Account> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}.json",
            self.api_base, self.account_sid
        );
        let row: AccountRow = self.read("accounts.fetch", url).await?;
        Ok(Account {
            sid: row.sid,
            status: row.status.unwrap_or_default(),
            friendly_name: row.friendly_name.unwrap_or_default(),
        })
    }

    async fn recording_audio(&self, sid: &str) -> CarrierResult<Vec<u8>> {
        if !super::is_recording_sid(sid) {
            return Err(CarrierError::Protocol("not a recording SID".into()));
        }
        // The recording resource with the `.mp3` extension is its audio (Twilio's media
        // formats of `Recordings/{Sid}`); the same Basic auth as every call.
        let url = self.url(&format!("/Recordings/{sid}.mp3"));
        (|| self.call_raw("recordings.fetch_audio", self.request(Method::GET, &url)))
            .retry(retry_policy())
            .when(CarrierError::is_transient)
            .await
    }

    async fn delete_recording(&self, sid: &str) -> CarrierResult<()> {
        if !super::is_recording_sid(sid) {
            return Err(CarrierError::Protocol("not a recording SID".into()));
        }
        let url = self.url(&format!("/Recordings/{sid}.json"));
        match self
            .write::<serde_json::Value>("recordings.delete", Method::DELETE, url, Vec::new())
            .await
        {
            // Gone already (deleted by hand, or by an earlier try whose answer was lost).
            Err(CarrierError::Rejected { status: 404, .. }) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}
