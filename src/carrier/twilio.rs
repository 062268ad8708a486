//! Twilio's REST API (2010-04-01), over HTTP Basic auth. `TWILIO_API_BASE` points it at a
//! test double or at Prism, which checks every request against Twilio's own OpenAPI spec.
//!
//! Reads and rate-limited writes are retried here with back-off; sending a text or a call is
//! not (the outbox decides, so that nothing is sent twice).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{
    Account, AvailableNumber, Carrier, CarrierError, CarrierResult, IncomingNumber, NumberSearch,
    Purchase, WebhookUpdate,
};
use crate::domain::{E164, NumberType};

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

impl TwilioClient {
    pub fn new(api_base: &str, account_sid: &str, auth_token: SecretString) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("proxycall/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds");
        Self {
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            account_sid: account_sid.to_owned(),
            auth_token,
        }
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

    /// Sends once; maps a failure to what the caller can do about it.
    async fn call<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        request: RequestBuilder,
    ) -> CarrierResult<T> {
        let started = Instant::now();
        let result = request.send().await;
        metrics::histogram!("carrier_request_duration_seconds", "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        let response = result.map_err(|e| CarrierError::Network(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            let bytes = response
                .bytes()
                .await
                .map_err(|e| CarrierError::Network(e.without_url().to_string()))?;
            // DELETE answers 204 with no body.
            let bytes = if bytes.is_empty() {
                &b"null"[..]
            } else {
                &bytes[..]
            };
            return serde_json::from_slice(bytes)
                .map_err(|e| CarrierError::Protocol(format!("{operation}: {e}")));
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
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
            (s, _) if s.is_server_error() => CarrierError::Server { status: s.as_u16() },
            (s, code) => CarrierError::Rejected {
                status: s.as_u16(),
                code,
            },
        };
        metrics::counter!("carrier_errors_total", "operation" => operation, "kind" => error.kind())
            .increment(1);
        Err(error)
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
        let mut form = vec![
            ("To", to.to_string()),
            ("From", from.to_string()),
            ("Body", body.to_owned()),
        ];
        if let Some(cb) = status_callback {
            form.push(("StatusCallback", cb.to_owned()));
        }
        let request = self
            .request(Method::POST, &self.url("/Messages.json"))
            .form(&form);
        let created: Created = self.call("messages.create", request).await?;
        Ok(created.sid)
    }

    async fn place_call(&self, from: &E164, to: &E164, url: &str) -> CarrierResult<String> {
        let form = [
            ("To", to.to_string()),
            ("From", from.to_string()),
            ("Url", url.to_owned()),
            ("Method", "POST".to_owned()),
        ];
        let request = self
            .request(Method::POST, &self.url("/Calls.json"))
            .form(&form);
        let created: Created = self.call("calls.create", request).await?;
        Ok(created.sid)
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
        let mut numbers = Vec::new();
        let mut url = self.url("/IncomingPhoneNumbers.json?PageSize=1000");
        loop {
            let page: IncomingPage = self.read("incoming_numbers.list", url).await?;
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
}
