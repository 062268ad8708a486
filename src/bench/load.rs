//! The loads: what each request is, what its answer must be for that very request, and the two
//! ways of sending them. Saturation: a fixed number of connections, each sending its next
//! request when the last is answered (throughput). Open loop: requests leave on a fixed
//! schedule whatever the answers, each on its own task, and latency counts from the time each
//! was due, so that a slow answer cannot hide the requests it would have held back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::RngExt;

use super::TOKEN;
use crate::carrier::signature;
use crate::simulate;

/// One relay in this many carries a tag the double keeps, checked once the outbox has sent it.
pub const SMS_SAMPLE: u64 = 16;

const SMS_WORDS: &str = "Je suis devant la porte";

/// The tag `n` written in a relayed text by `Load::Sms`.
pub fn sms_tag(body: &str) -> Option<u64> {
    let rest = &body[body.rfind("[bench ")? + "[bench ".len()..];
    rest[..rest.find(']')?].parse().ok()
}

/// Client `i` has the real phone +336 and the proxy +3378 followed by `i`'s digits.
pub fn proxy_of(i: u32) -> String {
    format!("+3378{i:07}")
}

pub fn real_of(i: u32) -> String {
    format!("+336{i:08}")
}

/// The order every client was seeded with.
pub fn order_of(i: u32) -> String {
    format!("BENCH-{i}")
}

/// One kind of request.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Load {
    Reference,
    Voice,
    Sms,
    /// `POST /orders` again for an order already placed (seeded): the target's row.
    OrderRepeat,
    /// `POST /orders` with a new order id for a client that exists.
    OrderNew,
}

impl Load {
    pub fn name(self) -> &'static str {
        match self {
            Self::Reference => "reference (constant TwiML)",
            Self::Voice => "voice webhook",
            Self::Sms => "sms relay webhook",
            Self::OrderRepeat => "order, repeated (existing order)",
            Self::OrderNew => "order, new for existing client",
        }
    }

    pub fn short(self) -> &'static str {
        match self {
            Self::Reference => "reference",
            Self::Voice => "voice",
            Self::Sms => "sms",
            Self::OrderRepeat => "order",
            Self::OrderNew => "new order",
        }
    }
}

/// The mixed load, 40 % voice, 30 % SMS, 30 % repeated orders, interleaved.
pub const MIX: [Load; 10] = [
    Load::Voice,
    Load::Sms,
    Load::OrderRepeat,
    Load::Voice,
    Load::Sms,
    Load::OrderRepeat,
    Load::Voice,
    Load::Sms,
    Load::OrderRepeat,
    Load::Voice,
];

/// What the answer to one request must be.
enum Expect {
    Reference,
    /// `<Dial>` to the client's real number.
    Voice {
        client: u32,
    },
    /// An empty TwiML answer; a sampled relay is checked again at the double.
    Sms {
        client: u32,
        tag: u64,
    },
    /// The client's proxy, for this order.
    Order {
        client: u32,
        order_id: String,
    },
}

impl Expect {
    fn check(&self, status: u16, body: &str) -> Result<(), String> {
        if !(200..300).contains(&status) {
            return Err(format!("status {status}"));
        }
        match self {
            Self::Reference => body
                .contains("<Response")
                .then_some(())
                .ok_or_else(|| "no TwiML".into()),
            Self::Voice { client } => {
                let number = format!(">{}</Number>", real_of(*client));
                (body.contains("<Dial") && body.contains(&number))
                    .then_some(())
                    .ok_or_else(|| format!("client {client}: no <Dial> to its real number"))
            }
            Self::Sms { client, .. } => body
                .contains("<Response")
                .then_some(())
                .ok_or_else(|| format!("client {client}: no TwiML")),
            Self::Order { client, order_id } => {
                let v: serde_json::Value =
                    serde_json::from_str(body).map_err(|_| "not JSON".to_owned())?;
                let proxy = proxy_of(*client);
                if v["client_proxy_number"] != proxy.as_str() {
                    Err(format!("order {order_id}: not client {client}'s proxy"))
                } else if v["order_id"] != order_id.as_str() {
                    Err(format!("order {order_id}: another order id"))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// The server under load, and what the loads share: the SMS tags, the wrong answers.
pub struct Target {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
    pub clients: u32,
    sms_next: AtomicU64,
    /// Sampled relays answered well: tag → client.
    sms_sampled: Mutex<Vec<(u64, u32)>>,
    wrong: AtomicU64,
    wrong_shown: Mutex<Vec<String>>,
}

/// Wrong answers printed, at most; all are counted.
const WRONG_SHOWN: usize = 10;

impl Target {
    pub fn new(base: &str, key: &str, clients: u32) -> anyhow::Result<Arc<Self>> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Arc::new(Self {
            http,
            base: base.to_owned(),
            key: key.to_owned(),
            clients,
            sms_next: AtomicU64::new(1),
            sms_sampled: Mutex::new(Vec::new()),
            wrong: AtomicU64::new(0),
            wrong_shown: Mutex::new(Vec::new()),
        }))
    }

    pub fn wrong(&self, what: String) {
        self.wrong.fetch_add(1, Ordering::Relaxed);
        let mut shown = self.wrong_shown.lock().expect("lock");
        if shown.len() < WRONG_SHOWN {
            eprintln!("  WRONG: {what}");
            shown.push(what);
        }
    }

    pub fn wrong_count(&self) -> u64 {
        self.wrong.load(Ordering::Relaxed)
    }

    /// The sampled relays answered since the last call.
    pub fn take_sampled(&self) -> Vec<(u64, u32)> {
        std::mem::take(&mut *self.sms_sampled.lock().expect("lock"))
    }

    fn build(&self, load: Load) -> (reqwest::RequestBuilder, Expect) {
        let mut rng = rand::rng();
        let i = rng.random_range(1..=self.clients);
        let proxy = proxy_of(i);
        let caller = format!("+3369{:07}", rng.random_range(0..10_000_000u32));
        let base = &self.base;
        let signed = |path: &str, params: Vec<(&str, &str)>| {
            let url = format!("{base}{path}");
            let owned: Vec<(String, String)> = params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            self.http
                .post(&url)
                .header(
                    "x-twilio-signature",
                    signature::sign(TOKEN.as_bytes(), &url, &owned),
                )
                .form(&params)
        };
        match load {
            Load::Reference => {
                let sid = crate::carrier::sid("CA");
                let params = simulate::call_params(&caller, &proxy, &sid);
                (
                    self.http.post(format!("{base}/bench/twiml")).form(&params),
                    Expect::Reference,
                )
            }
            Load::Voice => {
                let sid = crate::carrier::sid("CA");
                (
                    signed(
                        "/twilio/voice",
                        simulate::call_params(&caller, &proxy, &sid),
                    ),
                    Expect::Voice { client: i },
                )
            }
            Load::Sms => {
                let sid = crate::carrier::sid("SM");
                let tag = self.sms_next.fetch_add(1, Ordering::Relaxed);
                let body = format!("{SMS_WORDS} [bench {tag}]");
                let params = simulate::sms_params(&caller, &proxy, &body, &sid);
                (
                    signed("/twilio/sms", params),
                    Expect::Sms { client: i, tag },
                )
            }
            Load::OrderRepeat | Load::OrderNew => {
                let order_id = if load == Load::OrderRepeat {
                    order_of(i)
                } else {
                    crate::carrier::sid("ORD")
                };
                let body = serde_json::json!({
                    "order_id": order_id,
                    "client_id": i,
                    "client_name": format!("Client {i}"),
                    "client_mail": format!("c{i}@example.com"),
                    "client_real_phone": real_of(i),
                });
                (
                    self.http
                        .post(format!("{base}/orders"))
                        .bearer_auth(&self.key)
                        .json(&body),
                    Expect::Order {
                        client: i,
                        order_id,
                    },
                )
            }
        }
    }

    /// Sends one request of `load` and checks its answer; false when it was wrong.
    pub async fn one(&self, load: Load) -> bool {
        let (request, expect) = self.build(load);
        let outcome = match request.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                match r.text().await {
                    Ok(body) => expect.check(status, &body),
                    Err(e) => Err(format!("body: {e}")),
                }
            }
            Err(e) => Err(format!("request: {}", e.without_url())),
        };
        match outcome {
            Ok(()) => {
                if let Expect::Sms { client, tag } = expect
                    && tag % SMS_SAMPLE == 0
                {
                    self.sms_sampled.lock().expect("lock").push((tag, client));
                }
                true
            }
            Err(what) => {
                self.wrong(format!("{}: {what}", load.short()));
                false
            }
        }
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("bounds")
}

/// Latencies in microseconds.
pub struct Measure {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub latency: Histogram<u64>,
}

impl Measure {
    fn new(seconds: f64) -> Self {
        Self {
            requests: 0,
            errors: 0,
            seconds,
            latency: histogram(),
        }
    }

    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    pub fn ms(&self, quantile: f64) -> f64 {
        if self.latency.is_empty() {
            return f64::NAN;
        }
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn record(&mut self, ok: bool, micros: u64) {
        self.requests += 1;
        self.errors += u64::from(!ok);
        let _ = self.latency.record(micros.max(1));
    }

    fn add(&mut self, other: &Self) {
        self.requests += other.requests;
        self.errors += other.errors;
        let _ = self.latency.add(&other.latency);
    }
}

/// `connections` loops, each sending as soon as its last answer came, for `warm_up` and then
/// `seconds`. `at_edges` runs when the measured window opens and when it closes (the server's
/// CPU time, the outbox's queue): only the answers that came in between are counted.
pub async fn saturate<F, Fut>(
    target: &Arc<Target>,
    load: Load,
    connections: usize,
    warm_up: Duration,
    seconds: f64,
    mut at_edges: F,
) -> anyhow::Result<Measure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let start = Instant::now();
    let opens = start + warm_up;
    let closes = opens + Duration::from_secs_f64(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let target = target.clone();
        tasks.spawn(async move {
            let mut m = Measure::new(seconds);
            loop {
                let sent = Instant::now();
                if sent >= closes {
                    break;
                }
                let ok = target.one(load).await;
                let done = Instant::now();
                if sent >= opens && done < closes {
                    m.record(ok, (done - sent).as_micros() as u64);
                }
            }
            m
        });
    }
    tokio::time::sleep_until(opens.into()).await;
    at_edges().await;
    tokio::time::sleep_until(closes.into()).await;
    at_edges().await;
    let mut total = Measure::new(seconds);
    while let Some(done) = tasks.join_next().await {
        total.add(&done?);
    }
    Ok(total)
}

/// What an open-loop run measured, by load.
pub struct OpenLoop {
    pub rate: f64,
    pub by_load: HashMap<Load, Measure>,
    /// How late requests left after the time they were due (the generator's own delay,
    /// included in every latency).
    pub lag: Histogram<u64>,
    /// Requests still unanswered when the run stopped waiting (counted as errors).
    pub abandoned: u64,
}

#[derive(Default)]
struct Shared {
    by_load: HashMap<Load, Measure>,
    lag: Option<Histogram<u64>>,
}

/// Sends `rate` requests per second for `warm_up` then `seconds`, the loads taken in turn from
/// `mix`. A thread of its own keeps the schedule (finer than the runtime's millisecond timer)
/// and hands each request to a task of its own, so that no request waits for another's answer.
pub async fn open_loop(
    target: &Arc<Target>,
    mix: &'static [Load],
    rate: f64,
    warm_up: Duration,
    seconds: f64,
) -> anyhow::Result<OpenLoop> {
    let shared = Arc::new(Mutex::new(Shared {
        lag: Some(histogram()),
        ..Default::default()
    }));
    let in_flight = Arc::new(AtomicU64::new(0));
    let handle = tokio::runtime::Handle::current();
    let total = ((warm_up.as_secs_f64() + seconds) * rate).round() as u64;
    let scheduler = {
        let (target, shared, in_flight) = (target.clone(), shared.clone(), in_flight.clone());
        std::thread::Builder::new()
            .name("bench-schedule".into())
            .spawn(move || {
                let start = Instant::now() + Duration::from_millis(5);
                let opens = start + warm_up;
                for n in 0..total {
                    let due = start + Duration::from_secs_f64(n as f64 / rate);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    let load = mix[(n % mix.len() as u64) as usize];
                    let (target, shared, in_flight) =
                        (target.clone(), shared.clone(), in_flight.clone());
                    in_flight.fetch_add(1, Ordering::Relaxed);
                    handle.spawn(async move {
                        let lag = due.elapsed();
                        let ok = target.one(load).await;
                        let latency = due.elapsed();
                        if due >= opens {
                            let mut s = shared.lock().expect("lock");
                            if let Some(h) = s.lag.as_mut() {
                                let _ = h.record((lag.as_micros() as u64).max(1));
                            }
                            s.by_load
                                .entry(load)
                                .or_insert_with(|| Measure::new(seconds))
                                .record(ok, latency.as_micros() as u64);
                        }
                        in_flight.fetch_sub(1, Ordering::Relaxed);
                    });
                }
            })?
    };
    tokio::task::spawn_blocking(move || scheduler.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the scheduler thread panicked"))?;
    // Answers still coming: wait for them, not forever.
    let waited = Instant::now();
    while in_flight.load(Ordering::Relaxed) > 0 && waited.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let abandoned = in_flight.load(Ordering::Relaxed);
    let mut s = shared.lock().expect("lock");
    let mut by_load = std::mem::take(&mut s.by_load);
    if abandoned > 0 {
        // Unanswered requests are errors of the first load, so that none goes unseen.
        if let Some(m) = by_load.get_mut(&mix[0]) {
            m.errors += abandoned;
        }
        target.wrong.fetch_add(abandoned - 1, Ordering::Relaxed);
        target.wrong(format!("{abandoned} requests unanswered after 30 s"));
    }
    Ok(OpenLoop {
        rate,
        by_load,
        lag: s.lag.take().unwrap_or_else(histogram),
        abandoned,
    })
}

/// Set when a background sampler must stop.
pub type Stop = Arc<AtomicBool>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked_for_their_request() {
        let voice = Expect::Voice { client: 42 };
        let right = r#"<Response><Dial callerId="+33780000042"><Number>+33600000042</Number></Dial></Response>"#;
        assert!(voice.check(200, right).is_ok());
        let other = right.replace("+33600000042", "+33600000043");
        assert!(voice.check(200, &other).is_err());
        assert!(voice.check(500, right).is_err());
        let order = Expect::Order {
            client: 7,
            order_id: order_of(7),
        };
        let ok = r#"{"order_id":"BENCH-7","client_id":7,"client_proxy_number":"+33780000007"}"#;
        assert!(order.check(200, ok).is_ok());
        assert!(order.check(200, &ok.replace("0007\"}", "0008\"}")).is_err());
        assert_eq!(
            sms_tag("De +33 6: Je suis devant la porte [bench 32]"),
            Some(32)
        );
        assert_eq!(sms_tag("no tag"), None);
    }
}
