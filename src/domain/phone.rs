use std::fmt;

use super::CountryIso;

/// A phone number in E.164 form (`+` then 8 to 15 digits, no leading zero).
///
/// Its `Debug` and `masked()` forms hide the middle digits, so a number that slips into a
/// log line is still masked (SPEC §8).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(Box<str>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("is empty")]
    Empty,
    #[error(
        "must be an E.164 number such as +33601020304: '+' and 8 to 15 digits, without spaces, dashes or letters"
    )]
    Format,
    #[error("is not a valid phone number for its country")]
    Invalid,
}

impl E164 {
    /// Strict parse, used for every number an operator or integration gives us: the legacy
    /// normalisation (SPEC §5), the E.164 shape, then the phone-number metadata's validity
    /// check (`+35112` has the shape but is no real number).
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let candidate = Self::parse_shape(raw)?;
        let parsed =
            phonenumber::parse(None, candidate.as_str()).map_err(|_| PhoneError::Invalid)?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::Invalid);
        }
        Ok(candidate)
    }

    /// Normalisation and shape only, for numbers that come from the carrier (webhooks) or
    /// from our own database, where the metadata check would only cost time and could refuse
    /// a real caller from a range newer than our metadata.
    pub fn parse_shape(raw: &str) -> Result<Self, PhoneError> {
        let s = raw.trim();
        let s = s.strip_prefix("whatsapp:").unwrap_or(s);
        if s.is_empty() {
            return Err(PhoneError::Empty);
        }
        let digits = if let Some(rest) = s.strip_prefix('+') {
            rest
        } else if let Some(rest) = s.strip_prefix("00") {
            rest
        } else {
            s
        };
        let ok = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if !ok {
            return Err(PhoneError::Format);
        }
        Ok(Self(format!("+{digits}").into_boxed_str()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The calling code with its `+`, e.g. `+33`.
    pub fn calling_code(&self) -> Option<String> {
        super::CallingCode::of(self).map(|c| c.to_string())
    }

    /// The country the number belongs to, e.g. `FR` for `+33 6…`.
    pub fn region(&self) -> Option<CountryIso> {
        let parsed = phonenumber::parse(None, self.as_str()).ok()?;
        let id = parsed.country().id()?;
        CountryIso::parse(id.as_ref()).ok()
    }

    /// `+33******0304`: the first three characters and the last four.
    pub fn masked(&self) -> Masked<'_> {
        Masked(&self.0)
    }
}

pub struct Masked<'a>(&'a str);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s.len() <= 7 {
            return f.write_str("****");
        }
        let hidden = s.len() - 7;
        write!(f, "{}{}{}", &s[..3], "*".repeat(hidden), &s[s.len() - 4..])
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({})", self.masked())
    }
}

impl fmt::Display for E164 {
    /// Display is the full number: it is what goes into responses and TwiML. Logs use
    /// `masked()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for E164 {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl serde::Serialize for E164 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for E164 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_forms_normalise_to_e164() {
        for raw in [
            "+33612345678",
            "0033612345678",
            "33612345678",
            "whatsapp:+33612345678",
            " +33612345678 ",
        ] {
            assert_eq!(E164::parse(raw).unwrap().as_str(), "+33612345678", "{raw}");
        }
    }

    #[test]
    fn malformed_numbers_are_refused() {
        assert_eq!(E164::parse(""), Err(PhoneError::Empty));
        for raw in [
            "+33 6 12 34 56 78",
            "+33-612345678",
            "+33612abc678",
            "+3361",
            "+3361234567812345678",
            "+033612345678",
            "06 12 34 56 78",
        ] {
            assert_eq!(E164::parse(raw), Err(PhoneError::Format), "{raw}");
        }
        // The right shape, but no such number in Portugal's plan.
        assert_eq!(E164::parse("+35112345678"), Err(PhoneError::Invalid));
    }

    #[test]
    fn region_and_calling_code_use_the_longest_prefix() {
        let pt = E164::parse("+351912345678").unwrap();
        assert_eq!(pt.region().unwrap().as_str(), "PT");
        assert_eq!(pt.calling_code().as_deref(), Some("+351"));
        let fr = E164::parse("+33612345678").unwrap();
        assert_eq!(fr.region().unwrap().as_str(), "FR");
        assert_eq!(fr.calling_code().as_deref(), Some("+33"));
    }

    #[test]
    fn masking_hides_the_middle_digits() {
        let n = E164::parse("+33601020304").unwrap();
        assert_eq!(n.masked().to_string(), "+33*****0304");
        assert_eq!(format!("{n:?}"), "E164(+33*****0304)");
    }
}
