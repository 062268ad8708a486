use std::fmt;

/// A shop's order reference: 1 to 128 characters, no control characters.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct OrderId(Box<str>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 128 characters without control characters")]
pub struct OrderIdError;

impl OrderId {
    pub fn parse(raw: &str) -> Result<Self, OrderIdError> {
        let s = raw.trim();
        if s.is_empty() || s.chars().count() > 128 || super::has_control_chars(s) {
            return Err(OrderIdError);
        }
        Ok(Self(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for OrderId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for OrderId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Shops number their orders: accept a JSON number as its decimal text.
        let raw = super::client_id::NumberOrString::deserialize(d)?;
        Self::parse(&raw.0).map_err(serde::de::Error::custom)
    }
}
