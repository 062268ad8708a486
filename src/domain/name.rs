use std::fmt;

/// A client's display name: trimmed, 1 to 120 characters, no control characters.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientName(Box<str>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("is empty")]
    Empty,
    #[error("is longer than 120 characters")]
    TooLong,
    #[error("contains control characters")]
    Control,
}

impl ClientName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.chars().count() > 120 {
            return Err(NameError::TooLong);
        }
        if super::has_control_chars(s) {
            return Err(NameError::Control);
        }
        Ok(Self(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientName {
    /// Names are personal data: debug output never shows them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientName(..)")
    }
}

impl serde::Serialize for ClientName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ClientName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_length_and_control_characters() {
        assert_eq!(
            ClientName::parse("  Jean DUPONT ").unwrap().as_str(),
            "Jean DUPONT"
        );
        assert_eq!(ClientName::parse("   "), Err(NameError::Empty));
        assert_eq!(ClientName::parse(&"é".repeat(121)), Err(NameError::TooLong));
        assert!(ClientName::parse(&"é".repeat(120)).is_ok());
        assert_eq!(ClientName::parse("Jean\nDUPONT"), Err(NameError::Control));
    }
}
