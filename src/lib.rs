pub mod app;
pub mod batch;
#[cfg(feature = "bench")]
pub mod bench;
pub mod carrier;
pub mod cli;
pub mod config;
mod demo;
pub mod domain;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod messages;
pub mod outbox;
mod redact;
pub mod server;
pub mod simulate;
pub mod store;
pub mod telemetry;
pub mod twiml;

/// Selects ring as the TLS crypto provider, once per process, before any HTTPS client is
/// built (reqwest is built without a provider of its own, to compile one crypto stack only).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
