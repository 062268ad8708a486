use std::fmt;

/// A client's id: a positive integer. Earlier integrations send it as a JSON number or as a
/// string of digits; both are accepted (SPEC §3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ClientId(i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be a positive integer, as a number or a string of digits")]
pub struct ClientIdError;

impl ClientId {
    pub fn new(id: i64) -> Result<Self, ClientIdError> {
        if id > 0 {
            Ok(Self(id))
        } else {
            Err(ClientIdError)
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ClientIdError> {
        let s = raw.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ClientIdError);
        }
        s.parse::<i64>()
            .map_err(|_| ClientIdError)
            .and_then(Self::new)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl serde::Serialize for ClientId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ClientId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = NumberOrString::deserialize(d)?;
        Self::parse(&raw.0).map_err(serde::de::Error::custom)
    }
}

/// A JSON string, or an integer taken as its decimal text; anything else is a type error.
pub(super) struct NumberOrString(pub String);

impl<'de> serde::Deserialize<'de> for NumberOrString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = NumberOrString;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(NumberOrString(v.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(NumberOrString(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(NumberOrString(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_numbers_and_digit_strings() {
        let a: ClientId = serde_json::from_str("12").unwrap();
        let b: ClientId = serde_json::from_str("\"12\"").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.get(), 12);
    }

    #[test]
    fn refuses_everything_else() {
        for raw in [
            "0", "-3", "\"\"", "\"12a\"", "\"1 2\"", "1.5", "true", "null", "[1]",
        ] {
            assert!(serde_json::from_str::<ClientId>(raw).is_err(), "{raw}");
        }
    }
}
