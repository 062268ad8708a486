//! Placeholder until the e-mail outbox lands (branch `mail`).

use crate::domain::Email;

#[derive(Clone)]
pub struct NewEmail {
    pub purpose: &'static str,
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub dedupe_key: Option<String>,
}
