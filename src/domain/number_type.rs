use std::fmt;

/// The kind of proxy number. `national` is the legacy spelling of `local`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NumberType {
    Mobile,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be one of mobile, local, national")]
pub struct NumberTypeError;

impl NumberType {
    pub const ALL: [NumberType; 2] = [NumberType::Mobile, NumberType::Local];

    pub fn parse(raw: &str) -> Result<Self, NumberTypeError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "mobile" => Ok(Self::Mobile),
            "local" | "national" => Ok(Self::Local),
            _ => Err(NumberTypeError),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mobile => "mobile",
            Self::Local => "local",
        }
    }

    pub fn other(self) -> Self {
        match self {
            Self::Mobile => Self::Local,
            Self::Local => Self::Mobile,
        }
    }
}

impl fmt::Display for NumberType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for NumberType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for NumberType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A type filter as the legacy `GET /pool/available` takes it: empty, `all` or `none` mean
/// any type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberTypeFilter {
    Any,
    Only(NumberType),
}

impl NumberTypeFilter {
    pub fn parse(raw: Option<&str>) -> Result<Self, NumberTypeError> {
        match raw.map(|s| s.trim().to_ascii_lowercase()) {
            None => Ok(Self::Any),
            Some(s) if s.is_empty() || s == "all" || s == "none" => Ok(Self::Any),
            Some(s) => NumberType::parse(&s).map(Self::Only),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_is_local() {
        assert_eq!(NumberType::parse("National").unwrap(), NumberType::Local);
        assert!(NumberType::parse("landline").is_err());
        assert_eq!(
            NumberTypeFilter::parse(Some("all")).unwrap(),
            NumberTypeFilter::Any
        );
        assert_eq!(
            NumberTypeFilter::parse(Some("mobile")).unwrap(),
            NumberTypeFilter::Only(NumberType::Mobile)
        );
    }
}
