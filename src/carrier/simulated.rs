//! A carrier that carries nothing: it offers valid-looking numbers, "sells" them, and records
//! every text and call it would have delivered in `simulated_deliveries`, where the operator
//! (`proxycall simulate inbox`) and the tests can read them.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use rand::RngExt;

use super::{
    Account, AvailableNumber, Carrier, CarrierError, CarrierResult, IncomingNumber, NumberSearch,
    Purchase, WebhookUpdate,
};
use crate::domain::{E164, NumberType};
use crate::simulate::sid;
use crate::store::{SimulatedDelivery, Store};

pub struct SimulatedCarrier {
    store: Arc<dyn Store>,
    owned: Mutex<Vec<IncomingNumber>>,
}

impl SimulatedCarrier {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            owned: Mutex::new(Vec::new()),
        }
    }

    async fn deliver(
        &self,
        kind: &'static str,
        from: &E164,
        to: &E164,
        body: Option<&str>,
        url: Option<&str>,
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
        };
        self.store
            .record_simulated_delivery(&delivery)
            .await
            .map_err(|e| CarrierError::Network(e.to_string()))?;
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
        self.deliver("sms", from, to, Some(body), None).await
    }

    async fn place_call(&self, from: &E164, to: &E164, url: &str) -> CarrierResult<String> {
        self.deliver("call", from, to, None, Some(url)).await
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
        let mut owned = self.owned.lock().expect("not poisoned");
        if owned.iter().any(|n| n.phone_number == p.phone_number) {
            // What Twilio answers for a number that is no longer available.
            return Err(CarrierError::Rejected {
                status: 400,
                code: Some(21422),
            });
        }
        let number = IncomingNumber {
            sid: sid("PN"),
            phone_number: p.phone_number.clone(),
            friendly_name: Some(p.friendly_name.clone()),
            voice_url: Some(p.voice_url.clone()),
            voice_method: Some("POST".into()),
            sms_url: Some(p.sms_url.clone()),
            sms_method: Some("POST".into()),
            voice: true,
            sms: true,
        };
        owned.push(number.clone());
        Ok(number)
    }

    async fn incoming_numbers(&self) -> CarrierResult<Vec<IncomingNumber>> {
        Ok(self.owned.lock().expect("not poisoned").clone())
    }

    async fn update_number(&self, sid: &str, u: &WebhookUpdate) -> CarrierResult<IncomingNumber> {
        let mut owned = self.owned.lock().expect("not poisoned");
        let number = owned
            .iter_mut()
            .find(|n| n.sid == sid)
            .ok_or(CarrierError::Rejected {
                status: 404,
                code: Some(20404),
            })?;
        if let Some(url) = &u.voice_url {
            number.voice_url = Some(url.clone());
            number.voice_method = Some("POST".into());
        }
        if let Some(url) = &u.sms_url {
            number.sms_url = Some(url.clone());
            number.sms_method = Some("POST".into());
        }
        if let Some(name) = &u.friendly_name {
            number.friendly_name = Some(name.clone());
        }
        Ok(number.clone())
    }

    async fn release_number(&self, sid: &str) -> CarrierResult<()> {
        let mut owned = self.owned.lock().expect("not poisoned");
        let before = owned.len();
        owned.retain(|n| n.sid != sid);
        if owned.len() == before {
            return Err(CarrierError::Rejected {
                status: 404,
                code: Some(20404),
            });
        }
        Ok(())
    }

    async fn account(&self) -> CarrierResult<Account> {
        Ok(Account {
            sid: "ACsimulated".into(),
            status: "active".into(),
            friendly_name: "ProxyCall simulated carrier".into(),
        })
    }
}
