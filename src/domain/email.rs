use std::fmt;
use std::str::FromStr;

/// An e-mail address, trimmed and lower-cased (SPEC §3), checked by `email_address`
/// and required to have a dotted domain (a bare host is no customer's address).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(Box<str>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("must be an e-mail address such as name@example.com")]
    Invalid,
    #[error("is longer than 254 characters")]
    TooLong,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let s = raw.trim().to_lowercase();
        if s.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let parsed = email_address::EmailAddress::from_str(&s).map_err(|_| EmailError::Invalid)?;
        let domain = parsed.domain();
        let plain = !s.contains('"') && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if !plain || !domain.contains('.') || domain.starts_with('[') {
            return Err(EmailError::Invalid);
        }
        Ok(Self(s.into_boxed_str()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `j***@example.com`: the first character of the local part and the domain.
    pub fn masked(&self) -> String {
        match self.0.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".to_owned(),
        }
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.masked())
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Email {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_cases_and_masks() {
        let e = Email::parse(" Jean.Dupont@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "jean.dupont@example.com");
        assert_eq!(e.masked(), "j***@example.com");
    }

    #[test]
    fn refuses_malformed_addresses() {
        for raw in [
            "",
            "plain",
            "a@b",
            "@example.com",
            "a b@example.com",
            "a@exa mple.com",
            "\"quoted\"@example.com",
            "a@[127.0.0.1]",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }
}
