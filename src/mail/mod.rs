//! E-mail: a [`Mailer`] hands one e-mail to a server ([`SmtpMailer`], through lettre), and
//! the `email.send` job ([`SendEmail`]) sends each e-mail of the outbox (`outbound_emails`,
//! `store::EmailStore`) through it, retrying passing failures until the outbox's retry
//! horizon.
//!
//! E-mails are queued like every other send, never sent from a request: the use case writes
//! the e-mail and its job in its own transaction (`store::sql::insert_email!`) and a worker
//! sends it. Logs show the address masked, never the subject nor a body.

mod send;
mod smtp;

use std::sync::Arc;

use async_trait::async_trait;

pub use send::SendEmail;
pub use smtp::SmtpMailer;

use crate::config::SmtpSettings;
use crate::domain::Email;

/// One e-mail as a mailer sends it.
pub struct Outgoing<'a> {
    pub from: &'a Email,
    pub to: &'a Email,
    pub subject: &'a str,
    pub text: &'a str,
    /// An HTML alternative of `text`.
    pub html: Option<&'a str>,
    /// The same for every try of one e-mail (without `<>`): a receiver that keeps the first
    /// of two copies with one Message-ID hides a resend.
    pub message_id: String,
}

/// Why an e-mail was not sent. The text never holds an address, a subject or a body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Trying again later may work: no connection, a time-out, a 4xx answer, TLS failing.
    #[error("{0}")]
    Passing(String),
    /// Trying again will not help: a 5xx answer, an address that cannot be written.
    #[error("{0}")]
    Permanent(String),
}

/// Hands e-mails to a server.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, email: &Outgoing<'_>) -> Result<(), MailError>;
}

/// What the application sends e-mails with: `App::mail`, `None` without SMTP settings.
pub struct Mail {
    pub mailer: Arc<dyn Mailer>,
    /// `SMTP_FROM`.
    pub from: Email,
}

impl Mail {
    /// The SMTP mailer of the settings. Fails when TLS cannot be set up (no CA certificates
    /// on this machine): the server then refuses to start rather than fail every e-mail.
    pub fn smtp(settings: &SmtpSettings) -> Result<Self, MailError> {
        Ok(Self {
            mailer: Arc::new(SmtpMailer::new(settings)?),
            from: settings.from.clone(),
        })
    }
}

/// `text` with every word that holds an `@` replaced: a server's answer may quote the
/// address it refuses, and answers are logged and stored.
pub(crate) fn without_addresses(text: &str) -> String {
    text.split_whitespace()
        .map(|word| {
            if word.contains('@') {
                "[address]"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_taken_out_of_server_answers() {
        assert_eq!(
            without_addresses("permanent error (550): 5.1.1 <jeanne@example.com>: unknown user"),
            "permanent error (550): 5.1.1 [address] unknown user"
        );
        assert_eq!(
            without_addresses("451 try later\r\nuser@example.com\tbusy"),
            "451 try later [address] busy"
        );
        assert_eq!(without_addresses("network error"), "network error");
    }
}
