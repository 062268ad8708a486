//! The e-mail outbox: every e-mail is written first (`outbound_emails`, in the transaction of
//! the change that calls for it) with the job that sends it (`EMAIL_SEND_JOB_KIND`), and sent
//! by a worker through SMTP (`crate::mail`).

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{NewJob, StoreResult};
use crate::domain::Email;

/// The job kind that sends an e-mail; its payload is `{"email_id": N}`.
pub const EMAIL_SEND_JOB_KIND: &str = "email.send";

/// Tries a send job may take: a backstop only. Sending stops at the outbox's retry horizon
/// (`PROXYCALL_OUTBOX_RETRY_HOURS`, from the e-mail's creation), which this must never cut
/// short (a day of back-off capped at 10 minutes is a few hundred tries).
pub const EMAIL_SEND_JOB_MAX_ATTEMPTS: i64 = 10_000;

/// The job that sends e-mail `id`, due at `send_at`.
pub fn email_send_job(id: i64, send_at: DateTime<Utc>) -> NewJob {
    NewJob {
        kind: EMAIL_SEND_JOB_KIND.to_owned(),
        payload: format!("{{\"email_id\":{id}}}"),
        due_at: send_at,
        max_attempts: EMAIL_SEND_JOB_MAX_ATTEMPTS,
        dedupe_key: Some(email_send_job_key(id)),
    }
}

/// The dedupe key of e-mail `id`'s send job: one queued send per e-mail.
pub fn email_send_job_key(id: i64) -> String {
    format!("email:{id}")
}

/// Where an e-mail stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailStatus {
    /// Waiting for a send (the first, or one after a passing failure).
    Pending,
    /// A send began and its outcome is not recorded: in flight while its worker lives; found
    /// so by a later try (its process died mid-send), it is sent again.
    Sending,
    /// The SMTP server accepted it; its bodies are erased.
    Sent,
    /// Given up; its bodies are erased.
    Failed,
}

impl EmailStatus {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Sending, Self::Sent, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

impl fmt::Display for EmailStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for EmailStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// An e-mail to write to the outbox. Its `Debug` shows neither the address (masked), the
/// subject nor the bodies: a verification link is a credential.
#[derive(Clone)]
pub struct NewEmail {
    /// Why it is sent, e.g. `activation_link`, for reports.
    pub purpose: &'static str,
    pub to: Email,
    pub subject: String,
    pub text: String,
    /// An HTML alternative of `text`.
    pub html: Option<String>,
    /// Enqueueing twice with the same key enqueues once.
    pub dedupe_key: Option<String>,
}

/// An e-mail of the outbox. Its `Debug` shows neither the address (masked), the subject nor
/// the bodies.
#[derive(Clone)]
pub struct OutboundEmail {
    pub id: i64,
    pub purpose: String,
    pub to: Email,
    pub subject: String,
    /// Erased once sent or failed.
    pub text: Option<String>,
    pub html: Option<String>,
    pub status: EmailStatus,
    /// The try of its send job that last began sending it.
    pub attempts: i64,
    pub last_error: Option<String>,
    pub dedupe_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// What `Debug` shows of a subject or body: its length.
struct Words<'a>(Option<&'a str>);

impl fmt::Debug for Words<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(words) => write!(f, "[{} characters]", words.chars().count()),
            None => f.write_str("None"),
        }
    }
}

impl fmt::Debug for NewEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewEmail")
            .field("purpose", &self.purpose)
            .field("to", &self.to)
            .field("subject", &Words(Some(&self.subject)))
            .field("text", &Words(Some(&self.text)))
            .field("html", &Words(self.html.as_deref()))
            .field("dedupe_key", &self.dedupe_key.as_ref().map(|_| "[set]"))
            .finish()
    }
}

impl fmt::Debug for OutboundEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundEmail")
            .field("id", &self.id)
            .field("purpose", &self.purpose)
            .field("to", &self.to)
            .field("subject", &Words(Some(&self.subject)))
            .field("text", &Words(self.text.as_deref()))
            .field("html", &Words(self.html.as_deref()))
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .field("last_error", &self.last_error)
            .field("created_at", &self.created_at)
            .field("sent_at", &self.sent_at)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait EmailStore {
    /// Writes the e-mail and the job that sends it (`EMAIL_SEND_JOB_KIND`, due at `send_at`)
    /// together. Returns the e-mail's id; `None` when one with the same dedupe key exists.
    /// Inside another area's transaction, `store::sql::insert_email!` does the same.
    async fn enqueue_email(
        &self,
        email: &NewEmail,
        send_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>>;
    async fn email(&self, id: i64) -> StoreResult<Option<OutboundEmail>>;
    /// Marks an e-mail that is pending — or `sending`, its earlier try interrupted — as
    /// `sending` by try `attempt`, before the SMTP server is reached; returns it. `None` when
    /// it is sent, failed or gone.
    async fn email_begin_send(
        &self,
        id: i64,
        attempt: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OutboundEmail>>;
    /// The SMTP server accepted it: sent, its bodies erased. `false` when it was not `sending`.
    async fn email_sent(&self, id: i64, now: DateTime<Utc>) -> StoreResult<bool>;
    /// A passing failure: pending again, for its job's next try. Only while the e-mail is still
    /// `sending` by try `attempt`: a worker that lost its claim cannot undo a newer send.
    async fn email_not_sent(
        &self,
        id: i64,
        attempt: i64,
        error: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Given up: failed, its bodies erased.
    async fn email_failed(&self, id: i64, error: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Deletes sent and failed e-mails created before `before`; returns how many.
    async fn purge_emails(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// The latest e-mails, newest first.
    async fn emails(&self, limit: i64) -> StoreResult<Vec<OutboundEmail>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_address_subject_or_body() {
        let new = NewEmail {
            purpose: "activation_link",
            to: Email::parse("jeanne.martin@example.com").unwrap(),
            subject: "Votre lien secret".into(),
            text: "https://proxycall.example.com/confirmations/verify?token=tok3n".into(),
            html: Some("<a href=\"…?token=tok3n\">ici</a>".into()),
            dedupe_key: Some("activation:abc:link".into()),
        };
        let stored = OutboundEmail {
            id: 1,
            purpose: new.purpose.into(),
            to: new.to.clone(),
            subject: new.subject.clone(),
            text: Some(new.text.clone()),
            html: new.html.clone(),
            status: EmailStatus::Pending,
            attempts: 0,
            last_error: None,
            dedupe_key: new.dedupe_key.clone(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            sent_at: None,
        };
        for shown in [
            format!("{new:?}"),
            format!("{new:#?}"),
            format!("{stored:?}"),
        ] {
            for secret in ["jeanne.martin", "secret", "tok3n", "activation:abc"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            assert!(shown.contains("j***@example.com"), "{shown}");
            assert!(shown.contains("[17 characters]"), "{shown}");
        }
    }
}
