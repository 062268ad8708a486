//! Activation: its id, its statuses (the earlier version's words), and what counts as an
//! answer in a text.

use std::fmt;

/// An activation's id (`pending_id`): given by the caller (the earlier forms used `P-` + a
/// UUID, the web app a UUID) or generated. 1 to 64 letters, digits, `-` or `_`: it travels in
/// URLs Twilio signs and in sheet cells.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PendingId(Box<str>);

impl PendingId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("is empty".into());
        }
        if s.len() > 64 {
            return Err("is longer than 64 characters".into());
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err("may only hold letters, digits, '-' and '_'".into());
        }
        Ok(Self(s.into()))
    }

    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string().into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PendingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PendingId({})", self.0)
    }
}

impl fmt::Display for PendingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for PendingId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for PendingId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// What a promotion changed on an existing client's contact details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactChange {
    Mail,
    Phone,
    MailAndPhone,
    Nothing,
}

impl ContactChange {
    pub fn of(mail_changed: bool, phone_changed: bool) -> Self {
        match (mail_changed, phone_changed) {
            (true, true) => Self::MailAndPhone,
            (true, false) => Self::Mail,
            (false, true) => Self::Phone,
            (false, false) => Self::Nothing,
        }
    }
}

/// Where an activation stands. The words are the earlier version's, kept for its
/// integrations; `LOCKED` is ours (too many wrong codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationStatus {
    /// The code went by SMS.
    Pending,
    /// Then a call read it.
    PendingCall,
    /// Then a link went by SMS and e-mail.
    PendingMail,
    /// Accepted; promotion follows in the same transaction, so it is seen only if a stored
    /// row says so (an earlier version's).
    Verified,
    /// A new client was created.
    Promoted,
    /// An existing client was updated.
    Updated(ContactChange),
    Expired,
    /// Too many wrong codes.
    Locked,
}

impl ActivationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::PendingCall => "PENDING_CALL",
            Self::PendingMail => "PENDING_MAIL",
            Self::Verified => "VERIFIED",
            Self::Promoted => "PROMOTED",
            Self::Updated(ContactChange::Mail) => "UPDATED (mail)",
            Self::Updated(ContactChange::Phone) => "UPDATED (telephone)",
            Self::Updated(ContactChange::MailAndPhone) => "UPDATED (mail + telephone)",
            Self::Updated(ContactChange::Nothing) => "UPDATED (aucune modification de contact)",
            Self::Expired => "EXPIRED",
            Self::Locked => "LOCKED",
        }
    }

    /// Every status an activation is stored in.
    pub const ALL: [Self; 11] = [
        Self::Pending,
        Self::PendingCall,
        Self::PendingMail,
        Self::Verified,
        Self::Promoted,
        Self::Updated(ContactChange::Mail),
        Self::Updated(ContactChange::Phone),
        Self::Updated(ContactChange::MailAndPhone),
        Self::Updated(ContactChange::Nothing),
        Self::Expired,
        Self::Locked,
    ];

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// The statuses an activation waits in for its code.
    pub const WAITING: [Self; 3] = [Self::Pending, Self::PendingCall, Self::PendingMail];

    /// Waiting for the code: an answer may still promote it.
    pub fn is_waiting(self) -> bool {
        Self::WAITING.contains(&self)
    }

    /// Promoted, or an existing client updated.
    pub fn is_confirmed(self) -> bool {
        matches!(self, Self::Verified | Self::Promoted | Self::Updated(_))
    }
}

impl fmt::Display for ActivationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The code a text answers with: its one standalone group of 4 to 8 digits. A text with no
/// such group, or with several, is no answer — digits are never glued together: "J'arrive
/// dans 30 min appelle moi au 0601020304" holds one group of 10, so it answers nothing.
pub fn code_in_text(body: &str) -> Option<&str> {
    let mut found = None;
    for group in body
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
    {
        if (4..=8).contains(&group.len()) {
            if found.is_some() {
                return None;
            }
            found = Some(group);
        }
    }
    // A digit next to a letter ("A123456") is still its own group: only digits are read.
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_answers_with_its_one_group_of_four_to_eight_digits() {
        assert_eq!(code_in_text("123456"), Some("123456"));
        assert_eq!(code_in_text(" Mon code : 482913 merci"), Some("482913"));
        assert_eq!(code_in_text("code 12 34 56"), None);
        assert_eq!(
            code_in_text("J'arrive dans 30 min appelle moi au 0601020304"),
            None
        );
        assert_eq!(code_in_text("123456 ou 654321"), None);
        assert_eq!(code_in_text("rien"), None);
        assert_eq!(code_in_text("123"), None);
        assert_eq!(code_in_text("dans 30 min: 4829"), Some("4829"));
    }

    #[test]
    fn statuses_keep_the_earlier_words() {
        for s in [
            "PENDING",
            "PENDING_CALL",
            "PENDING_MAIL",
            "PROMOTED",
            "UPDATED (mail)",
            "UPDATED (telephone)",
            "UPDATED (mail + telephone)",
            "UPDATED (aucune modification de contact)",
            "EXPIRED",
        ] {
            assert_eq!(ActivationStatus::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(ContactChange::of(true, true), ContactChange::MailAndPhone);
    }

    #[test]
    fn pending_ids_are_safe_in_urls() {
        assert!(PendingId::parse("P-0b7c9a2e-1f").is_ok());
        assert!(PendingId::parse("a b").is_err());
        assert!(PendingId::parse("").is_err());
        assert!(PendingId::parse(&"x".repeat(65)).is_err());
        assert_eq!(PendingId::generate().as_str().len(), 36);
    }
}
