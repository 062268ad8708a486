//! The SMTP mailer: lettre's asynchronous transport on tokio, with rustls (ring) and the
//! platform's certificate verifier, as the rest of ProxyCall's TLS.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::{MailError, Mailer, Outgoing, without_addresses};
use crate::config::{SmtpSettings, SmtpTls};

/// Longest wait for one step (connecting, each command's answer).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest wait for a whole send: within the job's lease (a minute), so that no other worker
/// takes the e-mail while this one is still talking to the server.
const SEND_TIMEOUT: Duration = Duration::from_secs(45);

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpMailer {
    pub fn new(settings: &SmtpSettings) -> Result<Self, MailError> {
        type Smtp = AsyncSmtpTransport<Tokio1Executor>;
        // An IPv6 address may be written in brackets, as in a URL.
        let host = settings.host.trim_start_matches('[').trim_end_matches(']');
        let tls_failed = |e: lettre::transport::smtp::Error| {
            MailError::Permanent(format!("SMTP: TLS cannot be set up: {e}"))
        };
        let builder = match settings.tls {
            // Required, never opportunistic: without STARTTLS nothing is sent, not even the
            // password.
            SmtpTls::StartTls => Smtp::starttls_relay(host).map_err(tls_failed)?,
            SmtpTls::Tls => Smtp::relay(host).map_err(tls_failed)?,
            SmtpTls::None => Smtp::builder_dangerous(host),
        };
        let transport = builder
            .port(settings.port)
            .credentials(Credentials::new(
                settings.user.clone(),
                settings.password.expose_secret().to_owned(),
            ))
            .authentication(vec![Mechanism::Plain, Mechanism::Login])
            .timeout(Some(COMMAND_TIMEOUT))
            .build();
        Ok(Self { transport })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Outgoing<'_>) -> Result<(), MailError> {
        let message = message(email)?;
        match tokio::time::timeout(SEND_TIMEOUT, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(classify(&e)),
            Err(_) => Err(MailError::Passing(format!(
                "the SMTP server did not finish within {} s",
                SEND_TIMEOUT.as_secs()
            ))),
        }
    }
}

/// The MIME message: plain text, or plain text and HTML as alternatives. lettre encodes the
/// subject and bodies as their characters need (quoted-printable or base64).
fn message(email: &Outgoing<'_>) -> Result<Message, MailError> {
    let address = |which: &str, raw: &str| {
        raw.parse::<Mailbox>()
            .map_err(|e| MailError::Permanent(format!("the {which} address cannot be used: {e}")))
    };
    let builder = Message::builder()
        .from(address("sender", email.from.as_str())?)
        .to(address("recipient", email.to.as_str())?)
        .subject(email.subject)
        .message_id(Some(format!("<{}>", email.message_id)));
    let text = email.text.to_owned();
    let built = match email.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(text, html.to_owned())),
        None => builder.singlepart(SinglePart::plain(text)),
    };
    built.map_err(|e| MailError::Permanent(format!("the e-mail cannot be written: {e}")))
}

/// A 5xx answer is final; anything else (no connection, a time-out, a 4xx, TLS failing, the
/// connection dropped) may pass.
fn classify(e: &lettre::transport::smtp::Error) -> MailError {
    let text = without_addresses(&e.to_string());
    if e.is_permanent() {
        MailError::Permanent(format!("refused by the SMTP server: {text}"))
    } else {
        MailError::Passing(format!("SMTP: {text}"))
    }
}
