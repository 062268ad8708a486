//! A carrier that carries nothing: it offers valid-looking numbers, "sells" them (keeping them
//! in `simulated_numbers`, so that a restart keeps its inventory), and records every text and
//! call it would have delivered in `simulated_deliveries`, where the operator (`proxycall
//! simulate inbox`) and the tests can read them.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rand::RngExt;

use super::{
    Account, AvailableNumber, Carrier, CarrierError, CarrierResult, IncomingNumber, NumberSearch,
    Purchase, SentMessage, WebhookUpdate, sid,
};
use crate::domain::{E164, MediaUrl, NumberType};
use crate::store::{SimulatedDelivery, SimulatedNumber, Store, StoreError};

pub struct SimulatedCarrier {
    store: Arc<dyn Store>,
}

/// The store is the simulated carrier's own back office: failing to reach it is the carrier
/// being unreachable. (A delivery is one insert: when it fails, nothing was delivered.)
fn unreachable(e: StoreError) -> CarrierError {
    CarrierError::Unreachable(e.to_string())
}

/// What Twilio answers for a number the account does not rent.
const NOT_FOUND: CarrierError = CarrierError::Rejected {
    status: 404,
    code: Some(20404),
};

fn incoming(n: SimulatedNumber) -> IncomingNumber {
    IncomingNumber {
        sid: n.sid,
        phone_number: n.phone_number,
        friendly_name: n.friendly_name,
        voice_method: n.voice_url.as_ref().map(|_| "POST".to_owned()),
        voice_url: n.voice_url,
        sms_method: n.sms_url.as_ref().map(|_| "POST".to_owned()),
        sms_url: n.sms_url,
        voice: n.voice,
        sms: n.sms,
        // Its numbers claim no MMS capability, as a French mobile's listing does; the pictures
        // it is asked to send (`send_mms`) are recorded all the same.
        mms: false,
        number_type: None,
    }
}

/// How the simulated carrier classes a number it rents: by its country's numbering plan, as
/// Twilio's typed lists follow the regulator's ranges. A range the plan shares between fixed
/// and mobile lines (North America's) is `local`, as Twilio sells those.
fn class(number: &E164) -> Option<NumberType> {
    use crate::domain::LineType;
    match number.line_type() {
        LineType::Mobile => Some(NumberType::Mobile),
        LineType::FixedLine | LineType::FixedLineOrMobile => Some(NumberType::Local),
        _ => None,
    }
}

impl SimulatedCarrier {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    async fn deliver(
        &self,
        kind: &'static str,
        from: &E164,
        to: &E164,
        body: Option<&str>,
        url: Option<&str>,
        media: &[MediaUrl],
    ) -> CarrierResult<String> {
        let sid = sid(if kind == "sms" { "SM" } else { "CA" });
        let delivery = SimulatedDelivery {
            kind: kind.to_owned(),
            from: from.clone(),
            to: to.clone(),
            body: body.map(str::to_owned),
            url: url.map(str::to_owned),
            sid: sid.clone(),
            delivered_at: Utc::now(),
            media: media.to_vec(),
        };
        self.store
            .record_simulated_delivery(&delivery)
            .await
            .map_err(unreachable)?;
        tracing::info!(kind, from = %from.masked(), to = %to.masked(), "simulated carrier delivered");
        Ok(sid)
    }
}

/// Valid numbers of a country and type: the metadata's example number with random last
/// digits, kept only when the metadata says the result is valid.
fn candidates(search: &NumberSearch) -> Vec<E164> {
    let Some(meta) = phonenumber::metadata::DATABASE.by_id(search.country.as_str()) else {
        return Vec::new();
    };
    let descriptor = match search.number_type {
        NumberType::Mobile => meta.descriptors().mobile(),
        NumberType::Local => meta.descriptors().fixed_line(),
    };
    let Some(example) = descriptor.and_then(|d| d.example()) else {
        return Vec::new();
    };
    let prefix = format!(
        "+{}{}",
        meta.country_code(),
        &example[..example.len().saturating_sub(4)]
    );
    let mut rng = rand::rng();
    let mut found = Vec::new();
    for _ in 0..search.limit.clamp(1, 100) * 4 {
        let raw = format!("{prefix}{:04}", rng.random_range(0..10_000u32));
        if let Ok(n) = E164::parse(&raw)
            && !found.contains(&n)
        {
            found.push(n);
        }
        if found.len() >= search.limit.clamp(1, 100) as usize {
            break;
        }
    }
    found
}

#[async_trait]
impl Carrier for SimulatedCarrier {
    fn name(&self) -> &'static str {
        "simulated"
    }

    async fn send_sms(
        &self,
        from: &E164,
        to: &E164,
        body: &str,
        _status_callback: Option<&str>,
    ) -> CarrierResult<String> {
        self.deliver("sms", from, to, Some(body), None, &[]).await
    }

    async fn send_mms(
        &self,
        from: &E164,
        to: &E164,
        body: &str,
        media: &[MediaUrl],
        _status_callback: Option<&str>,
    ) -> CarrierResult<String> {
        self.deliver("sms", from, to, Some(body), None, media).await
    }

    async fn place_call(
        &self,
        from: &E164,
        to: &E164,
        url: &str,
        _status_callback: Option<&str>,
    ) -> CarrierResult<String> {
        self.deliver("call", from, to, None, Some(url), &[]).await
    }

    async fn sent_messages(
        &self,
        from: &E164,
        to: &E164,
        since: DateTime<Utc>,
    ) -> CarrierResult<Vec<SentMessage>> {
        let texts = self
            .store
            .simulated_texts_between(from, to, since)
            .await
            .map_err(unreachable)?;
        Ok(texts
            .into_iter()
            .map(|d| SentMessage {
                sid: d.sid,
                body: d.body,
                created_at: Some(d.delivered_at),
                status: Some("delivered".into()),
            })
            .collect())
    }

    async fn search_numbers(&self, search: &NumberSearch) -> CarrierResult<Vec<AvailableNumber>> {
        Ok(candidates(search)
            .into_iter()
            .map(|phone_number| AvailableNumber {
                phone_number,
                voice: true,
                sms: true,
            })
            .collect())
    }

    async fn buy_number(&self, p: &Purchase) -> CarrierResult<IncomingNumber> {
        let number = SimulatedNumber {
            sid: sid("PN"),
            phone_number: p.phone_number.clone(),
            friendly_name: Some(p.friendly_name.clone()),
            voice_url: Some(p.voice_url.clone()),
            sms_url: Some(p.sms_url.clone()),
            voice: true,
            sms: true,
            bought_at: Utc::now(),
        };
        if !self
            .store
            .add_simulated_number(&number)
            .await
            .map_err(unreachable)?
        {
            // What Twilio answers for a number that is no longer available.
            return Err(CarrierError::Rejected {
                status: 400,
                code: Some(21422),
            });
        }
        Ok(incoming(number))
    }

    async fn incoming_numbers(&self) -> CarrierResult<Vec<IncomingNumber>> {
        let numbers = self.store.simulated_numbers().await.map_err(unreachable)?;
        Ok(numbers.into_iter().map(incoming).collect())
    }

    async fn incoming_numbers_of_type(
        &self,
        number_type: NumberType,
    ) -> CarrierResult<Vec<IncomingNumber>> {
        let numbers = self.store.simulated_numbers().await.map_err(unreachable)?;
        Ok(numbers
            .into_iter()
            .filter(|n| class(&n.phone_number) == Some(number_type))
            .map(|n| IncomingNumber {
                number_type: Some(number_type),
                ..incoming(n)
            })
            .collect())
    }

    async fn update_number(&self, sid: &str, u: &WebhookUpdate) -> CarrierResult<IncomingNumber> {
        self.store
            .update_simulated_number(
                sid,
                u.voice_url.as_deref(),
                u.sms_url.as_deref(),
                u.friendly_name.as_deref(),
            )
            .await
            .map_err(unreachable)?
            .map(incoming)
            .ok_or(NOT_FOUND)
    }

    async fn release_number(&self, sid: &str) -> CarrierResult<()> {
        match self.store.remove_simulated_number(sid).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(NOT_FOUND),
            Err(e) => Err(unreachable(e)),
        }
    }

    async fn account(&self) -> CarrierResult<Account> {
        Ok(Account {
            sid: "ACsimulated".into(),
            status: "active".into(),
            friendly_name: "ProxyCall simulated carrier".into(),
        })
    }

    async fn recording_audio(&self, sid: &str) -> CarrierResult<Vec<u8>> {
        if !super::is_recording_sid(sid) {
            return Err(NOT_FOUND);
        }
        Ok(SIMULATED_RECORDING.to_vec())
    }

    async fn delete_recording(&self, _sid: &str) -> CarrierResult<()> {
        // It keeps no recordings: any is already gone.
        Ok(())
    }
}

/// What every simulated recording sounds like: an MPEG audio frame header and silence, enough
/// for a player to recognise MP3.
pub const SIMULATED_RECORDING: &[u8] = &[
    0xFF, 0xFB, 0x90, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];
