use std::fmt;
use std::str::FromStr;

/// An ISO 3166-1 alpha-2 country code known to the phone-number metadata, upper-case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryIso([u8; 2]);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be an ISO 3166-1 alpha-2 country code such as FR or US")]
pub struct CountryError;

impl CountryIso {
    pub fn parse(raw: &str) -> Result<Self, CountryError> {
        let upper = raw.trim().to_ascii_uppercase();
        let bytes: [u8; 2] = upper.as_bytes().try_into().map_err(|_| CountryError)?;
        if !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(CountryError);
        }
        // Only countries with a numbering plan can hold a proxy number.
        phonenumber::country::Id::from_str(&upper).map_err(|_| CountryError)?;
        Ok(Self(bytes))
    }

    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII upper-case letters, checked in `parse`.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for CountryIso {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryIso {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for CountryIso {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for CountryIso {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_known_codes_in_any_case() {
        assert_eq!(CountryIso::parse("fr").unwrap().as_str(), "FR");
        assert_eq!(CountryIso::parse(" PT ").unwrap().as_str(), "PT");
    }

    #[test]
    fn refuses_unknown_or_malformed_codes() {
        for raw in ["", "F", "FRA", "F1", "XX", "é!", "33"] {
            assert!(CountryIso::parse(raw).is_err(), "{raw}");
        }
    }
}
